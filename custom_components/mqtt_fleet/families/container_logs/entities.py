"""Container-log entities: counters per level and the last warning or error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import MAX_LENGTH_STATE_STATE

from ...entities.sensor import (
    LAST_SEEN,
    FleetSensorDescription,
    always_available,
    catalogue,
)
from ...protocol.container_logs import Level, LogMessage
from . import keys
from .hub import stored_text

if TYPE_CHECKING:
    from ...device import FleetDevice
    from .hub import LogSourceDevice


def _log_count(level: Level) -> FleetSensorDescription:
    def value(device: FleetDevice) -> int:
        return cast("LogSourceDevice", device).counts[level]

    def restore(device: FleetDevice, restored: Any) -> None:
        if isinstance(restored, int | float) and restored > 0:
            cast("LogSourceDevice", device).async_restore_count(level, int(restored))

    return FleetSensorDescription(
        key=keys.LOG_COUNTS[level],
        translation_key=keys.LOG_COUNTS[level],
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_registry_enabled_default=level is not Level.DEBUG,
        value_fn=value,
        restore_fn=restore,
    )


def _last_problem(device: FleetDevice) -> str | None:
    """Return the log's first line: "…" says the `message` attribute holds more."""
    log: LogMessage | None = device.values.get(keys.LAST_PROBLEM)
    if log is None:
        return None
    line, _, rest = log.message.strip().partition("\n")
    line = line.rstrip()  # the \r of a \r\n
    return stored_text(f"{line}…" if rest else line, MAX_LENGTH_STATE_STATE)


def _last_problem_attributes(device: FleetDevice) -> dict[str, Any] | None:
    log: LogMessage | None = device.values.get(keys.LAST_PROBLEM)
    if log is None:
        return None
    logged = None if log.timestamp is None else datetime.fromtimestamp(log.timestamp / 1000, UTC)
    return {"message": stored_text(log.message), "level": log.level.value, "timestamp": logged}


SENSORS = catalogue(
    *(_log_count(level) for level in Level),
    FleetSensorDescription(
        key=keys.LAST_PROBLEM,
        translation_key="last_problem",
        value_fn=_last_problem,
        attributes_fn=_last_problem_attributes,
        restore_attributes=("message", "level", "timestamp"),
        available_fn=always_available,
    ),
    LAST_SEEN,
)
