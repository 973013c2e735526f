"""Fixtures for the real-broker tier: a private mosquitto, the simulator and HA's real MQTT.

Setup order: broker, then our own wire recorder, then HA (the MQTT entry, then the AutoCore
entry, whose subscriptions are live on the broker before the fixture returns), then the
simulator. The simulator comes last so that HA and the recorder both see its traffic from the
first message: most of it (telemetry, display interactions) is not retained, and tests compare
HA's view with the recorder's message by message.

Another family's module overrides `config_entry` (its entry), `wire_topics` (what the
recorder follows), `simulator_options` (its devices) and `simulator_stop_signal`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import select
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet.families.autocore.hub import AutoCoreHub
from tools.mosquitto import HOST, Mosquitto, find_mosquitto, stop_process, tail

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Callable, Generator, Sequence

    from homeassistant.components.mqtt.models import ReceiveMessage

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `broker`, so `-m "not broker"` leaves the tier out."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.broker)


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
    """A private mosquitto on a loopback port, restartable on the same port."""

    def __init__(self, tmp_path: Path) -> None:
        """Find mosquitto; nothing runs before start()."""
        if (executable := find_mosquitto()) is None:
            pytest.fail("mosquitto is not installed: run scripts/setup (apt-get install mosquitto)")
        # TCP_NODELAY: replies in well under a millisecond, not 40+ ms.
        super().__init__(executable, tmp_path, nodelay=True)

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


@pytest.fixture
def broker(tmp_path: Path, socket_enabled: None) -> Generator[Broker]:
    """Start mosquitto on a free 127.0.0.1 port for one test; stop it afterwards."""
    mosquitto = Broker(tmp_path)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


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


@pytest.fixture
def wire_topics() -> tuple[str, ...]:
    """Topic filters the wire recorder subscribes to: override per test module."""
    return (f"{BASE}/#",)


@pytest.fixture
def wire(broker: Broker, wire_topics: tuple[str, ...]) -> Generator[Wire]:
    """Record the traffic under the base topic with our own paho client."""
    recorder = Wire(broker.port, wire_topics)
    yield recorder
    recorder.close()


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


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Override AutoCore entry options per test: parametrize `entry_options`."""
    return {}


@pytest.fixture
async def fleet(
    hass: HomeAssistant,
    socket_enabled: None,
    broker: Broker,
    config_entry: MockConfigEntry,
    entry_options: dict[str, Any],
) -> AsyncGenerator[Fleet]:
    """Set up HA's MQTT integration against the broker, then the AutoCore entry.

    Returns once the entry's subscriptions are live on the broker: HA debounces subscribes,
    so a retained probe is published first and subscribed to last; the broker handles one
    client's packets in order, so when the probe arrives every earlier SUBSCRIBE is done.
    """
    mqtt_entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        data={"broker": HOST, "port": broker.port},
        version=2,
        minor_version=2,
    )
    # No configuration.yaml in the test config dir: MQTT reads its YAML at setup.
    with patch("homeassistant.config.load_yaml_config_file", return_value={}):
        mqtt_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
        await wait_for(lambda: mqtt.is_connected(hass), START_TIMEOUT, "HA's MQTT client")

        config_entry.add_to_hass(hass)
        if entry_options:
            hass.config_entries.async_update_entry(
                config_entry, options={**config_entry.options, **entry_options}
            )
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        assert config_entry.state is ConfigEntryState.LOADED

        probed = asyncio.Event()

        @callback
        def _probe_received(_msg: ReceiveMessage) -> None:
            probed.set()

        await mqtt.async_publish(hass, PROBE_TOPIC, "probe", qos=1, retain=True)
        unsubscribe = await mqtt.async_subscribe(hass, PROBE_TOPIC, _probe_received)
        await wait_for(probed.is_set, START_TIMEOUT, "HA's subscriptions to be live")
        unsubscribe()

        yield Fleet(hass=hass, entry=config_entry, mqtt_entry=mqtt_entry)

        # Unload in order while the broker is up: the MQTT entry disconnects paho, and the
        # socket close stops HA's MQTT misc timer (else the harness reports it lingering).
        for entry in (config_entry, mqtt_entry):
            if entry.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(entry.entry_id)
        await wait_for(lambda: not mqtt.is_connected(hass), STOP_TIMEOUT, "MQTT disconnect")
        await hass.async_block_till_done()


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


@pytest.fixture
def simulator_options() -> dict[str, Any]:
    """Override simulator options per test: `@pytest.mark.parametrize("simulator_options", ...)`."""
    return {}


@pytest.fixture
def simulator_stop_signal() -> int:
    """The signal that stops the simulator after a test (then SIGKILL if it lingers).

    SIGTERM lets it say goodbye; a module whose devices only vanish like a power cut anyway
    (Janus, SpotFi) may override this with SIGKILL, which skips paho's 1 s loop shutdown.
    """
    return signal.SIGTERM


@pytest.fixture
def simulator(
    broker: Broker,
    wire: Wire,
    fleet: Fleet,
    simulator_options: dict[str, Any],
    simulator_stop_signal: int,
    tmp_path: Path,
) -> Generator[Simulator]:
    """Run the simulator until its READY line; stop it with SIGTERM (then kill) afterwards."""
    options = SIMULATOR_DEFAULTS | simulator_options
    args = [sys.executable, str(SIMULATOR), "--host", HOST, "--port", str(broker.port)]
    args += ["--base", BASE, "--log-level", "debug"]
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):  # a switch such as --spotfi-garbage: given or left out
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    log = tmp_path / "simulator.log"
    with log.open("ab") as stderr:
        proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO_ROOT
        )
    assert proc.stdout is not None
    try:
        rest = bytearray()
        line = _read_line(proc, START_TIMEOUT, rest)
        if not line.startswith("READY "):
            pytest.fail(f"simulator did not get ready ({line!r}):\n{tail(log)}")
        devices = json.loads(line.removeprefix("READY "))
        yield Simulator(
            proc,
            devices["layout_a"],
            devices["layout_b"],
            log,
            janus=devices.get("janus", []),
            spotfi=devices.get("spotfi", []),
            logs=devices.get("logs", []),
            stdout_rest=rest,
        )
    finally:
        stop_process(proc, simulator_stop_signal)
        proc.stdout.close()


def _read_line(proc: subprocess.Popen[bytes], timeout: float, rest: bytearray | None = None) -> str:
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
