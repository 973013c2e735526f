"""Container logs: read them per log source, and forward logs onto the same scheme.

Logs are high-rate: counters are written on the hub's timer, never per line. Warnings and
errors are shown as problems (the source's event entity, its device triggers), paced per
source and level: a source logging a warning a second must not flood the logbook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
import logging
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, MAX_LENGTH_STATE_STATE
from homeassistant.core import Event, callback

from ...const import DOMAIN
from ...device import DeviceHooks, FleetDevice
from ...hub import FleetHub
from ...protocol.container_logs import ContainerLogsProtocol, Level, LogMessage, LogStream
from ...throttle import Throttle
from . import keys
from .forwarding import (
    FORWARDED_SCOPE,
    MEBIBYTE,
    PYTHON_LEVELS,
    HomeAssistantLogHandler,
    LogForwarder,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from homeassistant.core import HomeAssistant

    from ...hub import FleetConfigEntry

MODEL: Final = "Container log source"
DEFAULT_BASE: Final = "container-manager/logs"  # where the container manager publishes
SOURCE_NAMES: Final = {"system": "System", "manager": "Container manager", "other": "Other logs"}
CONF_BATCH_LOGS: Final = "batch_logs"
CONF_BATCH_INTERVAL: Final = "batch_interval"
CONF_BATCH_MAX: Final = "batch_max"
CONF_FORWARD_HA_LOGS: Final = "forward_ha_logs"
CONF_FORWARD_HA_LEVEL: Final = "forward_ha_level"
CONF_LOG_EVENT_LEVEL: Final = "log_event_level"
CONF_FORWARD_BUFFER_MB: Final = "forward_buffer_mb"
DEFAULT_BATCH_INTERVAL: Final = 1.0
DEFAULT_BATCH_MAX: Final = 50
DEFAULT_FORWARD_BUFFER_MB: Final = 16
EVENT_LOG: Final = f"{DOMAIN}_log"
# The problems shown (paced): the event entity's event types and the device triggers' events.
PROBLEM_EVENT_TYPES: Final = {Level.WARN: "warning", Level.ERROR: "error"}
EVENT_LOGGED_WARNING: Final = f"{DOMAIN}_logged_warning"
EVENT_LOGGED_ERROR: Final = f"{DOMAIN}_logged_error"
PROBLEM_EVENTS: Final = {Level.WARN: EVENT_LOGGED_WARNING, Level.ERROR: EVENT_LOGGED_ERROR}
# Per source and level: 5 problems shown at once, then one a minute, the latest of those
# held back (with how many were skipped). The hub's 10 s tick shows the held ones.
PROBLEM_BURST: Final = 5
PROBLEM_PERIOD: Final = 60.0
# Characters of a log's text kept: the problem event entity's `message` attribute (in the
# state, not recorded) and the events' `message` (recorded). Its JSON takes at most 6 bytes
# for a character (a control such as ESC as \u001b; an emoji 4), so 2,048 characters stay
# within 12,288 bytes: under the 16,384 a state's attributes may take, with room for the
# other attributes, and under the 32,768 of an event with its other fields.
MAX_STORED_MESSAGE: Final = 2048


@dataclass(frozen=True, slots=True)
class ShownProblem:
    """A warning or error to show, and how many of its level were skipped before it."""

    log: LogMessage
    skipped: int


class LogSourceDevice(FleetDevice):
    """An app's service, the system or the manager: counts its logs per level."""

    def __init__(
        self, hooks: DeviceHooks, wire_id: str, identifier: str, registry_id: str, *, restored: bool
    ) -> None:
        """Start counting from zero (restored counters add their last values)."""
        super().__init__(hooks, wire_id, identifier, registry_id, restored=restored)
        self.counts: dict[Level, int] = dict.fromkeys(Level, 0)
        self._written: dict[Level, int] = dict(self.counts)
        self._problem_pace: dict[Level, Throttle] = {}
        # The latest problem per level waiting for its turn, in the order they came.
        self.held_problems: dict[Level, LogMessage] = {}

    @property
    def available(self) -> bool:
        """A quiet source is not a missing one."""
        return True

    @property
    def connected(self) -> bool | None:
        """Log sources have no connectivity."""
        return None

    @callback
    def async_count(self, level: Level) -> None:
        """Count one log; a level's counter entity appears with its first log."""
        self.counts[level] += 1
        if self.counts[level] == 1:
            self.async_notify(keys.LOG_COUNTS[level])

    @callback
    def async_restore_count(self, level: Level, restored: int) -> None:
        """Continue a counter from its value before the restart."""
        self.counts[level] += restored
        self._written[level] += restored

    @callback
    def async_take_problem(self, log: LogMessage, now: float) -> ShownProblem | None:
        """Return a warning or error to show now, or hold it back (the latest per level)."""
        pace = self._problem_pace.get(log.level)
        if pace is None:
            pace = self._problem_pace[log.level] = Throttle(PROBLEM_BURST, PROBLEM_PERIOD, now)
        if pace.allow(now):
            self.held_problems.pop(log.level, None)  # superseded: counted as skipped
            return ShownProblem(log, pace.take_suppressed())
        self.held_problems.pop(log.level, None)
        self.held_problems[log.level] = log  # moved last: released in the order they came
        return None

    @callback
    def async_release_problems(self, now: float) -> list[ShownProblem]:
        """Return the held problems whose turn came, each counting the others it stood for."""
        released: list[ShownProblem] = []
        for level, log in list(self.held_problems.items()):
            pace = self._problem_pace[level]
            if pace.wait(now) == 0 and pace.allow(now):
                del self.held_problems[level]
                released.append(ShownProblem(log, pace.take_suppressed() - 1))
        return released

    @callback
    def async_write_counts(self) -> None:
        """Write the counters that changed since the last time (the hub's timer)."""
        for level, value in self.counts.items():
            if value != self._written[level]:
                self._written[level] = value
                self.async_notify(keys.LOG_COUNTS[level])


def _forwarded_level(options: Mapping[str, Any]) -> int:
    """Return the Python level from which HA's records are forwarded: info at least."""
    level = Level(options.get(CONF_FORWARD_HA_LEVEL, Level.WARN))
    if level.rank < Level.INFO.rank:  # debug records include the bus handling our events
        level = Level.INFO
    return PYTHON_LEVELS[level]


class ContainerLogsHub(FleetHub[LogSourceDevice]):
    """Read container logs under one base topic, a device per log source; forward logs."""

    family = "container_logs"
    device_type = LogSourceDevice
    protocol: ContainerLogsProtocol
    title = "Container logs"
    manufacturer = "Container manager"
    has_connectivity = False

    def __init__(self, hass: HomeAssistant, entry: FleetConfigEntry) -> None:
        """Build the protocol and the forwarder from the entry's options."""
        super().__init__(hass, entry)
        self.protocol = ContainerLogsProtocol(self.base)
        self.event_level = Level(self.options.get(CONF_LOG_EVENT_LEVEL, Level.WARN))
        self.forwarder = LogForwarder(
            hass,
            entry,
            self.protocol,
            self.async_publish,
            batching=self.options.get(CONF_BATCH_LOGS, True),
            interval=float(self.options.get(CONF_BATCH_INTERVAL, DEFAULT_BATCH_INTERVAL)),
            max_size=int(self.options.get(CONF_BATCH_MAX, DEFAULT_BATCH_MAX)),
            max_bytes=int(self.options.get(CONF_FORWARD_BUFFER_MB, DEFAULT_FORWARD_BUFFER_MB))
            * MEBIBYTE,
            connected=lambda: self.mqtt_connected,
        )
        self._log_handler: HomeAssistantLogHandler | None = None

    async def async_start(self) -> None:
        """Subscribe; forward HA's own records when the options say so; flush at stop."""
        await super().async_start()
        if self.options.get(CONF_FORWARD_HA_LOGS, False):
            self._log_handler = HomeAssistantLogHandler(
                self.hass, self.forwarder, _forwarded_level(self.options)
            )
            logging.getLogger(FORWARDED_SCOPE).addHandler(self._log_handler)
        self._unsubscribes.append(
            self.hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._async_on_stop)
        )

    @callback
    def async_apply_family_options(
        self, options: Mapping[str, Any], changed: frozenset[str]
    ) -> bool:
        """Take a new event level and forwarded level without a reload.

        Batching, the buffer and turning forwarding on or off reload the entry: they
        rebuild the forwarder (flushing its queue) or add or remove HA's log handler.
        """
        if changed - {CONF_LOG_EVENT_LEVEL, CONF_FORWARD_HA_LEVEL}:
            return False
        self.event_level = Level(options.get(CONF_LOG_EVENT_LEVEL, Level.WARN))
        if self._log_handler is not None:
            self._log_handler.setLevel(_forwarded_level(options))
        return True

    async def _async_on_stop(self, _event: Event) -> None:
        """Send what is batched while HA's MQTT client still runs."""
        self._remove_log_handler()
        await self.forwarder.async_close()

    async def async_prepare_unload(self) -> None:
        """Stop taking HA's records and flush every batch."""
        self._remove_log_handler()
        await self.forwarder.async_close()

    def _remove_log_handler(self) -> None:
        if self._log_handler is not None:
            logging.getLogger(FORWARDED_SCOPE).removeHandler(self._log_handler)
            self._log_handler = None

    def handle(
        self, topic: str, payload: bytes, monotonic: float, wall: float, *, live: bool
    ) -> tuple[str, ...]:
        """Count a message's logs on its source; show problems; fire events per log."""
        stream = self.protocol.parse(topic, payload)
        if not stream.logs:  # e.g. a batch of refused entries: no source to show
            return stream.problems
        device = self.async_device_for(stream.source, MODEL, _source_name(stream))
        if keys.PROBLEM not in device.known_keys:  # its event entity, before any problem
            device.async_notify(keys.PROBLEM)
        for log in stream.logs:
            device.async_count(log.level)
            if log.level in PROBLEM_EVENTS and (
                shown := device.async_take_problem(log, self.loop.time())
            ):
                self._async_show_problem(device, shown)
            if log.level.rank >= self.event_level.rank:
                self.async_fire_device_event(EVENT_LOG, device, _event_data(log))
        device.async_mark_seen(monotonic, wall, live=live)
        return stream.problems

    @callback
    def _async_show_problem(self, device: LogSourceDevice, shown: ShownProblem) -> None:
        """Fire the problem's device trigger event, and its event entity."""
        self.async_fire_device_event(
            PROBLEM_EVENTS[shown.log.level], device, problem_attributes(shown)
        )
        device.async_push(keys.PROBLEM, shown)

    @callback
    def async_tick(self) -> None:
        """Write the counters that changed and show held problems: O(sources) every 10 s."""
        now = self.loop.time()
        for device in self.devices.values():
            device.async_write_counts()
            if device.held_problems:
                for shown in device.async_release_problems(now):
                    self._async_show_problem(device, shown)

    def as_diagnostics(self) -> dict[str, Any]:
        """Add the forwarder's counters."""
        return {
            **super().as_diagnostics(),
            "forwarding": {
                "batching": self.forwarder.batching,
                "forwarded": self.forwarder.forwarded,
                "batches": self.forwarder.batches,
                "queued": self.forwarder.queued,
                "queued_bytes": self.forwarder.queued_bytes,
                "dropped": self.forwarder.dropped,
                "home_assistant_logs": self._log_handler is not None,
            },
        }


def _source_name(stream: LogStream) -> str:
    if stream.service_name is not None:
        return f"{stream.service_name} (app {stream.app_id})"
    return SOURCE_NAMES.get(stream.source, stream.source)


def stored_text(text: str, limit: int = MAX_STORED_MESSAGE) -> str:
    """Return `text` as the recorder may keep it: at most `limit` characters, "…" if cut."""
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def first_line(text: str) -> str:
    """Return a log's first line, within a state's length: "…" says more follows."""
    line, _, rest = text.strip().partition("\n")
    line = line.rstrip()  # the \r of a \r\n
    return stored_text(f"{line}…" if rest else line, MAX_LENGTH_STATE_STATE)


def _short(text: str | None) -> str | None:
    """Return a name: short from the manager, of any length on the wire."""
    return None if text is None else stored_text(text, MAX_LENGTH_STATE_STATE)


def problem_attributes(shown: ShownProblem) -> dict[str, Any]:
    """Return what a shown problem carries: the event entity's attributes, the event's data.

    `first_line` is what to show (a traceback's first line names the error); `message` is
    the whole text, cut to MAX_STORED_MESSAGE.
    """
    log = shown.log
    logged = (
        None
        if log.timestamp is None
        else datetime.fromtimestamp(log.timestamp / 1000, UTC).isoformat()
    )
    return {
        "first_line": first_line(log.message),
        "message": stored_text(log.message),
        "logged_at": logged,
        "source_name": _short(log.source_name),
        "service_name": _short(log.service_name),
        "container_id": _short(log.container_id),
        "skipped": shown.skipped,
    }


def _event_data(log: LogMessage) -> dict[str, Any]:
    """Return the event of a log, its texts cut; `truncated` says the message was."""
    data: dict[str, Any] = {
        "level": log.level.value,
        "message": stored_text(log.message),
        "timestamp": log.timestamp,
        "source_type": _short(log.source_type),
        "source_name": _short(log.source_name),
        "service_id": log.service_id,
        "service_name": _short(log.service_name),
        "container_id": _short(log.container_id),
    }
    if len(log.message) > MAX_STORED_MESSAGE:
        data["truncated"] = True
    return data
