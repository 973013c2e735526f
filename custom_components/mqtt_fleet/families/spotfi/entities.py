"""SpotFi entities: the router's heartbeat metrics, its last restart and disconnect reason."""

from __future__ import annotations

from dataclasses import replace

from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfInformation

from ...entities.sensor import (
    FREE_MEMORY,
    LAST_RESTART,
    LAST_SEEN,
    FleetSensorDescription,
    always_available,
    catalogue,
)
from . import keys

# A router's memory is tens to hundreds of MiB: free and total both show MiB, to 0.1 MiB.
ROUTER_MEMORY = replace(
    FREE_MEMORY,
    suggested_unit_of_measurement=UnitOfInformation.MEBIBYTES,
    suggested_display_precision=1,
)


SENSORS = catalogue(
    FleetSensorDescription(
        key=keys.CPU_LOAD,
        translation_key="cpu_load",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    FleetSensorDescription(
        key=keys.MEMORY_USED,
        translation_key="memory_used",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    replace(ROUTER_MEMORY, entity_category=None),
    replace(ROUTER_MEMORY, key=keys.TOTAL_MEMORY, translation_key="total_memory"),
    FleetSensorDescription(
        key=keys.ACTIVE_USERS,
        translation_key="active_users",
        state_class=SensorStateClass.MEASUREMENT,
    ),
    LAST_RESTART,
    FleetSensorDescription(
        key=keys.DISCONNECT_REASON,
        translation_key="disconnect_reason",
        entity_category=EntityCategory.DIAGNOSTIC,
        available_fn=always_available,  # most wanted while the router is offline
    ),
    replace(LAST_SEEN, translation_key="last_heartbeat"),
)
