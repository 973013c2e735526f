"""Display interactions on AutoCore boards as event entities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.event import EventEntity
from homeassistant.core import callback

from .entity import FleetEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .hub import FleetConfigEntry, FleetDevice

# Entities only write state when a device reports something; nothing is polled.
PARALLEL_UPDATES = 0

DISPLAY_KEY = "display"
EVENT_TYPE_INTERACTION = "interaction"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FleetConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a display event entity for a board once it reports an interaction."""

    def factory(device: FleetDevice, key: str) -> DisplayEvent | None:
        return DisplayEvent(device, key) if key == DISPLAY_KEY else None

    entry.runtime_data.async_add_entity_factory(factory, async_add_entities)


class DisplayEvent(FleetEntity, EventEntity):
    """Fires when a user touches the board's display; attributes carry the payload."""

    _attr_translation_key = "display"
    _attr_event_types = [EVENT_TYPE_INTERACTION]  # noqa: RUF012 - HA's attribute convention
    _last_interaction: Any = None

    async def async_added_to_hass(self) -> None:
        """Fire the interaction that created the entity (values only come from this run)."""
        await super().async_added_to_hass()
        self._async_device_updated()

    @callback
    def _async_device_updated(self) -> None:
        """Trigger once per new interaction; availability changes only write state."""
        interaction = self.value
        if interaction is not None and interaction is not self._last_interaction:
            self._last_interaction = interaction
            self._trigger_event(EVENT_TYPE_INTERACTION, dict(interaction))
        self.async_write_ha_state()
