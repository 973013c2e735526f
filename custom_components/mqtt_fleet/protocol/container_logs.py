"""Container logs: MqttLogBackend's topics, single logs and batches.

Topics vary in depth (`{base}/{appId}/{serviceName}/{level}`, `{base}/system/{level}`,
...), so they are read from the right-hand end. The topics and payloads are described in
docs/protocols.md, section "Container logs".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import math
import re
from typing import Final

import orjson

from .payload import (
    MAX_PAYLOAD_BYTES,
    FieldReader,
    InvalidMessage,
    JsonObject,
    decode_json_object,
)
from .topics import BaseTopic, OutgoingMessage, is_safe_id, require_safe_id

__all__ = [
    "BATCH_LEVEL",
    "MAX_TIMESTAMP_MS",
    "ContainerLogsProtocol",
    "Level",
    "LogMessage",
    "LogStream",
    "SourceType",
    "app_id_for",
    "log_body",
    "read_level",
]

BATCH_LEVEL: Final = "batch"
_APP_ID: Final = re.compile(r"-?[0-9]+")
_BATCH_OVERHEAD: Final = 64  # `{"count":N,"logs":[...]}` around the logs, with room to spare
_LEVEL_ALIASES: Final = {"warning": "warn", "fatal": "error"}
# The last millisecond of the year 9999: later ones are no date Python can show.
MAX_TIMESTAMP_MS: Final = 253_402_300_799_999


class Level(StrEnum):
    """Log levels in increasing severity; warning and fatal are read as warn and error."""

    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Return the severity, for comparisons with a threshold."""
        return _RANKS[self]


_RANKS: Final = {level: rank for rank, level in enumerate(Level)}


class SourceType(StrEnum):
    """Where a log comes from, as MqttLogBackend's LogMessage names it."""

    CONTAINER = "container"
    SYSTEM = "system"
    MANAGER = "manager"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class LogMessage:
    """One log line, as MqttLogBackend publishes it."""

    message: str
    level: Level
    timestamp: int | None = None  # epoch milliseconds
    source_type: str = SourceType.OTHER
    source_name: str | None = None
    service_id: int | None = None
    service_name: str | None = None
    container_id: str | None = None
    is_stderr: bool | None = None
    is_system: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogStream:
    """Logs received on one topic: the source it names and the logs that were valid."""

    source: str  # `{appId}:{serviceName}`, `system`, `manager` or `other`
    app_id: str | None
    service_name: str | None
    logs: tuple[LogMessage, ...]
    problems: tuple[str, ...] = ()


def read_level(value: str) -> Level | None:
    """Return the level a name stands for (warning and fatal included), else None."""
    try:
        return Level(_LEVEL_ALIASES.get(value.lower(), value.lower()))
    except ValueError:
        return None


def app_id_for(service_id: float | None) -> str:
    """Return MqttLogBackend's `{appId}` level: floor(serviceId/1000), `unknown` without one.

    As in MqttLogBackend's JavaScript, a serviceId of 0 (or NaN) counts as none.
    """
    if not service_id or not math.isfinite(service_id):
        return "unknown"
    return str(math.floor(service_id / 1000))


class ContainerLogsProtocol:
    """Build and parse container-log topics and payloads under one base topic."""

    __slots__ = ("_topics", "base", "subscriptions")

    def __init__(self, base: str) -> None:
        """Check the base topic once."""
        self._topics = BaseTopic(base)
        self.base = base
        self.subscriptions: tuple[str, ...] = (f"{base}/#",)

    def topic_for(self, log: LogMessage) -> str:
        """Return the topic MqttLogBackend's buildTopic gives a log (raises on unsafe levels)."""
        if log.source_type == SourceType.CONTAINER and log.service_name:
            parts = [app_id_for(log.service_id), require_safe_id(log.service_name)]
        elif log.source_type in (SourceType.SYSTEM, SourceType.MANAGER):
            parts = [log.source_type]
        else:
            parts = [SourceType.OTHER]
        return "/".join((self.base, *parts, log.level))

    def single(self, log: LogMessage, qos: int = 1, retain: bool = False) -> OutgoingMessage:
        """Build one log's message."""
        return OutgoingMessage(self.topic_for(log), orjson.dumps(log_body(log)), qos, retain)

    def batches(
        self, topic: str, logs: list[LogMessage], qos: int = 1
    ) -> list[tuple[OutgoingMessage, int]]:
        """Build as few batches as the 64 KiB payload limit allows, with their log counts.

        Each is `{topic}/batch` with `{count, logs}`, never retained. Raises ValueError for
        a log that does not fit a batch on its own (see `fits`).
        """
        built: list[tuple[OutgoingMessage, int]] = []
        parts: list[bytes] = []
        size = 0
        for log in logs:
            part = orjson.dumps(log_body(log))
            if len(part) + _BATCH_OVERHEAD > MAX_PAYLOAD_BYTES:
                raise ValueError("a log is too large for a batch")
            if parts and size + len(part) + 1 + _BATCH_OVERHEAD > MAX_PAYLOAD_BYTES:
                built.append((self._batch(topic, parts, qos), len(parts)))
                parts, size = [], 0
            parts.append(part)
            size += len(part) + 1
        if parts:
            built.append((self._batch(topic, parts, qos), len(parts)))
        return built

    def _batch(self, topic: str, parts: list[bytes], qos: int) -> OutgoingMessage:
        payload = b'{"count":%d,"logs":[%b]}' % (len(parts), b",".join(parts))
        return OutgoingMessage(f"{topic}/{BATCH_LEVEL}", payload, qos, False)

    def fits(self, log: LogMessage) -> bool:
        """Tell whether a log can be sent and read back, alone or in a batch."""
        return len(orjson.dumps(log_body(log))) + _BATCH_OVERHEAD <= MAX_PAYLOAD_BYTES

    def parse(self, topic: str, payload: bytes) -> LogStream:
        """Turn a received message into the logs it holds, or raise InvalidMessage."""
        levels = self._topics.levels(topic)
        batch = levels[-1] == BATCH_LEVEL
        if batch:
            levels = levels[:-1]
        if not levels or read_level(levels[-1]) is None:
            raise InvalidMessage("the topic does not end in a log level")
        app: str | None = None
        service: str | None = None
        match levels[:-1]:
            case [app_id, service_name] if _is_app_id(app_id) and is_safe_id(service_name):
                source, app, service = f"{app_id}:{service_name}", app_id, service_name
            case [kind] if kind in (SourceType.SYSTEM, SourceType.MANAGER, SourceType.OTHER):
                source = kind
            case _:
                raise InvalidMessage("not a container-log topic")
        fields = FieldReader(decode_json_object(payload))
        logs = _batch_logs(fields) if batch else _single_log(fields)
        return LogStream(
            source=source,
            app_id=app,
            service_name=service,
            logs=logs,
            problems=tuple(fields.problems),
        )


def log_body(log: LogMessage) -> dict[str, object]:
    """Return a LogMessage as MqttLogBackend serialises it (absent fields left out)."""
    body: dict[str, object] = {"message": log.message}
    if log.timestamp is not None:
        body["timestamp"] = log.timestamp
    body["level"] = log.level.value
    source: dict[str, object] = {"type": log.source_type}
    if log.source_name is not None:
        source["name"] = log.source_name
    body["source"] = source
    optional = {
        "serviceId": log.service_id,
        "serviceName": log.service_name,
        "containerId": log.container_id,
        "isStdErr": log.is_stderr,
        "isSystem": log.is_system,
    }
    body.update((key, value) for key, value in optional.items() if value is not None)
    return body


def _is_app_id(level: str) -> bool:
    return level == "unknown" or _APP_ID.fullmatch(level) is not None


def _single_log(fields: FieldReader) -> tuple[LogMessage, ...]:
    log = _log(fields.data, fields.problems, "")
    if log is None:
        raise InvalidMessage(fields.problems[0] if fields.problems else "not a log message")
    return (log,)


def _batch_logs(fields: FieldReader) -> tuple[LogMessage, ...]:
    entries = fields.data.get("logs")
    if not isinstance(entries, list):
        raise InvalidMessage("logs: expected an array")
    logs: list[LogMessage] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            fields.problems.append(f"logs[{index}]: expected an object")
        elif (log := _log(entry, fields.problems, f"logs[{index}].")) is not None:
            logs.append(log)
    count = fields.integer("count")
    if count is not None and count != len(entries):
        fields.problems.append(f"count: {count} but {len(entries)} logs")
    return tuple(logs)


def _log(data: JsonObject, problems: list[str], prefix: str) -> LogMessage | None:
    """Read one LogMessage; a log without a message or a known level is refused."""
    fields = FieldReader(data)
    message = fields.string("message")
    level_name = fields.string("level")
    level = None if level_name is None else read_level(level_name)
    if message is None or level is None:
        if level_name is not None and level is None:
            fields.problems.append(f"level: unknown level {level_name[:16]!r}")
        elif not fields.problems:
            fields.problems.append("message and level are required")
        problems.extend(f"{prefix}{problem}" for problem in fields.problems)
        return None
    source = FieldReader(fields.obj("source") or {})
    log = LogMessage(
        message=message,
        level=level,
        timestamp=fields.integer("timestamp", maximum=MAX_TIMESTAMP_MS),
        source_type=source.string("type") or SourceType.OTHER,
        source_name=source.string("name"),
        service_id=fields.integer("serviceId", minimum=-(2**63)),
        service_name=fields.string("serviceName"),
        container_id=fields.string("containerId"),
        is_stderr=fields.boolean("isStdErr"),
        is_system=fields.boolean("isSystem"),
    )
    problems.extend(f"{prefix}{problem}" for problem in fields.problems)
    problems.extend(f"{prefix}source.{problem}" for problem in source.problems)
    return log
