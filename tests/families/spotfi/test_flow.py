"""SpotFi config flow: the user step, MQTT discovery (confirm only) and the options."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import SOURCE_MQTT, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.mqtt_fleet import config_flow
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.spotfi.hub import SpotFiHub
from custom_components.mqtt_fleet.flow_fields import ADMISSION_DEFAULTS

from ...common import TRANSLATIONS
from ...flow_helpers import (
    assert_abort_translated,
    assert_translated,
    discovery,
    fields,
    start_user_flow,
    suggested_values,
)
from .helpers import spotfi_entry

DEFAULT_ALLOW_LIST = [
    "system.board",
    "system.info",
    "network.interface.*.status",
    "uspot.client_list",
]
SPOTFI_OPTIONS = {
    "offline_timeout": 60,
    "stale_device_days": 30,
    "rpc_allow_list": DEFAULT_ALLOW_LIST,
    "terminal_enabled": False,
}

SPOTFI_STATUS = "spotfi/router/rtr-1a2b3c4d/status"
SPOTFI_SUBSCRIBED = "spotfi/router/+/status"

# Allow-list entries the options refuse: no method level, odd characters, empty levels, and
# a wildcard object (`*.*` or `*.exec` would hand out `file.exec`).
BAD_PATTERNS = (
    "system",
    "sys tem.board",
    "a..b",
    "*",
    "*.*",
    "*.exec",
    ".system.board",
    "system.board.",
    "a.b/c",
    "system.+",
)
ABORTS = (
    "reauth_successful",
    "already_configured",
    "already_in_progress",
    "invalid_discovery_info",
    "mqtt_not_configured",
)
EXCEPTIONS = (
    "device_not_found",
    "device_ambiguous",
    "invalid_action_data",
    "rpc_failed",
    "rpc_no_reply",
    "rpc_not_allowed",
    "terminal_disabled",
    "terminal_error",
    "terminal_no_start",
    "unloaded_while_waiting",
)


@pytest.fixture
async def loaded(hass: HomeAssistant, mqtt_mock: Any) -> AsyncGenerator[Any]:
    """Set up entries for real, with the sensor and binary sensor platforms only."""

    async def setup(entry: MockConfigEntry) -> MockConfigEntry:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        return entry

    with patch("custom_components.mqtt_fleet.PLATFORMS", [Platform.BINARY_SENSOR, Platform.SENSOR]):
        yield setup


# --- user step --------------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_spotfi_step_creates_the_entry(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    result = await start_user_flow(hass, "spotfi")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "spotfi"
    assert fields(result) == ["base_topic"]
    assert result["data_schema"]({}) == {"base_topic": "spotfi/router"}
    assert_translated(result, described=False)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": " spotfi/router "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "SpotFi"
    assert result["data"] == {"family": "spotfi", "base_topic": "spotfi/router"}
    assert result["options"] == SPOTFI_OPTIONS
    assert result["result"].unique_id == "spotfi:spotfi/router"
    assert "admin_secret" not in result["result"].data


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize("family", ["spotfi"])
@pytest.mark.parametrize(
    ("base", "error"),
    [
        ("", "base_topic_empty"),
        ("   ", "base_topic_empty"),
        ("/janus", "base_topic_edge_slash"),
        ("janus/", "base_topic_edge_slash"),
        ("site//janus", "base_topic_empty_level"),
        ("janus/+", "base_topic_wildcard"),
        ("janus/#", "base_topic_wildcard"),
        ("ja\x00nus", "base_topic_control_character"),
        ("j" * 40000, "base_topic_too_long"),
    ],
)
async def test_invalid_base_then_recover(
    hass: HomeAssistant, family: str, base: str, error: str
) -> None:
    result = await start_user_flow(hass, family)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == family
    assert result["errors"] == {"base_topic": error}
    assert_translated(result, described=False)
    assert suggested_values(result)["base_topic"] == base  # what the user typed stays
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "ok/base"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["base_topic"] == "ok/base"


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize(
    ("existing", "family", "base"),
    [
        (spotfi_entry(), "spotfi", "spotfi/router"),
    ],
)
async def test_duplicate_base_is_refused_in_the_form(
    hass: HomeAssistant, existing: MockConfigEntry, family: str, base: str
) -> None:
    existing.add_to_hass(hass)
    result = await start_user_flow(hass, family)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["errors"] == {"base_topic": "base_topic_in_use"}
    assert hass.config_entries.async_entries(DOMAIN) == [existing]


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize(
    ("existing", "family", "base"),
    [
        (spotfi_entry("spotfi/router"), "spotfi", "spotfi"),
        (spotfi_entry("spotfi/router"), "spotfi", "spotfi/router/site-a"),
    ],
)
async def test_overlapping_base_of_the_same_family(
    hass: HomeAssistant, existing: MockConfigEntry, family: str, base: str
) -> None:
    existing.add_to_hass(hass)
    result = await start_user_flow(hass, family)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base_topic": "base_topic_overlaps"}
    assert_translated(result, described=False)
    # A sibling of the existing base is fine.
    sibling = f"{existing.data['base_topic']}-2"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": sibling}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


# --- MQTT discovery ---------------------------------------------------------------------


def test_manifest_lists_the_discovery_topic() -> None:
    manifest = json.loads((Path(config_flow.__file__).parent / "manifest.json").read_text("utf-8"))
    assert SPOTFI_SUBSCRIBED in manifest["mqtt"]


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("payload", ["ONLINE", "OFFLINE", '{"status":"online"}', b"ONLINE"])
async def test_spotfi_discovery_is_confirm_only(hass: HomeAssistant, payload: str | bytes) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(SPOTFI_STATUS, payload, SPOTFI_SUBSCRIBED),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert fields(result) == []
    assert result["description_placeholders"] == {
        "family": "SpotFi",
        "base_topic": "spotfi/router",
        "device": "rtr-1a2b3c4d",
    }
    assert_translated(result, described=False)
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["unique_id"] == "spotfi:spotfi/router"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "SpotFi"
    assert result["data"] == {"family": "spotfi", "base_topic": "spotfi/router"}
    assert result["options"] == SPOTFI_OPTIONS


@pytest.mark.parametrize(
    ("topic", "payload", "subscribed"),
    [
        pytest.param(SPOTFI_STATUS, "UP", SPOTFI_SUBSCRIBED, id="spotfi-word"),
        pytest.param(SPOTFI_STATUS, "", SPOTFI_SUBSCRIBED, id="spotfi-cleared"),
        pytest.param(SPOTFI_STATUS, '{"status": 1}', SPOTFI_SUBSCRIBED, id="spotfi-type"),
        pytest.param(SPOTFI_STATUS, "true", SPOTFI_SUBSCRIBED, id="spotfi-bool"),
        pytest.param(SPOTFI_STATUS, '{"online": true}', SPOTFI_SUBSCRIBED, id="spotfi-janus"),
        pytest.param(
            "spotfi/router/rtr1/metrics",
            '{"metrics": {}, "type": "metrics"}',
            SPOTFI_SUBSCRIBED,
            id="spotfi-not-a-status",
        ),
    ],
)
async def test_invalid_discovery_aborts(
    hass: HomeAssistant, topic: str, payload: str | bytes, subscribed: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload, subscribed)
    )
    assert result["reason"] == "invalid_discovery_info"
    assert_abort_translated(result)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("existing", "topic", "payload", "subscribed"),
    [
        (spotfi_entry(), SPOTFI_STATUS, "ONLINE", SPOTFI_SUBSCRIBED),
    ],
)
async def test_discovery_of_a_configured_base_aborts(
    hass: HomeAssistant, existing: MockConfigEntry, topic: str, payload: str, subscribed: str
) -> None:
    existing.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload, subscribed)
    )
    assert result["reason"] == "already_configured"
    assert_abort_translated(result)


@pytest.mark.usefixtures("mqtt_mock")
@pytest.mark.parametrize(
    ("topic", "payload", "unique_id", "device"),
    [
        (SPOTFI_STATUS, "ONLINE", "spotfi:spotfi/router", "rtr-1a2b3c4d"),
    ],
)
async def test_discovery_through_ha_mqtt(
    hass: HomeAssistant, topic: str, payload: str, unique_id: str, device: str
) -> None:
    async_fire_mqtt_message(hass, topic, payload, retain=True)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "discovery_confirm"
    assert flow["context"]["source"] == SOURCE_MQTT
    assert flow["context"]["unique_id"] == unique_id
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["description_placeholders"]["device"] == device


# --- options ----------------------------------------------------------------------------


async def test_spotfi_options_form(hass: HomeAssistant, loaded: Any) -> None:
    entry = await loaded(spotfi_entry())
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert fields(result) == [
        "offline_timeout",
        "stale_device_days",
        "rpc_allow_list",
        "terminal_enabled",
        *ADMISSION_DEFAULTS,
    ]
    assert suggested_values(result) == ADMISSION_DEFAULTS | SPOTFI_OPTIONS
    assert_translated(result, "options", described=False)


@pytest.mark.parametrize("pattern", BAD_PATTERNS)
async def test_spotfi_invalid_allow_list(hass: HomeAssistant, loaded: Any, pattern: str) -> None:
    entry = await loaded(spotfi_entry())
    hub = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    user_input = {
        "offline_timeout": 60,
        "rpc_allow_list": ["system.board", pattern],
        "terminal_enabled": False,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"rpc_allow_list": "allow_list_invalid"}
    assert_translated(result, "options", described=False)
    await hass.async_block_till_done()
    assert dict(entry.options) == SPOTFI_OPTIONS
    assert entry.runtime_data is hub


async def test_spotfi_options_saved_apply_the_new_values(
    hass: HomeAssistant, loaded: Any, mqtt_mock: Any
) -> None:
    entry = await loaded(spotfi_entry())
    old_hub: SpotFiHub = entry.runtime_data
    assert old_hub.allow_list == tuple(DEFAULT_ALLOW_LIST)
    assert old_hub.terminal_enabled is False
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "offline_timeout": 90,
            "rpc_allow_list": ["rc.list", " ", "rc.list", " network.device.status ", ""],
            "terminal_enabled": True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    expected = {
        "offline_timeout": 90,
        "stale_device_days": 30,
        "rpc_allow_list": ["rc.list", "network.device.status"],
        "terminal_enabled": True,
    }
    assert result["data"] == expected
    await hass.async_block_till_done()
    assert dict(entry.options) == expected
    hub: SpotFiHub = entry.runtime_data
    assert hub is old_hub  # applied in place, not reloaded
    assert hub.allow_list == ("rc.list", "network.device.status")
    assert hub.terminal_enabled is True
    assert hub.offline_timeout == 90

    # The hub enforces the new list: the default entries are gone.
    async_fire_mqtt_message(hass, "spotfi/router/rtr1/status", "ONLINE")
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "rpc_call",
            {"router": "rtr1", "path": "system", "method": "board"},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "rpc_not_allowed"


async def test_spotfi_options_saved_unchanged_do_not_reload(
    hass: HomeAssistant, loaded: Any
) -> None:
    entry = await loaded(spotfi_entry())
    hub = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], dict(SPOTFI_OPTIONS)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is hub


# --- translations -----------------------------------------------------------------------


def test_translations_of_the_spotfi_flow() -> None:
    config = TRANSLATIONS["config"]
    assert set(config["step"]["spotfi"]["data"]) == {"base_topic"}
    for reason in ABORTS:
        assert config["abort"][reason], reason
    options = TRANSLATIONS["options"]
    for key in ("rpc_allow_list", "terminal_enabled"):
        assert options["step"]["spotfi"]["data"][key]
        assert options["step"]["spotfi"]["data_description"][key]
    assert options["error"]["allow_list_invalid"]
    exceptions = TRANSLATIONS["exceptions"]
    for key in EXCEPTIONS:
        assert exceptions[key]["message"], key
