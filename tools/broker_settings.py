"""Measure which mosquitto settings a big fleet needs, and print the numbers as markdown.

After a restart Home Assistant's MQTT client subscribes (QoS 1, clean session) to filters such
as `autocore/+/status`, and the broker answers with every retained status at once. mosquitto's
default `max_queued_messages 1000` drops most of that burst: this script shows by how much,
what lifts it, what the in-flight window costs, what a subscriber at QoS 0 gets, what a
client that stops reading costs the broker (why the queue needs a byte bound), and whether
retained statuses survive a broker restart with and without persistence. README.md's "Broker
settings" section quotes its output; tools/mosquitto.py's RECOMMENDED_SETTINGS is the result.

Every measurement runs its own mosquitto (tools/mosquitto.py) with TCP defaults, publishes N
retained QoS 1 statuses (a ~155-byte JSON each) from one paho client, then subscribes a fresh
client like Home Assistant's and counts what arrives until nothing came for IDLE seconds.

Usage: .venv/bin/python -m tools.broker_settings [--devices N [N ...]] [--restart-devices N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import TYPE_CHECKING, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tools.mosquitto import (
    AUTOSAVE_INTERVAL,
    DEFAULT_SETTINGS,
    HOST,
    RECOMMENDED_SETTINGS,
    Mosquitto,
    find_mosquitto,
    persistence_settings,
    tail,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    import subprocess

    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

BASE = "autocore"
STATUS_FILTER = f"{BASE}/+/status"  # one of the filters Home Assistant subscribes to
TELEMETRY_FILTER = f"{BASE}/+/telemetry"
DEVICES = [1_000, 5_000, 20_000]
START_TIMEOUT = 15.0
IDLE = 1.0  # seconds without a message after which the burst is over (dropped ones never come)
WINDOW = 120.0  # at most this long after SUBSCRIBE
PUBLISH_TIMEOUT = 120.0
DROP_NOTICE = "Outgoing messages are being dropped"


class MeasureError(Exception):
    """A broker or a client did not do what the measurement needs."""


@dataclass(frozen=True)
class Probe:
    """A subscriber to measure: its QoS, how late it starts reading, its round trip."""

    qos: int = 1
    read_delay: float = 0.0  # seconds between SUBSCRIBE and reading anything (a busy client)
    rtt: float = 0.0  # seconds of round trip added by a delaying proxy (a remote broker)
    largest_only: bool = False  # measure at the largest N only (slow, or only matters there)

    @property
    def label(self) -> str:
        """Describe the subscriber for the table."""
        parts = [f"QoS {self.qos}"]
        if self.read_delay:
            parts.append(f"reads {self.read_delay:g} s late")
        if self.rtt:
            parts.append(f"{self.rtt * 1000:g} ms RTT")
        return ", ".join(parts)


@dataclass(frozen=True)
class Setup:
    """A broker configuration and the subscribers measured against it."""

    label: str
    settings: tuple[str, ...]
    probes: tuple[Probe, ...]


RTT = 0.005  # a LAN or a container network with some load; loopback hides the in-flight window
QUEUE_UNLIMITED = ("max_queued_messages 0",)
QUEUE_BYTES_1MIB = (*QUEUE_UNLIMITED, "max_queued_bytes 1048576")
SETUPS = [
    Setup(
        "mosquitto defaults",
        DEFAULT_SETTINGS,
        (
            Probe(),
            Probe(qos=0),
            Probe(qos=0, read_delay=1.0, largest_only=True),
        ),
    ),
    Setup(
        "`max_queued_messages 0` (in flight 20)",
        QUEUE_UNLIMITED,
        (
            Probe(),
            Probe(rtt=RTT, largest_only=True),
        ),
    ),
    Setup(
        "`max_queued_messages 0`, `max_inflight_messages 100`",
        (
            *QUEUE_UNLIMITED,
            "max_inflight_messages 100",
        ),
        (Probe(), Probe(rtt=RTT, largest_only=True)),
    ),
    Setup(
        "`max_queued_messages 0`, `max_inflight_messages 0` (unlimited)",
        (
            *QUEUE_UNLIMITED,
            "max_inflight_messages 0",
        ),
        (Probe(), Probe(rtt=RTT, largest_only=True)),
    ),
    Setup(
        "`max_queued_messages 0`, `max_queued_bytes 1048576` (1 MiB)",
        QUEUE_BYTES_1MIB,
        (Probe(),),
    ),
    Setup(
        "recommended (RECOMMENDED_SETTINGS)",
        RECOMMENDED_SETTINGS,
        (
            Probe(),
            Probe(read_delay=1.0, largest_only=True),
            Probe(rtt=RTT, largest_only=True),
        ),
    ),
]


def status_payload(index: int) -> bytes:
    """Return a realistic status: what a layout A board retains, about 150 bytes."""
    return json.dumps(
        {
            "device_id": f"dev-{index:05d}",
            "status": "online",
            "ip_address": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}",
            "firmware_version": "1.2.0",
            "uptime": 86_400 + index,
            "timestamp": "2026-05-04T12:00:00Z",
        }
    ).encode()


def device_topic(index: int, suffix: str = "status") -> str:
    """Return a topic of device `index`: its status by default."""
    return f"{BASE}/dev-{index:05d}/{suffix}"


def new_client(client_id: str) -> mqtt.Client:
    """Return a paho client like Home Assistant's: v2 callbacks, MQTT 3.1.1, clean session."""
    return mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )


def publish(port: int, devices: int, first: int = 1, *, live: bool = False) -> float:
    """Publish retained QoS 1 statuses of devices first..devices; return seconds until acked.

    `live`: publish to each device's telemetry topic, not retained, instead.

    No network thread: publish() then writes at once, and loop() between batches reads the
    PUBACKs (a thread woken for every message is several times slower).
    """
    client = new_client("broker-settings-publisher")
    client.max_inflight_messages_set(0)  # the publisher is not what is measured
    client.max_queued_messages_set(0)
    acked = 0

    def on_publish(
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        _reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        nonlocal acked
        acked += 1

    client.on_publish = on_publish
    client.connect(HOST, port)
    try:
        started = time.monotonic()
        for index in range(first, devices + 1):
            topic = device_topic(index, "telemetry" if live else "status")
            client.publish(topic, status_payload(index), qos=1, retain=not live)
            if index % 200 == 0:
                client.loop(timeout=0)
        deadline = started + PUBLISH_TIMEOUT
        while acked < devices - first + 1:
            if time.monotonic() > deadline:
                raise MeasureError(f"only {acked} of {devices - first + 1} publishes were acked")
            client.loop(timeout=0.1)
        return time.monotonic() - started
    finally:
        client.disconnect()


class DelayProxy:
    """A loopback TCP proxy that delays each direction by half `rtt`, without limiting bandwidth.

    It stands for a broker across a network, where the in-flight window matters; it delays
    only the connections made through it (never the host's other traffic, as tc netem would).
    """

    def __init__(self, target_port: int, rtt: float) -> None:
        """Nothing runs before __enter__."""
        self.target_port = target_port
        self.delay = rtt / 2
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def __enter__(self) -> Self:
        """Start listening on a free loopback port (self.port)."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(START_TIMEOUT)
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close every connection and stop the thread."""
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(START_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT)
        self._loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connection, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(HOST, self.target_port)
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward what `reader` gets to `writer`, each chunk `delay` seconds later, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        forwarder = asyncio.create_task(forward())
        with contextlib.suppress(OSError):
            while data := await reader.read(1 << 16):
                queue.put_nowait((loop.time() + self.delay, data))
        queue.put_nowait((loop.time() + self.delay, b""))
        with contextlib.suppress(OSError):
            await forwarder


@dataclass(frozen=True)
class Received:
    """What a fresh subscriber got: messages, seconds from CONNECT to the last one."""

    count: int
    seconds: float


def subscribe_and_count(
    port: int,
    probe: Probe,
    expected: int,
    *,
    topic_filter: str = STATUS_FILTER,
    meanwhile: Callable[[], object] | None = None,
    receive_buffer: int = 0,
) -> Received:
    """Subscribe like Home Assistant does and count what arrives until it stops.

    SUBSCRIBE goes out right after CONNECT, before the client reads anything: for the read
    delay, and while `meanwhile` runs, what comes waits in the broker and the socket buffers.
    `receive_buffer` shrinks the client's socket buffer so the broker, not the kernel, holds it.
    """
    client = new_client(f"broker-settings-subscriber-{os.getpid()}")
    lock = threading.Lock()
    count = 0
    last = 0.0

    def on_message(_client: mqtt.Client, _userdata: object, _message: mqtt.MQTTMessage) -> None:
        nonlocal count, last
        with lock:
            count += 1
            last = time.monotonic()

    client.on_message = on_message
    started = time.monotonic()
    client.connect(HOST, port)
    try:
        if receive_buffer and isinstance(sock := client.socket(), socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        result, _mid = client.subscribe(topic_filter, probe.qos)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise MeasureError(f"SUBSCRIBE failed: {mqtt.error_string(result)}")
        time.sleep(probe.read_delay)
        if meanwhile is not None:
            meanwhile()
        if receive_buffer and isinstance(sock := client.socket(), socket.socket):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)  # read it back quickly
        client.loop_start()
        reading = time.monotonic()
        deadline = reading + WINDOW
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with lock:
                if count >= expected or time.monotonic() - (last or reading) >= IDLE:
                    break
        with lock:
            return Received(count, (last - started) if count else 0.0)
    finally:
        client.disconnect()
        client.loop_stop()


def process(broker: Mosquitto) -> subprocess.Popen[bytes]:
    """Return the running mosquitto's process."""
    if broker.proc is None:
        raise MeasureError("mosquitto is not running")
    return broker.proc


def memory_kib(pid: int, field: str = "VmHWM") -> int:
    """Return a memory figure of the process in KiB (VmHWM: peak resident), 0 if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def start(executable: str, workdir: Path, settings: Sequence[str]) -> Mosquitto:
    """Start mosquitto in `workdir` with `settings`; TCP defaults (no TCP_NODELAY)."""
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(executable, workdir, nodelay=False, settings=settings)
    if not broker.try_start(START_TIMEOUT):
        raise MeasureError(f"mosquitto did not start:\n{tail(broker.log)}")
    return broker


@dataclass(frozen=True)
class Burst:
    """One retained-burst measurement."""

    setup: Setup
    probe: Probe
    devices: int
    received: Received
    peak_rss_kib: int
    drop_notice: bool


STARTED = time.monotonic()


def progress(text: str) -> None:
    """Tell on stderr what was measured, with the seconds since the start."""
    print(f"[{time.monotonic() - STARTED:5.0f} s] {text}", file=sys.stderr, flush=True)


def drop_notices(log: Path) -> int:
    """Count mosquitto's "Outgoing messages are being dropped" notices in its log."""
    return log.read_text(errors="replace").count(DROP_NOTICE) if log.exists() else 0


def measure_bursts(
    executable: str, workdir: Path, setup: Setup, sizes: Sequence[int]
) -> list[Burst]:
    """Count what each fresh subscriber gets from one broker, as its retained set grows.

    The statuses are published once, topped up to each N in turn (ascending), so a setup
    publishes max(N) statuses, not their sum.
    """
    broker = start(executable, workdir, setup.settings)
    bursts: list[Burst] = []
    published = 0
    try:
        for devices in sorted(sizes):
            largest = devices == max(sizes)
            probes = [probe for probe in setup.probes if largest or not probe.largest_only]
            if not probes:
                continue
            seconds = publish(broker.port, devices, first=published + 1)
            progress(
                f"{setup.label}: {devices - published:,} statuses published in {seconds:.1f} s"
            )
            published = devices
            for probe in probes:
                notices = drop_notices(broker.log)
                if probe.rtt:
                    with DelayProxy(broker.port, probe.rtt) as proxy:
                        received = subscribe_and_count(proxy.port, probe, devices)
                else:
                    received = subscribe_and_count(broker.port, probe, devices)
                rss = memory_kib(process(broker).pid)
                dropped = drop_notices(broker.log) > notices
                bursts.append(Burst(setup, probe, devices, received, rss, dropped))
                progress(
                    f"{setup.label}, {probe.label}, N={devices:,}: "
                    f"{received.count:,} in {received.seconds:.2f} s"
                )
    finally:
        broker.stop()
    return bursts


@dataclass(frozen=True)
class Stuck:
    """A subscriber that stopped reading while live messages came: what the broker kept."""

    label: str
    messages: int
    rss_growth_kib: int
    received: Received  # once it reads again
    drop_notice: bool


STUCK_SETUPS = [
    ("`max_queued_messages 0` (no bound)", QUEUE_UNLIMITED),
    ("`max_queued_messages 0`, `max_queued_bytes 1048576` (1 MiB)", QUEUE_BYTES_1MIB),
]


def measure_stuck(
    executable: str, workdir: Path, label: str, settings: Sequence[str], messages: int
) -> Stuck:
    """Let a subscriber stop reading while `messages` live QoS 1 messages come for it."""
    broker = start(executable, workdir, settings)
    pid = process(broker).pid
    grown = 0

    def flood() -> None:
        nonlocal grown
        time.sleep(0.2)  # the SUBSCRIBE is through
        before = memory_kib(pid, "VmRSS")
        seconds = publish(broker.port, messages, live=True)
        progress(f"stuck subscriber, {label}: {messages:,} published in {seconds:.1f} s")
        time.sleep(0.5)  # mosquitto has written what the sockets take
        grown = memory_kib(pid, "VmRSS") - before

    try:
        received = subscribe_and_count(
            broker.port,
            Probe(),
            messages,
            topic_filter=TELEMETRY_FILTER,
            meanwhile=flood,
            receive_buffer=4096,
        )
    finally:
        broker.stop()
    return Stuck(label, messages, grown, received, drop_notices(broker.log) > 0)


def stuck_table(stucks: Sequence[Stuck]) -> str:
    """Return the stuck-subscriber measurements as a markdown table."""
    rows = [
        "| Settings | Live messages while stuck | mosquitto RSS growth | Per message published "
        "| Delivered once it reads | Drop notice in log |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for stuck in stucks:
        got = stuck.received
        rows.append(
            f"| {stuck.label} | {stuck.messages:,} | {stuck.rss_growth_kib / 1024:.1f} MiB "
            f"| {stuck.rss_growth_kib * 1024 / stuck.messages:,.0f} B "
            f"| {got.count:,} ({got.count / stuck.messages:.0%}) "
            f"| {'yes' if stuck.drop_notice else 'no'} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True)
class Restart:
    """What a subscriber gets after the broker restarted."""

    label: str
    how: str
    devices: int
    stop_seconds: float
    database_bytes: int
    received: Received


def measure_restart(
    executable: str,
    workdir: Path,
    label: str,
    persistence: Sequence[str],
    devices: int,
    *,
    sig: int,
    wait: float = 0.0,
) -> Restart:
    """Publish retained statuses, stop mosquitto with `sig` after `wait` s, start it, count."""
    database = workdir / "db"
    database.mkdir(parents=True, exist_ok=True)  # also without persistence: measured empty
    broker = start(executable, workdir, [*RECOMMENDED_SETTINGS, *persistence])
    try:
        publish(broker.port, devices)
        time.sleep(wait)
        proc = process(broker)
        stopping = time.monotonic()
        proc.send_signal(sig)
        proc.wait(START_TIMEOUT)
        stop_seconds = time.monotonic() - stopping
        size = sum(path.stat().st_size for path in database.iterdir())
        broker.launch()  # same port, same configuration
        if not broker.wait_listening(START_TIMEOUT):
            raise MeasureError(f"mosquitto did not restart:\n{tail(broker.log)}")
        received = subscribe_and_count(broker.port, Probe(), devices)
    finally:
        broker.stop()
    how = f"{signal.Signals(sig).name}" + (f" {wait:g} s after publishing" if wait else "")
    return Restart(label, how, devices, stop_seconds, size, received)


def burst_table(bursts: Sequence[Burst]) -> str:
    """Return the retained-burst measurements as a markdown table."""
    rows = [
        "| Settings | Subscriber | N | Delivered | Seconds | mosquitto peak RSS | "
        "Drop notice in log |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for burst in bursts:
        got = burst.received
        rows.append(
            f"| {burst.setup.label} | {burst.probe.label} | {burst.devices:,} "
            f"| {got.count:,} ({got.count / burst.devices:.0%}) | {got.seconds:.2f} "
            f"| {burst.peak_rss_kib / 1024:.1f} MiB | {'yes' if burst.drop_notice else 'no'} |"
        )
    return "\n".join(rows)


def restart_table(restarts: Sequence[Restart]) -> str:
    """Return the restart measurements as a markdown table."""
    rows = [
        "| Persistence | Broker stopped with | N | Stop took | Database | "
        "Delivered after restart |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for restart in restarts:
        got = restart.received
        rows.append(
            f"| {restart.label} | {restart.how} | {restart.devices:,} "
            f"| {restart.stop_seconds:.2f} s | {restart.database_bytes / 1024:,.0f} KiB "
            f"| {got.count:,} ({got.count / restart.devices:.0%}) |"
        )
    return "\n".join(rows)


def run(executable: str, root: Path, devices: Sequence[int], restart_devices: int) -> str:
    """Run every measurement; return the markdown report."""
    bursts: list[Burst] = []
    for index, setup in enumerate(SETUPS):
        bursts += measure_bursts(executable, root / f"burst-{index}", setup, devices)
    stucks: list[Stuck] = []
    for index, (label, settings) in enumerate(STUCK_SETUPS):
        stuck = measure_stuck(executable, root / f"stuck-{index}", label, settings, max(devices))
        progress(f"stuck subscriber, {label}: +{stuck.rss_growth_kib:,} KiB")
        stucks.append(stuck)
    restarts: list[Restart] = []
    on = f"on, autosave {AUTOSAVE_INTERVAL} s"
    cases: list[tuple[str, list[str], int, float]] = [
        ("off", [], signal.SIGTERM, 0.0),
        (on, persistence_settings(root / "restart-1" / "db"), signal.SIGTERM, 0.0),
        (
            "on, autosave 1 s",
            persistence_settings(root / "restart-2" / "db", 1),
            signal.SIGKILL,
            2.5,
        ),
        (on, persistence_settings(root / "restart-3" / "db"), signal.SIGKILL, 0.0),
    ]
    for index, (label, lines, sig, wait) in enumerate(cases):
        workdir = root / f"restart-{index}"
        restart = measure_restart(
            executable, workdir, label, lines, restart_devices, sig=sig, wait=wait
        )
        progress(f"persistence {label}, {restart.how}: {restart.received.count:,} after restart")
        restarts.append(restart)
    return "\n\n".join(
        [
            f"Retained burst: N retained QoS 1 statuses, then a fresh clean-session subscriber to "
            f"`{STATUS_FILTER}`; seconds from CONNECT to the last message.",
            burst_table(bursts),
            "A subscriber that stops reading (4 KiB socket buffer) while N live QoS 1 messages "
            f"of the same size come for it on `{TELEMETRY_FILTER}`:",
            stuck_table(stucks),
            "Broker restart (queue settings as recommended):",
            restart_table(restarts),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, measure, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--devices",
        type=int,
        nargs="+",
        default=DEVICES,
        metavar="N",
        help=f"retained statuses per measurement (default {' '.join(map(str, DEVICES))})",
    )
    parser.add_argument(
        "--restart-devices",
        type=int,
        metavar="N",
        help="retained statuses for the restart measurements (default: the largest --devices)",
    )
    args = parser.parse_args(argv)
    if (executable := find_mosquitto()) is None:
        print("mosquitto is not installed: run scripts/setup", file=sys.stderr)
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="broker-settings-") as tmp:
        report = run(executable, Path(tmp), args.devices, args.restart_devices or max(args.devices))
    print(report)
    print(f"\n(mosquitto {executable}; {time.monotonic() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
