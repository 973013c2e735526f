"""Entry setup, unload and device removal (an AutoCore entry stands for every family).

Restore after a restart and reconnects: tests/families/<family>/test_hub.py.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.mqtt_fleet import async_remove_config_entry_device
from custom_components.mqtt_fleet.const import EVENT_DEVICE_DISCOVERED
from custom_components.mqtt_fleet.families.autocore.hub import AutoCoreHub

from .common import Fire, device_by_identifier
from .families.autocore.helpers import BOARD_A, status_a


async def test_setup_and_unload(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The hub subscribes to both layouts, owns a hub device and stops on unload."""
    assert setup_entry.state is ConfigEntryState.LOADED
    hub = setup_entry.runtime_data
    assert isinstance(hub, AutoCoreHub)
    assert set(hub.protocol.subscriptions) == {
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
