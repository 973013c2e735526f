"""Device-side simulator for the MQTT Fleet integration.

Speaks the AutoCore, Janus, SpotFi and container-log wire contracts (PROTOCOLS.md,
sections 1-4) from the device's side, written independently of the integration's
parser, so the demo, the real-broker tests and the benchmarks have realistic devices
to talk to.

Usage:
    python tools/simulator.py --host 127.0.0.1 --port 1883 [--base autocore]
        [--layout-a N] [--layout-b N] [--relays-a 4] [--channels-b 16]
        [--status-interval 30] [--telemetry-interval 30]
        [--interaction-interval 20]
        [--janus N] [--janus-base janus] [--janus-secret janusoverlord]
        [--janus-wrong-path N] [--janus-reply-delay S] [--janus-down-seconds 5]
        [--spotfi N] [--spotfi-base spotfi/router] [--spotfi-garbage]
        [--spotfi-reply-delay S] [--spotfi-down-seconds 5] [--metrics-interval 30]
        [--reply-jitter S]
        [--logs] [--logs-base container-manager/logs] [--log-rate 2]
        [--log-batching | --no-log-batching] [--log-batch-interval 1]
        [--log-batch-max 50] [--log-burst N]
        [--seed 1] [--log-level info]

When every device is connected, subscribed and has published its initial
state, one line goes to stdout:

    READY {"layout_a": ["ESP32_001", ...], "layout_b": ["<uuid>", ...],
           "janus": ["janus-01", ...], "spotfi": ["rtr-<8 hex>", ...],
           "logs": ["1:web", "1:api", "2:db", "2:redis", "unknown:watchtower", "other",
                    "system", "manager"]}

(on one line; every key is always there, with [] for a family of 0 devices; "logs"
names the container manager's log sources by their topic levels, [] without --logs).

--logs adds a container manager streaming its containers' and its own logs through
MqttLogBackend, batched by default. With --log-burst N it first publishes N logs
numbered "burst i of N: ..." as fast as it can and, once the broker acknowledged every
one of them, prints

    BURST_DONE {"published": N, "messages": M}

where M counts the MQTT messages (batches or single logs) that carried them.

Outages, for tests that need one device to vanish while the rest carry on:
    SIGUSR1  the first still-connected Janus server loses its connection without
             DISCONNECT (the broker publishes its Last Will within about a second,
             once paho's network loop has stopped) and reconnects after
             --janus-down-seconds, announcing itself online again.
    SIGUSR2  the same for the first still-connected SpotFi router
             (--spotfi-down-seconds).
A ubus `system reboot` RPC takes its router away the same way, one second after
the reply, and it comes back with its uptime reset and its terminals gone.

Slow peers, for tests of timeouts and late replies: a Janus server answers admin
requests --janus-reply-delay seconds late, a router its RPC requests
--spotfi-reply-delay seconds late, and each such reply waits a further random
0..--reply-jitter seconds, so replies overtake each other.

It runs until SIGINT or SIGTERM and then exits with code 0; Janus servers and
SpotFi routers vanish like a power cut, so their Last Wills fire, and the container
manager publishes its pending batch first. Logs go to stderr.

To add a device family, subclass ``Family`` and add it to ``build_families``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import argparse
import base64
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
import heapq
import itertools
import json
import logging
import math
import os
import queue
import random
import shlex
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, ClassVar, NoReturn, TypeIs, override
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

if TYPE_CHECKING:
    from types import FrameType

    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

LOG = logging.getLogger("simulator")

Payload = dict[str, object]
Job = Callable[[], object]

STARTUP_TIMEOUT = 10.0  # seconds for connecting, subscribing and initial publishes
SHUTDOWN_TIMEOUT = 5.0  # seconds for the goodbye messages to leave


class StartupError(Exception):
    """The simulator could not get every device onto the broker."""


@dataclass(frozen=True)
class Settings:
    """Command-line options the device families need."""

    host: str
    port: int
    base: str
    layout_a: int
    layout_b: int
    relays_a: int
    channels_b: int
    status_interval: float
    telemetry_interval: float
    interaction_interval: float
    janus: int
    janus_base: str
    janus_secret: str
    janus_wrong_path: int
    janus_reply_delay: float
    spotfi_reply_delay: float
    reply_jitter: float
    janus_down_seconds: float
    spotfi: int
    spotfi_base: str
    spotfi_garbage: bool
    spotfi_down_seconds: float
    metrics_interval: float
    logs: bool
    logs_base: str
    log_rate: float
    log_batching: bool
    log_batch_interval: float
    log_batch_max: int
    log_burst: int


@dataclass(frozen=True)
class Will:
    """A Last Will: what the broker publishes for a device that vanished without a goodbye."""

    topic: str
    body: str
    retain: bool


def iso_now() -> str:
    """UTC time in the firmware's format (whole seconds, trailing Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def walk(rng: random.Random, value: float, step: float, low: float, high: float) -> float:
    """Bounded random walk, so readings drift like real sensors instead of jumping."""
    value += rng.gauss(0.0, step)
    if value < low:
        value = 2 * low - value
    elif value > high:
        value = 2 * high - value
    return min(max(value, low), high)


def parse_object(raw: bytes) -> Payload | None:
    """Decode a command payload; None for anything that is not a JSON object."""
    try:
        data = json.loads(raw)
    except ValueError, RecursionError:
        return None
    return data if isinstance(data, dict) else None


def reject_constant(name: str) -> NoReturn:
    """Refuse NaN and Infinity: Python's json accepts them, jansson and Go do not."""
    raise ValueError(f"invalid token near '{name}'")


def quoted(value: object) -> str:
    """Quote a received value as JSON, cut short so a huge payload cannot bloat a report."""
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


GO_HTML_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_float(value: float) -> str:
    """Format a float as Go's encoding/json does: shortest digits, '12' for 12.0."""
    if not math.isfinite(value):
        raise ValueError(f"Go's encoding/json refuses {value}")
    size = abs(value)
    if size != 0 and (size < 1e-6 or size >= 1e21):
        text = repr(value)  # shortest digits in exponent form, as Go's 'e' format
        return text[:-2] + text[-1] if text[-4:-1] == "e-0" else text  # Go writes e-7, not e-07
    text = format(Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def go_json(value: object) -> str:
    """Encode like Go's json.Marshal of a map: sorted keys, compact, `<>&` escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).translate(GO_HTML_ESCAPES)
    if isinstance(value, dict):
        items = sorted((str(key), item) for key, item in value.items())
        return "{" + ",".join(f"{go_json(key)}:{go_json(item)}" for key, item in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def wait_published(infos: Sequence[mqtt.MQTTMessageInfo], deadline: float) -> bool:
    """Block until every message was written (QoS 0) or acknowledged (QoS 1)."""
    for info in infos:
        try:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                return False
        except RuntimeError, ValueError:
            return False
    return True


class Runner:
    """Runs timers and inbound messages on one thread, so device state needs no locks."""

    def __init__(self) -> None:
        """Start the uptime clock; families schedule their timers in start()."""
        self.started = time.monotonic()
        self.stopping = False
        self._inbox: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._timers: list[tuple[float, int, Job]] = []
        self._order = itertools.count()

    def post(self, job: Job) -> None:
        """Hand a job over from another thread (paho's network threads)."""
        self._inbox.put(job)

    def stop(self) -> None:
        """End the loop. Safe in a signal handler: SimpleQueue.put is reentrant."""
        self.stopping = True
        self._inbox.put(None)

    def call_at(self, when: float, job: Job) -> None:
        """Run job at a monotonic time; runner thread only."""
        heapq.heappush(self._timers, (when, next(self._order), job))

    def call_later(self, delay: float, job: Job) -> None:
        """Run job after delay seconds; runner thread only."""
        self.call_at(time.monotonic() + delay, job)

    def every(
        self,
        interval: float,
        job: Job,
        *,
        first: float | None = None,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        """Repeat job, each due time counted from the previous one so it does not drift.

        After a stall the next run is due now rather than replaying every missed one.
        """

        def tick(due: float) -> None:
            job()
            following = max(due + interval * (jitter() if jitter else 1.0), time.monotonic())
            self.call_at(following, partial(tick, following))

        due = time.monotonic() + (interval if first is None else first)
        self.call_at(due, partial(tick, due))

    def run(self) -> None:
        """Serve timers and posted jobs until stop() is called."""
        while not self.stopping:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now and not self.stopping:
                heapq.heappop(self._timers)[2]()
            timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
            try:
                job = self._inbox.get(timeout=timeout)
            except queue.Empty:
                continue
            if job is not None:
                job()


class Link:
    """One broker connection; inbound messages are handed to the runner thread.

    paho reconnects by itself; after a reconnect on_reconnect runs on the runner
    thread so the devices can announce themselves again. cut() simulates a power
    cut; while it lasts, `down` (runner thread only) keeps the device silent.
    """

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        *,
        client_id: str,
        subscriptions: Sequence[str],
        on_message: Callable[[str, bytes], None],
        on_reconnect: Job,
        will: Callable[[], Will] | None = None,
    ) -> None:
        """Set up the client; nothing touches the network before open()."""
        self.client_id = client_id
        self._settings = settings
        self._runner = runner
        self._subscriptions = subscriptions
        self._handle = on_message
        self._on_reconnect = on_reconnect
        self._will = will
        self._connected_before = False  # paho thread only
        self._subscribed = threading.Event()
        self.down = False  # runner thread only
        self._worker: threading.Thread | None = None  # runner thread only
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_pre_connect = self._on_pre_connect
        self.client.on_socket_open = self._on_socket_open
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def open(self, deadline: float) -> None:
        """Connect and start paho's thread, retrying while the broker is still starting."""
        while True:
            try:
                self.client.connect(self._settings.host, self._settings.port)
                break
            except OSError as err:
                if time.monotonic() >= deadline or self._runner.stopping:
                    where = f"{self._settings.host}:{self._settings.port}"
                    raise StartupError(
                        f"{self.client_id}: cannot connect to {where}: {err}"
                    ) from err
                time.sleep(0.2)
        self.client.loop_start()

    def wait_subscribed(self, deadline: float) -> None:
        """Block until the broker acknowledged the subscriptions, so commands are not missed.

        A link without subscriptions only waits for the CONNACK.
        """
        if not self._subscribed.wait(max(0.0, deadline - time.monotonic())):
            raise StartupError(f"{self.client_id}: no CONNACK/SUBACK from the broker in time")

    def publish(
        self, topic: str, payload: Payload, *, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish a JSON payload; thread-safe in paho."""
        return self.publish_text(topic, json.dumps(payload), qos=qos, retain=retain)

    def publish_text(
        self, topic: str, body: str, *, qos: int = 0, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Publish a payload exactly as given (plain strings, Go- or jansson-style JSON)."""
        LOG.debug("%s -> %s %s", self.client_id, topic, body)
        return self.client.publish(topic, body, qos=qos, retain=retain)

    def send(self, topic: str, body: str, *, qos: int = 0, retain: bool = False) -> None:
        """Publish unless the connection is cut: a device without power says nothing."""
        if self.down:
            LOG.debug("%s is down; %s not sent", self.client_id, topic)
            return
        self.publish_text(topic, body, qos=qos, retain=retain)

    def close(self) -> None:
        """Disconnect cleanly (the broker discards the Last Will)."""
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self) -> None:
        """Close the socket without DISCONNECT, like a power loss, so the Last Will fires."""
        if self._worker is not None:
            self._worker.join()  # a cut or reconnect in progress finishes first
        self._kill()

    def cut(self, seconds: float) -> None:
        """Lose power now and come back after `seconds`; runner thread only.

        paho's blocking calls run on a worker thread so the other devices keep answering.
        """
        LOG.info("%s: connection cut for %g s", self.client_id, seconds)
        self.down = True
        self._in_background(
            self._kill, then=partial(self._runner.call_later, seconds, self._restore)
        )

    def _restore(self) -> None:
        self._in_background(self._reopen, then=None)

    def _in_background(self, work: Job, *, then: Job | None) -> None:
        def run() -> None:
            work()
            if then is not None:
                self._runner.post(then)

        if self._worker is not None:
            self._worker.join()
        self._worker = threading.Thread(target=run, name=f"{self.client_id}-outage")
        self._worker.start()

    def _kill(self) -> None:
        self.client.loop_stop()  # waits for paho's select() timeout, up to 1 s
        sock = self.client.socket()
        if sock is not None:
            sock.close()

    def _reopen(self) -> None:
        try:
            self.client.reconnect()
        except OSError as err:
            # paho's loop keeps retrying; on_connect announces the device once it is back.
            LOG.warning("%s: reconnect failed (%s), retrying", self.client_id, err)
        self.client.loop_start()

    def _back(self) -> None:
        self.down = False
        self._on_reconnect()

    def _on_socket_open(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        # Without this, Nagle's algorithm holds back a small reply until the broker's
        # delayed ACK for the previous one: about 40 ms per answer instead of under 1.
        if isinstance(sock, socket.socket):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_pre_connect(self, client: mqtt.Client, userdata: object) -> None:
        # Built afresh on every (re)connect, like the firmware builds its LWT at connect.
        if self._will is not None:
            will = self._will()
            client.will_set(will.topic, will.body, qos=1, retain=will.retain)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            LOG.error("%s: broker refused the connection: %s", self.client_id, reason_code)
            return
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        else:  # publish-only (a container manager): ready as soon as it is connected
            self._subscribed.set()
        if self._connected_before:
            LOG.info("%s: reconnected", self.client_id)
            self._runner.post(self._back)
        self._connected_before = True

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            LOG.error("%s: subscription refused: %s", self.client_id, ", ".join(refused))
        else:
            self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            LOG.warning("%s: connection lost (%s), reconnecting", self.client_id, reason_code)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._runner.post(partial(self._handle, message.topic, message.payload))


class ReplyPacer:
    """Send a device's replies to requests after its delay plus a random jitter, or at once."""

    def __init__(self, runner: Runner, link: Link, delay: float, jitter: float, name: str) -> None:
        """Draw jitter from a stream named for the device: its readings stay as they were."""
        self._runner = runner
        self._link = link
        self._delay = delay
        self._jitter = jitter
        self._rng = random.Random(f"{name}/replies")

    def send(self, topic: str, body: str) -> None:
        """Publish one reply at QoS 1, now or later."""
        delay = self._delay + (self._rng.uniform(0.0, self._jitter) if self._jitter else 0.0)
        if delay > 0:
            self._runner.call_later(delay, partial(self._link.send, topic, body, qos=1))
        else:
            self._link.send(topic, body, qos=1)


class Family(ABC):
    """A kind of simulated device: owns its devices, connections and timers."""

    key: ClassVar[str]  # its name in the READY line

    def __init__(self, settings: Settings, runner: Runner) -> None:
        """Keep what every family needs; devices are built by the subclass."""
        self.settings = settings
        self.runner = runner

    @abstractmethod
    def ids(self) -> list[str]:
        """Return the device ids, in READY-line order."""

    @abstractmethod
    def links(self) -> list[Link]:
        """Return the connections to open before start()."""

    @abstractmethod
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        """Publish the initial state and schedule timers; returns the messages to await."""

    @abstractmethod
    def stop(self) -> None:
        """Say goodbye the way this kind of device does, then let go of the broker."""

    def signals(self) -> dict[signal.Signals, Job]:
        """Map the signals this family reacts to onto jobs for the runner thread."""
        return {}


def drop_all(links: Sequence[Link]) -> None:
    """Cut every connection like a power failure, so the broker publishes each Last Will.

    In parallel, because loop_stop() waits for paho's select() timeout (up to 1 s) per link.
    """
    threads = [threading.Thread(target=link.drop) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class LayoutABoard:
    """A board speaking the seed contract; readings drift from its own RNG, so runs repeat."""

    device_id: str
    ip_address: str
    rng: random.Random
    relays: list[bool]
    triggered_by: list[str]
    temperature: float
    humidity: float
    voltage: float
    memory_free: float
    pressure: float | None  # only the first board has the extra sensor


class LayoutAFamily(Family):
    """Seed-contract boards (`{base}/{device_id}/...`), all on one shared connection."""

    key = "layout_a"
    SCREENS = ("main", "settings")
    ELEMENTS = ("btn_1", "btn_2", "btn_3", "btn_4", "slider_1")
    ACTIONS = ("press", "long_press", "release")

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the boards; each gets its own RNG stream from rng."""
        super().__init__(settings, runner)
        self._boards: dict[str, LayoutABoard] = {}
        for index in range(settings.layout_a):
            board_rng = random.Random(rng.getrandbits(64))
            board = LayoutABoard(
                device_id=f"ESP32_{index + 1:03d}",
                ip_address=f"192.168.{1 + index // 100}.{100 + index % 100}",
                rng=board_rng,
                relays=[False] * settings.relays_a,
                triggered_by=["power_on"] * settings.relays_a,
                temperature=board_rng.uniform(22.0, 28.0),
                humidity=board_rng.uniform(35.0, 65.0),
                voltage=board_rng.uniform(3.20, 3.35),
                memory_free=board_rng.uniform(40000, 50000),
                pressure=board_rng.uniform(1005.0, 1020.0) if index == 0 else None,
            )
            self._boards[board.device_id] = board
        self._prefix = f"{settings.base}/"
        self._link = Link(
            settings,
            runner,
            client_id=f"sim-autocore-a-{os.getpid()}",
            subscriptions=[f"{settings.base}/+/relay/+/set"],
            on_message=self._on_command,
            on_reconnect=self._announce,
        )

    @override
    def ids(self) -> list[str]:
        return list(self._boards)

    @override
    def links(self) -> list[Link]:
        return [self._link]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        infos: list[mqtt.MQTTMessageInfo] = []
        for board in self._boards.values():
            boot: Payload = {
                "reason": "power_on",
                "firmware_version": "1.2.0",
                "timestamp": iso_now(),
            }
            infos.append(self._link.publish(self._topic(board, "system/boot"), boot, qos=1))
            infos.append(self._publish_status(board, "online"))
            infos.append(self._publish_telemetry(board))
            infos.extend(self._publish_relay(board, n) for n in range(len(board.relays)))
        settings = self.settings
        self.runner.every(settings.status_interval, self._status_tick)
        self.runner.every(settings.telemetry_interval, self._telemetry_tick)
        if settings.interaction_interval > 0:
            for board in self._boards.values():
                self.runner.every(
                    settings.interaction_interval,
                    partial(self._publish_interaction, board),
                    first=settings.interaction_interval * board.rng.uniform(0.2, 1.0),
                    jitter=partial(board.rng.uniform, 0.5, 1.5),
                )
        return infos

    @override
    def stop(self) -> None:
        infos = [self._publish_status(board, "offline") for board in self._boards.values()]
        if not wait_published(infos, time.monotonic() + SHUTDOWN_TIMEOUT):
            LOG.warning("layout A: not every offline status left before shutdown")
        self._link.close()

    def _topic(self, board: LayoutABoard, suffix: str) -> str:
        return f"{self._prefix}{board.device_id}/{suffix}"

    def _announce(self) -> None:
        for board in self._boards.values():
            self._publish_status(board, "online")
            for n in range(len(board.relays)):
                self._publish_relay(board, n)

    def _status_tick(self) -> None:
        for board in self._boards.values():
            self._publish_status(board, "online")

    def _telemetry_tick(self) -> None:
        for board in self._boards.values():
            self._publish_telemetry(board)

    def _publish_status(self, board: LayoutABoard, status: str) -> mqtt.MQTTMessageInfo:
        payload: Payload = {
            "device_id": board.device_id,
            "status": status,
            "ip_address": board.ip_address,
            "firmware_version": "1.2.0",
            "uptime": int(time.monotonic() - self.runner.started),
            "timestamp": iso_now(),
        }
        return self._link.publish(self._topic(board, "status"), payload)

    def _publish_telemetry(self, board: LayoutABoard) -> mqtt.MQTTMessageInfo:
        rng = board.rng
        board.temperature = walk(rng, board.temperature, 0.3, 22.0, 28.0)
        board.humidity = walk(rng, board.humidity, 1.0, 35.0, 65.0)
        board.voltage = walk(rng, board.voltage, 0.01, 3.20, 3.35)
        board.memory_free = walk(rng, board.memory_free, 400.0, 40000, 50000)
        payload: Payload = {
            "device_id": board.device_id,
            "temperature": round(board.temperature, 1),
            "humidity": round(board.humidity, 1),
            "voltage": round(board.voltage, 2),
            "memory_free": int(board.memory_free),
        }
        if board.pressure is not None:
            board.pressure = walk(rng, board.pressure, 0.3, 995.0, 1030.0)
            payload["pressure"] = round(board.pressure, 1)
        payload["timestamp"] = iso_now()
        return self._link.publish(self._topic(board, "telemetry"), payload)

    def _publish_relay(self, board: LayoutABoard, index: int) -> mqtt.MQTTMessageInfo:
        payload: Payload = {
            "device_id": board.device_id,
            "relay_index": index,
            "state": board.relays[index],
            "triggered_by": board.triggered_by[index],
            "timestamp": iso_now(),
        }
        # Retained, so a monitor that starts later still learns every relay's state.
        return self._link.publish(
            self._topic(board, f"relay/{index}/status"), payload, qos=1, retain=True
        )

    def _publish_interaction(self, board: LayoutABoard) -> None:
        rng = board.rng
        payload: Payload = {
            "screen": rng.choice(self.SCREENS),
            "element": rng.choice(self.ELEMENTS),
            "action": rng.choices(self.ACTIONS, weights=(5, 2, 3))[0],
        }
        self._link.publish(self._topic(board, "display/interaction"), payload)

    def _on_command(self, topic: str, raw: bytes) -> None:
        # The subscription `{base}/+/relay/+/set` guarantees four levels after the base.
        device_id, _, index_text, _ = topic.removeprefix(self._prefix).split("/")
        board = self._boards.get(device_id)
        if board is None:
            LOG.debug("layout A: command for unknown device %s ignored", device_id)
            return
        index = int(index_text) if index_text.isascii() and index_text.isdigit() else -1
        if not 0 <= index < len(board.relays):
            LOG.debug("layout A: command for unknown relay %s ignored", topic)
            return
        command = parse_object(raw)
        state = command.get("state") if command is not None else None
        if command is None or not isinstance(state, bool):
            LOG.debug("layout A: malformed command on %s ignored: %r", topic, raw[:200])
            return
        source = command.get("source")
        board.relays[index] = state
        board.triggered_by[index] = source if isinstance(source, str) and source else "mqtt"
        LOG.info("%s relay %d -> %s (%s)", device_id, index, state, board.triggered_by[index])
        self._publish_relay(board, index)


class LayoutBBoard:
    """A firmware v2 relay board: its own connection, Last Will and command handling."""

    PROTOCOL_VERSION = "2.2.0"
    REBOOT_SECONDS = 1.0

    def __init__(
        self, settings: Settings, runner: Runner, number: int, uuid_text: str, rng: random.Random
    ) -> None:
        """Build the board and its connection; nothing goes on the wire yet."""
        self.uuid = uuid_text
        self.board_id = f"relay_board_{number}"
        self._runner = runner
        self._rng = rng
        self._channels = [False] * settings.channels_b
        self._wifi_signal = rng.uniform(-70.0, -50.0)
        self._free_memory = rng.uniform(170000, 210000)
        self._booted = time.monotonic()
        self.rebooting = False
        base = settings.base
        root = f"{base}/devices/{uuid_text}"
        self._status_topic = f"{root}/status"
        self._state_topic = f"{root}/relays/state"
        self._set_topic = f"{root}/relays/set"
        self._event_topic = f"{base}/telemetry/relays/data"
        self._error_topic = f"{base}/errors/{uuid_text}/command"
        self.link = Link(
            settings,
            runner,
            client_id=f"esp32-relay-{uuid_text[:8]}",
            subscriptions=[self._set_topic, f"{root}/commands/+"],
            on_message=self._on_command,
            on_reconnect=self.announce,
            will=lambda: Will(
                self._status_topic, json.dumps(self._offline("unexpected_disconnect")), retain=True
            ),
        )

    def announce(self) -> list[mqtt.MQTTMessageInfo]:
        """Publish what a freshly connected board publishes: status, then relay state."""
        return [self.publish_status(), self._publish_state()]

    def publish_status(self) -> mqtt.MQTTMessageInfo:
        """Retained online status; signal and heap drift a little each time."""
        self._wifi_signal = walk(self._rng, self._wifi_signal, 1.5, -75.0, -45.0)
        self._free_memory = walk(self._rng, self._free_memory, 1500.0, 150000, 230000)
        payload: Payload = {
            "protocol_version": self.PROTOCOL_VERSION,
            "uuid": self.uuid,
            "timestamp": iso_now(),
            "status": "online",
            "firmware_version": "2.0.0",  # hard-coded in the real firmware
            "ip_address": "0.0.0.0",  # noqa: S104 - hard-coded by the firmware, not a bind
            "wifi_signal": round(self._wifi_signal),
            "free_memory": int(self._free_memory),
            "uptime": int(time.monotonic() - self._booted),
            "board_id": self.board_id,
            "type": "esp32_relay",
            "channels": len(self._channels),
        }
        return self.link.publish(self._status_topic, payload, qos=1, retain=True)

    def _offline(self, reason: str) -> Payload:
        now = iso_now()
        return {
            "protocol_version": self.PROTOCOL_VERSION,
            "uuid": self.uuid,
            "timestamp": now,
            "status": "offline",
            "reason": reason,
            "last_seen": now,
        }

    def _publish_state(self) -> mqtt.MQTTMessageInfo:
        payload: Payload = {
            "uuid": self.uuid,
            "board_id": self.board_id,
            "timestamp": iso_now(),
            "channels": {str(n + 1): state for n, state in enumerate(self._channels)},
        }
        return self.link.publish(self._state_topic, payload, qos=1, retain=True)

    def _reject(self, error: str) -> None:
        LOG.info("%s: command rejected: %s", self.board_id, error)
        payload: Payload = {"uuid": self.uuid, "error": error, "timestamp": iso_now()}
        self.link.publish(self._error_topic, payload, qos=1)

    def _on_command(self, topic: str, raw: bytes) -> None:
        if self.rebooting:
            LOG.debug("%s: command on %s lost while rebooting", self.board_id, topic)
            return
        command = parse_object(raw)
        if command is None:
            self._reject("invalid JSON payload")
            return
        version = command.get("protocol_version")
        if not isinstance(version, str) or not version.startswith("2."):
            self._reject(f"incompatible protocol_version: {quoted(version)}")
        elif topic == self._set_topic:
            self._relay_command(command)
        else:
            # Like the firmware, the payload's "command" decides; the topic is the fallback.
            self._general_command(command.get("command", topic.rsplit("/", 1)[1]))

    def _relay_command(self, command: Payload) -> None:
        channel = command.get("channel")
        action = command.get("command")
        count = len(self._channels)
        if channel == "all":
            targets = range(count)
        elif isinstance(channel, int) and not isinstance(channel, bool) and 1 <= channel <= count:
            targets = range(channel - 1, channel)
        else:
            self._reject(f"invalid channel: {quoted(channel)}")
            return
        if action not in ("on", "off", "toggle"):
            self._reject(f"unknown relay command: {quoted(action)}")
            return
        source = command.get("source")
        for n in targets:
            new = (action == "on") if action != "toggle" else not self._channels[n]
            if new == self._channels[n]:
                continue
            self._channels[n] = new
            LOG.info("%s channel %d -> %s", self.board_id, n + 1, new)
            event: Payload = {
                "uuid": self.uuid,
                "board_id": self.board_id,
                "timestamp": iso_now(),
                "event": "relay_change",
                "channel": n + 1,
                "state": new,
                "trigger": "mqtt",
                "source": source if isinstance(source, str) else "unknown",
            }
            self.link.publish(self._event_topic, event)
        self._publish_state()

    def _general_command(self, action: object) -> None:
        if action == "status":
            self.publish_status()
        elif action == "reset":
            self._channels = [False] * len(self._channels)
            self._publish_state()
        elif action == "reboot":
            LOG.info("%s: rebooting", self.board_id)
            self.rebooting = True
            self.link.publish(self._status_topic, self._offline("reboot"), qos=1, retain=True)
            self._runner.call_later(self.REBOOT_SECONDS, self._boot)
        else:
            self._reject(f"unsupported command: {quoted(action)}")

    def _boot(self) -> None:
        self.rebooting = False
        self._booted = time.monotonic()
        self._channels = [False] * len(self._channels)
        self.announce()


class LayoutBFamily(Family):
    """Real firmware v2.x boards (`{base}/devices/{uuid}/...`), one connection each."""

    key = "layout_b"

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the boards; board n's uuid depends on the seed and n, not on the count."""
        super().__init__(settings, runner)
        self._boards = [
            LayoutBBoard(
                settings,
                runner,
                number,
                str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                random.Random(rng.getrandbits(64)),
            )
            for number in range(1, settings.layout_b + 1)
        ]

    @override
    def ids(self) -> list[str]:
        return [board.uuid for board in self._boards]

    @override
    def links(self) -> list[Link]:
        return [board.link for board in self._boards]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        self.runner.every(self.settings.status_interval, self._status_tick)
        return [info for board in self._boards for info in board.announce()]

    @override
    def stop(self) -> None:
        # A real board just loses power, so the broker publishes its Last Will.
        drop_all(self.links())

    def _status_tick(self) -> None:
        for board in self._boards:
            if not board.rebooting:
                board.publish_status()


# --- Janus WebRTC gateways (PROTOCOLS.md section 2) ---------------------------------------

JANUS_ONLINE = '{"online": true}'  # the transport's usual connect_message
JANUS_OFFLINE = '{"online": false}'  # its disconnect_message, also the Last Will
JANUS_UNAUTHORIZED = "Unauthorized request (wrong or missing secret/token)"
JANUS_DRIFT_SECONDS = 4.0  # how often users may join or leave a server
JANUS_MAX_SESSIONS = 25
JANUS_ID_LIMIT = 2**53  # Janus keeps its random ids JavaScript-safe


def janus_error(
    code: int, reason: str, transaction: str | None = None, session_id: int = 0
) -> Payload:
    """Build an error reply in janus_process_error's field order; validation errors lack T."""
    reply: Payload = {"janus": "error"}
    if session_id:
        reply["session_id"] = session_id
    if transaction is not None:
        reply["transaction"] = transaction
    reply["error"] = {"code": code, "reason": reason}
    return reply


def janus_plugin(name: str, author: str, description: str, version: str) -> Payload:
    """Describe a plugin or transport the way server_info lists it."""
    number = int(version.replace(".", ""))
    return {
        "name": name,
        "author": author,
        "description": description,
        "version_string": version,
        "version": number,
    }


JANUS_BUILD: Payload = {
    "name": "Janus WebRTC Server",
    "version": 1400,
    "version_string": "1.4.0",
    "author": "Meetecho s.r.l.",
    "commit-hash": "4d5c0ee9f31e4f5a6b9ae0be6f2c6a3bd8a0d1e7",
    "compile-time": "Thu Feb 27 10:12:44 UTC 2025",
    "log-to-stdout": True,
    "log-to-file": False,
    "data_channels": True,
    "accepting-new-sessions": True,
    "session-timeout": 60,
    "reclaim-session-timeout": 0,
    "candidates-timeout": 45,
}
JANUS_FEATURES: Payload = {
    "ipv6": False,
    "ice-lite": False,
    "ice-tcp": False,
    "ice-nomination": "aggressive",
    "ice-consent-freshness": False,
    "ice-keepalive-conncheck": False,
    "hangup-on-failed": False,
    "full-trickle": False,
    "mdns-enabled": False,
    "min-nack-queue": 200,
    "nack-optimizations": False,
    "twcc-period": 200,
    "dtls-mtu": 1200,
    "static-event-loops": 0,
    "api_secret": False,
    "auth_token": False,
    "event_handlers": False,
    "opaqueid_in_api": False,
    "dependencies": {
        "glib2": "2.74.6",
        "jansson": "2.14",
        "libnice": "0.1.21",
        "libsrtp": "libsrtp2 2.5.0",
        "libcurl": "7.88.1",
        "crypto": "OpenSSL 3.0.15 3 Sep 2024",
    },
    "transports": {
        "janus.transport.http": janus_plugin(
            "JANUS REST (HTTP/HTTPS) transport plugin",
            "Meetecho s.r.l.",
            "This transport plugin adds REST (HTTP/HTTPS) support to the Janus API "
            "via libmicrohttpd.",
            "0.0.2",
        ),
        "janus.transport.mqtt": janus_plugin(
            "JANUS MQTT transport plugin",
            "Andrei Nesterov <ae.nesterov@gmail.com>",
            "This transport plugin adds MQTT support to the Janus API via Paho client library.",
            "0.0.1",
        ),
    },
    "events": {},
    "loggers": {},
    "plugins": {
        "janus.plugin.echotest": janus_plugin(
            "JANUS EchoTest plugin",
            "Meetecho s.r.l.",
            "This is a trivial EchoTest plugin for Janus, just used to showcase the plugin "
            "interface.",
            "0.0.8",
        ),
        "janus.plugin.videoroom": janus_plugin(
            "JANUS VideoRoom plugin",
            "Meetecho s.r.l.",
            "This is a plugin implementing a videoconferencing SFU (Selective Forwarding Unit) "
            "for Janus, that is an audio/video router.",
            "0.0.9",
        ),
    },
}
JANUS_STATUS: Payload = {
    "token_auth": False,
    "session_timeout": 60,
    "reclaim_session_timeout": 0,
    "candidates_timeout": 45,
    "log_level": 4,
    "log_timestamps": False,
    "log_colors": False,
    "log_rotate_sig": 0,
    "locking_debug": False,
    "refcount_debug": False,
    "min_nack_queue": 200,
    "nack-optimizations": False,
    "no_media_timer": 1,
    "slowlink_threshold": 0,
}


class JanusServer:
    """One Janus instance whose MQTT transport has the admin API enabled.

    Answers follow janus.c's janus_process_incoming_admin_request: transaction and
    janus are validated first (no transaction in those errors), info and ping need no
    secret, anything else needs admin_secret, and an unknown request gets 457. With
    wrong_path the admin topics are wired to the plain API, which answers info and ping
    but nothing admin-only. Replies are compact and keep insertion order, like the
    transport's default JSON_COMPACT | JSON_PRESERVE_ORDER.
    """

    def __init__(self, settings: Settings, runner: Runner, number: int, rng: random.Random) -> None:
        """Open a few sessions and build the connection; nothing goes on the wire yet."""
        self.name = f"janus-{number:02d}"
        self._settings = settings
        self._runner = runner
        self._rng = rng
        self._wrong_path = number <= settings.janus_wrong_path
        self._local_ip = f"10.20.{number // 250}.{10 + number % 250}"
        self._sessions: dict[int, list[int]] = {}  # session id -> its handle ids
        self._target = rng.uniform(2.0, 20.0)  # where the session count is heading
        for _ in range(round(self._target)):
            self._open_session()
        root = f"{settings.janus_base}/{self.name}"
        self._status_topic = f"{root}/status"
        self._reply_topic = f"{root}/from-janus-admin"
        self.link = Link(
            settings,
            runner,
            client_id=f"{self.name}-{os.getpid()}",
            subscriptions=[f"{root}/to-janus-admin"],
            on_message=self._on_request,
            on_reconnect=self.announce,
            will=lambda: Will(self._status_topic, JANUS_OFFLINE, retain=False),
        )
        self._replies = ReplyPacer(
            runner, self.link, settings.janus_reply_delay, settings.reply_jitter, self.name
        )

    def start(self) -> mqtt.MQTTMessageInfo:
        """Let users come and go from now on, and say the server is online."""
        self._runner.every(
            JANUS_DRIFT_SECONDS, self._drift, jitter=partial(self._rng.uniform, 0.5, 1.5)
        )
        return self.announce()

    def announce(self) -> mqtt.MQTTMessageInfo:
        """Publish the connect message; not retained, as Janus leaves retain off by default."""
        return self.link.publish_text(self._status_topic, JANUS_ONLINE, qos=1)

    def _drift(self) -> None:
        # One user comes or goes per tick; the count follows a slowly wandering target.
        self._target = walk(self._rng, self._target, 1.5, 0.0, JANUS_MAX_SESSIONS)
        count, target = len(self._sessions), round(self._target)
        if count < target:
            self._open_session()
        elif count > target:
            self._close_session()
        elif count and self._rng.random() < 0.3:  # one leaves, another joins
            self._close_session()
            self._open_session()

    def _open_session(self) -> None:
        handles = [self._rng.randrange(1, JANUS_ID_LIMIT) for _ in range(self._rng.randint(1, 3))]
        self._sessions[self._rng.randrange(1, JANUS_ID_LIMIT)] = handles

    def _close_session(self) -> None:
        del self._sessions[self._rng.choice(list(self._sessions))]

    def _on_request(self, topic: str, raw: bytes) -> None:
        reply = json.dumps(self._answer(raw), ensure_ascii=False, separators=(",", ":"))
        self._replies.send(self._reply_topic, reply)

    def _answer(self, raw: bytes) -> Payload:
        try:
            request = json.loads(raw, parse_constant=reject_constant)
        except json.JSONDecodeError as err:
            return janus_error(454, f"JSON error: on line {err.lineno}: {err.msg}")
        except (ValueError, RecursionError) as err:  # bad UTF-8, NaN, nesting too deep
            return janus_error(454, f"JSON error: on line 1: {err}")
        if not isinstance(request, dict):
            return janus_error(455, "JSON error: not an object")
        value = request.get("session_id")
        session_id = value if isinstance(value, int) and not isinstance(value, bool) else 0
        for element in ("transaction", "janus"):
            if element not in request:
                return janus_error(456, f"Missing mandatory element ({element})", None, session_id)
            if not isinstance(request[element], str):
                reason = f"Invalid element type ({element} should be a string)"
                return janus_error(467, reason, None, session_id)
        return self._dispatch(request, request["janus"], request["transaction"], session_id)

    def _dispatch(
        self, request: dict[str, object], verb: str, transaction: str, session_id: int
    ) -> Payload:
        kind = verb.lower()  # Janus compares request names with strcasecmp
        if not session_id and kind == "info":
            return {
                "janus": "server_info",
                "transaction": transaction,
                **JANUS_BUILD,
                "server-name": self.name,
                "local-ip": self._local_ip,
                **JANUS_FEATURES,
            }
        if not session_id and kind == "ping":
            return {"janus": "pong", "transaction": transaction}
        unhandled = janus_error(
            457, f"Unhandled request '{verb}' at this path", transaction, session_id
        )
        if self._wrong_path:
            return unhandled
        if request.get("admin_secret") != self._settings.janus_secret:
            return janus_error(403, JANUS_UNAUTHORIZED, transaction, session_id)
        if session_id:
            reply = self._session_request(kind, transaction, session_id)
            return unhandled if reply is None else reply
        if kind == "list_sessions":
            return {"janus": "success", "transaction": transaction, "sessions": [*self._sessions]}
        if kind == "get_status":
            return {"janus": "success", "transaction": transaction, "status": JANUS_STATUS}
        return unhandled

    def _session_request(self, kind: str, transaction: str, session_id: int) -> Payload | None:
        handles = self._sessions.get(session_id)
        if handles is None:
            return janus_error(458, f"No such session {session_id}", transaction, session_id)
        reply: Payload = {"janus": "success", "session_id": session_id, "transaction": transaction}
        if kind == "list_handles":
            return reply | {"handles": handles}
        if kind == "destroy_session":
            del self._sessions[session_id]
            return reply
        return None


class JanusFamily(Family):
    """Janus gateways (`{janus_base}/{server}/...`), one connection each, like the real ones."""

    key = "janus"

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the servers; server n's sessions depend on the seed and n, not on the count."""
        super().__init__(settings, runner)
        self._servers = [
            JanusServer(settings, runner, number, random.Random(rng.getrandbits(64)))
            for number in range(1, settings.janus + 1)
        ]

    @override
    def ids(self) -> list[str]:
        return [server.name for server in self._servers]

    @override
    def links(self) -> list[Link]:
        return [server.link for server in self._servers]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        return [server.start() for server in self._servers]

    @override
    def stop(self) -> None:
        drop_all(self.links())

    @override
    def signals(self) -> dict[signal.Signals, Job]:
        return {signal.SIGUSR1: self._outage}

    def _outage(self) -> None:
        for server in self._servers:
            if not server.link.down:
                server.link.cut(self.settings.janus_down_seconds)
                return
        LOG.warning("SIGUSR1: no connected Janus server to cut")


# --- SpotFi OpenWrt routers (PROTOCOLS.md section 3) --------------------------------------

OPENWRT_VERSION = "23.05.3"
OPENWRT_REVISION = "r23809-234f1a2efa"
KERNEL = "5.15.150"
KERNEL_BUILT = "Thu Mar 21 19:44:06 2024"
HOSTNAME = "OpenWrt"
PROMPT = f"root@{HOSTNAME}:~# ".encode()
GO_NIL_FLOAT = "%!f(<nil>)"  # Go's fmt for a nil float: what a failed ubus read turns into
PTY_CHUNK = 64  # bytes per x-data message, like one read from a PTY
PTY_GAP = 0.003  # seconds between two chunks
TERMINAL_IDLE = 300.0  # the bridge silently drops a terminal idle this long
SWEEP_SECONDS = 30.0
REBOOT_DELAY = 1.0  # seconds between the reply to `system reboot` and the power going
MAX_CLIENTS = 40
LAN_PREFIX = "192.168.1."
BANNER = "\n".join(
    (
        "  _______                     ________        __",
        " |       |.-----.-----.-----.|  |  |  |.----.|  |_",
        " |   -   ||  _  |  -__|     ||  |  |  ||   _||   _|",
        " |_______||   __|_____|__|__||________||__|  |____|",
        "          |__| W I R E L E S S   F R E E D O M",
        " -----------------------------------------------------",
        f" OpenWrt {OPENWRT_VERSION}, {OPENWRT_REVISION}",
        " -----------------------------------------------------",
        "",
    )
)
LOGIN = (
    ("\n\nBusyBox v1.36.1 (2024-03-22 22:09:42 UTC) built-in shell (ash)\n\n" + BANNER)
    .replace("\n", "\r\n")
    .encode()
)
DIRECTORIES = {  # what `ls` shows; root's home is empty, as on a new router
    "/": "bin dev etc lib mnt overlay proc rom root sbin sys tmp usr var www",
    "/root": "",
    "/etc": "banner config dropbear group hosts init.d openwrt_release openwrt_version passwd"
    " profile rc.local shadow sysctl.conf uspot",
    "/etc/config": "dhcp dropbear firewall network spotfi system uhttpd uspot wireless",
    # The simulated router's /tmp (S108), never touched on this host.
    "/tmp": "dhcp.leases etc hosts lock log resolv.conf.d run spotfi state sysinfo",  # noqa: S108
}
RC_SERVICES: Payload = {
    name: {"start": start, "stop": stop, "enabled": True, "running": running}
    for name, start, stop, running in (
        ("boot", 10, 0, False),
        ("cron", 50, 0, True),
        ("dnsmasq", 19, 10, True),
        ("dropbear", 19, 50, True),
        ("firewall", 19, 0, False),
        ("log", 12, 0, True),
        ("network", 20, 90, True),
        ("odhcpd", 35, 85, True),
        ("spotfi-bridge", 99, 10, True),
        ("sysntpd", 98, 0, True),
        ("uhttpd", 50, 0, True),
        ("uspot", 80, 10, True),
    )
}


@dataclass(frozen=True)
class RouterModel:
    """The hardware a router runs on: what `system board` and `uname` report."""

    model: str
    board_name: str
    system: str
    target: str
    machine: str
    pkg_arch: str
    smp: bool
    memory: int  # bytes, MemTotal as the kernel reports it
    wan_device: str


ROUTER_MODELS = (
    RouterModel(
        "GL.iNet GL-MT3000",
        "glinet,gl-mt3000",
        "ARMv8 Processor rev 4",
        "mediatek/filogic",
        "aarch64",
        "aarch64_cortex-a53",
        smp=True,
        memory=508_551_168,
        wan_device="eth1",
    ),
    RouterModel(
        "TP-Link Archer C7 v5",
        "tplink,archer-c7-v5",
        "Qualcomm Atheros QCA956X ver 1 rev 0",
        "ath79/generic",
        "mips",
        "mips_24kc",
        smp=False,
        memory=124_071_936,
        wan_device="eth1",
    ),
    RouterModel(
        "Xiaomi Mi Router 4A Gigabit Edition",
        "xiaomi,mi-router-4a-gigabit",
        "MediaTek MT7621 ver:1 eco:3",
        "ramips/mt7621",
        "mips",
        "mipsel_24kc",
        smp=True,
        memory=126_316_544,
        wan_device="wan",
    ),
)


class UbusError(Exception):
    """A failed ubus call: `error` is the bridge's summary, `status` what ubus printed."""

    def __init__(self, error: str, status: str) -> None:
        """Keep both texts; the RPC reply and the shell show different ones."""
        super().__init__(error)
        self.error = error
        self.status = status


@dataclass
class HotspotClient:
    """A guest logged in through the captive portal (uspot)."""

    mac: str
    ip: str
    username: str
    joined: float  # monotonic
    rate_down: float  # bytes per second
    rate_up: float
    idle_phase: float


def interface_up(
    *, uptime: int, device: str, proto: str, address: str, routes: list[Payload], dns: list[str]
) -> Payload:
    """Build the status of an up interface, as `ubus call network.interface.<name> status`."""
    return {
        "up": True,
        "pending": False,
        "available": True,
        "autostart": True,
        "dynamic": False,
        "uptime": uptime,
        "l3_device": device,
        "proto": proto,
        "device": device,
        "updated": ["addresses", "routes", "data"] if routes else ["addresses"],
        "metric": 0,
        "dns_metric": 0,
        "delegation": True,
        "ipv4-address": [{"address": address, "mask": 24}],
        "ipv6-address": [],
        "ipv6-prefix": [],
        "ipv6-prefix-assignment": [],
        "route": routes,
        "dns-server": dns,
        "dns-search": [],
        "neighbors": [],
        "inactive": {
            "ipv4-address": [],
            "ipv6-address": [],
            "route": [],
            "dns-server": [],
            "dns-search": [],
            "neighbors": [],
        },
        "data": {"dhcpserver": dns[0], "leasetime": 86400} if routes else {},
    }


class OpenWrt:
    """The router under the bridge: readings drift per metrics tick; ubus and a tiny ash read them.

    Nothing here touches the host: every command's output is made up from this state.
    """

    def __init__(self, rng: random.Random, on_reboot: Job) -> None:
        """Pick the hardware and a plausible moment in the router's life."""
        self._rng = rng
        self._on_reboot = on_reboot
        self.model = rng.choice(ROUTER_MODELS)
        self._boot = time.monotonic() - rng.uniform(3600.0, 40 * 86400.0)
        self._cpu_load = rng.uniform(2.0, 30.0)  # percent
        self._load = [self._cpu_load / 100] * 3  # 1, 5 and 15 minute averages
        self._free_memory = rng.uniform(0.35, 0.6) * self.model.memory
        self._wan_ip = f"100.{rng.randrange(64, 128)}.{rng.randrange(256)}.{rng.randrange(2, 254)}"
        self._wan_delay = rng.randrange(15, 90)  # seconds from boot until the WAN came up
        self._clients: dict[str, HotspotClient] = {}
        for _ in range(rng.randint(0, 12)):
            self._join(age=rng.uniform(60.0, 4 * 3600.0))
        self._calls: dict[tuple[str, str], Callable[[Payload], Payload]] = {
            ("file", "exec"): self._file_exec,
            ("network.interface", "dump"): lambda _args: {
                "interface": [{"interface": name, **up} for name, up in self._interfaces().items()]
            },
            ("rc", "list"): lambda _args: RC_SERVICES,
            ("system", "board"): lambda _args: self._board(),
            ("system", "info"): lambda _args: self._info(),
            ("system", "reboot"): self._reboot,
            ("uspot", "client_list"): lambda _args: self._client_list(),
        }
        self._commands: dict[str, Callable[[list[str]], str]] = {
            "cat": self._cat,
            "date": lambda _args: datetime.now(UTC).strftime("%a %b %e %H:%M:%S UTC %Y\n"),
            "echo": lambda args: " ".join(args) + "\n",
            "free": self._free,
            "hostname": lambda _args: f"{HOSTNAME}\n",
            "ls": self._ls,
            "pwd": lambda _args: "/root\n",
            "ubus": self._ubus_cli,
            "uname": self._uname,
            "uptime": self._uptime,
        }

    def uptime(self) -> int:
        """Seconds since boot; 0 while the power is off."""
        return max(0, int(time.monotonic() - self._boot))

    def power_off(self, seconds: float) -> None:
        """Forget what a reboot forgets; uptime counts again once the power is back."""
        self._boot = time.monotonic() + seconds
        self._clients.clear()

    def tick(self) -> None:
        """Let load and memory wander and a guest or two come or go."""
        rng, total = self._rng, self.model.memory
        self._cpu_load = walk(rng, self._cpu_load, 4.0, 0.5, 95.0)
        now = self._cpu_load / 100
        _, five, fifteen = self._load
        self._load = [now, five + (now - five) * 0.2, fifteen + (now - fifteen) * 0.07]
        self._free_memory = walk(rng, self._free_memory, total * 0.01, total * 0.25, total * 0.75)
        if rng.random() < 0.3 and len(self._clients) < MAX_CLIENTS:
            self._join(age=0.0)
        if self._clients and rng.random() < min(0.6, 0.025 * len(self._clients)):
            del self._clients[rng.choice(sorted(self._clients))]

    def metrics(self) -> Payload:
        """Return the heartbeat the bridge sends; activeUsers matches `uspot client_list`."""
        return {
            "uptime": str(self.uptime()),
            "cpuLoad": round(self._cpu_load, 1),
            "totalMemory": self.model.memory,
            "freeMemory": int(self._free_memory),
            "activeUsers": len(self._clients),
        }

    def ubus(self, path: str, method: str, args: Payload) -> Payload:
        """Answer `ubus call <path> <method> <args>`, or raise UbusError as ubus fails."""
        if path.startswith("network.interface."):
            status = self._interfaces().get(path.removeprefix("network.interface."))
            if status is None:
                raise UbusError("Object not found", "Not found")
            if method != "status":
                raise UbusError("Method not found", "Method not found")
            return status
        call = self._calls.get((path, method))
        if call is not None:
            return call(args)
        if any(path == known for known, _ in self._calls):
            raise UbusError("Method not found", "Method not found")
        raise UbusError("Object not found", "Not found")

    def run(self, line: str) -> str | None:
        """Run one command line in the tiny ash; None when the shell exits."""
        try:
            argv = shlex.split(line)
        except ValueError:
            return "ash: syntax error: unterminated quoted string\n"
        if not argv:
            return ""
        if argv[0] == "exit":
            return None
        command = self._commands.get(argv[0])
        return f"ash: {argv[0]}: not found\n" if command is None else command(argv[1:])

    def _join(self, *, age: float) -> None:
        rng = self._rng
        taken = {client.ip for client in self._clients.values()}
        free = [f"{LAN_PREFIX}{host}" for host in range(100, 250)]
        bits = rng.getrandbits(48) & ~(0x01 << 40) | (0x02 << 40)  # a randomised phone MAC
        mac = ":".join(f"{octet:02x}" for octet in bits.to_bytes(6))
        rate = rng.uniform(500.0, 40_000.0)  # bytes per second, averaged over the visit
        self._clients[mac] = HotspotClient(
            mac=mac,
            ip=rng.choice([ip for ip in free if ip not in taken]),
            username=f"guest{rng.randrange(1000, 10000)}",
            joined=time.monotonic() - age,
            rate_down=rate,
            rate_up=rate * rng.uniform(0.05, 0.3),
            idle_phase=rng.uniform(0.0, 45.0),
        )

    def _memory(self) -> dict[str, int]:
        total, free = self.model.memory, int(self._free_memory)
        cached, buffered = int(total * 0.12), int(total * 0.008)
        return {
            "total": total,
            "free": free,
            "shared": int(total * 0.002),
            "buffered": buffered,
            "available": free + cached,
            "cached": cached,
        }

    def _board(self) -> Payload:
        model = self.model
        return {
            "kernel": KERNEL,
            "hostname": HOSTNAME,
            "system": model.system,
            "model": model.model,
            "board_name": model.board_name,
            "rootfs_type": "squashfs",
            "release": {
                "distribution": "OpenWrt",
                "version": OPENWRT_VERSION,
                "revision": OPENWRT_REVISION,
                "target": model.target,
                "description": f"OpenWrt {OPENWRT_VERSION} {OPENWRT_REVISION}",
            },
        }

    def _info(self) -> Payload:
        tmp_total = self.model.memory // 2048  # KiB, half the RAM
        tmp_used = 900 + 4 * len(self._clients)
        return {
            "localtime": int(time.time()),
            "uptime": self.uptime(),
            "load": [round(load * 65536) for load in self._load],
            "memory": self._memory(),
            "root": {"total": 7296, "free": 5184, "used": 2112, "avail": 5184},
            "tmp": {
                "total": tmp_total,
                "free": tmp_total - tmp_used,
                "used": tmp_used,
                "avail": tmp_total - tmp_used,
            },
            "swap": {"total": 0, "free": 0},
        }

    def _interfaces(self) -> dict[str, Payload]:
        up = self.uptime()
        gateway = self._wan_ip.rsplit(".", 1)[0] + ".1"
        route: Payload = {
            "target": "0.0.0.0",  # noqa: S104 - the default route, not a bind address
            "mask": 0,
            "nexthop": gateway,
            "source": f"{self._wan_ip}/32",
        }
        return {
            "lan": interface_up(
                uptime=max(0, up - 8),
                device="br-lan",
                proto="static",
                address=f"{LAN_PREFIX}1",
                routes=[],
                dns=[],
            ),
            "wan": interface_up(
                uptime=max(0, up - self._wan_delay),
                device=self.model.wan_device,
                proto="dhcp",
                address=self._wan_ip,
                routes=[route],
                dns=[gateway],
            ),
            "wwan": {
                "up": False,
                "pending": False,
                "available": False,
                "autostart": True,
                "dynamic": False,
                "proto": "dhcp",
                "device": "phy0-sta0",
                "data": {},
                "errors": [{"subsystem": "interface", "code": "NO_DEVICE"}],
            },
        }

    def _client_list(self) -> Payload:
        now = time.monotonic()
        listing: Payload = {}
        for client in self._clients.values():
            seconds = max(0.0, now - client.joined)
            down, up = int(client.rate_down * seconds), int(client.rate_up * seconds)
            listing[client.mac] = {
                "ip4addr": client.ip,
                "ip6addr": "",
                "username": client.username,
                "state": 1,
                "duration": int(seconds),
                "idle": int(seconds + client.idle_phase) % 45,
                "bytes_dl": down,
                "bytes_ul": up,
                "packets_dl": down // 1200,
                "packets_ul": up // 400,
            }
        return listing

    def _file_exec(self, args: Payload) -> Payload:
        command, params = args.get("command"), args.get("params", [])
        if not isinstance(command, str) or not isinstance(params, list):
            raise UbusError("Invalid argument", "Invalid argument")
        run = self._commands.get(command.rsplit("/", 1)[-1])
        if run is None:
            raise UbusError("Command not found", "Not found")
        output = run([str(param) for param in params])
        return {"code": 0, "stdout": output} if output else {"code": 0}

    def _reboot(self, _args: Payload) -> Payload:
        self._on_reboot()
        return {}

    def _cat(self, args: list[str]) -> str:
        load = " ".join(f"{value:.2f}" for value in self._load)
        files = {
            "/etc/banner": BANNER,
            "/etc/openwrt_version": f"{OPENWRT_REVISION}\n",
            "/etc/openwrt_release": "".join(
                f"DISTRIB_{key}='{value}'\n"
                for key, value in (
                    ("ID", "OpenWrt"),
                    ("RELEASE", OPENWRT_VERSION),
                    ("REVISION", OPENWRT_REVISION),
                    ("TARGET", self.model.target),
                    ("ARCH", self.model.pkg_arch),
                    ("DESCRIPTION", f"OpenWrt {OPENWRT_VERSION} {OPENWRT_REVISION}"),
                    ("TAINTS", ""),
                )
            ),
            "/proc/loadavg": f"{load} 1/97 {4000 + self.uptime() % 20000}\n",
            "/proc/uptime": f"{self.uptime()}.00 {self.uptime() * 0.9:.2f}\n",
        }
        missing = "cat: can't open '{}': No such file or directory\n"
        return "".join(files.get(name) or missing.format(name) for name in args)

    def _free(self, _args: list[str]) -> str:
        memory = {key: value // 1024 for key, value in self._memory().items()}
        cache = memory["buffered"] + memory["cached"]
        used = memory["total"] - memory["free"] - cache
        head = ("total", "used", "free", "shared", "buff/cache", "available")
        row = (memory["total"], used, memory["free"], memory["shared"], cache, memory["available"])
        return (
            " " * 7
            + "".join(f"{name:>12}" for name in head)
            + "\nMem:   "
            + "".join(f"{value:>12}" for value in row)
            + "\nSwap:  "
            + "".join(f"{0:>12}" for _ in range(3))
            + "\n"
        )

    def _ls(self, args: list[str]) -> str:
        output: list[str] = []
        for name in [arg for arg in args if not arg.startswith("-")] or ["/root"]:
            path = "/root" if name in ("~", ".") else name.rstrip("/") or "/"
            entries = DIRECTORIES.get(path)
            if entries is None:
                output.append(f"ls: {name}: No such file or directory\n")
            elif entries:
                output.append("  ".join(entries.split()) + "\n")
        return "".join(output)

    def _ubus_cli(self, args: list[str]) -> str:
        if args == ["list"]:
            names = {path for path, _ in self._calls} | {
                f"network.interface.{name}" for name in self._interfaces()
            }
            return "".join(f"{name}\n" for name in sorted(names))
        if len(args) not in (3, 4) or args[0] != "call":
            return "Usage: ubus [<options>] <command> [arguments...]\n"
        call_args = parse_object(args[3].encode()) if len(args) == 4 else {}
        if call_args is None:
            return "Failed to parse message data\n"
        try:
            result = self.ubus(args[1], args[2], call_args)
        except UbusError as err:
            return f"Command failed: {err.status}\n"
        return json.dumps(result, indent="\t", ensure_ascii=False) + "\n" if result else ""

    def _uname(self, args: list[str]) -> str:
        model = self.model
        fields = {
            "-s": "Linux",
            "-n": HOSTNAME,
            "-r": KERNEL,
            "-v": f"#0 {'SMP ' if model.smp else ''}{KERNEL_BUILT}",
            "-m": model.machine,
        }
        if "-a" in args:
            return " ".join((*fields.values(), "GNU/Linux")) + "\n"
        return " ".join([fields[arg] for arg in args if arg in fields] or ["Linux"]) + "\n"

    def _uptime(self, _args: list[str]) -> str:
        days, rest = divmod(self.uptime(), 86400)
        hours, minutes = divmod(rest // 60, 60)
        since = f"{days} day{'s' if days != 1 else ''}, " if days else ""
        since += f"{hours:2d}:{minutes:02d}" if hours else f"{minutes} min"
        load = ", ".join(f"{value:.2f}" for value in self._load)
        return f" {datetime.now(UTC):%H:%M:%S} up {since},  load average: {load}\n"


@dataclass
class TerminalSession:
    """One x-tunnel shell: the line being typed, and output waiting to leave in PTY chunks."""

    session_id: str
    topic: str
    last_input: float  # monotonic
    line: bytearray = field(default_factory=bytearray)
    outbox: deque[bytes] = field(default_factory=deque)
    draining: bool = False
    closing: bool = False


def is_publish_topic(value: object) -> TypeIs[str]:
    """Tell whether a client-supplied topic is one paho can publish to."""
    return isinstance(value, str) and bool(value) and not any(c in value for c in "+#\0")


class SpotFiRouter:
    """spotfi-bridge-go on one router: status, metrics, ubus RPC and x-tunnel terminals.

    Everything it publishes except the status string is Go-marshalled JSON.
    """

    def __init__(
        self, settings: Settings, runner: Runner, router_id: str, rng: random.Random
    ) -> None:
        """Build the router and its connection; nothing goes on the wire yet."""
        self.router_id = router_id
        self._settings = settings
        self._runner = runner
        self.system = OpenWrt(rng, on_reboot=partial(runner.call_later, REBOOT_DELAY, self._reboot))
        root = f"{settings.spotfi_base}/{router_id}"
        self._status_topic = f"{root}/status"
        self._metrics_topic = f"{root}/metrics"
        self._rpc_topic = f"{root}/rpc/request"
        self._response_topic = f"{root}/rpc/response"
        self._terminal_topic = f"{root}/x/out"
        self._sessions: dict[str, TerminalSession] = {}
        self._metrics_sent = 0
        self.link = Link(
            settings,
            runner,
            client_id=f"spotfi-{router_id}-{os.getpid()}",
            subscriptions=[self._rpc_topic, f"{root}/x/in"],
            on_message=self._on_message,
            on_reconnect=self.announce,
            will=lambda: Will(self._status_topic, "OFFLINE", retain=True),
        )
        self._replies = ReplyPacer(
            runner, self.link, settings.spotfi_reply_delay, settings.reply_jitter, router_id
        )

    def announce(self) -> list[mqtt.MQTTMessageInfo]:
        """Publish what the bridge sends on connect: ONLINE (retained), then a heartbeat."""
        return [
            self.link.publish_text(self._status_topic, "ONLINE", qos=1, retain=True),
            self.link.publish_text(self._metrics_topic, self._metrics()),
        ]

    def tick(self) -> None:
        """Let the readings drift, then send the heartbeat."""
        self.system.tick()
        self.link.send(self._metrics_topic, self._metrics())

    def sweep(self) -> None:
        """Drop terminals nobody typed into for TERMINAL_IDLE seconds, without a word."""
        cutoff = time.monotonic() - TERMINAL_IDLE
        for session in [s for s in self._sessions.values() if s.last_input < cutoff]:
            LOG.info("%s: terminal %s idle, dropped", self.router_id, session.session_id)
            del self._sessions[session.session_id]

    def _metrics(self) -> str:
        self._metrics_sent += 1
        metrics = self.system.metrics()
        if self._settings.spotfi_garbage and self._metrics_sent % 5 == 0:
            metrics["cpuLoad"] = GO_NIL_FLOAT
        return go_json({"type": "metrics", "metrics": metrics})

    def _reboot(self) -> None:
        seconds = self._settings.spotfi_down_seconds
        LOG.info("%s: rebooting (ubus system reboot)", self.router_id)
        self._sessions.clear()
        self.system.power_off(seconds)
        if not self.link.down:
            self.link.cut(seconds)

    def _on_message(self, topic: str, raw: bytes) -> None:
        if topic == self._rpc_topic:
            self._on_rpc(raw)
        else:
            self._on_terminal(raw)

    def _on_rpc(self, raw: bytes) -> None:
        request = parse_object(raw)
        request_id = None if request is None else request.get("id")
        if request is None or request_id is None:
            LOG.debug("%s: RPC request without an id ignored: %r", self.router_id, raw[:200])
            return
        reply: Payload = {"type": "rpc-result", "id": request_id}
        try:
            reply |= {"status": "success", "result": self._call(request)}
        except UbusError as err:
            reply |= {
                "status": "error",
                "error": err.error,
                "stderr": f"Command failed: {err.status}",
            }
        self._replies.send(self._response_topic, go_json(reply))

    def _call(self, request: Payload) -> Payload:
        path, method, args = request.get("path"), request.get("method"), request.get("args") or {}
        if not isinstance(path, str) or not isinstance(method, str):
            raise UbusError("Object not found", "Not found")
        if not isinstance(args, dict):
            raise UbusError("Invalid argument", "Invalid argument")
        return self.system.ubus(path, method, args)

    def _on_terminal(self, raw: bytes) -> None:
        message = parse_object(raw)
        session_id = None if message is None else message.get("sessionId")
        if message is None or not isinstance(session_id, str) or not session_id:
            LOG.debug(
                "%s: terminal message without a session ignored: %r", self.router_id, raw[:200]
            )
            return
        kind = message.get("type")
        if kind == "x-start":
            self._start(session_id, message.get("responseTopic"))
        elif kind not in ("x-data", "x-stop"):
            LOG.debug("%s: terminal message of type %r ignored", self.router_id, kind)
        elif session_id not in self._sessions:
            if kind == "x-data":
                self._send_x(
                    self._terminal_topic,
                    {"type": "x-error", "sessionId": session_id, "error": "session not found"},
                )
        elif kind == "x-stop":
            LOG.info("%s: terminal %s stopped", self.router_id, session_id)
            del self._sessions[session_id]
        else:
            self._on_input(self._sessions[session_id], message.get("data"))

    def _start(self, session_id: str, response_topic: object) -> None:
        topic = response_topic if is_publish_topic(response_topic) else self._terminal_topic
        session = TerminalSession(session_id, topic, time.monotonic())
        self._sessions[session_id] = session
        LOG.info("%s: terminal %s started", self.router_id, session_id)
        self._send_x(topic, {"type": "x-started", "status": "ready", "sessionId": session_id})
        self._emit(session, LOGIN + PROMPT)

    def _on_input(self, session: TerminalSession, data: object) -> None:
        try:
            keys = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except ValueError:  # binascii.Error, or a non-ASCII string
            keys = None
        if keys is None:
            self._send_x(
                session.topic,
                {"type": "x-error", "sessionId": session.session_id, "error": "invalid data"},
            )
            return
        session.last_input = time.monotonic()
        self._emit(session, self._type(session, keys))

    def _type(self, session: TerminalSession, keys: bytes) -> bytes:
        # ash edits the line itself and echoes what is typed, as through a PTY.
        echo = bytearray()
        for key in keys:
            if key in (0x0A, 0x0D):
                line = session.line.decode(errors="replace")
                session.line.clear()
                echo += b"\r\n"
                output = self.system.run(line)
                if output is None:
                    session.closing = True
                    break
                echo += output.replace("\n", "\r\n").encode() + PROMPT
            elif key == 0x03:  # Ctrl-C
                session.line.clear()
                echo += b"^C\r\n" + PROMPT
            elif key in (0x08, 0x7F):
                if session.line:
                    session.line.pop()
                    echo += b"\b \b"
            elif key >= 0x20:
                session.line.append(key)
                echo.append(key)
        return bytes(echo)

    def _emit(self, session: TerminalSession, output: bytes) -> None:
        session.outbox.extend(
            output[start : start + PTY_CHUNK] for start in range(0, len(output), PTY_CHUNK)
        )
        if session.outbox and not session.draining:
            session.draining = True
            self._drain(session)

    def _drain(self, session: TerminalSession) -> None:
        if self._sessions.get(session.session_id) is not session:
            return  # stopped, replaced or dropped meanwhile
        chunk = session.outbox.popleft()
        data = base64.b64encode(chunk).decode("ascii")
        self._send_x(
            session.topic, {"type": "x-data", "sessionId": session.session_id, "data": data}
        )
        if session.outbox:
            self._runner.call_later(PTY_GAP, partial(self._drain, session))
            return
        session.draining = False
        if session.closing:
            LOG.info("%s: terminal %s exited", self.router_id, session.session_id)
            del self._sessions[session.session_id]

    def _send_x(self, topic: str, payload: Payload) -> None:
        self.link.send(topic, go_json(payload), qos=1)


class SpotFiFamily(Family):
    """SpotFi routers (`{spotfi_base}/{id}/...`), one bridge connection each."""

    key = "spotfi"

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the routers; router n's id depends on the seed and n, not on the count."""
        super().__init__(settings, runner)
        self._routers: list[SpotFiRouter] = []
        while len(self._routers) < settings.spotfi:
            router_id = f"rtr-{rng.getrandbits(32):08x}"
            router_rng = random.Random(rng.getrandbits(64))
            if all(router.router_id != router_id for router in self._routers):
                self._routers.append(SpotFiRouter(settings, runner, router_id, router_rng))

    @override
    def ids(self) -> list[str]:
        return [router.router_id for router in self._routers]

    @override
    def links(self) -> list[Link]:
        return [router.link for router in self._routers]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        self.runner.every(self.settings.metrics_interval, self._tick)
        self.runner.every(SWEEP_SECONDS, self._sweep)
        return [info for router in self._routers for info in router.announce()]

    @override
    def stop(self) -> None:
        drop_all(self.links())

    @override
    def signals(self) -> dict[signal.Signals, Job]:
        return {signal.SIGUSR2: self._outage}

    def _tick(self) -> None:
        for router in self._routers:
            router.tick()

    def _sweep(self) -> None:
        for router in self._routers:
            router.sweep()

    def _outage(self) -> None:
        for router in self._routers:
            if not router.link.down:
                router.link.cut(self.settings.spotfi_down_seconds)
                return
        LOG.warning("SIGUSR2: no connected SpotFi router to cut")


# --- Container-manager logs (PROTOCOLS.md section 4) --------------------------------------

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
    LogSource(  # serviceId 0: the seed's `unknown` app
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
    LogSource(  # a container without a serviceName: the seed's `other`
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

    Follows the seed's TypeScript: QoS 1, never retained; with batching, logs collect
    until the batch reaches --log-batch-max or the interval timer (started by the first
    log, then ticking for good) fires, and each flush publishes `{topic}/batch` per topic.
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
            LOG.error("burst: a message was not published: %s", err)  # noqa: TRY400
            return
        report = {"published": published, "messages": len(infos)}
        print("BURST_DONE " + json.dumps(report), flush=True)


def build_families(settings: Settings, runner: Runner, seed: int) -> list[Family]:
    """Every family, each with its own RNG stream so adding one does not reshuffle another."""
    rng = random.Random(seed)
    return [
        LayoutAFamily(settings, runner, random.Random(rng.getrandbits(64))),
        LayoutBFamily(settings, runner, random.Random(rng.getrandbits(64))),
        JanusFamily(settings, runner, random.Random(rng.getrandbits(64))),
        SpotFiFamily(settings, runner, random.Random(rng.getrandbits(64))),
        ContainerLogFamily(settings, runner, random.Random(rng.getrandbits(64))),
    ]


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--base", default="autocore", help="topic prefix, may contain '/'")
    parser.add_argument("--layout-a", type=int, default=2, help="seed-contract boards")
    parser.add_argument("--layout-b", type=int, default=2, help="firmware v2 boards")
    parser.add_argument("--relays-a", type=int, default=4)
    parser.add_argument("--channels-b", type=int, default=16)
    parser.add_argument("--status-interval", type=float, default=30.0)
    parser.add_argument("--telemetry-interval", type=float, default=30.0)
    parser.add_argument("--interaction-interval", type=float, default=20.0, help="0 disables")
    janus = parser.add_argument_group("Janus gateways (SIGUSR1 cuts one off for a while)")
    janus.add_argument("--janus", type=int, default=0, help="servers janus-01, janus-02, ...")
    janus.add_argument("--janus-base", default="janus", help="topic prefix, may contain '/'")
    janus.add_argument("--janus-secret", default="janusoverlord", help="admin_secret accepted")
    janus.add_argument(
        "--janus-wrong-path",
        type=int,
        default=0,
        metavar="N",
        help="the first N servers have the admin topics wired as API topics (error 457)",
    )
    janus.add_argument("--janus-reply-delay", type=float, default=0.0, metavar="S")
    janus.add_argument("--janus-down-seconds", type=float, default=5.0, metavar="S")
    spotfi = parser.add_argument_group("SpotFi routers (SIGUSR2 cuts one off for a while)")
    spotfi.add_argument("--spotfi", type=int, default=0, help="routers rtr-<8 hex>")
    spotfi.add_argument("--spotfi-base", default="spotfi/router", help="topic prefix")
    spotfi.add_argument(
        "--spotfi-garbage", action="store_true", help='every 5th heartbeat: cpuLoad "%%!f(<nil>)"'
    )
    spotfi.add_argument("--spotfi-reply-delay", type=float, default=0.0, metavar="S")
    spotfi.add_argument("--spotfi-down-seconds", type=float, default=5.0, metavar="S")
    spotfi.add_argument("--metrics-interval", type=float, default=30.0, metavar="S")
    logs = parser.add_argument_group("container-manager logs (MqttLogBackend)")
    logs.add_argument("--logs", action="store_true", help="run a container manager")
    logs.add_argument("--logs-base", default="container-manager/logs", help="topic prefix")
    logs.add_argument(
        "--log-rate",
        type=float,
        default=2.0,
        metavar="R",
        help="logs per second over all sources; 0: only the --log-burst",
    )
    logs.add_argument(
        "--log-batching",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="publish `{topic}/batch` messages, as the container manager does by default",
    )
    logs.add_argument("--log-batch-interval", type=float, default=1.0, metavar="S")
    logs.add_argument("--log-batch-max", type=int, default=50, metavar="N")
    logs.add_argument(
        "--log-burst",
        type=int,
        default=0,
        metavar="N",
        help="publish N numbered logs at once after READY, then print BURST_DONE",
    )
    parser.add_argument(
        "--reply-jitter",
        type=float,
        default=0.0,
        metavar="S",
        help="each Janus admin and SpotFi RPC reply waits a further random 0..S seconds",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    return parser


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, int, str]:
    """Read settings, seed and log level from the command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("base", "janus_base", "spotfi_base", "logs_base"):
        base: str = getattr(args, option)
        if not base or base.startswith("/") or base.endswith("/") or any(c in base for c in "+#\0"):
            name = "--" + option.replace("_", "-")
            parser.error(f"{name} must be non-empty, without wildcards or a leading/trailing '/'")
    if not 0 < args.port < 65536:
        parser.error("--port must be 1..65535")
    if min(args.layout_a, args.layout_b) < 0 or min(args.relays_a, args.channels_b) < 1:
        parser.error("board counts must be >= 0, relays and channels >= 1")
    if min(args.janus, args.spotfi) < 0 or not 0 <= args.janus_wrong_path <= args.janus:
        parser.error("--janus and --spotfi must be >= 0, --janus-wrong-path 0..--janus")
    intervals = (args.status_interval, args.telemetry_interval, args.interaction_interval)
    if not all(math.isfinite(value) for value in intervals) or min(intervals[:2]) <= 0:
        parser.error("intervals must be finite; status and telemetry intervals > 0")
    if args.interaction_interval < 0:
        parser.error("--interaction-interval must be >= 0")
    if not math.isfinite(args.metrics_interval) or args.metrics_interval <= 0:
        parser.error("--metrics-interval must be finite and > 0")
    delays = (
        args.janus_reply_delay,
        args.janus_down_seconds,
        args.spotfi_reply_delay,
        args.spotfi_down_seconds,
        args.reply_jitter,
    )
    if not all(math.isfinite(value) and value >= 0 for value in delays):
        parser.error("delays and down times must be finite and >= 0")
    if not math.isfinite(args.log_rate) or args.log_rate < 0 or args.log_burst < 0:
        parser.error("--log-rate must be finite and >= 0, --log-burst >= 0")
    if not math.isfinite(args.log_batch_interval) or args.log_batch_interval <= 0:
        parser.error("--log-batch-interval must be finite and > 0")
    if args.log_batch_max < 1:
        parser.error("--log-batch-max must be >= 1")
    settings = Settings(
        host=args.host,
        port=args.port,
        base=args.base,
        layout_a=args.layout_a,
        layout_b=args.layout_b,
        relays_a=args.relays_a,
        channels_b=args.channels_b,
        status_interval=args.status_interval,
        telemetry_interval=args.telemetry_interval,
        interaction_interval=args.interaction_interval,
        janus=args.janus,
        janus_base=args.janus_base,
        janus_secret=args.janus_secret,
        janus_wrong_path=args.janus_wrong_path,
        janus_reply_delay=args.janus_reply_delay,
        spotfi_reply_delay=args.spotfi_reply_delay,
        reply_jitter=args.reply_jitter,
        janus_down_seconds=args.janus_down_seconds,
        spotfi=args.spotfi,
        spotfi_base=args.spotfi_base,
        spotfi_garbage=args.spotfi_garbage,
        spotfi_down_seconds=args.spotfi_down_seconds,
        metrics_interval=args.metrics_interval,
        logs=args.logs,
        logs_base=args.logs_base,
        log_rate=args.log_rate,
        log_batching=args.log_batching,
        log_batch_interval=args.log_batch_interval,
        log_batch_max=args.log_batch_max,
        log_burst=args.log_burst,
    )
    return settings, args.seed, args.log_level


def start(families: Sequence[Family]) -> None:
    """Connect everything (in parallel), then publish every initial state and wait for it."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    links = [link for family in families for link in family.links()]
    for link in links:
        link.open(deadline)
    for link in links:
        link.wait_subscribed(deadline)
    infos = [info for family in families for info in family.start()]
    if not wait_published(infos, deadline):
        raise StartupError("initial state was not published in time")


def post_on_signal(runner: Runner, job: Job, signum: int, frame: FrameType | None) -> None:
    """Hand a signal's job to the runner thread; SimpleQueue.put is safe in a handler."""
    runner.post(job)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator until SIGINT/SIGTERM; 0 on a clean stop, 1 if startup failed."""
    settings, seed, log_level = parse_args(argv)
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    runner = Runner()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _signum, _frame: runner.stop())
    families = build_families(settings, runner, seed)
    for family in families:  # all of them: a signal for an empty family must not kill us
        for signum, job in family.signals().items():
            signal.signal(signum, partial(post_on_signal, runner, job))
    active = [family for family in families if family.ids()]
    try:
        start(active)
    except StartupError as err:
        if runner.stopping:
            return 0  # told to stop while still starting: not a failure
        LOG.error("%s", err)  # noqa: TRY400 - the message says it all, a traceback does not help
        return 1
    print("READY " + json.dumps({family.key: family.ids() for family in families}), flush=True)
    try:
        runner.run()
    finally:
        LOG.info("stopping")
        for family in active:
            family.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
