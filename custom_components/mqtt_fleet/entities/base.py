"""Base entities: one for a fleet device's values, one for the hub's own health."""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity

from ..const import DOMAIN

if TYPE_CHECKING:
    from ..device import FleetDevice
    from ..hub import FleetHub


class FleetEntity(Entity):
    """An entity showing one value (`key`) of a fleet device; pushed, never polled.

    The hub attaches the registry device (`device_entry`) before adding the entity.
    """

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, device: FleetDevice, key: str) -> None:
        """Bind the entity to its device and value key."""
        self.device = device
        self.key = key
        self._attr_unique_id = device.entity_unique_id(key)

    @property
    def available(self) -> bool:
        """Show values while the device's status is not offline and data is fresh."""
        return self.device.available

    @property
    def value(self) -> Any:
        """Return the device's current value for this entity, None if not reported."""
        return self.device.values.get(self.key)

    async def async_added_to_hass(self) -> None:
        """Follow the device's changes to this value and to its availability."""
        await super().async_added_to_hass()
        self.async_on_remove(self.device.async_add_listener(self.key, self._async_device_updated))

    @callback
    def _async_device_updated(self) -> None:
        """Write the new state."""
        self.async_write_ha_state()


class HubEntity(Entity):
    """An entity about the hub itself (the config entry's MQTT stream)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _value: Any = None

    def __init__(self, hub: FleetHub[Any], key: str) -> None:
        """Bind the entity to its hub's registry device."""
        self.hub = hub
        entry_id = hub.entry.entry_id
        self._attr_unique_id = f"{entry_id}/{key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, entry_id)})

    @abstractmethod
    def read_hub(self) -> Any:
        """Return what the entity shows, read from the hub."""

    async def async_added_to_hass(self) -> None:
        """Refresh on the hub's timer and on broker connection changes."""
        await super().async_added_to_hass()
        self._value = self.read_hub()
        self.async_on_remove(self.hub.async_add_hub_listener(self._async_refresh))

    @callback
    def _async_refresh(self) -> None:
        """Write state only when what the entity shows changed."""
        if (value := self.read_hub()) != self._value:
            self._value = value
            self.async_write_ha_state()
