"""Connectivity: each device's (online and fresh) and the hub's broker connection."""

from __future__ import annotations

from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.const import STATE_ON, EntityCategory
from homeassistant.helpers.restore_state import RestoreEntity

from .base import FleetEntity, HubEntity


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
