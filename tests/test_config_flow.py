"""Config flow of the integration as a whole (the user menu, MQTT, overlaps between families,
the manifest's discovery topics), options every family shares, and the flows' texts.

Each family's own steps are tested in tests/families/<family>/test_flow.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import replace
import json
from pathlib import Path
import string
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigEntryDisabler, ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.mqtt_fleet import config_flow
from custom_components.mqtt_fleet.const import (
    CONF_ADMIN_SECRET,
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
from .flow_helpers import discovery, start_user_flow, suggested_values

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

    with patch.dict(FAMILIES, {"janus": replace(FAMILIES["janus"], validate_entry=None)}):
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
    assert result["step_id"] == family
    assert TRANSLATIONS["options"]["step"][family]["data_description"][CONF_STALE_DEVICE_DAYS]


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
    for key, spec in FAMILIES.items():  # the base topic and the family's own fields
        entry_fields = {str(marker) for marker in spec.entry_fields()}
        assert set(config["step"][key]["data"]) == {CONF_BASE_TOPIC, *entry_fields}, key
    assert "admin_secret" in config["step"]["janus"]["data"]
    assert set(config["step"]["spotfi"]["data"]) == {CONF_BASE_TOPIC}
    # One options step per family: its own title and field texts.
    assert set(options["step"]) == set(FAMILIES)
    for key, spec in FAMILIES.items():
        fields = {str(marker) for marker in {**spec.option_fields(), **admission_fields()}}
        assert set(options["step"][key]["data"]) == fields, key
        assert set(options["step"][key]["data_description"]) == fields, key
        assert options["step"][key]["title"] == f"{spec.title} options"
    option_fields = {
        str(marker)
        for spec in FAMILIES.values()
        for marker in {**spec.option_fields(), **admission_fields()}
    }
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
    assert {
        *(f"base_topic_{code}" for code in BASE_TOPIC_CODES),
        "base_topic_overlaps",
        "base_topic_in_use",
        "base_topic_silent",
    } <= set(config["error"])
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


# --- the base topic step: other entries, silence, discovery in progress, entry checks -----

REAL_PROBE = config_flow.async_heard_under  # tests/conftest.py makes every base heard


def autocore_entry_titled(title: str, base: str = "autocore") -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=f"autocore:{base}",
        entry_id=entry_id_for(f"autocore:{base}"),
        data={"family": "autocore", "base_topic": base},
        options=default_options("autocore"),
    )


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize(
    ("base", "error"), [("site", "base_topic_in_use"), ("site/inner", "base_topic_overlaps")]
)
async def test_another_entrys_base_is_shown_inline_naming_it(
    hass: HomeAssistant, base: str, error: str
) -> None:
    """Not an abort: the typed base stays in the form, and the error names the entry."""
    autocore_entry_titled("Workshop boards", "site").add_to_hass(hass)
    result = await start_user_flow(hass, "autocore")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base_topic": error}
    assert result["description_placeholders"]["other_entry"] == "Workshop boards"
    assert "{other_entry}" in TRANSLATIONS["config"]["error"][error]
    assert suggested_values(result)["base_topic"] == base
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "elsewhere"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_a_silent_base_is_added_on_the_second_submit(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_flow, "async_heard_under", REAL_PROBE)
    monkeypatch.setattr(config_flow, "PROBE_SECONDS", 0)
    result = await start_user_flow(hass, "autocore")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "quiet"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base_topic": "base_topic_silent"}
    assert result["description_placeholders"]["base_topic"] == "quiet"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "quiet"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "AutoCore (quiet)"


async def test_the_probe_hears_a_message_under_the_base(
    hass: HomeAssistant, mqtt_mock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A (retained) message under the base ends the wait at once; nothing stays subscribed."""
    monkeypatch.setattr(config_flow, "PROBE_SECONDS", 30)
    probe = hass.async_create_task(REAL_PROBE(hass, "site"))
    for _ in range(10):
        await asyncio.sleep(0)
    async_fire_mqtt_message(hass, "elsewhere/x/status", "online")
    await asyncio.sleep(0)
    assert not probe.done()
    async_fire_mqtt_message(hass, "site/ESP32_001/status", "online")
    assert await probe is True


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_adding_by_hand_is_not_blocked_by_a_discovery(hass: HomeAssistant) -> None:
    """A gateway's retained status started a discovery flow: the user's flow still adds
    the entry (the discovery flow then ends), and keeps what the user typed."""
    status = '{"device_id": "ESP32_001", "status": "online"}'
    discovered = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": "mqtt"},
        data=discovery("autocore/ESP32_001/status", status, "autocore/+/status"),
    )
    assert discovered["type"] is FlowResultType.FORM
    result = await start_user_flow(hass, "autocore")
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "autocore"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "AutoCore"
    assert hass.config_entries.flow.async_progress_by_handler(DOMAIN) == []


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_discovery_is_not_probed_and_gets_the_familys_options(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config_flow, "async_heard_under", REAL_PROBE)
    monkeypatch.setattr(config_flow, "PROBE_SECONDS", 0)
    spec = replace(FAMILIES["autocore"], discovery_options=lambda device: {"first": device})
    status = '{"device_id": "ESP32_001", "status": "online"}'
    with (
        patch.dict(FAMILIES, {"autocore": spec}),
        patch.dict(config_flow.DISCOVERY_TOPICS, {"autocore/+/status": spec}),
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": "mqtt"},
            data=discovery("autocore/ESP32_001/status", status, "autocore/+/status"),
        )
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {**default_options("autocore"), "first": "ESP32_001"}


class Validator:
    """An entry check that refuses until told otherwise, recording what it was given."""

    def __init__(self) -> None:
        self.errors = {"base": "cannot_connect"}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(
        self, hass: HomeAssistant, base: str, data: Mapping[str, Any]
    ) -> dict[str, str]:
        self.calls.append((base, dict(data)))
        return self.errors


@pytest.fixture
def validator() -> Iterator[Validator]:
    """Give AutoCore an entry check (and Janus's none: no server answers in these tests)."""
    check = Validator()
    autocore = replace(FAMILIES["autocore"], validate_entry=check)
    with (
        patch.dict(FAMILIES, {"autocore": autocore}),
        patch.dict(
            config_flow.DISCOVERY_TOPICS,
            dict.fromkeys(autocore.discovery_topics, autocore),
        ),
    ):
        yield check


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_the_entry_check_runs_in_the_user_step(
    hass: HomeAssistant, validator: Validator
) -> None:
    result = await start_user_flow(hass, "autocore")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    validator.errors = {}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [base for base, _ in validator.calls] == ["site", "site"]


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_the_entry_check_runs_in_discovery_confirm(
    hass: HomeAssistant, validator: Validator
) -> None:
    status = '{"device_id": "ESP32_001", "status": "online"}'
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": "mqtt"},
        data=discovery("autocore/ESP32_001/status", status, "autocore/+/status"),
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    validator.errors = {}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_the_entry_check_runs_in_reconfigure(
    hass: HomeAssistant, validator: Validator
) -> None:
    entry = autocore_entry_titled("AutoCore")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert entry.data["base_topic"] == "autocore"
    validator.errors = {}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site"}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["base_topic"] == "site"


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_reauth_saves_no_secret_the_check_refuses(
    hass: HomeAssistant, validator: Validator
) -> None:
    entry = autocore_entry_titled("AutoCore")
    entry.add_to_hass(hass)
    validator.errors = {CONF_ADMIN_SECRET: "invalid_auth"}
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ADMIN_SECRET: "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ADMIN_SECRET: "invalid_auth"}
    assert CONF_ADMIN_SECRET not in entry.data
    assert validator.calls[-1] == ("autocore", {**entry.data, CONF_ADMIN_SECRET: "wrong"})
    validator.errors = {}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ADMIN_SECRET: "right"}
    )
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_ADMIN_SECRET] == "right"


# --- entry titles ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "base", "title"),
    [
        ("autocore", "autocore", "AutoCore"),
        ("autocore", "site1/autocore", "AutoCore (site1/autocore)"),
        ("container_logs", "container-manager/logs", "Container logs"),
    ],
)
def test_entry_title_names_the_base_only_when_not_the_default(
    family: str, base: str, title: str
) -> None:
    assert config_flow.entry_title(FAMILIES[family], base) == title
