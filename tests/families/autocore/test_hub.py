"""AutoCore hub: messages to devices, connectivity and availability, restore, bad input.

Bad input is counted, kept as a dead letter and logged rate-limited; never raised or wiping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    EVENT_STATE_CHANGED,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.dispatcher import async_dispatcher_send
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.mqtt_fleet.admission import Refusal
from custom_components.mqtt_fleet.const import (
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)
from custom_components.mqtt_fleet.families.autocore.hub import (
    CONF_MAX_EXTRA_SENSORS,
    AutoCoreHub,
)
from custom_components.mqtt_fleet.families.autocore.keys import extra_telemetry_key

from ...clock import until
from ...common import Fire, device_by_identifier, dumps, publishes
from .helpers import BOARD_A, BOARD_B, relay_a, relays_b, status_a, status_b, telemetry_a

CONNECTIVITY_A = "binary_sensor.esp32_001_connectivity"
CONNECTIVITY_B = "binary_sensor.relay_board_1_board_b1_connectivity"
TEMPERATURE = "sensor.esp32_001_temperature"
SWITCH_A = "switch.esp32_001_relay_01"


# --- connectivity and availability ------------------------------------------------------


async def test_connectivity_follows_status(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """Online status → on; the firmware's Last Will → off; events fire on the edges."""
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    online = async_capture_events(hass, EVENT_DEVICE_ONLINE)

    await fire("autocore/devices/board-b1/status", status_b())
    state = hass.states.get(CONNECTIVITY_B)
    assert state.state == STATE_ON
    assert state.attributes["device_class"] == "connectivity"
    assert [event.data for event in discovered] == [
        {
            "device_id": setup_entry.runtime_data.devices[BOARD_B].registry_id,
            "device": BOARD_B,
            "family": "autocore",
        }
    ]

    await fire(
        "autocore/devices/board-b1/status",
        status_b(status="offline", reason="unexpected_disconnect"),
    )
    assert hass.states.get(CONNECTIVITY_B).state == STATE_OFF
    assert [event.data["device"] for event in offline] == [BOARD_B]

    await fire("autocore/devices/board-b1/status", status_b())
    assert hass.states.get(CONNECTIVITY_B).state == STATE_ON
    assert [event.data["device"] for event in online] == [BOARD_B]
    assert len(offline) == 1


async def test_first_message_offline(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """A board first heard through its Last Will is discovered as disconnected."""
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    await fire("autocore/devices/board-b1/status", status_b(status="offline"))
    assert hass.states.get(CONNECTIVITY_B).state == STATE_OFF
    assert offline == []


async def test_device_without_status_is_connected_while_fresh(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Telemetry alone proves a board is there; silence for the timeout makes it stale."""
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    online = async_capture_events(hass, EVENT_DEVICE_ONLINE)
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get(CONNECTIVITY_A).state == STATE_ON

    freezer.tick(timedelta(seconds=91))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    state = hass.states.get(CONNECTIVITY_A)
    assert state.state == STATE_OFF  # never unavailable: it is the availability
    assert [event.data["device"] for event in offline] == [BOARD_A]

    await fire("autocore/ESP32_001/status", status_a())
    assert hass.states.get(CONNECTIVITY_A).state == STATE_ON
    assert [event.data["device"] for event in online] == [BOARD_A]


async def test_offline_timeout_option(
    hass: HomeAssistant,
    mqtt_mock: object,
    config_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The offline timeout is an option."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, "offline_timeout": 30}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(CONNECTIVITY_A).state == STATE_OFF
    assert hass.states.get("sensor.esp32_001_temperature").state == STATE_UNAVAILABLE


async def test_broker_connection_sensor(hass: HomeAssistant, setup_entry: MockConfigEntry) -> None:
    """The hub shows whether HA's MQTT client is connected to the broker."""
    entity_id = "binary_sensor.autocore_broker_connection"
    assert hass.states.get(entity_id).state == STATE_ON
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_OFF
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_ON


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_stale_device_goes_unavailable_and_back(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Freshness is timer-driven: no message for 90 s makes values unavailable."""
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    freezer.tick(timedelta(seconds=60))
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    freezer.tick(timedelta(seconds=60))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.esp32_001_temperature").state == "25.6"

    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.esp32_001_temperature").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.esp32_001_last_seen").state != STATE_UNAVAILABLE

    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get("sensor.esp32_001_temperature").state == "25.6"


async def test_offline_status_makes_values_unavailable(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """A status saying offline (e.g. the firmware's Last Will) wins over freshness."""
    await fire("autocore/devices/board-b1/status", status_b())
    assert hass.states.get("sensor.relay_board_1_board_b1_wi_fi_signal").state == "-61"
    await fire(
        "autocore/devices/board-b1/status",
        status_b(status="offline", reason="unexpected_disconnect"),
    )
    assert hass.states.get("sensor.relay_board_1_board_b1_wi_fi_signal").state == STATE_UNAVAILABLE
    await fire("autocore/devices/board-b1/status", status_b(wifi_signal=-70))
    assert hass.states.get("sensor.relay_board_1_board_b1_wi_fi_signal").state == "-70"


# --- restore, reconnect and naming ------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_restore_after_restart(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Known devices and entities come back with their last states, then go stale."""
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    await fire("autocore/ESP32_001/relay/1/status", relay_a(1, True))
    await fire("autocore/devices/board-b1/status", status_b())
    await fire("autocore/devices/board-b1/relays/state", relays_b(ch1=False, ch2=True))

    assert await hass.config_entries.async_reload(setup_entry.entry_id)
    await hass.async_block_till_done()
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    online = async_capture_events(hass, EVENT_DEVICE_ONLINE)

    hub = setup_entry.runtime_data
    assert set(hub.devices) == {BOARD_A, BOARD_B}
    assert all(device.restored for device in hub.devices.values())
    assert hass.states.get("sensor.esp32_001_temperature").state == "25.6"
    assert hass.states.get("sensor.esp32_001_ip_address").state == "192.168.1.100"
    assert hass.states.get("switch.esp32_001_relay_02").state == STATE_ON
    assert hass.states.get("switch.relay_board_1_board_b1_relay_02").state == STATE_ON
    assert hass.states.get("switch.relay_board_1_board_b1_relay_01").state == STATE_OFF
    assert hass.states.get("binary_sensor.esp32_001_connectivity").state == STATE_ON
    assert hass.states.get("sensor.relay_board_1_board_b1_wi_fi_signal").state == "-61"

    # Nobody speaks for the offline timeout: restored devices go away, once.
    freezer.tick(timedelta(seconds=91))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.esp32_001_temperature").state == STATE_UNAVAILABLE
    assert hass.states.get("switch.relay_board_1_board_b1_relay_02").state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.esp32_001_connectivity").state == STATE_OFF
    assert hass.states.get("sensor.esp32_001_last_seen").state != STATE_UNAVAILABLE
    assert sorted(event.data["device"] for event in offline) == sorted([BOARD_A, BOARD_B])

    # One board speaks again: it is back, with its restored values kept.
    await fire("autocore/ESP32_001/status", status_a())
    assert hass.states.get("sensor.esp32_001_temperature").state == "25.6"
    assert hass.states.get("binary_sensor.esp32_001_connectivity").state == STATE_ON
    assert [event.data["device"] for event in online] == [BOARD_A]
    assert online[0].data["device_id"] == hub.devices[BOARD_A].registry_id
    assert discovered == []


async def test_restored_device_silent_at_first(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """Before a restored board speaks, connectivity shows its last state, values are kept."""
    await fire("autocore/ESP32_001/status", status_a(status="offline"))
    assert hass.states.get("binary_sensor.esp32_001_connectivity").state == STATE_OFF
    assert await hass.config_entries.async_reload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.esp32_001_connectivity").state == STATE_OFF
    assert hass.states.get("sensor.esp32_001_ip_address").state == "192.168.1.100"


async def test_reconnect_asks_firmware_v2_boards_for_status(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """After the broker comes back, v2 boards are asked to republish their status."""
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/devices/board-b1/status", status_b())
    mqtt_mock.async_publish.reset_mock()
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await hass.async_block_till_done()
    mqtt_mock.async_publish.assert_not_called()
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert publishes(mqtt_mock) == [
        (
            "autocore/devices/board-b1/commands/status",
            b'{"protocol_version":"2.2","command":"status"}',
            1,
            False,
        )
    ]


async def test_reconnect_status_requests_stop_when_publishing_fails(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If the broker drops again while asking, the requests stop quietly."""
    await fire("autocore/devices/board-b1/status", status_b())
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    with patch(
        "homeassistant.components.mqtt.async_publish",
        side_effect=HomeAssistantError("not connected"),
    ) as publish:
        async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
        await hass.async_block_till_done()
    assert publish.call_count == 1
    assert "Status requests stopped: not connected" in caplog.text


@pytest.mark.parametrize(
    ("board_id", "name"),
    [("relay_board_1", "relay_board_1 (board-b1)"), (7, "AutoCore board 7 (board-b1)")],
)
async def test_firmware_v2_board_named_by_board_id(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire, board_id: object, name: str
) -> None:
    """A v2 board is named by its board id and its own (short) id; the UUID is the serial."""
    await fire("autocore/devices/board-b1/status", status_b(board_id=board_id))
    device = device_by_identifier(dr.async_get(hass), "entry_autocore_autocore/board-b1")
    assert device is not None
    assert device.name == name
    assert device.serial_number == BOARD_B
    assert device.sw_version == "2.0.0"
    assert device.model == "ESP32 relay board (firmware v2)"
    assert device.manufacturer == "AutoCore"


async def test_boards_with_the_same_board_id_get_names_of_their_own(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The firmware numbers boards from 1: the end of each uuid tells two board 1s apart."""
    for uuid in ("esp32-relay-a1b2c3", "esp32-relay-d4e5f6"):
        await fire(f"autocore/devices/{uuid}/status", status_b(uuid=uuid, board_id=1))
    registry = dr.async_get(hass)
    names = {
        uuid: device.name
        for uuid in ("esp32-relay-a1b2c3", "esp32-relay-d4e5f6")
        if (device := device_by_identifier(registry, f"entry_autocore_autocore/{uuid}"))
    }
    assert names == {
        "esp32-relay-a1b2c3": "AutoCore board 1 (a1b2c3)",
        "esp32-relay-d4e5f6": "AutoCore board 1 (d4e5f6)",
    }
    connectivity = {
        entity_id
        for entity_id in hass.states.async_entity_ids("binary_sensor")
        if entity_id.startswith("binary_sensor.autocore_board_1")
    }
    assert connectivity == {
        "binary_sensor.autocore_board_1_a1b2c3_connectivity",
        "binary_sensor.autocore_board_1_d4e5f6_connectivity",
    }


async def test_existing_board_is_renamed_and_the_users_name_kept(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """A board named the old way gets the new name; a name the user gave it stays shown."""
    await fire("autocore/devices/board-b1/status", status_b(board_id=1))
    registry = dr.async_get(hass)
    device = device_by_identifier(registry, "entry_autocore_autocore/board-b1")
    assert device is not None
    registry.async_update_device(device.id, name="AutoCore board 1", name_by_user="Garage")
    await fire("autocore/devices/board-b1/status", status_b(board_id=1))
    device = registry.async_get(device.id)
    assert device is not None
    assert device.name == "AutoCore board 1 (board-b1)"
    assert device.name_by_user == "Garage"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_restart_moves_only_with_a_restart(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """now - uptime, kept while reports only jitter; a restart (or a drift) moves it."""
    entity_id = "sensor.relay_board_1_board_b1_last_restart"
    freezer.move_to("2026-01-02T10:00:00+00:00")
    await fire("autocore/devices/board-b1/status", status_b(uptime=7200))
    first = hass.states.get(entity_id)
    assert first.state == "2026-01-02T08:00:00+00:00"
    assert first.attributes["device_class"] == "uptime"
    reported = first.last_reported  # the state object itself is updated in place

    # 30 s later the board says 45 s more: message delay, not a restart. Nothing is written.
    freezer.tick(timedelta(seconds=30))
    await fire("autocore/devices/board-b1/status", status_b(uptime=7245))
    assert hass.states.get(entity_id).last_reported == reported

    freezer.tick(timedelta(seconds=30))
    await fire("autocore/devices/board-b1/status", status_b(uptime=12))
    assert hass.states.get(entity_id).state == "2026-01-02T10:00:48+00:00"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_restart_survives_a_restart_of_home_assistant(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The restored time is what the first report after a restart is compared with.

    (The state alone would not show it: Home Assistant's uptime class hides jitter too.)
    """
    entity_id = "sensor.relay_board_1_board_b1_last_restart"
    freezer.move_to("2026-01-02T10:00:00+00:00")
    await fire("autocore/devices/board-b1/status", status_b(uptime=7200))
    assert await hass.config_entries.async_reload(sensor_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == "2026-01-02T08:00:00+00:00"

    freezer.tick(timedelta(seconds=60))
    await fire("autocore/devices/board-b1/status", status_b(uptime=7250))  # 10 s of delay
    shown = sensor_entry.runtime_data.devices[BOARD_B].values["last_restart"]
    assert shown == datetime(2026, 1, 2, 8, tzinfo=UTC)


async def test_uptime_of_a_replayed_status_dates_nothing(
    hass: HomeAssistant, sensor_entry: MockConfigEntry
) -> None:
    """A retained status may be old: its uptime does not date the last restart."""
    async_fire_mqtt_message(
        hass, "autocore/devices/board-b1/status", status_b(uptime=7200), retain=True
    )
    await hass.async_block_till_done()
    assert hass.states.get("sensor.relay_board_1_board_b1_wi_fi_signal").state == "-61"
    assert hass.states.get("sensor.relay_board_1_board_b1_last_restart") is None


async def test_telemetry_uptime_dates_the_last_restart(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Layout A sends uptime in its status and may in its telemetry: both feed one sensor."""
    freezer.move_to("2026-01-02T10:00:00+00:00")
    await fire("autocore/ESP32_001/telemetry", telemetry_a(uptime=60))
    assert hass.states.get("sensor.esp32_001_last_restart").state == "2026-01-02T09:59:00+00:00"
    assert hass.states.get("sensor.esp32_001_uptime") is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_unknown_address_makes_no_sensor_and_clears_a_shown_one(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """Firmware v2's 0.0.0.0 is no address; a board that had one shows unknown."""
    await fire("autocore/devices/board-b1/status", status_b())
    assert hass.states.get("sensor.relay_board_1_board_b1_ip_address") is None

    await fire("autocore/ESP32_001/status", status_a())
    assert hass.states.get("sensor.esp32_001_ip_address").state == "192.168.1.100"
    await fire("autocore/ESP32_001/status", status_a(ip_address="0.0.0.0"))
    assert hass.states.get("sensor.esp32_001_ip_address").state == STATE_UNKNOWN


async def test_restored_address_turns_unknown_when_the_board_has_none(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """The address shown before a restart gives way when the board reports it has none."""
    await fire("autocore/ESP32_001/status", status_a())
    assert await hass.config_entries.async_reload(sensor_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.esp32_001_ip_address").state == "192.168.1.100"
    await fire("autocore/ESP32_001/status", status_a(ip_address=""))
    assert hass.states.get("sensor.esp32_001_ip_address").state == STATE_UNKNOWN


async def test_last_will_reason_is_shown_while_the_board_is_away(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """The firmware's Last Will says why it went: shown, also while the board is offline."""
    await fire("autocore/devices/board-b1/status", status_b())
    reason = "sensor.relay_board_1_board_b1_last_disconnect_reason"
    assert hass.states.get(reason) is None
    await fire(
        "autocore/devices/board-b1/status",
        dumps({"uuid": BOARD_B, "status": "offline", "reason": "unexpected_disconnect"}),
    )
    assert hass.states.get("sensor.relay_board_1_board_b1_wi_fi_signal").state == (
        STATE_UNAVAILABLE
    )
    assert hass.states.get(reason).state == "unexpected_disconnect"
    await fire("autocore/devices/board-b1/status", status_b())
    assert hass.states.get(reason).state == "unexpected_disconnect"


async def test_retired_entities_are_removed_at_setup(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """Uptime and firmware version sensors of an older version leave the registry."""
    config_entry.add_to_hass(hass)
    registry = er.async_get(hass)
    prefix = f"{config_entry.entry_id}/{BOARD_A}"
    for key in ("uptime", "firmware_version", "temperature"):
        registry.async_get_or_create(
            "sensor", "mqtt_fleet", f"{prefix}/{key}", config_entry=config_entry
        )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    kept = {
        entity.unique_id.rpartition("/")[2]
        for entity in er.async_entries_for_config_entry(registry, config_entry.entry_id)
    }
    assert "temperature" in kept
    assert not kept & {"uptime", "firmware_version"}


# --- bad input --------------------------------------------------------------------------


BAD_TELEMETRY = [
    pytest.param(b"{not json", "invalid JSON", id="invalid-json"),
    pytest.param(b'{"temperature": true}', "temperature: expected a number", id="bool"),
    pytest.param(b'{"temperature": {"c": 30}}', "temperature: expected a number", id="object"),
    pytest.param(b'{"temperature": NaN}', "NaN or Infinity", id="nan"),
    pytest.param(b'{"temperature": -Infinity}', "NaN or Infinity", id="infinity"),
    pytest.param(b'{"temperature": 1e400}', "NaN or Infinity", id="overflow"),
    pytest.param(b'{"temperature": "30.1"}', "number sent as a string", id="string-number"),
    pytest.param(
        b'{"temperature": 30, "pad": "' + b"x" * 65536 + b'"}', "exceeds 64 KiB", id="oversized"
    ),
    pytest.param(b'{"temperature": 3\xff0}', "not valid UTF-8", id="non-utf8"),
    pytest.param(b"[25.0]", "expected a JSON object", id="array"),
]


def _our_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and record.name == "custom_components.mqtt_fleet"
    ]


@pytest.mark.parametrize(("payload", "reason"), BAD_TELEMETRY)
async def test_bad_telemetry_is_counted_and_keeps_the_good_value(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire, payload: bytes, reason: str
) -> None:
    """Every bad variant of the general rules: counted once, good value kept."""
    hub = setup_entry.runtime_data
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get(TEMPERATURE).state == "25.6"

    await fire("autocore/ESP32_001/telemetry", payload)
    assert hass.states.get(TEMPERATURE).state == "25.6"
    assert hub.messages_received == 2
    assert hub.invalid_messages == 1
    (letter,) = hub.dead_letters
    assert letter.topic == "autocore/ESP32_001/telemetry"
    assert reason in letter.reason
    assert len(letter.payload.encode()) <= 512 * 3  # cut to 512 bytes, then decoded


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "a+b", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="wildcard-in-uuid",
        ),
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "a/b", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="slash-in-uuid",
        ),
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "a\u0000b", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="nul-in-uuid",
        ),
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="empty-uuid",
        ),
        pytest.param(
            "autocore/ESP32_001/relay/01/status", relay_a(1, True), "relay index", id="index"
        ),
    ],
)
async def test_unsafe_ids_never_become_devices(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    mqtt_mock: object,
    fire: Fire,
    topic: str,
    payload: str,
    reason: str,
) -> None:
    """Ids with + # / NUL or empty ids are refused before any device or topic is made."""
    hub = setup_entry.runtime_data
    await fire(topic, payload)
    assert hub.devices == {}
    assert hub.invalid_messages == 1
    assert reason in hub.dead_letters[0].reason


async def test_partly_bad_message_applies_its_good_fields(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """One bad field makes the message invalid, but the other fields still apply."""
    hub = setup_entry.runtime_data
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    await fire("autocore/ESP32_001/telemetry", dumps({"temperature": "30", "humidity": 50.5}))
    assert hass.states.get(TEMPERATURE).state == "25.6"
    assert hass.states.get("sensor.esp32_001_humidity").state == "50.5"
    assert hub.invalid_messages == 1
    assert hub.dead_letters[0].reason == "temperature: number sent as a string"


async def test_bad_relay_status_keeps_the_relay_state(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """A relay status without a boolean state changes nothing."""
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    await fire("autocore/ESP32_001/relay/0/status", dumps({"state": "on"}))
    assert hass.states.get("switch.esp32_001_relay_01").state == STATE_OFF
    assert setup_entry.runtime_data.invalid_messages == 1


async def test_invalid_messages_are_logged_rate_limited(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One warning per minute at most; the next one says how many were suppressed."""
    caplog.set_level(logging.WARNING, logger="custom_components.mqtt_fleet")
    for _ in range(5):
        await fire("autocore/ESP32_001/telemetry", "garbage")
    warnings = _our_warnings(caplog)
    assert len(warnings) == 1
    assert "Ignored invalid message on autocore/ESP32_001/telemetry" in warnings[0].getMessage()

    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await fire("autocore/ESP32_001/telemetry", "garbage")
    warnings = _our_warnings(caplog)
    assert len(warnings) == 2
    assert "(4 more invalid messages since the last report)" in warnings[1].getMessage()


async def test_dead_letters_keep_the_last_50_and_cut_payloads(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The dead-letter queue is bounded and payloads are cut to 512 bytes."""
    hub = setup_entry.runtime_data
    for number in range(60):
        await fire("autocore/ESP32_001/telemetry", f"{number:03d}" + "x" * 1000)
    assert hub.invalid_messages == 60
    assert len(hub.dead_letters) == 50
    assert hub.dead_letters[0].payload.startswith("010")
    assert len(hub.dead_letters[-1].payload) == 512


async def test_a_bug_in_handling_is_contained(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error never reaches HA's MQTT loop: logged, counted, and HA goes on."""
    hub = setup_entry.runtime_data
    with patch.object(type(hub.protocol), "parse", side_effect=RuntimeError("boom")):
        await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hub.invalid_messages == 1
    assert hub.dead_letters[0].reason == "internal error"
    assert "Unexpected error handling a message on autocore/ESP32_001/telemetry" in caplog.text
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get(TEMPERATURE).state == "25.6"


# --- options ----------------------------------------------------------------------------


async def test_relay_topic_and_extra_sensor_cap_apply_without_a_reload(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """Saving the options changes no entity state; the new topic and cap take effect."""
    hub: AutoCoreHub = setup_entry.runtime_data
    await fire("autocore/ESP32_001/telemetry", telemetry_a(co2=412, lux=80))
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    board = hub.devices[BOARD_A]
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)

    hass.config_entries.async_update_entry(
        setup_entry,
        options={
            **setup_entry.options,
            "relay_command_topic": "cmd/{base}/{device_id}/{relay}",
            CONF_MAX_EXTRA_SENSORS: 1,
        },
    )
    await hass.async_block_till_done()
    assert setup_entry.runtime_data is hub  # not reloaded
    assert [event.data["entity_id"] for event in changes if event.data["old_state"]] == []

    # Both extra sensors stay, over the new cap of 1; a further one is refused.
    await fire("autocore/ESP32_001/telemetry", telemetry_a(co2=415, lux=81, noise=31))
    assert {extra_telemetry_key("co2"), extra_telemetry_key("lux")} <= board.known_keys
    assert extra_telemetry_key("noise") not in board.known_keys
    assert hub.admission.refused[Refusal.MAX_EXTRA_SENSORS] == 1

    mqtt_mock.async_publish.reset_mock()
    call = hass.async_create_task(
        hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: SWITCH_A}, blocking=True
        )
    )
    await until(lambda: mqtt_mock.async_publish.called, tries=200)
    assert publishes(mqtt_mock)[-1][0] == "cmd/autocore/ESP32_001/0"
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, True))
    await call


async def test_raising_the_extra_sensor_cap_admits_the_refused_sensor(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry, fire: Fire
) -> None:
    """The issue about the old cap goes; the next telemetry adds the sensor it refused."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_MAX_EXTRA_SENSORS: 1}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    hub: AutoCoreHub = config_entry.runtime_data
    await fire("autocore/ESP32_001/telemetry", telemetry_a(co2=412, lux=80))
    issue = f"admission_max_extra_sensors.{config_entry.entry_id}"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue) is not None
    assert extra_telemetry_key("lux") not in hub.devices[BOARD_A].known_keys

    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_MAX_EXTRA_SENSORS: 2}
    )
    await hass.async_block_till_done()
    assert config_entry.runtime_data is hub  # not reloaded
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue) is None
    await fire("autocore/ESP32_001/telemetry", telemetry_a(co2=415, lux=81))
    assert extra_telemetry_key("lux") in hub.devices[BOARD_A].known_keys
