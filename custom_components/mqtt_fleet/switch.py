"""Relays: switched by command, shown only as the board confirms them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_ON
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.restore_state import RestoreEntity

from .const import DOMAIN, RELAY_CONFIRM_TIMEOUT
from .entity import FleetEntity
from .families.autocore import AutoCoreHub, parse_relay_key

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .hub import FleetConfigEntry, FleetDevice
    from .protocol.autocore import Layout

# Commands go out one at a time per relay; HA's MQTT client queues publishes itself.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FleetConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a switch per relay as relays appear."""
    hub = entry.runtime_data
    if not isinstance(hub, AutoCoreHub):
        return

    def factory(device: FleetDevice, key: str) -> RelaySwitch | None:
        if (relay := parse_relay_key(key)) is None:
            return None
        return RelaySwitch(hub, device, key, *relay)

    hub.async_add_entity_factory(factory, async_add_entities)


class RelaySwitch(FleetEntity, SwitchEntity, RestoreEntity):
    """A relay; never optimistic: the state changes when the board confirms it."""

    _attr_translation_key = "relay"

    def __init__(
        self, hub: AutoCoreHub, device: FleetDevice, key: str, layout: Layout, relay: int
    ) -> None:
        """Bind the switch to its board and relay number."""
        super().__init__(device, key)
        self.hub = hub
        self.layout = layout
        self.relay = relay
        self._attr_translation_placeholders = {"relay": str(relay)}
        self._restored: bool | None = None

    async def async_added_to_hass(self) -> None:
        """Restore the last confirmed state, shown until the board reports again."""
        await super().async_added_to_hass()
        if (state := await self.async_get_last_state()) is not None:
            self._restored = state.state == STATE_ON

    @property
    def is_on(self) -> bool | None:
        """Return the state the board last confirmed."""
        value = self.value
        return self._restored if value is None else bool(value)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch the relay on and wait for the board to confirm."""
        await self._async_switch(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch the relay off and wait for the board to confirm."""
        await self._async_switch(False)

    async def _async_switch(self, state: bool) -> None:
        try:
            await self.hub.async_switch_relay(self.device, self.layout, self.relay, state)
        except TimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="relay_not_confirmed",
                translation_placeholders={
                    "device": self.device.device_id,
                    "relay": str(self.relay),
                    "timeout": str(int(RELAY_CONFIRM_TIMEOUT)),
                },
            ) from err
