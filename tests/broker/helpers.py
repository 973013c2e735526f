"""The real-broker tier's helpers: a private mosquitto, our own wire recorder, HA connected to
it (the `fleet`), the simulator's process, and what several modules check on the wire.

The fixtures that put them together are in conftest.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
import gc
import json
import math
import os
from pathlib import Path
import random
import re
import select
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch
import uuid

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers import entity_registry as er
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.autocore.hub import AutoCoreHub
from tools.mosquitto import HOST, RECOMMENDED_SETTINGS, Mosquitto, find_mosquitto, tail

from ..common import default_options, entry_id_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from homeassistant.components.mqtt.models import ReceiveMessage

    from custom_components.mqtt_fleet.families.container_logs import ContainerLogsHub
    from custom_components.mqtt_fleet.protocol.correlation import PendingReplies


BASE = "autocore"
REPO_ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = REPO_ROOT / "tools" / "simulator"  # a package; `python <dir>` runs its __main__
PROBE_TOPIC = "mqtt_fleet_tests/probe"
START_TIMEOUT = 15.0  # seconds for mosquitto, HA's MQTT client or the simulator to come up
STOP_TIMEOUT = 10.0

# Quick intervals so periodic traffic shows within a test; a test overrides any of them by
# parametrizing `simulator_options`.
SIMULATOR_DEFAULTS: dict[str, Any] = {
    "layout_a": 2,
    "layout_b": 2,
    "relays_a": 4,
    "channels_b": 16,
    "status_interval": 1.0,
    "telemetry_interval": 0.5,
    "interaction_interval": 0.5,
    "seed": 1,
}


async def wait_for[T](predicate: Callable[[], T], timeout: float = 10.0, what: str = "") -> T:
    """Poll `predicate` while HA's loop runs; return its first truthy result or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (result := predicate()):
        if loop.time() >= deadline:
            pytest.fail(
                f"timed out after {timeout:g} s waiting for {what or predicate!r}"
                f" (last result: {result!r})"
            )
        await asyncio.sleep(0.02)
    return result


# --- mosquitto ---------------------------------------------------------------------------


class Broker(Mosquitto):
    """A private mosquitto on a loopback port, restartable on the same port.

    It runs the settings README.md recommends (RECOMMENDED_SETTINGS, no persistence); pass
    `settings=DEFAULT_SETTINGS` for mosquitto's own defaults (1000 queued messages per
    client), or other lines (see tools/mosquitto.py's Mosquitto).
    """

    def __init__(self, tmp_path: Path, *, settings: Sequence[str] = RECOMMENDED_SETTINGS) -> None:
        """Find mosquitto; nothing runs before start()."""
        if (executable := find_mosquitto()) is None:
            pytest.fail("mosquitto is not installed: run scripts/setup (apt-get install mosquitto)")
        # TCP_NODELAY: replies in well under a millisecond, not 40+ ms.
        super().__init__(executable, tmp_path, nodelay=True, settings=settings)

    def start(self) -> None:
        """Start on a free port, or fail the test."""
        if not self.try_start(START_TIMEOUT):
            pytest.fail(f"mosquitto did not start:\n{tail(self.log)}")

    async def async_restart(self) -> None:
        """Stop mosquitto and start it again on the same port, without blocking HA's loop."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        await wait_for(lambda: self.proc is not None and self.proc.poll() is not None)
        await self.async_relaunch()

    async def async_kill(self) -> None:
        """Kill mosquitto with SIGKILL, like a crash: no goodbye, no Last Will, no state kept."""
        assert self.proc is not None
        self.proc.kill()
        await wait_for(
            lambda: self.proc is not None and self.proc.poll() is not None,
            STOP_TIMEOUT,
            "mosquitto to die",
        )

    async def async_relaunch(self) -> None:
        """Start mosquitto again on the same port after it stopped; return once it listens."""
        self.launch()
        await wait_for(self.listening, START_TIMEOUT, f"mosquitto to listen on {self.port} again")


# --- our own view of the wire --------------------------------------------------------------


@dataclass(frozen=True)
class WireMessage:
    """One message as our own subscriber received it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> Any:
        """Decode the JSON payload."""
        return json.loads(self.payload)


class Wire:
    """An MQTT v5 client recording everything under the base topic, independently of HA.

    It subscribes with QoS 2 so a message arrives with the QoS it was published with, and
    with retain-as-published so the retain flag is the publisher's, not the broker's.
    `topics` replaces the base topic's `#` filter (other families' tests record theirs).
    """

    def __init__(self, port: int, topics: Sequence[str] = (f"{BASE}/#",)) -> None:
        """Connect to the broker and wait until the subscription is acknowledged."""
        self._topics = list(topics)
        self._lock = threading.Lock()
        self._messages: list[WireMessage] = []
        self._subscribed = threading.Event()
        self._refused: list[str] = []
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id="mqtt-fleet-tests-wire", protocol=paho.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(HOST, port)
        self.client.loop_start()
        if not self._subscribed.wait(START_TIMEOUT) or self._refused:
            self.close()
            pytest.fail(f"wire recorder could not subscribe: {self._refused}")

    def close(self) -> None:
        """Disconnect and stop paho's thread (HA's harness fails on lingering threads)."""
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: paho.Client, *_args: Any) -> None:
        options = SubscribeOptions(qos=2, retainAsPublished=True)
        client.subscribe([(topic, options) for topic in self._topics])

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, _mid: int, codes: Any, *_args: Any
    ) -> None:
        self._refused.extend(str(code) for code in codes if code.is_failure)
        self._subscribed.set()

    def _on_message(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        message = WireMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
        with self._lock:
            self._messages.append(message)

    def publish(self, topic: str, payload: Any) -> paho.MQTTMessageInfo:
        """Publish JSON at QoS 1 as another client would (a wall switch, an app)."""
        return self.client.publish(topic, json.dumps(payload), qos=1)

    def mark(self) -> int:
        """Return a position; `messages(since=...)` then shows only what came after it."""
        with self._lock:
            return len(self._messages)

    def messages(self, topic_filter: str = "#", since: int = 0) -> list[WireMessage]:
        """Return the messages matching an MQTT topic filter, oldest first."""
        with self._lock:
            recorded = self._messages[since:]
        return [m for m in recorded if paho.topic_matches_sub(topic_filter, m.topic)]


# --- Home Assistant with its real MQTT client ----------------------------------------------


@dataclass(frozen=True)
class Fleet:
    """HA connected to the private broker, with the AutoCore entry set up and listening."""

    hass: HomeAssistant
    entry: MockConfigEntry
    mqtt_entry: MockConfigEntry

    @property
    def hub(self) -> AutoCoreHub:
        """Return the entry's hub."""
        hub = self.entry.runtime_data
        assert isinstance(hub, AutoCoreHub)
        return hub


# --- the device simulator ------------------------------------------------------------------


@dataclass
class Simulator:
    """tools/simulator running against the private broker."""

    proc: subprocess.Popen[bytes]
    layout_a: list[str]
    layout_b: list[str]
    log: Path
    janus: list[str] = field(default_factory=list)
    spotfi: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)  # the container manager's log sources
    lines: list[str] = field(default_factory=list)  # stdout lines after READY, so far
    stdout_rest: bytearray = field(default_factory=bytearray)  # read, not yet a whole line

    def read_lines(self) -> list[str]:
        """Return every stdout line printed after READY so far (BURST_DONE), never blocking."""
        assert self.proc.stdout is not None
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.stdout_rest += chunk
        *complete, rest = self.stdout_rest.split(b"\n")
        self.stdout_rest[:] = rest
        self.lines.extend(line.decode(errors="replace") for line in complete)
        return self.lines

    def send_signal(self, sig: int) -> None:
        """Signal the simulator (SIGTERM stops it, SIGSTOP/SIGCONT freeze and thaw it)."""
        self.proc.send_signal(sig)

    def logtail(self) -> str:
        """Return the end of the simulator's log, for failure messages."""
        return tail(self.log)


def read_line(proc: subprocess.Popen[bytes], timeout: float, rest: bytearray | None = None) -> str:
    """Read the first stdout line of a child without blocking past `timeout`.

    What was read after that line goes into `rest`, if given (later lines, such as
    BURST_DONE, may arrive in the same read).
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    buffer = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            break
        readable, _, _ = select.select([fd], [], [], min(remaining, 0.1))
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                time.sleep(0.02)  # end of file: the child is exiting
            buffer += chunk
    line, _, after = buffer.partition(b"\n")
    if rest is not None:
        rest += after
    return line.decode(errors="replace")


# --- Janus and SpotFi ----------------------------------------------------------------------


JANUS_BASE = "janus"
JANUS_UID = entry_id_for(f"janus:{JANUS_BASE}")  # registry ids start with it
SPOTFI_BASE = "spotfi/router"
SPOTFI_UID = entry_id_for(f"spotfi:{SPOTFI_BASE}")

JANUS_SPOTFI_WIRE_TOPICS = (f"{JANUS_BASE}/#", f"{SPOTFI_BASE}/#")  # both families' topics


def state_of(hass: HomeAssistant, uid: str, device: str, key: str) -> State | None:
    """Return the state of one device value, looked up by unique_id; None while absent."""
    found = er.async_get(hass).async_get_entity_id(
        "sensor" if key != "connectivity" else "binary_sensor", DOMAIN, f"{uid}/{device}/{key}"
    )
    return None if found is None else hass.states.get(found)


def shown(hass: HomeAssistant, uid: str, device: str, key: str) -> str | None:
    """Return the state string of one device value, None while it has no entity."""
    return getattr(state_of(hass, uid, device, key), "state", None)


def connectivity(hass: HomeAssistant, uid: str, devices: list[str]) -> list[str | None]:
    """Return the connectivity state of each device."""
    return [shown(hass, uid, device, "connectivity") for device in devices]


@contextmanager
def request_keys(pending: PendingReplies[Any]) -> Iterator[dict[Any, list[str]]]:
    """Record the transaction / request id of every request, by the task that sent it.

    A blocking action runs in its caller's task, so a test learns which id its own call
    used, and finds that request and its reply on the wire.
    """
    keys: dict[Any, list[str]] = defaultdict(list)
    original = pending.async_request

    def spy(key: str, send: Any, seconds: float) -> Any:
        keys[asyncio.current_task()].append(key)
        return original(key, send, seconds)

    with patch.object(pending, "async_request", spy):
        yield keys


@contextmanager
def loop_errors(loop: asyncio.AbstractEventLoop) -> Iterator[list[dict[str, Any]]]:
    """Collect what asyncio reports to the loop's exception handler, instead of HA's harness.

    Garbage is collected before leaving, so a future dropped with an unread exception
    is reported inside the block.
    """
    errors: list[dict[str, Any]] = []
    original = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        yield errors
        gc.collect()
    finally:
        loop.set_exception_handler(original)


async def rpc_call(
    hass: HomeAssistant, router: str, path: str, method: str, **extra: Any
) -> dict[str, Any]:
    """Call the rpc_call action."""
    response = await hass.services.async_call(
        DOMAIN,
        "rpc_call",
        {"router": router, "path": path, "method": method, **extra},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return dict(response)


# --- Container logs ------------------------------------------------------------------------


LOGS_BASE = "container-manager/logs"
UID = entry_id_for(f"container_logs:{LOGS_BASE}")  # registry ids start with it
# Outside the base: HA's log reader never sees it, the recorder does.
BARRIER_TOPIC = "mqtt-fleet-tests/logs-barrier"
LEVELS = ("debug", "info", "warn", "error")

CHUNK = 500  # forward_log calls in flight at once

SEQUENCE = re.compile(r"^seq (\d+) ")

# forward_log sources: containers of two apps, one with serviceId 0 (app `unknown`) and one
# without a serviceName (`other`), the system, the manager and a source of type other.
SOURCES: tuple[dict[str, Any], ...] = (
    {
        "source_type": "container",
        "source_name": "web",
        "service_id": 1001,
        "service_name": "web",
        "container_id": "c0ffee01",
    },
    {
        "source_type": "container",
        "source_name": "api",
        "service_id": 1002,
        "service_name": "api",
        "container_id": "c0ffee02",
    },
    {
        "source_type": "container",
        "source_name": "db",
        "service_id": 2001,
        "service_name": "db",
        "container_id": "c0ffee03",
    },
    {
        "source_type": "container",
        "source_name": "watchtower",
        "service_id": 0,
        "service_name": "watchtower",
        "container_id": "c0ffee04",
    },
    {"source_type": "container", "service_id": 3001, "container_id": "c0ffee05"},
    {"source_type": "system", "source_name": "container-manager"},
    {"source_type": "manager", "source_name": "container-manager"},
    {"source_type": "other"},
)
SOURCE_IDS = (
    "1:web",
    "1:api",
    "2:db",
    "unknown:watchtower",
    "other",
    "system",
    "manager",
    "other",
)

LOGS_WIRE_TOPICS = (f"{LOGS_BASE}/#", BARRIER_TOPIC)  # the container-log base and the barrier


def logs_config_entry() -> MockConfigEntry:
    """The Container logs entry under `container-manager/logs` (entry_options add to it)."""
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"container_logs:{LOGS_BASE}",
        entry_id=UID,
        title=f"Container logs ({LOGS_BASE})",
        data={"family": "container_logs", "base_topic": LOGS_BASE},
        options=default_options("container_logs"),
        version=2,
        minor_version=1,
    )


@contextmanager
def without_debug(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Run the volume tests without asyncio's debug mode, which HA's test harness turns on.

    Debug mode records a stack trace for every callback and task: four to five times the
    cost of 10,000 logs, and not what HA
    runs in production. The thread-safety tests keep it.
    """
    debug = loop.get_debug()
    loop.set_debug(False)
    yield
    loop.set_debug(debug)


# --- what MqttLogBackend does, written independently of the integration -------------------


def backend_route(data: dict[str, Any]) -> tuple[str, ...]:
    """The levels MqttLogBackend.buildTopic puts between base and level (JS truthiness)."""
    if data.get("source_type") == "container" and data.get("service_name"):
        service_id = data.get("service_id")
        app = str(math.floor(service_id / 1000)) if service_id else "unknown"
        return (app, data["service_name"])
    if data.get("source_type") in ("system", "manager"):
        return (data["source_type"],)
    return ("other",)


def backend_topic(data: dict[str, Any]) -> str:
    """The topic MqttLogBackend.buildTopic gives a forward_log call's log."""
    return "/".join((LOGS_BASE, *backend_route(data), data["level"]))


def backend_body(data: dict[str, Any]) -> dict[str, Any]:
    """The LogMessage JSON for a forward_log call's data, without its timestamp."""
    source = {"type": data["source_type"]}
    if "source_name" in data:
        source["name"] = data["source_name"]
    body: dict[str, Any] = {"message": data["message"], "level": data["level"], "source": source}
    for key, name in (
        ("serviceId", "service_id"),
        ("serviceName", "service_name"),
        ("containerId", "container_id"),
    ):
        if name in data:
            body[key] = data[name]
    return body


def forward_plan(total: int, seed: int = 4) -> list[dict[str, Any]]:
    """forward_log data for `total` logs of mixed sources and levels, numbered in order."""
    rng = random.Random(seed)  # noqa: S311 - repeatable test data
    plan = []
    for number in range(total):
        index = rng.randrange(len(SOURCES))
        level = rng.choices(LEVELS, cum_weights=(20, 70, 90, 100))[0]
        message = f"seq {number:05d} {level} from {SOURCE_IDS[index]}: {rng.getrandbits(32):08x}"
        plan.append({**SOURCES[index], "level": level, "message": message})
    return plan


def source_id(data: dict[str, Any]) -> str:
    """The source (device) id HA reads from the topic of a forward_log call's log."""
    return ":".join(backend_route(data))


# --- the wire, log by log --------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedLog:
    """One log as the recorder received it, unbatched."""

    topic: str  # without `/batch`
    batch: bool
    qos: int
    retain: bool
    body: dict[str, Any]

    @property
    def source(self) -> str:
        """The source levels of the topic, as HA names the source device."""
        return ":".join(self.topic.removeprefix(f"{LOGS_BASE}/").split("/")[:-1])

    @property
    def level(self) -> str:
        """The level the log itself names."""
        return str(self.body["level"])


class Tally:
    """Unbatch the recorder's container-log messages incrementally (cheap to poll)."""

    def __init__(self, wire: Wire) -> None:
        """Start from the recorder's first message: it subscribed before anything was sent."""
        self._wire = wire
        self._cursor = 0
        self.logs: list[ReceivedLog] = []
        self.messages = 0
        self.batch_sizes: list[int] = []

    def update(self) -> int:
        """Read what arrived since the last update; return how many logs arrived in all."""
        new = self._wire.messages(since=self._cursor)
        self._cursor += len(new)
        for message in new:
            if not paho.topic_matches_sub(f"{LOGS_BASE}/#", message.topic):
                continue
            self.messages += 1
            body = message.json()
            batch = message.topic.endswith("/batch")
            topic = message.topic.removesuffix("/batch")
            logs = body["logs"] if batch else [body]
            if batch:
                assert body["count"] == len(logs), message
                self.batch_sizes.append(len(logs))
            self.logs.extend(
                ReceivedLog(topic, batch, message.qos, message.retain, log) for log in logs
            )
        return len(self.logs)

    def counts(self) -> dict[str, dict[str, int]]:
        """Logs per source and level, as HA's counters should show them."""
        counts: dict[str, Counter[str]] = {}
        for log in self.logs:
            counts.setdefault(log.source, Counter())[log.level] += 1
        return {source: dict(levels) for source, levels in counts.items()}


class HaBarrier:
    """Prove that HA and the recorder received everything published before a point."""

    def __init__(self, hass: HomeAssistant, wire: Wire) -> None:
        """Nothing is subscribed before the first use."""
        self._hass = hass
        self._wire = wire
        self._cursor = wire.mark()
        self._on_wire: set[str] = set()
        self._in_ha: set[str] = set()
        self._unsubscribe: Any = None

    @callback
    def _received(self, msg: ReceiveMessage) -> None:
        self._in_ha.add(str(msg.payload))

    def close(self) -> None:
        """Unsubscribe HA."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _wire_tokens(self) -> set[str]:
        """The barriers the recorder received (reading each recorded message once)."""
        new = self._wire.messages(since=self._cursor)
        self._cursor += len(new)
        self._on_wire.update(m.payload.decode() for m in new if m.topic == BARRIER_TOPIC)
        return self._on_wire

    async def wire_only(self, timeout: float = 30) -> None:
        """HA publishes a barrier: the recorder has all HA published before it, once it has it.

        HA's client sends in order and forward_log awaited each of its PUBACKs.
        """
        token = uuid.uuid4().hex
        await mqtt.async_publish(self._hass, BARRIER_TOPIC, token, qos=1)
        await wait_for(lambda: token in self._wire_tokens(), timeout, "the barrier on the wire")

    async def both(self, timeout: float = 30) -> None:
        """The recorder publishes barriers until HA and it both received the same one.

        Every barrier goes out after the last log was acknowledged, so any of them does;
        HA subscribes on first use, and its subscription may need a moment to be live.
        A new barrier goes out every second; `timeout` covers HA working off its backlog.
        """
        if self._unsubscribe is None:
            self._unsubscribe = await mqtt.async_subscribe(
                self._hass, BARRIER_TOPIC, self._received, qos=1
            )
        sent: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_barrier = loop.time()
        while not any(t in self._in_ha and t in self._wire_tokens() for t in sent):
            if loop.time() > deadline:
                pytest.fail(f"no barrier reached both HA and the recorder in {timeout:g} s")
            if loop.time() >= next_barrier:
                sent.append(token := uuid.uuid4().hex)
                self._wire.client.publish(BARRIER_TOPIC, token, qos=1)
                next_barrier = loop.time() + 1.0
            await asyncio.sleep(0.02)


def nothing_dropped(broker: Broker) -> None:
    """Fail if mosquitto dropped messages for a subscriber that lagged."""
    log = broker.log.read_text(errors="replace") if broker.log.exists() else ""
    assert "dropped" not in log.lower(), log[-2000:]


async def forward_all(hass: HomeAssistant, plan: list[dict[str, Any]]) -> None:
    """Call forward_log for every item, CHUNK calls at a time, in order of the chunks."""
    for start in range(0, len(plan), CHUNK):
        await asyncio.gather(
            *(
                hass.services.async_call(DOMAIN, "forward_log", data, blocking=True)
                for data in plan[start : start + CHUNK]
            )
        )


def sequence_number(log: ReceivedLog) -> int:
    """The number a planned log carries in its message."""
    match = SEQUENCE.match(log.body["message"])
    assert match is not None, log
    return int(match[1])


def check_forwarded(
    tally: Tally,
    plan: list[dict[str, Any]],
    *,
    batched: bool,
    since_ms: int,
    at_least_once: bool = False,
) -> None:
    """Each planned log arrived exactly once (at least once), on MqttLogBackend's topic, as
    written."""
    numbers = [sequence_number(log) for log in tally.logs]
    duplicates = [n for n, times in Counter(numbers).items() if times > 1]
    assert at_least_once or not duplicates, (
        f"{len(duplicates)} logs arrived twice, e.g. {duplicates[:5]}"
    )
    assert sorted(set(numbers)) == list(range(len(plan))), "logs were lost"
    now_ms = time.time_ns() // 1_000_000
    for log in tally.logs:
        data = plan[sequence_number(log)]
        assert log.topic == backend_topic(data), (log, data)
        body = dict(log.body)
        assert since_ms <= body.pop("timestamp") <= now_ms, log
        assert body == backend_body(data), (log, data)
        assert (log.qos, log.retain, log.batch) == (1, False, batched), log
    if batched:
        assert max(tally.batch_sizes) <= 50


def logs_hub(fleet: Fleet) -> ContainerLogsHub:
    """The Container logs entry's hub."""
    hub: ContainerLogsHub = fleet.entry.runtime_data
    assert hub.family == "container_logs"
    return hub


# --- the scale tier: loop lag, memory, a flood publisher, a timed tap ------------------------


@dataclass(frozen=True)
class Lag:
    """How late the event loop ran a 100 ms sleeper: the worst and the 99th percentile."""

    max_ms: float
    p99_ms: float
    samples: int


class LagSampler:
    """Measure event-loop lag: a task sleeps `interval` and records how late it wakes up.

    Anything that holds the loop (a long callback, a burst of work between two awaits)
    delays the sleeper by as much; a loop keeping up wakes it within a millisecond or two.
    """

    def __init__(self, interval: float = 0.1) -> None:
        """Nothing runs before start()."""
        self.interval = interval
        self.lags: list[float] = []  # seconds, one per wake-up
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._sample())

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, loop.time() - due))

    def stop(self) -> Lag:
        """Stop sampling; return the worst and the 99th-percentile lag in milliseconds."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        ordered = sorted(self.lags) or [0.0]
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
        return Lag(round(ordered[-1] * 1000, 1), round(p99 * 1000, 1), len(self.lags))


def rss_mib() -> float:
    """Return this process's resident memory (VmRSS) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Publisher:
    """A device-side paho client that publishes a planned stream from the calling thread.

    `send` blocks (run it in an executor while HA's loop runs): paced at `rate` messages a
    second, or as fast as one paho client publishes (rate None), then until the broker has
    acknowledged every QoS 1 message. paho's own thread does the network I/O.
    """

    def __init__(self, port: int, client_id: str) -> None:
        """Connect and start paho's network thread."""
        self._acked = 0
        self._sent = 0
        self._lock = threading.Condition()
        self._connected = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = lambda *_args: self._connected.set()
        self.client.on_publish = self._on_publish
        self.client.connect(HOST, port)
        self.client.loop_start()
        if not self._connected.wait(START_TIMEOUT):
            self.close()
            pytest.fail(f"publisher {client_id} could not connect")

    def _on_publish(self, *_args: Any) -> None:
        with self._lock:
            self._acked += 1
            self._lock.notify_all()

    def send(
        self,
        messages: Sequence[tuple[str, bytes | str]],
        *,
        rate: float | None = None,
        qos: int = 1,
        retain: bool = False,
        timeout: float = 120.0,
    ) -> float:
        """Publish every (topic, payload); return the seconds until the last was acknowledged."""
        start = time.monotonic()
        for index, (topic, payload) in enumerate(messages):
            if rate is not None and (ahead := start + index / rate - time.monotonic()) > 0.001:
                time.sleep(ahead)
            self.client.publish(topic, payload, qos=qos, retain=retain)
        with self._lock:
            self._sent += len(messages)
            if not self._lock.wait_for(lambda: self._acked >= self._sent, timeout):
                pytest.fail(f"the broker acknowledged {self._acked} of {self._sent} publishes")
        return time.monotonic() - start

    def close(self) -> None:
        """Disconnect and stop paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()


@dataclass(frozen=True)
class TimedMessage:
    """A message as a tap received it, with its arrival time (time.monotonic())."""

    at: float
    topic: str
    payload: bytes


class TimedTap:
    """A subscriber that timestamps what it receives; `answer` may reply from paho's thread.

    Unlike Wire it takes a client id of its own, so several can run beside the recorder.
    """

    def __init__(
        self,
        port: int,
        topics: Sequence[str],
        client_id: str,
        answer: Callable[[paho.Client, TimedMessage], None] | None = None,
    ) -> None:
        """Connect, subscribe at QoS 1 and wait for the SUBACK."""
        self._topics = list(topics)
        self._answer = answer
        self._lock = threading.Lock()
        self.messages: list[TimedMessage] = []
        self._subscribed = threading.Event()
        self.subscriptions = 0  # SUBACKs: one more after each reconnect
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.reconnect_delay_set(1, 1)  # after a broker restart: within a second
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(HOST, port)
        self.client.loop_start()
        if not self._subscribed.wait(START_TIMEOUT):
            self.close()
            pytest.fail(f"tap {client_id} could not subscribe")

    def _on_connect(self, client: paho.Client, *_args: Any) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def _on_subscribe(self, *_args: Any) -> None:
        self.subscriptions += 1
        self._subscribed.set()

    def wait_subscribed(self, count: int, timeout: float = START_TIMEOUT) -> bool:
        """Block until the tap has subscribed `count` times (the first time, then after each
        reconnect); False if it did not in time."""
        deadline = time.monotonic() + timeout
        while self.subscriptions < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.subscriptions >= count

    def _on_message(self, client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        message = TimedMessage(time.monotonic(), msg.topic, bytes(msg.payload))
        with self._lock:
            self.messages.append(message)
        if self._answer is not None:
            self._answer(client, message)

    def since(self, start: float) -> list[TimedMessage]:
        """Return the messages that arrived at or after `start` (time.monotonic())."""
        with self._lock:
            return [m for m in self.messages if m.at >= start]

    def close(self) -> None:
        """Disconnect and stop paho's thread."""
        self.client.disconnect()
        self.client.loop_stop()


def busiest_window(times: Sequence[float], window: float = 1.0) -> int:
    """Return the most of `times` (sorted) inside any half-open window [t, t + window)."""
    most = 0
    first = 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most
