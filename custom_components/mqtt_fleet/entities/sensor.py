"""Sensor entities: a device value described by data, and the hub's stream counters."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    MAX_LENGTH_STATE_STATE,
    EntityCategory,
    UnitOfInformation,
)
from homeassistant.core import callback
from homeassistant.util import dt as dt_util

from .. import keys
from .base import FleetEntity, HubEntity

if TYPE_CHECKING:
    from homeassistant.helpers.typing import StateType

    from ..device import FleetDevice
    from ..hub import EntityFactory, FleetHub

# A restart time computed as now - uptime moves by the message's delay and the clocks'
# seconds at every report; within this, it is the same boot (Home Assistant's own uptime
# sensors tolerate as much).
RESTART_TOLERANCE: Final = 60.0
# Device classes whose state is a time: restored from the state text.
_TIME_CLASSES: Final = frozenset({SensorDeviceClass.TIMESTAMP, SensorDeviceClass.UPTIME})


@dataclass(frozen=True, kw_only=True)
class FleetSensorDescription(SensorEntityDescription):
    """A device sensor; by default it shows the device value under its key."""

    value_fn: Callable[[FleetDevice], StateType | datetime] | None = None
    available_fn: Callable[[FleetDevice], bool] | None = None
    attributes_fn: Callable[[FleetDevice], dict[str, Any] | None] | None = None
    restore_fn: Callable[[FleetDevice, Any], None] | None = None  # seed the device
    restore_attributes: tuple[str, ...] = ()  # shown until the device reports again


@dataclass(frozen=True, kw_only=True)
class HubSensorDescription(SensorEntityDescription):
    """A sensor about the hub's message stream."""

    value_fn: Callable[[FleetHub[Any]], StateType]
    needs_connectivity: bool = False  # not for log sources, which have none


def _last_seen(device: FleetDevice) -> datetime | None:
    return None if device.last_seen is None else datetime.fromtimestamp(device.last_seen, UTC)


def always_available(_device: FleetDevice) -> bool:
    """Keep a sensor readable while its device is away."""
    return True


LAST_SEEN = FleetSensorDescription(
    key=keys.LAST_SEEN,
    translation_key="last_seen",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,  # changes every 30 s: noisy in the logbook
    value_fn=_last_seen,
    available_fn=always_available,
)
FREE_MEMORY = FleetSensorDescription(
    key=keys.FREE_MEMORY,
    translation_key="free_memory",
    device_class=SensorDeviceClass.DATA_SIZE,
    native_unit_of_measurement=UnitOfInformation.BYTES,
    suggested_unit_of_measurement=UnitOfInformation.KIBIBYTES,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=1,
    entity_category=EntityCategory.DIAGNOSTIC,
)


def _seed_last_restart(device: FleetDevice, restored: Any) -> None:
    """Compare the first uptime after a restart of Home Assistant with the time shown."""
    if isinstance(restored, datetime):
        device.values.setdefault(keys.LAST_RESTART, restored)


LAST_RESTART = FleetSensorDescription(
    key=keys.LAST_RESTART,
    translation_key="last_restart",
    device_class=SensorDeviceClass.UPTIME,
    entity_category=EntityCategory.DIAGNOSTIC,
    restore_fn=_seed_last_restart,
)


@callback
def async_set_last_restart(device: FleetDevice, uptime: float, wall: float) -> bool:
    """Show when the device restarted (`wall` - `uptime`); return whether that moved.

    A time within RESTART_TOLERANCE of the one shown is the same boot: nothing is written,
    so a report every 30 s writes no state. `wall` must be when the device sent the
    uptime: a retained message replayed later would date the restart too late.
    """
    try:
        restarted = datetime.fromtimestamp(round(wall - uptime), UTC)
    except OverflowError, OSError, ValueError:
        return False  # an uptime reaching back before the year 1 dates nothing
    shown: datetime | None = device.values.get(keys.LAST_RESTART)
    if shown is not None and abs((restarted - shown).total_seconds()) <= RESTART_TOLERANCE:
        return False
    device.async_set_value(keys.LAST_RESTART, restarted)
    return True


HUB_SENSORS: tuple[HubSensorDescription, ...] = (
    HubSensorDescription(
        key=keys.MESSAGES_RECEIVED,
        translation_key="messages_received",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda hub: hub.messages_received,
    ),
    HubSensorDescription(
        key=keys.INVALID_MESSAGES,
        translation_key="invalid_messages",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda hub: hub.invalid_messages,
    ),
    HubSensorDescription(
        key=keys.MESSAGE_RATE,
        translation_key="message_rate",
        native_unit_of_measurement="messages/min",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda hub: hub.message_rate,
    ),
    HubSensorDescription(
        key=keys.DEVICES_ONLINE,
        translation_key="devices_online",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda hub: hub.devices_online,
        needs_connectivity=True,
    ),
)


def catalogue(*descriptions: FleetSensorDescription) -> dict[str, FleetSensorDescription]:
    """Index descriptions by their key."""
    return {description.key: description for description in descriptions}


def sensor_factory(
    describe: Callable[[str], FleetSensorDescription | None] | Mapping[str, FleetSensorDescription],
) -> Callable[[FleetHub[Any]], EntityFactory]:
    """Return a family's sensor factory: a sensor for each key `describe` knows."""
    lookup = describe.get if isinstance(describe, Mapping) else describe

    def for_hub(_hub: FleetHub[Any]) -> EntityFactory:
        def factory(device: FleetDevice, key: str) -> FleetSensor | None:
            description = lookup(key)
            return None if description is None else FleetSensor(device, description)

        return factory

    return for_hub


class FleetSensor(FleetEntity, RestoreSensor):
    """A device value; shows its last known value after a restart until the device speaks."""

    entity_description: FleetSensorDescription
    _restored: StateType | datetime = None
    _restored_attributes: dict[str, Any] | None = None

    def __init__(self, device: FleetDevice, description: FleetSensorDescription) -> None:
        """Bind the sensor to its device and description."""
        super().__init__(device, description.key)
        self.entity_description = description

    async def async_added_to_hass(self) -> None:
        """Restore the last value for a device not heard from yet."""
        await super().async_added_to_hass()
        if self.device_class in _TIME_CLASSES:
            if (state := await self.async_get_last_state()) is not None:
                self._restored = dt_util.parse_datetime(state.state)
        elif (data := await self.async_get_last_sensor_data()) is not None:
            self._restored = data.native_value  # type: ignore[assignment]
        if (restore := self.entity_description.restore_fn) is not None:
            restore(self.device, self._restored)
        if (names := self.entity_description.restore_attributes) and (
            state := await self.async_get_last_state()
        ) is not None:
            self._restored_attributes = {
                name: state.attributes[name] for name in names if name in state.attributes
            }

    @property
    def available(self) -> bool:
        """Follow the device, unless the description decides (last seen, stale counts)."""
        available_fn = self.entity_description.available_fn
        return self.device.available if available_fn is None else available_fn(self.device)

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Return the attributes the description adds (the full last message)."""
        if (attributes_fn := self.entity_description.attributes_fn) is not None:
            return attributes_fn(self.device) or self._restored_attributes
        return None

    @property
    def native_value(self) -> StateType | datetime:
        """Return the current value, or the restored one until the device reports one.

        A value the device reported as unknown (None) shows as unknown, not as the restored
        one. Text is cut to the 255 characters a state may hold (a firmware string can be
        longer).
        """
        value_fn = self.entity_description.value_fn
        values = self.device.values
        value = values.get(self.key) if value_fn is None else value_fn(self.device)
        if value is None and self.key not in values:
            value = self._restored
        return value[:MAX_LENGTH_STATE_STATE] if isinstance(value, str) else value


class HubSensor(HubEntity, SensorEntity):
    """A counter or gauge of the hub's message stream."""

    entity_description: HubSensorDescription

    def __init__(self, hub: FleetHub[Any], description: HubSensorDescription) -> None:
        """Bind the sensor to its hub."""
        super().__init__(hub, description.key)
        self.entity_description = description

    def read_hub(self) -> StateType:
        """Read the value from the hub."""
        return self.entity_description.value_fn(self.hub)

    @property
    def native_value(self) -> StateType:
        """Return the value last read from the hub."""
        return self._value  # type: ignore[no-any-return]
