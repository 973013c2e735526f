"""Family hubs: what each family subscribes to and how its messages change devices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..const import CONF_FAMILY, Family
from .autocore import AutoCoreHub
from .container_logs import ContainerLogsHub
from .janus import JanusHub
from .spotfi import SpotFiHub

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from ..hub import FleetConfigEntry, FleetHub

HUB_TYPES: dict[Family, type[FleetHub[Any]]] = {
    Family.AUTOCORE: AutoCoreHub,
    Family.JANUS: JanusHub,
    Family.SPOTFI: SpotFiHub,
    Family.CONTAINER_LOGS: ContainerLogsHub,
}


def create_hub(hass: HomeAssistant, entry: FleetConfigEntry) -> FleetHub[Any]:
    """Make the hub for the family the entry serves."""
    return HUB_TYPES[Family(entry.data[CONF_FAMILY])](hass, entry)
