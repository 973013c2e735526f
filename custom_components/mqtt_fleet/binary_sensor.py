"""Connectivity: each device's (online and fresh) and the hub's broker connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
)
from homeassistant.const import STATE_ON, EntityCategory
from homeassistant.helpers.restore_state import RestoreEntity

from .entity import FleetEntity, HubEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .hub import FleetConfigEntry, FleetDevice

# Entities only write state when a device reports a change; nothing is polled.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FleetConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the broker connection sensor now and device connectivity as devices appear."""
    hub = entry.runtime_data
    async_add_entities([MqttConnectedSensor(hub, "mqtt_connected")])

    def factory(device: FleetDevice, key: str) -> DeviceConnectivitySensor | None:
        return DeviceConnectivitySensor(device, key) if key == "connectivity" else None

    hub.async_add_entity_factory(factory, async_add_entities)


class DeviceConnectivitySensor(FleetEntity, BinarySensorEntity, RestoreEntity):
    """On while the device's status says online and its messages are fresh."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _restored: bool | None = None

    async def async_added_to_hass(self) -> None:
        """Restore the last state, shown until the device is heard from or goes stale."""
        await super().async_added_to_hass()
        if (state := await self.async_get_last_state()) is not None:
            self._restored = state.state == STATE_ON

    @property
    def available(self) -> bool:
        """Connectivity is always known: off when the device is away."""
        return True

    @property
    def is_on(self) -> bool | None:
        """Return whether the device is connected."""
        connected = self.device.connected
        return self._restored if connected is None else connected


class MqttConnectedSensor(HubEntity, BinarySensorEntity):
    """Whether Home Assistant's MQTT client is connected to the broker."""

    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_translation_key = "mqtt_connected"

    def read_hub(self) -> bool:
        """Read the broker connection state."""
        return self.hub.mqtt_connected

    @property
    def is_on(self) -> bool:
        """Return whether the broker is connected."""
        return bool(self._value)
