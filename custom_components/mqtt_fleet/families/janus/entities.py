"""Janus entities: sessions and what the admin API last answered."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import EntityCategory

from ...entities.sensor import LAST_SEEN, FleetSensorDescription, catalogue
from . import keys
from .hub import AdminState, JanusDevice

if TYPE_CHECKING:
    from ...device import FleetDevice


def count_available(device: FleetDevice) -> bool:
    """Hide a count once no admin reply came for the offline timeout, or on a restart."""
    return (
        device.available
        and device.fresh
        and (not isinstance(device, JanusDevice) or device.count_current)
    )


def admin_state_available(device: FleetDevice) -> bool:
    """Show what the admin API answered since setup, never a state restored from before."""
    return device.available and keys.ADMIN_STATE in device.values


SENSORS = catalogue(
    FleetSensorDescription(
        key=keys.SESSIONS,
        translation_key="sessions",
        state_class=SensorStateClass.MEASUREMENT,
        available_fn=count_available,
    ),
    FleetSensorDescription(
        key=keys.ADMIN_STATE,
        translation_key="admin_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in AdminState],
        entity_category=EntityCategory.DIAGNOSTIC,
        available_fn=admin_state_available,
    ),
    LAST_SEEN,
)
