"""Switch entities, for the families that have them (AutoCore: relays)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import Platform

from .families import async_add_family_entities

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .hub import FleetConfigEntry

# Commands go out one at a time per relay; HA's MQTT client queues publishes itself.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FleetConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the family's switch entities as their keys appear."""
    await async_add_family_entities(entry, Platform.SWITCH, async_add_entities)
