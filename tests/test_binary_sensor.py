"""Connectivity: devices (status and freshness) and the hub's broker connection."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_send
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.mqtt_fleet.const import (
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)

from .common import BOARD_A, BOARD_B, status_a, status_b, telemetry_a
from .conftest import Fire

CONNECTIVITY_A = "binary_sensor.esp32_001_connectivity"
CONNECTIVITY_B = "binary_sensor.relay_board_1_connectivity"


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
    entity_id = "binary_sensor.autocore_autocore_broker_connection"
    assert hass.states.get(entity_id).state == STATE_ON
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_OFF
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_ON
