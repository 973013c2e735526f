"""A container manager streaming logs via MqttLogBackend (docs/protocols.md, "Container logs").

One publish-only connection carries its containers' and its own logs, batched into
`{topic}/batch` messages by default. ``--log-burst`` adds a numbered burst after READY.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
import itertools
import json
import math
import os
import threading
import time
from typing import TYPE_CHECKING, override

from .core import LOG, SHUTDOWN_TIMEOUT, Family, Link, Runner, Settings, wait_published

if TYPE_CHECKING:
    from collections.abc import Callable
    import random

    import paho.mqtt.client as mqtt

    from .payloads import Payload

LOG_LEVELS = ("info", "debug", "warn", "error")
LOG_LEVEL_WEIGHTS = (70, 90, 98, 100)  # cumulative: 70 % info, 20 debug, 8 warn, 2 error
MANAGER_NAME = "container-manager"  # source.name of the monitor's system and manager logs
MANAGED_SERVICES = ((1001, "web"), (1002, "api"), (2001, "db"), (2002, "redis"))
HTTP_PATHS = (
    "/",
    "/index.html",
    "/favicon.ico",
    "/static/js/app.3f9c2b.js",
    "/api/v1/status",
    "/api/v1/devices",
    "/api/v1/devices/42/telemetry",
    "/api/v1/auth/refresh",
)
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "HomeAssistant/2025.1 aiohttp/3.11.11 Python/3.13",
    "Prometheus/2.53.0",
    "curl/8.5.0",
)
IMAGES = ("nginx:1.27-alpine", "node:20-alpine", "postgres:16-alpine", "redis:7.4-alpine")


def managed_service(rng: random.Random) -> str:
    """Name one of the manager's services the way logManagerEvent's JSON details do."""
    service_id, name = rng.choice(MANAGED_SERVICES)
    return f'"serviceId":{service_id},"serviceName":"{name}"'


# What a log line's {placeholders} stand for. Lines carry no clock of their own (the
# LogMessage's timestamp does), so a run's text depends on --seed alone.
LOG_FIELDS: dict[str, Callable[[random.Random], object]] = {
    "client": lambda rng: f"192.168.1.{rng.randint(2, 254)}",
    "peer": lambda rng: f"172.18.0.{rng.randint(2, 12)}",
    "port": lambda rng: rng.randint(32768, 60999),
    "method": lambda rng: rng.choices(
        ("GET", "POST", "PUT", "DELETE"), cum_weights=(80, 92, 97, 100)
    )[0],
    "path": lambda rng: rng.choice(HTTP_PATHS),
    "status": lambda rng: rng.choices((200, 304, 201, 404), cum_weights=(80, 90, 96, 100))[0],
    "bytes": lambda rng: rng.randint(120, 48000),
    "agent": lambda rng: rng.choice(USER_AGENTS),
    "ms": lambda rng: f"{rng.lognormvariate(2.3, 0.7):.3f}",
    "slow_ms": lambda rng: rng.randint(1200, 9000),
    "pid": lambda rng: rng.randint(20, 60),
    "conn": lambda rng: rng.randint(1, 99999),
    "count": lambda rng: rng.randint(2, 900),
    "few": lambda rng: rng.randint(1, 9),
    "pct": lambda rng: f"{rng.uniform(0.1, 9.9):.1f}",
    "disk": lambda rng: rng.randint(85, 97),
    "secs": lambda rng: f"{rng.uniform(0.1, 27.0):.3f}",
    "device": lambda rng: f"ESP32_{rng.randint(1, 24):03d}",
    "image": lambda rng: rng.choice(IMAGES),
    "service": managed_service,
}


class LineFields(dict[str, object]):
    """Values for one line's placeholders, drawn only when the line asks for them."""

    def __init__(self, rng: random.Random) -> None:
        """Start empty; each placeholder is drawn once, so `{pid}#{pid}` repeats its value."""
        super().__init__()
        self._rng = rng

    def __missing__(self, key: str) -> object:
        """Draw the value str.format_map asks for."""
        value = self[key] = LOG_FIELDS[key](self._rng)
        return value


@dataclass(frozen=True)
class LogSource:
    """Something the container manager collects logs from: a container, or itself."""

    kind: str  # source.type: container, system or manager
    weight: int  # its share of the traffic
    lines: dict[str, tuple[str, ...]]  # str.format templates per level
    service_id: int | None = None
    service_name: str | None = None
    stderr: frozenset[str] = frozenset()  # levels the container writes to stderr
    container_id: str = ""  # drawn per run

    @property
    def route(self) -> tuple[str, ...]:
        """The topic levels between base and level, chosen as MqttLogBackend.buildTopic does.

        JavaScript truthiness: a serviceId of 0 gives `unknown`, a container without a
        serviceName goes to `other`.
        """
        if self.kind == "container" and self.service_name:
            app = str(math.floor(self.service_id / 1000)) if self.service_id else "unknown"
            return (app, self.service_name)
        if self.kind in ("system", "manager"):
            return (self.kind,)
        return ("other",)


LOG_SOURCES = (
    LogSource(
        kind="container",
        weight=30,
        lines={
            "info": ('{client} - - "{method} {path} HTTP/1.1" {status} {bytes} "-" "{agent}"',),
            "debug": (
                "[debug] {pid}#{pid}: *{conn} http keepalive handler",
                '[debug] {pid}#{pid}: *{conn} http upstream request: "{path}?"',
            ),
            "warn": (
                "[warn] {pid}#{pid}: *{conn} an upstream response is buffered to a temporary "
                "file /var/cache/nginx/proxy_temp/{few}/00/000000000{few}, client: {client}, "
                'server: _, request: "{method} {path} HTTP/1.1"',
            ),
            "error": (
                "[error] {pid}#{pid}: *{conn} connect() failed (111: Connection refused) while "
                'connecting to upstream, client: {client}, server: _, request: "{method} {path} '
                'HTTP/1.1", upstream: "http://172.18.0.3:3000{path}"',
                "[error] {pid}#{pid}: *{conn} upstream timed out (110: Connection timed out) "
                "while reading response header from upstream, client: {client}",
            ),
        },
        service_id=1001,
        service_name="web",
        stderr=frozenset(("debug", "warn", "error")),  # nginx: access log out, error log err
    ),
    LogSource(
        kind="container",
        weight=25,
        lines={
            "info": (
                "{method} {path} {status} {ms} ms - {bytes}",
                "Device {device} reported telemetry ({count} points)",
            ),
            "debug": (
                "cache hit devices:list (ttl {few}s)",
                "db pool: {few} idle, 0 waiting",
            ),
            "warn": ("Slow request: {method} {path} took {slow_ms} ms",),
            "error": (
                "Error: connect ECONNREFUSED 172.18.0.4:5432",
                "Error: connect ECONNREFUSED 172.18.0.5:6379",
                "UnhandledPromiseRejection: TimeoutError: Query read timeout",
            ),
        },
        service_id=1002,
        service_name="api",
        stderr=frozenset(("warn", "error")),
    ),
    LogSource(
        kind="container",
        weight=12,
        lines={
            "info": (
                "LOG:  checkpoint starting: time",
                "LOG:  checkpoint complete: wrote {count} buffers ({pct}%); 0 WAL file(s) "
                "added, 0 removed, 1 recycled; write={secs} s, sync=0.004 s, total={secs} s",
                "LOG:  connection received: host={peer} port={port}",
                "LOG:  connection authorized: user=app database=fleet application_name=api",
            ),
            "debug": (
                'DEBUG:  autovacuum: processing database "fleet"',
                "DEBUG:  snapshot of {few}+0 running transaction ids (lsn 0/1A2B3C4D)",
            ),
            "warn": (
                "WARNING:  there is no transaction in progress",
                "LOG:  checkpoints are occurring too frequently ({few} seconds apart)",
            ),
            "error": (
                'ERROR:  duplicate key value violates unique constraint "devices_pkey"',
                'FATAL:  password authentication failed for user "grafana"',
                "FATAL:  sorry, too many clients already",
            ),
        },
        service_id=2001,
        service_name="db",
        stderr=frozenset(LOG_LEVELS),  # postgres in Docker logs everything to stderr
    ),
    LogSource(
        kind="container",
        weight=10,
        lines={
            "info": (
                "1:M * {count} changes in 300 seconds. Saving...",
                "1:M * Background saving started by pid {pid}",
                "1:M * Background saving terminated with success",
            ),
            "debug": (
                "1:M - Accepted {peer}:{port}",
                "1:M - Client closed connection id={conn} addr={peer}:{port}",
            ),
            "warn": (
                "1:M # WARNING Memory overcommit must be enabled! Without it, a background "
                "save or replication may fail under low memory condition.",
            ),
            "error": (
                "1:M # Error accepting a client connection: accept: Too many open files",
                "1:M # Background saving error",
            ),
        },
        service_id=2002,
        service_name="redis",
    ),
    LogSource(  # serviceId 0: MqttLogBackend's `unknown` app
        kind="container",
        weight=3,
        lines={
            "info": (
                'level=info msg="Checking all containers (except explicitly disabled with label)"',
                'level=info msg="Session done" Failed=0 Scanned={few} Updated=0 notify=no',
            ),
            "debug": ('level=debug msg="No new images found for /web"',),
            "warn": (
                'level=warning msg="Could not do a head request for \\"{image}\\", falling back '
                'to regular pull." reason="registry responded to head request with \\"429 Too '
                'Many Requests\\""',
            ),
            "error": (
                'level=error msg="Error response from daemon: pull access denied for '
                "private/api, repository does not exist or may require 'docker login'\"",
            ),
        },
        service_id=0,
        service_name="watchtower",
        stderr=frozenset(LOG_LEVELS),
    ),
    LogSource(  # a container without a serviceName: MqttLogBackend's `other`
        kind="container",
        weight=2,
        lines={
            "info": ('level=info msg="Listening on" address=[::]:9100',),
            "debug": (
                'level=debug msg="collector succeeded" name=filesystem duration_seconds=0.0{few}',
            ),
            "warn": (
                'level=warn msg="failed to read /proc/pressure/cpu" '
                'err="no such file or directory"',
            ),
            "error": (
                'level=error msg="collector failed" name=hwmon '
                'err="open /sys/class/hwmon: permission denied"',
            ),
        },
        service_id=3001,
        stderr=frozenset(LOG_LEVELS),
    ),
    LogSource(
        kind="system",
        weight=8,
        lines={
            "info": (
                "Reconciling target state: 2 apps, 4 services",
                "Target state applied in {ms} ms",
            ),
            "debug": ("Polling Docker events", "Heartbeat sent to cloud in {ms} ms"),
            "warn": (
                "Disk usage at {disk}% on /var/lib/docker",
                "Docker daemon slow to respond ({slow_ms} ms)",
            ),
            "error": (
                "Failed to reach the cloud API: getaddrinfo EAI_AGAIN api.example.com",
                "Docker socket error: connect ENOENT /var/run/docker.sock",
            ),
        },
    ),
    LogSource(  # logManagerEvent: `${event}: ${JSON.stringify(details)}`
        kind="manager",
        weight=10,
        lines={
            "info": (
                "Service started: {{{service}}}",
                'Image pulled: {{"image":"{image}"}}',
                'Container restarted: {{{service},"restartCount":{few}}}',
            ),
            "debug": ("Health check passed: {{{service}}}", "State snapshot saved"),
            "warn": ('Container unhealthy: {{{service},"failingStreak":{few}}}',),
            "error": (
                'Container killed (OOM): {{{service},"exitCode":137,"memoryLimit":"256MB"}}',
                'Container exited: {{{service},"exitCode":1}}',
            ),
        },
    ),
)


def js_json(value: object) -> str:
    """Encode like JavaScript's JSON.stringify: compact, keys in insertion order, UTF-8 kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ContainerLogFamily(Family):
    """A container manager's MqttLogBackend: one connection, logs from its apps and itself.

    Follows the container manager's TypeScript: QoS 1, never retained; with batching, logs
    collect until the batch reaches --log-batch-max or the interval timer (started by the
    first log, then ticking for good) fires, and each flush publishes `{topic}/batch` per
    topic.
    Like the real one, it drops logs while it is offline.
    """

    key = "logs"

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Pick the containers' ids; log content and timing come from rng, so runs repeat."""
        super().__init__(settings, runner)
        self._rng = rng
        self._sources = [
            replace(source, container_id=f"{rng.getrandbits(256):064x}")
            if source.kind == "container"
            else source
            for source in (LOG_SOURCES if settings.logs else ())
        ]
        self._weights = list(itertools.accumulate(source.weight for source in self._sources))
        self._batch: list[tuple[str, Payload]] = []  # (topic, log) waiting for a flush
        self._batch_timer = False
        self._last: mqtt.MQTTMessageInfo | None = None
        self._link = Link(
            settings,
            runner,
            client_id=f"container-manager-{os.getpid()}",
            subscriptions=[],
            on_message=lambda _topic, _raw: None,  # it subscribes to nothing
            on_reconnect=lambda: None,  # logs simply flow again; nothing to announce
        )

    @override
    def ids(self) -> list[str]:
        return [":".join(source.route) for source in self._sources]

    @override
    def links(self) -> list[Link]:
        return [self._link]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        settings = self.settings
        if settings.log_burst:
            self.runner.call_later(0.0, self._burst)  # the first job after READY
        if settings.log_rate > 0:
            self.runner.every(
                1 / settings.log_rate,
                self._emit,
                first=self._rng.expovariate(settings.log_rate),
                jitter=partial(self._rng.expovariate, 1.0),  # Poisson arrivals
            )
        return []

    @override
    def stop(self) -> None:
        # MqttLogBackend.disconnect: publish what is pending, then end cleanly. The broker
        # acknowledges in order, so the last PUBACK covers every earlier message.
        self._flush()
        last = self._last
        if last is not None and not wait_published([last], time.monotonic() + SHUTDOWN_TIMEOUT):
            LOG.warning("container manager: not every log left before shutdown")
        self._link.close()

    def _new_log(self, prefix: str = "") -> tuple[str, Payload]:
        """Make one LogMessage the way ContainerLogMonitor does, with its topic."""
        rng = self._rng
        source = rng.choices(self._sources, cum_weights=self._weights)[0]
        level = rng.choices(LOG_LEVELS, cum_weights=LOG_LEVEL_WEIGHTS)[0]
        text = rng.choice(source.lines[level]).format_map(LineFields(rng))
        log: Payload = {
            "message": prefix + text,
            "timestamp": time.time_ns() // 1_000_000,
            "level": level,
        }
        if source.kind == "container":
            # The monitor names the source after the service; JSON.stringify leaves out
            # whatever is undefined, as for the container without a serviceName.
            name = {"name": source.service_name} if source.service_name is not None else {}
            log["source"] = {"type": "container", **name}
            if source.service_id is not None:
                log["serviceId"] = source.service_id
            if source.service_name is not None:
                log["serviceName"] = source.service_name
            log["containerId"] = source.container_id
            log["isStdErr"] = level in source.stderr
            log["isSystem"] = False
        else:
            log["source"] = {"type": source.kind, "name": MANAGER_NAME}
            log["isSystem"] = True
        return "/".join((self.settings.logs_base, *source.route, level)), log

    def _emit(self) -> None:
        self._log(*self._new_log())

    def _log(self, topic: str, log: Payload) -> list[mqtt.MQTTMessageInfo] | None:
        """MqttLogBackend.log: the messages it published now, None if it dropped the log."""
        if not self._link.client.is_connected():
            LOG.debug("container manager offline: log dropped")
            return None
        if not self.settings.log_batching:
            return [self._publish(topic, log)]
        self._batch.append((topic, log))
        if not self._batch_timer:
            self._batch_timer = True
            self.runner.every(self.settings.log_batch_interval, self._flush)
        return self._flush() if len(self._batch) >= self.settings.log_batch_max else []

    def _flush(self) -> list[mqtt.MQTTMessageInfo]:
        """MqttLogBackend.publishBatch: one `{topic}/batch` per topic, in first-seen order."""
        by_topic: dict[str, list[Payload]] = {}
        for topic, log in self._batch:
            by_topic.setdefault(topic, []).append(log)
        self._batch = []
        return [
            self._publish(f"{topic}/batch", {"count": len(logs), "logs": logs})
            for topic, logs in by_topic.items()
        ]

    def _publish(self, topic: str, payload: Payload) -> mqtt.MQTTMessageInfo:
        self._last = self._link.publish_text(topic, js_json(payload), qos=1)
        return self._last

    def _burst(self) -> None:
        """Publish --log-burst numbered logs at once; a thread reports when all are acked."""
        total = self.settings.log_burst
        infos: list[mqtt.MQTTMessageInfo] = []
        published = 0
        for number in range(1, total + 1):
            sent = self._log(*self._new_log(f"burst {number} of {total}: "))
            if sent is not None:
                published += 1
                infos.extend(sent)
        infos.extend(self._flush())  # the rest leaves now, not at the next tick
        threading.Thread(
            target=self._report_burst, args=(infos, published), name="burst", daemon=True
        ).start()

    def _report_burst(self, infos: list[mqtt.MQTTMessageInfo], published: int) -> None:
        # Not on the runner thread: the other devices keep answering while PUBACKs arrive.
        try:
            for info in infos:
                info.wait_for_publish()
        except (RuntimeError, ValueError) as err:
            LOG.error("burst: a message was not published: %s", err)
            return
        report = {"published": published, "messages": len(infos)}
        print("BURST_DONE " + json.dumps(report), flush=True)
