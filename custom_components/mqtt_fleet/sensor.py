"""Sensors: device telemetry and information, and the hub's own health."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfElectricPotential,
    UnitOfInformation,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.util import dt as dt_util

from .const import Family
from .entity import FleetEntity, HubEntity
from .families.autocore import EXTRA_TELEMETRY_PREFIX
from .families.container_logs import LogSourceDevice, count_key
from .families.janus import AdminState
from .protocol.container_logs import Level, LogMessage

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
    from homeassistant.helpers.typing import StateType

    from .hub import FleetConfigEntry, FleetDevice, FleetHub

# Entities only write state when a device reports a change; nothing is polled.
PARALLEL_UPDATES = 0
MAX_STATE_LENGTH = 255


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


def _always(_device: FleetDevice) -> bool:
    return True


LAST_SEEN = FleetSensorDescription(
    key="last_seen",
    translation_key="last_seen",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,  # changes every 30 s: noisy in the logbook
    value_fn=_last_seen,
    available_fn=_always,  # readable while the device is away
)
FREE_MEMORY = FleetSensorDescription(
    key="free_memory",
    translation_key="free_memory",
    device_class=SensorDeviceClass.DATA_SIZE,
    native_unit_of_measurement=UnitOfInformation.BYTES,
    suggested_unit_of_measurement=UnitOfInformation.KIBIBYTES,
    state_class=SensorStateClass.MEASUREMENT,
    suggested_display_precision=1,
    entity_category=EntityCategory.DIAGNOSTIC,
)
UPTIME = FleetSensorDescription(
    key="uptime",
    translation_key="uptime",
    device_class=SensorDeviceClass.DURATION,
    native_unit_of_measurement=UnitOfTime.SECONDS,
    suggested_unit_of_measurement=UnitOfTime.DAYS,  # the frontend shows "6d 7h"
    state_class=SensorStateClass.TOTAL_INCREASING,
    entity_category=EntityCategory.DIAGNOSTIC,
)


def _catalogue(*descriptions: FleetSensorDescription) -> dict[str, FleetSensorDescription]:
    return {description.key: description for description in descriptions}


AUTOCORE_SENSORS = _catalogue(
    FleetSensorDescription(
        key="temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    FleetSensorDescription(
        key="humidity",
        device_class=SensorDeviceClass.HUMIDITY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    FleetSensorDescription(
        key="voltage",
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
    ),
    FREE_MEMORY,
    UPTIME,
    FleetSensorDescription(
        key="wifi_signal",
        translation_key="wifi_signal",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key="ip_address",
        translation_key="ip_address",
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key="firmware_version",
        translation_key="firmware_version",
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    LAST_SEEN,
)

JANUS_SENSORS = _catalogue(
    FleetSensorDescription(
        key="sessions",
        translation_key="sessions",
        state_class=SensorStateClass.MEASUREMENT,
        # The seed's "stale": no admin reply for the offline timeout.
        available_fn=lambda device: device.available and device.fresh,
    ),
    FleetSensorDescription(
        key="version",
        translation_key="version",
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key="admin_state",
        translation_key="admin_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in AdminState],
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    LAST_SEEN,
)

SPOTFI_SENSORS = _catalogue(
    FleetSensorDescription(
        key="cpu_load",
        translation_key="cpu_load",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    FleetSensorDescription(
        key="memory_used",
        translation_key="memory_used",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    replace(FREE_MEMORY, entity_category=None),
    FleetSensorDescription(
        key="total_memory",
        translation_key="total_memory",
        device_class=SensorDeviceClass.DATA_SIZE,
        native_unit_of_measurement=UnitOfInformation.BYTES,
        suggested_unit_of_measurement=UnitOfInformation.MEBIBYTES,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key="active_users",
        translation_key="active_users",
        state_class=SensorStateClass.MEASUREMENT,
    ),
    UPTIME,
    replace(LAST_SEEN, translation_key="last_heartbeat"),
)

HUB_SENSORS: tuple[HubSensorDescription, ...] = (
    HubSensorDescription(
        key="messages_received",
        translation_key="messages_received",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda hub: hub.messages_received,
    ),
    HubSensorDescription(
        key="invalid_messages",
        translation_key="invalid_messages",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda hub: hub.invalid_messages,
    ),
    HubSensorDescription(
        key="message_rate",
        translation_key="message_rate",
        native_unit_of_measurement="messages/min",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda hub: hub.message_rate,
    ),
    HubSensorDescription(
        key="devices_online",
        translation_key="devices_online",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda hub: hub.devices_online,
        needs_connectivity=True,
    ),
)


def _telemetry_name(key: str) -> str:
    """Name a telemetry key for display: `pm2_5` becomes `Pm2 5`, `CO2` stays `CO2`."""
    name = key.removeprefix(EXTRA_TELEMETRY_PREFIX).replace("_", " ")
    return name[:1].upper() + name[1:]


def _autocore_description(key: str) -> FleetSensorDescription | None:
    """Return the description for a key; unknown numeric telemetry gets a generic one."""
    if (description := AUTOCORE_SENSORS.get(key)) is not None:
        return description
    if key.startswith(EXTRA_TELEMETRY_PREFIX):
        return FleetSensorDescription(
            key=key,
            translation_key="telemetry",
            translation_placeholders={"key": _telemetry_name(key)},
            state_class=SensorStateClass.MEASUREMENT,
        )
    return None


def _log_count(level: Level) -> FleetSensorDescription:
    def value(device: FleetDevice) -> int:
        return cast("LogSourceDevice", device).counts[level]

    def restore(device: FleetDevice, restored: Any) -> None:
        if isinstance(restored, int | float) and restored > 0:
            cast("LogSourceDevice", device).restore_count(level, int(restored))

    return FleetSensorDescription(
        key=count_key(level),
        translation_key=count_key(level),
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=level is not Level.DEBUG,
        value_fn=value,
        restore_fn=restore,
    )


def _last_problem(device: FleetDevice) -> str | None:
    log: LogMessage | None = device.values.get("last_problem")
    return None if log is None else log.message[:MAX_STATE_LENGTH]


def _last_problem_attributes(device: FleetDevice) -> dict[str, Any] | None:
    log: LogMessage | None = device.values.get("last_problem")
    if log is None:
        return None
    logged = None if log.timestamp is None else datetime.fromtimestamp(log.timestamp / 1000, UTC)
    return {"message": log.message, "level": log.level.value, "timestamp": logged}


CONTAINER_LOG_SENSORS = _catalogue(
    *(_log_count(level) for level in Level),
    FleetSensorDescription(
        key="last_problem",
        translation_key="last_problem",
        value_fn=_last_problem,
        attributes_fn=_last_problem_attributes,
        restore_attributes=("message", "level", "timestamp"),
        available_fn=_always,
    ),
    LAST_SEEN,
)

DESCRIBE: dict[Family, Callable[[str], FleetSensorDescription | None]] = {
    Family.AUTOCORE: _autocore_description,
    Family.JANUS: JANUS_SENSORS.get,
    Family.SPOTFI: SPOTFI_SENSORS.get,
    Family.CONTAINER_LOGS: CONTAINER_LOG_SENSORS.get,
}


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
    describe = DESCRIBE[hub.family]

    def factory(device: FleetDevice, key: str) -> FleetSensor | None:
        description = describe(key)
        return None if description is None else FleetSensor(device, description)

    hub.async_add_entity_factory(factory, async_add_entities)


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
        if self.device_class == SensorDeviceClass.TIMESTAMP:
            if (state := await self.async_get_last_state()) is not None:
                self._restored = dt_util.parse_datetime(state.state)
        elif (data := await self.async_get_last_sensor_data()) is not None:
            self._restored = data.native_value  # type: ignore[assignment]
        if (restore := self.entity_description.restore_fn) is not None:
            restore(self.device, self._restored)
        if (keys := self.entity_description.restore_attributes) and (
            state := await self.async_get_last_state()
        ) is not None:
            self._restored_attributes = {
                k: state.attributes[k] for k in keys if k in state.attributes
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
        """Return the current value, or the restored one until a value arrives.

        Text is cut to the 255 characters a state may hold (a firmware string can be longer).
        """
        value_fn = self.entity_description.value_fn
        value = self.device.values.get(self.key) if value_fn is None else value_fn(self.device)
        if value is None:
            value = self._restored
        return value[:MAX_STATE_LENGTH] if isinstance(value, str) else value


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
