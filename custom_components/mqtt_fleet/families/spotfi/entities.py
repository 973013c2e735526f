"""SpotFi entities: the router's heartbeat metrics."""

from __future__ import annotations

from dataclasses import replace

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfInformation

from ...entities.sensor import (
    FREE_MEMORY,
    LAST_SEEN,
    UPTIME,
    FleetSensorDescription,
    catalogue,
)
from . import keys

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
    replace(FREE_MEMORY, entity_category=None),
    FleetSensorDescription(
        key=keys.TOTAL_MEMORY,
        translation_key="total_memory",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEBIBYTES,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key=keys.ACTIVE_USERS,
        translation_key="active_users",
        state_class=SensorStateClass.MEASUREMENT,
    ),
    UPTIME,
    replace(LAST_SEEN, translation_key="last_heartbeat"),
)
