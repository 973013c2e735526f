"""Device-side simulator for the MQTT Fleet integration.

Speaks the AutoCore, Janus and SpotFi wire contracts (PROTOCOLS.md, sections 1-3)
from the device's side, written independently of the integration's parser, so the
demo, the real-broker tests and the benchmarks have realistic devices to talk to.

Usage:
    python tools/simulator.py --host 127.0.0.1 --port 1883 [--base autocore]
        [--layout-a N] [--layout-b N] [--relays-a 4] [--channels-b 16]
        [--status-interval 30] [--telemetry-interval 30]
        [--interaction-interval 20]
        [--janus N] [--janus-base janus] [--janus-secret janusoverlord]
        [--janus-wrong-path N] [--janus-reply-delay S] [--janus-down-seconds 5]
        [--spotfi N] [--spotfi-base spotfi/router] [--spotfi-garbage]
        [--spotfi-down-seconds 5] [--metrics-interval 30]
        [--seed 1] [--log-level info]

When every device is connected, subscribed and has published its initial
state, one line goes to stdout:

    READY {"layout_a": ["ESP32_001", ...], "layout_b": ["<uuid>", ...],
           "janus": ["janus-01", ...], "spotfi": ["rtr-<8 hex>", ...]}

(on one line; every key is always there, with [] for a family of 0 devices).

Outages, for tests that need one device to vanish while the rest carry on:
    SIGUSR1  the first still-connected Janus server loses its connection without
             DISCONNECT (the broker publishes its Last Will) and reconnects after
             --janus-down-seconds, announcing itself online again.
    SIGUSR2  the same for the first still-connected SpotFi router
             (--spotfi-down-seconds).
A ubus `system reboot` RPC takes its router away the same way, one second after
the reply, and it comes back with its uptime reset and its terminals gone.

It runs until SIGINT or SIGTERM and then exits with code 0; Janus servers and
SpotFi routers vanish like a power cut, so their Last Wills fire. Logs go to stderr.

To add a device family, subclass ``Family`` and add it to ``build_families``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import argparse
import base64
import binascii
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
import sys
import threading
import time
from typing import TYPE_CHECKING, ClassVar, override
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
    janus: int = 0
    janus_base: str = "janus"
    janus_secret: str = "janusoverlord"
    janus_wrong_path: int = 0
    janus_reply_delay: float = 0.0
    janus_down_seconds: float = 5.0
    spotfi: int = 0
    spotfi_base: str = "spotfi/router"
    spotfi_garbage: bool = False
    spotfi_down_seconds: float = 5.0
    metrics_interval: float = 30.0


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
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


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
        except (RuntimeError, ValueError):
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
        """Block until the broker acknowledged the subscriptions, so commands are not missed."""
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
        self._in_background(self._kill, then=partial(self._runner.call_later, seconds, self._restore))

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
        client.subscribe([(topic, 1) for topic in self._subscriptions])
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


def build_families(settings: Settings, runner: Runner, seed: int) -> list[Family]:
    """Every family, each with its own RNG stream so adding one does not reshuffle another."""
    rng = random.Random(seed)
    return [
        LayoutAFamily(settings, runner, random.Random(rng.getrandbits(64))),
        LayoutBFamily(settings, runner, random.Random(rng.getrandbits(64))),
    ]


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, int, str]:
    """Read settings, seed and log level from the command line."""
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
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    args = parser.parse_args(argv)
    base: str = args.base
    if not base or base.startswith("/") or base.endswith("/") or any(c in base for c in "+#\0"):
        parser.error("--base must be non-empty, without wildcards or a leading/trailing '/'")
    if not 0 < args.port < 65536:
        parser.error("--port must be 1..65535")
    if min(args.layout_a, args.layout_b) < 0 or min(args.relays_a, args.channels_b) < 1:
        parser.error("board counts must be >= 0, relays and channels >= 1")
    intervals = (args.status_interval, args.telemetry_interval, args.interaction_interval)
    if not all(math.isfinite(value) for value in intervals) or min(intervals[:2]) <= 0:
        parser.error("intervals must be finite; status and telemetry intervals > 0")
    if args.interaction_interval < 0:
        parser.error("--interaction-interval must be >= 0")
    settings = Settings(
        host=args.host,
        port=args.port,
        base=base,
        layout_a=args.layout_a,
        layout_b=args.layout_b,
        relays_a=args.relays_a,
        channels_b=args.channels_b,
        status_interval=args.status_interval,
        telemetry_interval=args.telemetry_interval,
        interaction_interval=args.interaction_interval,
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
