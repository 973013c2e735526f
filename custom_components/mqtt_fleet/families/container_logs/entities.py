"""Container-log entities: counters per level, and an event per warning or error shown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from homeassistant.components.event import EventEntity
from homeassistant.components.sensor import SensorStateClass
from homeassistant.core import callback

from ...entities.base import FleetEntity
from ...entities.sensor import FleetSensorDescription, catalogue
from ...protocol.container_logs import Level
from . import keys
from .hub import PROBLEM_EVENT_TYPES, ShownProblem, problem_attributes

if TYPE_CHECKING:
    from ...device import FleetDevice
    from ...hub import EntityFactory, FleetHub
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


SENSORS = catalogue(*(_log_count(level) for level in Level))


def problem_events(_hub: FleetHub[Any]) -> EntityFactory:
    """Return the factory of a log source's problem event entity."""

    def factory(device: FleetDevice, key: str) -> ProblemEvent | None:
        return ProblemEvent(device, key) if key == keys.PROBLEM else None

    return factory


class ProblemEvent(FleetEntity, EventEntity):
    """Fires per warning or error shown; its attributes carry the log.

    The whole text (up to 2,048 characters, a traceback) stays out of the recorder: each
    problem would store it again. The first line, the names and the times are recorded.
    """

    _attr_translation_key = "problem"
    _attr_event_types = list(PROBLEM_EVENT_TYPES.values())  # noqa: RUF012 - HA's convention
    _unrecorded_attributes = frozenset({"message"})
    _shown: ShownProblem | None = None

    async def async_added_to_hass(self) -> None:
        """Fire the problem that came while the entity was being added, if one did."""
        await super().async_added_to_hass()
        if self.value is not None:
            self.async_write_ha_state()  # the state before: the logbook shows changes only
            self._async_device_updated()

    @callback
    def _async_device_updated(self) -> None:
        """Fire once per problem shown; nothing else writes the state."""
        shown: ShownProblem | None = self.value
        if shown is None or shown is self._shown:
            return
        self._shown = shown
        self._trigger_event(PROBLEM_EVENT_TYPES[shown.log.level], problem_attributes(shown))
        self.async_write_ha_state()
