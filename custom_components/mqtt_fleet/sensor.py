"""Sensors: the hub's stream counters, and device values as each family describes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.const import Platform

from .entities.sensor import HUB_SENSORS, HubSensor
from .families import async_add_family_entities

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .hub import FleetConfigEntry

# Entities only write state when a device reports a change; nothing is polled.
PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FleetConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the hub sensors now and device sensors as their values appear."""
    hub = entry.runtime_data
    async_add_entities(
        HubSensor(hub, description)
        for description in HUB_SENSORS
        if hub.has_connectivity or not description.needs_connectivity
    )
    await async_add_family_entities(entry, Platform.SENSOR, async_add_entities)
