"""Log forwarding: publish logs on the container-log scheme, batched like MqttLogBackend.

Home Assistant's own records can go the same way, through a logging handler on the
`homeassistant` logger that only hands records to the event loop: it never blocks.

The handler is scoped to that logger, not the root: it sees the records of Home Assistant's
core and components and nothing else. Our own records (`custom_components.mqtt_fleet`) and
paho's never pass through it, so forwarding cannot feed itself through them; the one layer
under a forward that is inside its scope, HA's MQTT integration, is skipped by name. The
handler changes no logger's level or propagation, so HA's own logging is untouched.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
import logging
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from ...const import LOGGER
from ...protocol.container_logs import Level, LogMessage, SourceType

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from homeassistant.config_entries import ConfigEntry

    from ...protocol.container_logs import ContainerLogsProtocol
    from ...protocol.topics import OutgoingMessage

MAX_BUFFERED: Final = 100_000  # logs kept while the broker is away; the oldest go first
MEBIBYTE: Final = 1024 * 1024
# Bytes a queued log holds besides its texts: its objects and topic (measured, CPython 3.14).
QUEUED_LOG_OVERHEAD: Final = 320
DROP_WARNING_INTERVAL: Final = 60.0  # seconds between two "logs dropped" warnings at most
BATCHES_PER_ROUND: Final = 100  # full batches a flush publishes at once
# The records a forward would write itself, within the handler's scope: never forwarded.
FORWARDED_SCOPE: Final = "homeassistant"
NOT_FORWARDED: Final = "homeassistant.components.mqtt"
NOT_FORWARDED_CHILDREN: Final = f"{NOT_FORWARDED}."
MAX_RECORD_LENGTH: Final = 8192  # characters of a record's text (tracebacks are long)
PYTHON_LEVELS: Final = {
    Level.DEBUG: logging.DEBUG,
    Level.INFO: logging.INFO,
    Level.WARN: logging.WARNING,
    Level.ERROR: logging.ERROR,
}


@dataclass(frozen=True, slots=True)
class QueuedLog:
    """A log waiting for its batch: its topic and QoS decide the batch it joins."""

    topic: str
    qos: int
    log: LogMessage
    size: int  # what it counts against the byte limit


def queued_size(log: LogMessage) -> int:
    """Return about the memory a queued log takes: its texts in UTF-8, and the rest."""
    texts = (log.message, log.source_type, log.source_name, log.service_name, log.container_id)
    return QUEUED_LOG_OVERHEAD + sum(len(text.encode()) for text in texts if text)


class LogForwarder:
    """Publish logs singly, or batched per topic every interval and at the size limit.

    A batch that fails to publish goes back to the front of the queue, so nothing is lost
    while the broker is away, up to the queue's limits (beyond them the oldest go); delivery
    is at least once. While HA's MQTT client is disconnected no batch is even tried: paho
    keeps a copy of every QoS 1 message it refuses and sends it on reconnect, so each
    attempt would arrive once more.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        protocol: ContainerLogsProtocol,
        publish: Callable[[OutgoingMessage], Awaitable[None]],
        *,
        batching: bool,
        interval: float,
        max_size: int,
        max_bytes: int,
        connected: Callable[[], bool],
    ) -> None:
        """Forward through `publish` (the hub's) while `connected` says HA's client is.

        The queue holds at most MAX_BUFFERED logs and `max_bytes` (see `queued_size`).
        Flushes run as the entry's background tasks: unloading the entry cancels them.
        """
        self._hass = hass
        self._entry = entry
        self._protocol = protocol
        self._publish = publish
        self._connected = connected
        self.batching = batching
        self._interval = interval
        self._max_size = max_size
        self._max_bytes = max_bytes
        self._queue: deque[QueuedLog] = deque()
        self.queued_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._flush_lock = asyncio.Lock()
        self._flush_requested = False
        self._retrying = False
        self.forwarded = 0
        self.batches = 0
        self.dropped = 0
        self._dropped_reported = 0
        self._reported_at: float | None = None

    @property
    def queued(self) -> int:
        """Return how many logs wait for their batch."""
        return len(self._queue)

    async def async_forward(self, log: LogMessage, qos: int = 1, retain: bool = False) -> None:
        """Publish now, or queue for the next batch (a retained log always goes alone)."""
        if not self.batching or retain:
            await self._publish(self._protocol.single(log, qos, retain))
            self.forwarded += 1
            return
        self.async_enqueue(log, qos)

    @callback
    def async_enqueue(self, log: LogMessage, qos: int = 1) -> None:
        """Queue a log; flush at the size limit, else within one interval.

        While the broker is away (a retry is pending) logs only queue up: one retry per
        interval, however many arrive.
        """
        queued = QueuedLog(self._protocol.topic_for(log), qos, log, queued_size(log))
        self._queue.append(queued)
        self.queued_bytes += queued.size
        self._drop_beyond_limits()
        if self._retrying or self._flush_requested:
            return
        if len(self._queue) >= self._max_size:
            self._async_schedule_flush()
        elif self._timer is None:
            self._timer = self._hass.loop.call_later(self._interval, self._async_schedule_flush)

    def _drop_beyond_limits(self) -> None:
        """Drop the oldest logs while the queue holds too many or too much; say so."""
        while len(self._queue) > MAX_BUFFERED or self.queued_bytes > self._max_bytes:
            self.queued_bytes -= self._queue.popleft().size
            self.dropped += 1
        self._warn_dropped()

    def _warn_dropped(self) -> None:
        """Warn of dropped logs at once, then at most every DROP_WARNING_INTERVAL seconds."""
        if self.dropped == self._dropped_reported:
            return
        now = self._hass.loop.time()
        if self._reported_at is not None and now - self._reported_at < DROP_WARNING_INTERVAL:
            return
        LOGGER.warning(
            "Log forwarding buffer is full (%d logs, %.1f MiB): %d oldest logs dropped, %d in all",
            len(self._queue),
            self.queued_bytes / MEBIBYTE,
            self.dropped - self._dropped_reported,
            self.dropped,
        )
        self._dropped_reported = self.dropped
        self._reported_at = now

    def _take(self, count: int) -> list[QueuedLog]:
        """Take the `count` oldest logs off the queue."""
        taken = [self._queue.popleft() for _ in range(count)]
        self.queued_bytes -= sum(queued.size for queued in taken)
        return taken

    @callback
    def _async_schedule_flush(self) -> None:
        self._cancel_timer()
        self._flush_requested = True
        self._entry.async_create_background_task(
            self._hass, self.async_flush(), "mqtt_fleet log flush"
        )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def async_flush(self) -> None:
        """Publish everything queued, grouped per topic as MqttLogBackend does.

        The batches of a round are published at once, each awaiting its own PUBACK, so a
        backlog takes a few round trips rather than one per batch. HA's client sends them
        in order. Those that fail go back to the front of the queue, in order.
        """
        async with self._flush_lock:
            self._cancel_timer()
            self._flush_requested = False
            while self._queue:
                if not self._connected():
                    if not self._retrying:
                        LOGGER.warning(
                            "Log forwarding paused while the MQTT broker is away, %d logs kept",
                            len(self._queue),
                        )
                    self._retry_later()
                    return
                taken = min(len(self._queue), self._max_size * BATCHES_PER_ROUND)
                planned = self._plan(self._take(taken))
                results = await asyncio.gather(
                    *(self._publish(message) for message, _ in planned), return_exceptions=True
                )
                unsent: list[QueuedLog] = []
                failure: BaseException | None = None
                for (_, logs), result in zip(planned, results, strict=True):
                    if result is None:
                        self.forwarded += len(logs)
                        self.batches += 1
                    else:
                        unsent.extend(logs)
                        failure = result
                if failure is None:
                    self._retrying = False
                    continue
                self._queue.extendleft(reversed(unsent))
                self.queued_bytes += sum(queued.size for queued in unsent)
                self._drop_beyond_limits()  # with the logs queued meanwhile it may hold too much
                if not isinstance(failure, HomeAssistantError):
                    raise failure
                LOGGER.warning("Log forwarding paused, %d logs kept: %s", len(self._queue), failure)
                self._retry_later()
                return
            self._retrying = False

    def _retry_later(self) -> None:
        """Flush again in one interval; until then queued logs only wait."""
        self._cancel_timer()  # one armed by a log queued during the round
        self._retrying = True
        self._timer = self._hass.loop.call_later(self._interval, self._async_schedule_flush)

    def _plan(self, taken: list[QueuedLog]) -> list[tuple[OutgoingMessage, list[QueuedLog]]]:
        """Group queued logs per topic and QoS, in order, into batches within the limits."""
        groups: dict[tuple[str, int], list[QueuedLog]] = {}
        for queued in taken:
            groups.setdefault((queued.topic, queued.qos), []).append(queued)
        planned: list[tuple[OutgoingMessage, list[QueuedLog]]] = []
        for (topic, qos), group in groups.items():
            for start in range(0, len(group), self._max_size):
                chunk = group[start : start + self._max_size]
                offset = 0
                for message, count in self._protocol.batches(topic, [q.log for q in chunk], qos):
                    planned.append((message, chunk[offset : offset + count]))
                    offset += count
        return planned

    @callback
    def async_submit(self, log: LogMessage) -> None:
        """Forward a log from synchronous code (the logging handler), by the batch path."""
        if not self._protocol.fits(log):
            self.dropped += 1
            return
        if self.batching:
            self.async_enqueue(log)
        else:
            self._entry.async_create_background_task(
                self._hass, self._async_forward_quietly(log), "mqtt_fleet log forward"
            )

    async def _async_forward_quietly(self, log: LogMessage) -> None:
        try:
            await self.async_forward(log)
        except HomeAssistantError as err:
            LOGGER.debug("Could not forward a log record: %s", err)

    async def async_close(self) -> None:
        """Flush what is queued (entry unload, Home Assistant stop)."""
        await self.async_flush()
        self._cancel_timer()


class HomeAssistantLogHandler(logging.Handler):
    """Hand Home Assistant's records to the forwarder, from whatever thread logs them."""

    def __init__(self, hass: HomeAssistant, forwarder: LogForwarder, level: int) -> None:
        """Forward records at `level` and above."""
        super().__init__(level)
        self._hass = hass
        self._forwarder = forwarder

    def emit(self, record: logging.LogRecord) -> None:
        """Never block and never raise: build the log, schedule it, return."""
        if record.name == NOT_FORWARDED or record.name.startswith(NOT_FORWARDED_CHILDREN):
            return
        try:
            text = f"{record.name}: {record.getMessage()}"
            if record.exc_info:
                text = f"{text}\n{logging.Formatter().formatException(record.exc_info)}"
            if len(text) > MAX_RECORD_LENGTH:
                text = f"{text[: MAX_RECORD_LENGTH - 15]} … (truncated)"
            log = LogMessage(
                message=text,
                level=_level(record.levelno),
                timestamp=int(record.created * 1000),
                source_type=SourceType.SYSTEM,
                source_name="homeassistant",
                is_system=True,
            )
            self._hass.loop.call_soon_threadsafe(self._forwarder.async_submit, log)
        except Exception:
            self.handleError(record)


def _level(levelno: int) -> Level:
    if levelno >= logging.ERROR:
        return Level.ERROR
    if levelno >= logging.WARNING:
        return Level.WARN
    if levelno >= logging.INFO:
        return Level.INFO
    return Level.DEBUG
