"""AutoCore config flow (base topic step, MQTT discovery) and options flow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from unittest.mock import AsyncMock

from homeassistant.config_entries import SOURCE_IGNORE, SOURCE_MQTT, SOURCE_USER, ConfigEntryState
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.discovery_flow import DiscoveryKey
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.mqtt_fleet.const import (
    CONF_BASE_TOPIC,
    CONF_FAMILY,
    CONF_OFFLINE_TIMEOUT,
    CONF_STALE_DEVICE_DAYS,
    DOMAIN,
)
from custom_components.mqtt_fleet.families.autocore.hub import (
    CONF_MAX_EXTRA_SENSORS,
    CONF_RELAY_COMMAND_TOPIC,
    AutoCoreHub,
)
from custom_components.mqtt_fleet.flow_fields import ADMISSION_DEFAULTS
from custom_components.mqtt_fleet.protocol.autocore import Layout

from ...common import dumps, entry_id_for, entry_title
from ...flow_helpers import discovery, fields, suggested_values
from .helpers import BOARD_A, BOARD_B, status_a, status_b

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    import probatio as vol


DEFAULT_TEMPLATE = "{base}/{device_id}/relay/{relay}/set"
DEFAULT_OPTIONS = {
    CONF_OFFLINE_TIMEOUT: 90,
    CONF_RELAY_COMMAND_TOPIC: DEFAULT_TEMPLATE,
    CONF_STALE_DEVICE_DAYS: 30,
    CONF_MAX_EXTRA_SENSORS: 32,
}
TOPIC_A = f"autocore/{BOARD_A}/status"
TOPIC_B = f"autocore/devices/{BOARD_B}/status"
SUBSCRIBED_A = "autocore/+/status"
SUBSCRIBED_B = "autocore/devices/+/status"


async def start_user_flow(hass: HomeAssistant, family: str = "autocore") -> dict[str, Any]:
    """Open the user menu and pick a family."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": family}
    )


def assert_autocore_entry(result: dict[str, Any], base: str) -> None:
    """Check a created AutoCore entry for `base`, on the flow result and the entry."""
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == entry_title("autocore", base)
    assert result["data"] == {CONF_FAMILY: "autocore", CONF_BASE_TOPIC: base}
    assert result["options"] == DEFAULT_OPTIONS
    assert result["result"].unique_id == f"autocore:{base}"
    entry = result["result"]
    assert entry.domain == DOMAIN
    assert entry.title == entry_title("autocore", base)
    assert dict(entry.data) == {CONF_FAMILY: "autocore", CONF_BASE_TOPIC: base}
    assert dict(entry.options) == DEFAULT_OPTIONS
    assert entry.version == 2
    assert entry.minor_version == 2


# --- AutoCore step ----------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_autocore_default_base(hass: HomeAssistant, mock_setup_entry: AsyncMock) -> None:
    result = await start_user_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "autocore"
    assert result["errors"] == {}
    schema: vol.Schema = result["data_schema"]
    assert [str(key) for key in schema.schema] == [CONF_BASE_TOPIC]
    assert schema({}) == {CONF_BASE_TOPIC: "autocore"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "autocore"}
    )
    assert_autocore_entry(result, "autocore")
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 1
    (entry,) = hass.config_entries.async_entries(DOMAIN)
    assert entry.source == SOURCE_USER
    assert entry.state is ConfigEntryState.LOADED


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_autocore_multi_level_base_next_to_an_existing_entry(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "site-a/autocore"}
    )
    assert_autocore_entry(result, "site-a/autocore")
    assert {entry.unique_id for entry in hass.config_entries.async_entries(DOMAIN)} == {
        "autocore:autocore",
        "autocore:site-a/autocore",
    }


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize(
    ("typed", "base"),
    [
        ("  autocore  ", "autocore"),
        ("  site-a/autocore", "site-a/autocore"),
    ],
)
async def test_autocore_base_is_stripped(hass: HomeAssistant, typed: str, base: str) -> None:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: typed}
    )
    assert_autocore_entry(result, base)


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize(
    ("base", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/autocore", "edge_slash"),
        ("autocore/", "edge_slash"),
        ("/", "edge_slash"),
        ("site//autocore", "empty_level"),
        ("autocore/+", "wildcard"),
        ("auto+core", "wildcard"),
        ("autocore/#", "wildcard"),
        ("auto\x00core", "control_character"),
        ("auto\tcore", "control_character"),
        ("autocore\x7f", "control_character"),
        ("a" * 32768, "too_long"),
    ],
)
async def test_autocore_invalid_base_then_recover(
    hass: HomeAssistant, base: str, code: str
) -> None:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: base}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "autocore"
    assert result["errors"] == {CONF_BASE_TOPIC: f"base_topic_{code}"}
    # What the user typed stays in the field, so it can be corrected.
    assert suggested_values(result) == {CONF_BASE_TOPIC: base}
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "autocore"}
    )
    assert_autocore_entry(result, "autocore")


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize("typed", ["autocore", " autocore "])
async def test_autocore_duplicate_base_is_refused_in_the_form(
    hass: HomeAssistant, config_entry: MockConfigEntry, typed: str
) -> None:
    config_entry.add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: typed}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BASE_TOPIC: "base_topic_in_use"}
    assert hass.config_entries.async_entries(DOMAIN) == [config_entry]


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_autocore_base_is_case_sensitive(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """MQTT topics are case-sensitive: `AutoCore` is another stream than `autocore`."""
    config_entry.add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "AutoCore"}
    )
    assert_autocore_entry(result, "AutoCore")


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_autocore_replaces_an_ignored_discovery(hass: HomeAssistant) -> None:
    """A stream the user ignored when discovered can still be added by hand."""
    ignored = MockConfigEntry(
        domain=DOMAIN, source=SOURCE_IGNORE, unique_id="autocore:autocore", data={}
    )
    ignored.add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "autocore"}
    )
    assert_autocore_entry(result, "autocore")
    await hass.async_block_till_done()
    assert [entry.source for entry in hass.config_entries.async_entries(DOMAIN)] == [SOURCE_USER]


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_autocore_while_the_same_base_is_being_discovered(hass: HomeAssistant) -> None:
    """Adding by hand the base a pending discovery offers adds it; the discovery ends."""
    discovered = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(TOPIC_A, status_a(), SUBSCRIBED_A)
    )
    assert discovered["step_id"] == "discovery_confirm"
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "autocore"}
    )
    assert_autocore_entry(result, "autocore")
    assert hass.config_entries.flow.async_progress() == []


# --- MQTT discovery ---------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize("base", ["autocore/devices", "site"])
async def test_autocore_base_overlapping_an_entry(hass: HomeAssistant, base: str) -> None:
    """A base nested in (or holding) another AutoCore entry's base would share its topics."""
    MockConfigEntry(
        domain=DOMAIN,
        data={
            CONF_FAMILY: "autocore",
            CONF_BASE_TOPIC: "site/autocore" if base == "site" else "autocore",
        },
        unique_id="autocore:existing",
        entry_id=entry_id_for("autocore:existing"),
    ).add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: base}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BASE_TOPIC: "base_topic_overlaps"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_BASE_TOPIC: "elsewhere"}
    )
    assert_autocore_entry(result, "elsewhere")


@pytest.mark.usefixtures("mqtt_mock")
async def test_discovery_accepts_a_status_with_an_odd_field(hass: HomeAssistant) -> None:
    """The hub keeps the good fields of such a status, so discovery takes it too."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(TOPIC_A, status_a(uptime="long"), SUBSCRIBED_A),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("topic", "payload", "subscribed", "device"),
    [
        (TOPIC_A, status_a(), SUBSCRIBED_A, BOARD_A),
        (TOPIC_A, status_a().encode(), SUBSCRIBED_A, BOARD_A),
        (TOPIC_A, status_a("offline"), SUBSCRIBED_A, BOARD_A),
        (TOPIC_A, '{"status": "ONLINE"}', SUBSCRIBED_A, BOARD_A),
        (TOPIC_B, status_b(), SUBSCRIBED_B, BOARD_B),
        (TOPIC_B, bytearray(status_b("offline", reason="unexpected_disconnect"), "utf-8"),
         SUBSCRIBED_B, BOARD_B),
    ],
)  # fmt: skip
async def test_discovery_confirm_creates_entry(
    hass: HomeAssistant, topic: str, payload: str | bytes, subscribed: str, device: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload, subscribed)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {
        "family": "AutoCore",
        "base_topic": "autocore",
        "device": device,
    }
    assert not result["errors"]
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["flow_id"] == result["flow_id"]
    assert flow["context"]["title_placeholders"] == {"name": "AutoCore"}
    assert flow["context"]["unique_id"] == "autocore:autocore"
    assert fields(result) == []  # nothing to fill in: a confirmation

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert_autocore_entry(result, "autocore")
    assert result["result"].source == SOURCE_MQTT
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("topic", "payload", "subscribed"),
    [(TOPIC_A, status_a(), SUBSCRIBED_A), (TOPIC_B, status_b(), SUBSCRIBED_B)],
)
async def test_discovery_of_a_configured_base_aborts(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    topic: str,
    payload: str,
    subscribed: str,
) -> None:
    config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload, subscribed)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert hass.config_entries.async_entries(DOMAIN) == [config_entry]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_discovery_of_an_ignored_base_aborts(hass: HomeAssistant) -> None:
    MockConfigEntry(
        domain=DOMAIN, source=SOURCE_IGNORE, unique_id="autocore:autocore", data={}
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(TOPIC_A, status_a(), SUBSCRIBED_A)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_discovery_while_one_is_in_progress_aborts(hass: HomeAssistant) -> None:
    """A second board under the same base does not open a second flow."""
    first = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(TOPIC_A, status_a(), SUBSCRIBED_A)
    )
    assert first["type"] is FlowResultType.FORM
    second = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(TOPIC_B, status_b(), SUBSCRIBED_B)
    )
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"
    assert [flow["flow_id"] for flow in hass.config_entries.flow.async_progress()] == [
        first["flow_id"]
    ]


@pytest.mark.parametrize(
    ("topic", "payload", "subscribed"),
    [
        pytest.param(TOPIC_A, "not json", SUBSCRIBED_A, id="not-json"),
        pytest.param(TOPIC_A, "", SUBSCRIBED_A, id="empty-retained-clear"),
        pytest.param(TOPIC_A, "[1, 2]", SUBSCRIBED_A, id="json-array"),
        pytest.param(TOPIC_A, '"online"', SUBSCRIBED_A, id="json-string"),
        pytest.param(TOPIC_A, status_a("rebooting"), SUBSCRIBED_A, id="unknown-status"),
        pytest.param(TOPIC_B, status_b("rebooting"), SUBSCRIBED_B, id="unknown-status-b"),
        pytest.param(TOPIC_A, dumps({"device_id": BOARD_A}), SUBSCRIBED_A, id="no-status"),
        pytest.param(TOPIC_A, b'{"status": "online"}\xff', SUBSCRIBED_A, id="non-utf8"),
        pytest.param(TOPIC_A, b"\xff\xfe\x00", SUBSCRIBED_A, id="binary"),
        pytest.param(TOPIC_A, '{"status": NaN}', SUBSCRIBED_A, id="nan"),
        pytest.param(
            "autocore/ESP32_001/telemetry", status_a(), "autocore/+/telemetry", id="unknown-sub"
        ),
        pytest.param(TOPIC_A, status_a(), "other/+/status", id="unknown-sub-same-shape"),
    ],
)
async def test_invalid_discovery_aborts(
    hass: HomeAssistant, topic: str, payload: str | bytes, subscribed: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload, subscribed)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "invalid_discovery_info"
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert not hass.config_entries.async_entries(DOMAIN)


@pytest.mark.usefixtures("mqtt_mock")
@pytest.mark.parametrize(
    ("topic", "payload", "device"),
    [(TOPIC_A, status_a(), BOARD_A), (TOPIC_B, status_b(), BOARD_B)],
)
async def test_discovery_through_ha_mqtt(
    hass: HomeAssistant, topic: str, payload: str, device: str
) -> None:
    """A status on a manifest topic reaches the flow through HA's MQTT discovery."""
    async_fire_mqtt_message(hass, topic, payload)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "discovery_confirm"
    assert flow["context"]["source"] == SOURCE_MQTT
    assert flow["context"]["unique_id"] == "autocore:autocore"
    assert flow["context"]["discovery_key"] == DiscoveryKey(domain="mqtt", key=topic, version=1)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["description_placeholders"]["device"] == device


@pytest.mark.usefixtures("mqtt_mock")
async def test_invalid_status_through_ha_mqtt_opens_no_flow(hass: HomeAssistant) -> None:
    async_fire_mqtt_message(hass, TOPIC_A, "garbage")
    async_fire_mqtt_message(hass, "autocore/ESP32_001/telemetry", status_a())
    await hass.async_block_till_done()
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_discovery_of_a_loaded_entry_records_the_key_without_reload(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """HA stores the discovery key on the entry; that update must not reload it."""
    hub = setup_entry.runtime_data
    key = DiscoveryKey(domain="mqtt", key=TOPIC_B, version=1)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT, "discovery_key": key},
        data=discovery(TOPIC_B, status_b(), SUBSCRIBED_B),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    assert setup_entry.discovery_keys == {"mqtt": (key,)}
    assert setup_entry.state is ConfigEntryState.LOADED
    assert setup_entry.runtime_data is hub


# --- options flow -----------------------------------------------------------------------


async def test_options_form_shows_current_values(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(
        setup_entry,
        options={
            CONF_OFFLINE_TIMEOUT: 300,
            CONF_RELAY_COMMAND_TOPIC: "{base}/{device_id}/r{relay}",
            CONF_STALE_DEVICE_DAYS: 7,
        },
    )
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "autocore"
    assert result["errors"] == {}
    assert suggested_values(result) == ADMISSION_DEFAULTS | {
        CONF_OFFLINE_TIMEOUT: 300,
        CONF_RELAY_COMMAND_TOPIC: "{base}/{device_id}/r{relay}",
        CONF_STALE_DEVICE_DAYS: 7,
        CONF_MAX_EXTRA_SENSORS: 32,
    }


async def test_options_form_falls_back_to_defaults(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """An entry without stored options shows the family defaults."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=config_entry.title,
        data=dict(config_entry.data),
        unique_id=config_entry.unique_id,
        entry_id=entry_id_for(config_entry.unique_id),
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_values(result) == ADMISSION_DEFAULTS | DEFAULT_OPTIONS


async def test_options_save_applies_the_new_values(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    old_hub = setup_entry.runtime_data
    assert old_hub.offline_timeout == 90
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_OFFLINE_TIMEOUT: 120,
            CONF_RELAY_COMMAND_TOPIC: "{base}/cmd/{device_id}/{relay}",
            CONF_STALE_DEVICE_DAYS: 60,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    new_options = {
        CONF_OFFLINE_TIMEOUT: 120,
        CONF_RELAY_COMMAND_TOPIC: "{base}/cmd/{device_id}/{relay}",
        CONF_STALE_DEVICE_DAYS: 60,
    }
    assert result["data"] == new_options
    await hass.async_block_till_done()

    assert dict(setup_entry.options) == new_options
    assert type(setup_entry.options[CONF_OFFLINE_TIMEOUT]) is int
    assert setup_entry.state is ConfigEntryState.LOADED
    hub = setup_entry.runtime_data
    assert isinstance(hub, AutoCoreHub)
    assert hub is old_hub  # applied in place, not reloaded
    assert hub.options == new_options
    assert hub.offline_timeout == 120
    assert hub.upkeep.stale_after == 60 * 86400
    message = hub.protocol.relay_command(BOARD_A, Layout.MONITOR, 2, True)
    assert message.topic == f"autocore/cmd/{BOARD_A}/2"
    # Layout B commands do not follow the template.
    message = hub.protocol.relay_command(BOARD_B, Layout.FIRMWARE_V2, 2, True)
    assert message.topic == f"autocore/devices/{BOARD_B}/relays/set"


async def test_options_offline_timeout_from_the_number_box_is_an_int(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """The number selector hands over floats; the option is stored as a whole number."""
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_OFFLINE_TIMEOUT: 600.0,
            CONF_RELAY_COMMAND_TOPIC: DEFAULT_TEMPLATE,
            CONF_STALE_DEVICE_DAYS: 14.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {
        CONF_OFFLINE_TIMEOUT: 600,
        CONF_RELAY_COMMAND_TOPIC: DEFAULT_TEMPLATE,
        CONF_STALE_DEVICE_DAYS: 14,
    }
    assert type(result["data"][CONF_OFFLINE_TIMEOUT]) is int
    assert type(result["data"][CONF_STALE_DEVICE_DAYS]) is int
    await hass.async_block_till_done()
    assert setup_entry.runtime_data.offline_timeout == 600


async def test_options_saved_unchanged_do_not_reload(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    hub = setup_entry.runtime_data
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], dict(DEFAULT_OPTIONS)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert dict(setup_entry.options) == DEFAULT_OPTIONS
    assert setup_entry.runtime_data is hub


@pytest.mark.parametrize("seconds", [9, 86401, -1])
async def test_options_offline_timeout_out_of_range(
    hass: HomeAssistant, setup_entry: MockConfigEntry, seconds: int
) -> None:
    hub = setup_entry.runtime_data
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    with pytest.raises(InvalidData) as err:
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {CONF_OFFLINE_TIMEOUT: seconds, CONF_RELAY_COMMAND_TOPIC: DEFAULT_TEMPLATE},
        )
    assert CONF_OFFLINE_TIMEOUT in err.value.schema_errors
    assert dict(setup_entry.options) == DEFAULT_OPTIONS
    assert setup_entry.runtime_data is hub


@pytest.mark.parametrize("days", [1, 3650.0])
async def test_options_stale_device_days_bounds_are_allowed(
    hass: HomeAssistant, setup_entry: MockConfigEntry, days: float
) -> None:
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**DEFAULT_OPTIONS, CONF_STALE_DEVICE_DAYS: days}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {**DEFAULT_OPTIONS, CONF_STALE_DEVICE_DAYS: int(days)}
    assert type(result["data"][CONF_STALE_DEVICE_DAYS]) is int
    await hass.async_block_till_done()
    assert setup_entry.runtime_data.upkeep.stale_after == int(days) * 86400


@pytest.mark.parametrize("days", [0, 0.5, -1, 3651, "soon"])
async def test_options_stale_device_days_out_of_range(
    hass: HomeAssistant, setup_entry: MockConfigEntry, days: float | str
) -> None:
    hub = setup_entry.runtime_data
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    with pytest.raises(InvalidData) as err:
        await hass.config_entries.options.async_configure(
            result["flow_id"], {**DEFAULT_OPTIONS, CONF_STALE_DEVICE_DAYS: days}
        )
    assert CONF_STALE_DEVICE_DAYS in err.value.schema_errors
    await hass.async_block_till_done()
    assert dict(setup_entry.options) == DEFAULT_OPTIONS
    assert setup_entry.runtime_data is hub


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("{base}/{device_id}/relay/{relay/set", "unbalanced_braces"),
        ("{base}/{device_id}/relay/{relay}}/set", "unbalanced_braces"),
        ("{base}/{device}/relay/{relay}/set", "unknown_placeholder"),
        ("{base}/{}/relay/{relay}/set", "unknown_placeholder"),
        ("{base}/{0}/relay/{relay}/set", "unknown_placeholder"),
        ("{base}/{device_id.upper}/relay/{relay}/set", "unknown_placeholder"),
        ("{base}/{device_id}/relay/{relay:02d}/set", "placeholder_format"),
        ("{base}/{device_id!r}/relay/{relay}/set", "placeholder_format"),
        ("{base}/{device_id}/relay/set", "missing_placeholder"),
        ("{base}/relay/{relay}/set", "missing_placeholder"),
        ("{base}/+/{device_id}/{relay}", "wildcard"),
        ("{base}/{device_id}/relay/{relay}/#", "wildcard"),
        ("{base}//{device_id}/{relay}", "empty_level"),
        ("/{base}/{device_id}/{relay}", "edge_slash"),
        ("{base}/{device_id}/{relay}/", "edge_slash"),
        ("{base}/{device_id}/{relay}\x00", "control_character"),
        ("{base}/{device_id}/{relay}/" + "x" * 32768, "too_long"),
    ],
)
async def test_options_invalid_template(
    hass: HomeAssistant, setup_entry: MockConfigEntry, template: str, code: str
) -> None:
    hub = setup_entry.runtime_data
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OFFLINE_TIMEOUT: 45, CONF_RELAY_COMMAND_TOPIC: template}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "autocore"
    assert result["errors"] == {CONF_RELAY_COMMAND_TOPIC: f"template_{code}"}
    # The form keeps what the user typed (the schema filled in the stale days), not the stored
    # values.
    assert suggested_values(result) == ADMISSION_DEFAULTS | {
        CONF_OFFLINE_TIMEOUT: 45,
        CONF_RELAY_COMMAND_TOPIC: template,
        CONF_STALE_DEVICE_DAYS: 30,
        CONF_MAX_EXTRA_SENSORS: 32,
    }
    await hass.async_block_till_done()
    assert dict(setup_entry.options) == DEFAULT_OPTIONS
    assert setup_entry.runtime_data is hub

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_OFFLINE_TIMEOUT: 45, CONF_RELAY_COMMAND_TOPIC: "{device_id}/{relay}"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert dict(setup_entry.options) == {
        CONF_OFFLINE_TIMEOUT: 45,
        CONF_RELAY_COMMAND_TOPIC: "{device_id}/{relay}",
        CONF_STALE_DEVICE_DAYS: 30,
    }
    assert setup_entry.runtime_data is hub  # applied in place, not reloaded


@pytest.mark.parametrize(
    "template",
    [
        "{device_id}/{relay}",
        "{base}/{device_id}/relay/{relay}/set",
        "{base}/{{literal}}/{device_id}/{relay}",
        "{relay}/{device_id}/{base}/{base}",
    ],
)
async def test_options_valid_templates(
    hass: HomeAssistant, setup_entry: MockConfigEntry, template: str
) -> None:
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_OFFLINE_TIMEOUT: 90, CONF_RELAY_COMMAND_TOPIC: template}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_RELAY_COMMAND_TOPIC] == template
    await hass.async_block_till_done()
    hub = setup_entry.runtime_data
    expected = template.format(base="autocore", device_id=BOARD_A, relay=3)
    assert hub.protocol.relay_command(BOARD_A, Layout.MONITOR, 3, False).topic == expected
