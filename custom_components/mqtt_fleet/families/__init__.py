"""The families MQTT Fleet speaks: each folder holds one, described by its `SPEC`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .autocore import SPEC as AUTOCORE
from .container_logs import SPEC as CONTAINER_LOGS
from .janus import SPEC as JANUS
from .spotfi import SPEC as SPOTFI

if TYPE_CHECKING:
    from homeassistant.const import Platform
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from ..family import FamilySpec
    from ..hub import FleetConfigEntry

# In the order the "add entry" menu offers them.
FAMILIES: Final[dict[str, FamilySpec]] = {
    spec.key: spec for spec in (AUTOCORE, JANUS, SPOTFI, CONTAINER_LOGS)
}


async def async_add_family_entities(
    entry: FleetConfigEntry,
    platform: Platform,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the entry's family's entities of `platform` now and as their keys appear."""
    hub = entry.runtime_data
    if (factory := FAMILIES[hub.family].platforms.get(platform)) is not None:
        await hub.async_add_entity_factory(factory(hub), async_add_entities)
