"""Config flow of the integration as a whole (the user menu, MQTT, overlaps between families,
the manifest's discovery topics), options every family shares, and the flows' texts.

Each family's own steps are tested in tests/families/<family>/test_flow.py.
"""

from __future__ import annotations

import json
from pathlib import Path
import string
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryDisabler, ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet import config_flow
from custom_components.mqtt_fleet.const import (
    CONF_BASE_TOPIC,
    CONF_FAMILY,
    CONF_OFFLINE_TIMEOUT,
    CONF_STALE_DEVICE_DAYS,
    DOMAIN,
)
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.autocore.hub import CONF_RELAY_COMMAND_TOPIC
from custom_components.mqtt_fleet.flow_fields import admission_fields

from .common import TRANSLATIONS, default_options, entry_id_for
from .families.janus.helpers import janus_entry
from .flow_helpers import start_user_flow, suggested_values

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant


COMPONENT_DIR = Path(config_flow.__file__).parent
MANIFEST = json.loads((COMPONENT_DIR / "manifest.json").read_text("utf-8"))


# Every code base_topic_problem / relay_topic_template_problem documents.
BASE_TOPIC_CODES = (
    "empty",
    "edge_slash",
    "empty_level",
    "wildcard",
    "control_character",
    "too_long",
)
TEMPLATE_CODES = (
    "unbalanced_braces",
    "unknown_placeholder",
    "placeholder_format",
    "missing_placeholder",
    # "empty" cannot happen: {device_id} and {relay} are required and never format empty.
    *(code for code in BASE_TOPIC_CODES if code != "empty"),
)
# Every abort reason the config flow can produce (including HA's own unique id aborts).
ABORT_REASONS = (
    "mqtt_not_configured",
    "invalid_discovery_info",
    "already_configured",
    "already_in_progress",
)


# --- user step --------------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_user_step_offers_every_family_in_order(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == list(FAMILIES)
    assert result["menu_options"][:4] == ["autocore", "janus", "spotfi", "container_logs"]


async def test_user_step_aborts_without_mqtt(hass: HomeAssistant) -> None:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_user_step_aborts_with_a_disabled_mqtt_entry(hass: HomeAssistant) -> None:
    MockConfigEntry(domain="mqtt", disabled_by=ConfigEntryDisabler.USER).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "mqtt_not_configured"


# --- between families -------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_overlap_check_is_per_family(hass: HomeAssistant) -> None:
    """An AutoCore entry on `janus` does not block Janus there, nor SpotFi below it."""
    MockConfigEntry(
        domain=DOMAIN,
        title="AutoCore (janus)",
        unique_id="autocore:janus",
        entry_id=entry_id_for("autocore:janus"),
        data={"family": "autocore", "base_topic": "janus"},
    ).add_to_hass(hass)
    janus_entry("spotfi").add_to_hass(hass)

    result = await start_user_flow(hass, "janus")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == "janus:janus"

    result = await start_user_flow(hass, "spotfi")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "spotfi/router"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


# --- MQTT discovery ---------------------------------------------------------------------


def test_manifest_topics_are_the_discovery_topics() -> None:
    assert len(MANIFEST["mqtt"]) == len(set(MANIFEST["mqtt"]))
    assert sorted(MANIFEST["mqtt"]) == sorted(config_flow.DISCOVERY_TOPICS)
    assert MANIFEST["dependencies"] == ["mqtt"]
    assert MANIFEST["config_flow"] is True


# --- options flow -----------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_options_stale_device_days_in_every_family(
    hass: HomeAssistant, mqtt_mock: Any, family: str
) -> None:
    """An entry from before the option runs with, and shows, 30 days in a box of days."""
    options = default_options(family)
    del options[CONF_STALE_DEVICE_DAYS]
    data = {CONF_FAMILY: family, CONF_BASE_TOPIC: "fleet"}
    if family == "janus":
        data["admin_secret"] = ""
    entry = MockConfigEntry(
        domain=DOMAIN, title="Fleet", data=data, options=options, unique_id=f"{family}:fleet"
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.upkeep.stale_after == 30 * 86400

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_values(result)[CONF_STALE_DEVICE_DAYS] == 30
    selectors = {str(key): value for key, value in result["data_schema"].schema.items()}
    config = selectors[CONF_STALE_DEVICE_DAYS].config
    assert (config["min"], config["max"], config["step"]) == (1, 3650, 1)
    assert config["unit_of_measurement"] == "d"
    assert TRANSLATIONS["options"]["step"]["init"]["data_description"][CONF_STALE_DEVICE_DAYS]


# --- entry updates outside the options flow -----------------------------------------------


async def test_entry_update_outside_the_options_flow_does_not_reload(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """Only the options flow reloads (HA does it); title or discovery-key updates do not."""
    hub = setup_entry.runtime_data
    assert hass.config_entries.async_update_entry(setup_entry, title="x")
    await hass.async_block_till_done()
    assert setup_entry.title == "x"
    assert setup_entry.state is ConfigEntryState.LOADED
    assert setup_entry.runtime_data is hub


# --- translations -----------------------------------------------------------------------


def test_translations_cover_the_flows() -> None:
    config = TRANSLATIONS["config"]
    options = TRANSLATIONS["options"]
    assert set(config["step"]) == {
        "user",
        "discovery_confirm",
        "reauth_confirm",
        "reconfigure",
        *FAMILIES,  # each family's base topic step
    }
    assert set(config["step"]["user"]["menu_options"]) == set(FAMILIES)
    assert set(config["step"]["autocore"]["data"]) == {CONF_BASE_TOPIC}
    assert set(config["step"]["janus"]["data"]) == {CONF_BASE_TOPIC, "admin_secret"}
    assert set(config["step"]["spotfi"]["data"]) == {CONF_BASE_TOPIC}
    option_fields = {
        str(marker)
        for spec in FAMILIES.values()
        for marker in {**spec.option_fields(), **admission_fields()}
    }
    assert set(options["step"]["init"]["data"]) == option_fields
    assert {
        CONF_OFFLINE_TIMEOUT,
        CONF_RELAY_COMMAND_TOPIC,
        "poll_interval",
        "servers",
        "rpc_allow_list",
        "terminal_enabled",
        "batch_logs",
        "batch_interval",
        "batch_max",
        "forward_ha_logs",
        "forward_ha_level",
        "log_event_level",
        CONF_STALE_DEVICE_DAYS,
    } <= option_fields
    assert set(config["error"]) == {
        *(f"base_topic_{code}" for code in BASE_TOPIC_CODES),
        "base_topic_overlaps",
    }
    assert set(options["error"]) == {
        *(f"template_{code}" for code in TEMPLATE_CODES),
        "servers_invalid",
        "allow_list_invalid",
        "poll_interval_too_long",
    }
    for reason in ABORT_REASONS:
        assert config["abort"][reason], reason
    # The confirm texts use exactly the placeholders the flow provides.
    confirm = config["step"]["discovery_confirm"]
    for text in (confirm["title"], confirm["description"]):
        names = {field for _, field, _, _ in string.Formatter().parse(text) if field}
        assert names <= {"family", "base_topic", "device"}


def test_translations_cover_already_in_progress() -> None:
    assert "already_in_progress" in TRANSLATIONS["config"]["abort"]
