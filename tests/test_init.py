"""Entry setup, unload, restore after restart and device removal."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.mqtt_fleet import async_remove_config_entry_device
from custom_components.mqtt_fleet.const import (
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)
from custom_components.mqtt_fleet.families.autocore.hub import AutoCoreHub

from .common import (
    BOARD_A,
    BOARD_B,
    device_by_identifier,
    publishes,
    relay_a,
    relays_b,
    status_a,
    status_b,
    telemetry_a,
)
from .conftest import Fire


async def test_setup_and_unload(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The hub subscribes to both layouts, owns a hub device and stops on unload."""
    assert setup_entry.state is ConfigEntryState.LOADED
    hub = setup_entry.runtime_data
    assert isinstance(hub, AutoCoreHub)
    assert set(hub.subscriptions) == {
        "autocore/+/status",
        "autocore/+/telemetry",
        "autocore/+/relay/+/status",
        "autocore/+/display/interaction",
        "autocore/+/system/+",
        "autocore/devices/+/status",
        "autocore/devices/+/relays/state",
        "autocore/telemetry/relays/data",
        "autocore/errors/+/+",
    }
    hub_device = device_by_identifier(dr.async_get(hass), "entry_autocore_autocore")
    assert hub_device is not None
    assert hub_device.entry_type is dr.DeviceEntryType.SERVICE
    assert hub_device.name == "AutoCore (autocore)"

    await fire("autocore/ESP32_001/status", status_a())
    assert hub.messages_received == 1

    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    assert setup_entry.state is ConfigEntryState.NOT_LOADED
    await fire("autocore/ESP32_001/status", status_a())
    assert hub.messages_received == 1


async def test_not_ready_without_mqtt(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    """Without HA's MQTT integration the entry retries later."""
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_not_ready_when_subscribe_fails(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """A subscribe refused by HA's MQTT layer retries later and leaves nothing behind."""
    config_entry.add_to_hass(hass)
    with patch(
        "homeassistant.components.mqtt.async_subscribe",
        side_effect=HomeAssistantError("MQTT is not enabled"),
    ):
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


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
    assert hass.states.get("switch.esp32_001_relay_1").state == STATE_ON
    assert hass.states.get("switch.relay_board_1_relay_2").state == STATE_ON
    assert hass.states.get("switch.relay_board_1_relay_1").state == STATE_OFF
    assert hass.states.get("binary_sensor.esp32_001_connectivity").state == STATE_ON
    assert hass.states.get("sensor.relay_board_1_wi_fi_signal").state == "-61"

    # Nobody speaks for the offline timeout: restored devices go away, once.
    freezer.tick(timedelta(seconds=91))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.esp32_001_temperature").state == STATE_UNAVAILABLE
    assert hass.states.get("switch.relay_board_1_relay_2").state == STATE_UNAVAILABLE
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


async def test_remove_device(hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire) -> None:
    """A board can be deleted and is rediscovered when it speaks; the hub cannot."""
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)
    await fire("autocore/ESP32_001/status", status_a())
    registry = dr.async_get(hass)
    hub = setup_entry.runtime_data
    board = device_by_identifier(registry, "entry_autocore_autocore/ESP32_001")
    hub_device = device_by_identifier(registry, "entry_autocore_autocore")
    assert board is not None
    assert hub_device is not None
    assert board.via_device_id == hub_device.id

    assert not await async_remove_config_entry_device(hass, setup_entry, hub_device)
    assert await async_remove_config_entry_device(hass, setup_entry, board)
    assert BOARD_A not in hub.devices

    await fire("autocore/ESP32_001/status", status_a())
    assert BOARD_A in hub.devices
    assert [event.data["device"] for event in discovered] == [BOARD_A, BOARD_A]


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
    ("board_id", "name"), [("relay_board_1", "relay_board_1"), (7, "AutoCore board 7")]
)
async def test_firmware_v2_board_named_by_board_id(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire, board_id: object, name: str
) -> None:
    """A v2 board is named by its board id (friendlier than a UUID), its UUID is the serial."""
    await fire("autocore/devices/board-b1/status", status_b(board_id=board_id))
    device = device_by_identifier(dr.async_get(hass), "entry_autocore_autocore/board-b1")
    assert device is not None
    assert device.name == name
    assert device.serial_number == BOARD_B
    assert device.sw_version == "2.0.0"
    assert device.model == "ESP32 relay board (firmware v2)"
    assert device.manufacturer == "AutoCore"
