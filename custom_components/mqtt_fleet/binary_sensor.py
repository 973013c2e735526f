"""Connectivity: the hub's broker connection, and each device's when its family has one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import keys
from .entities.binary_sensor import DeviceConnectivitySensor, MqttConnectedSensor

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .device import FleetDevice
    from .hub import FleetConfigEntry

# Entities only write state when a device reports a change; nothing is polled.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FleetConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the broker connection sensor now and device connectivity as devices appear."""
    hub = entry.runtime_data
    async_add_entities([MqttConnectedSensor(hub, keys.MQTT_CONNECTED)])

    def factory(device: FleetDevice, key: str) -> DeviceConnectivitySensor | None:
        return DeviceConnectivitySensor(device, key) if key == keys.CONNECTIVITY else None

    await hub.async_add_entity_factory(factory, async_add_entities)
