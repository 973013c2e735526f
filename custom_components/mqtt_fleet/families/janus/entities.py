"""Janus entities: sessions, version and what the admin API last answered."""

from __future__ import annotations

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import EntityCategory

from ...entities.sensor import LAST_SEEN, FleetSensorDescription, catalogue
from . import keys
from .hub import AdminState

SENSORS = catalogue(
    FleetSensorDescription(
        key=keys.SESSIONS,
        translation_key="sessions",
        state_class=SensorStateClass.MEASUREMENT,
        # A count is stale once no admin reply came for the offline timeout.
        available_fn=lambda device: device.available and device.fresh,
    ),
    FleetSensorDescription(
        key=keys.VERSION,
        translation_key="version",
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key=keys.ADMIN_STATE,
        translation_key="admin_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in AdminState],
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    LAST_SEEN,
)
