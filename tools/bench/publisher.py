"""The workload publisher: a separate process with its own paho client, QoS 0.

Statuses of the warm-up round are retained, as devices send them, so a restarted Home
Assistant gets them from the broker in one burst; nothing else is retained.

It builds every payload first, connects, prints ``READY <count>`` and waits for a ``GO``
line on stdin; then it publishes and prints one line

    DONE {"sent": M, "start": t0, "end": t1}

with CLOCK_MONOTONIC times (time.monotonic, shared by every process on Linux), so the HA
side can measure from the first send. Modes:

    flat       ROUNDS rounds of the stream workload as fast as paho writes them
    rate       ROUNDS rounds of the stream workload at RATE messages/s; --times FILE gets
               each message's send time (float64, message order) for the latency match
    natural    every device sends its status and telemetry (or metrics) every 30 s,
               staggered evenly, for SECONDS
    warmup     one round that creates every entity
    discovery  contender (b)'s discovery configs, QoS 1 and retained (they outlive a restart)

Usage: python -m tools.bench.publisher --port P --n N --mode MODE [options]
"""

from __future__ import annotations

import argparse
from array import array
import json
import socket
import sys
import time
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tools.mosquitto import HOST

from .workload import DEFAULT_MIX, Workload

if TYPE_CHECKING:
    from collections.abc import Sequence

CONNECT_TIMEOUT = 10.0
FLUSH_TIMEOUT = 120.0
KEEPALIVE = 60
SERVICE_EVERY = 1.0  # s between keepalive checks while publishing at a rate


def parse_mix(text: str) -> tuple[int, int, int]:
    """Read a mix such as 6:3:1 (AutoCore:SpotFi:Janus)."""
    parts = [int(part) for part in text.split(":")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("the mix is three counts, AutoCore:SpotFi:Janus")
    return parts[0], parts[1], parts[2]


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(description="MQTT Fleet benchmark publisher")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--n", type=int, required=True, help="devices")
    parser.add_argument("--mix", type=parse_mix, default=DEFAULT_MIX)
    parser.add_argument(
        "--mode", required=True, choices=("flat", "rate", "natural", "warmup", "discovery")
    )
    parser.add_argument("--first-round", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="flat, rate: rounds to send")
    parser.add_argument("--rate", type=float, default=1000.0, help="rate: messages/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="natural: duration")
    parser.add_argument("--times", help="rate: write the send times here (float64)")
    parser.add_argument("--nodelay", action="store_true", help="TCP_NODELAY on the socket")
    return parser


def connect(nodelay: bool, port: int, *, threaded: bool) -> mqtt.Client:
    """Connect and wait for the CONNACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-publisher-{port}")
    if nodelay:

        def on_socket_open(_client: mqtt.Client, _userdata: object, sock: object) -> None:
            if isinstance(sock, socket.socket):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        client.on_socket_open = on_socket_open
    client.connect(HOST, port, keepalive=KEEPALIVE)
    deadline = time.monotonic() + CONNECT_TIMEOUT
    if threaded:
        client.loop_start()
    while not client.is_connected():
        if time.monotonic() > deadline:
            raise SystemExit("publisher: no CONNACK from the broker")
        if threaded:
            time.sleep(0.01)
        else:
            client.loop(timeout=0.05)
    return client


def drain(client: mqtt.Client) -> None:
    """Write out whatever paho still holds because the socket was full."""
    deadline = time.monotonic() + FLUSH_TIMEOUT
    while client.want_write():
        if time.monotonic() > deadline:
            raise SystemExit("publisher: could not write every message to the broker")
        client.loop(timeout=0.05)


def publish(client: mqtt.Client, topic: str, payload: bytes, *, retain: bool = False) -> None:
    """Publish at QoS 0; without paho's thread this writes to the socket right away."""
    info = client.publish(topic, payload, retain=retain)
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        raise SystemExit(f"publisher: publish failed: {mqtt.error_string(info.rc)}")


def send_flat(client: mqtt.Client, messages: Sequence[tuple[str, bytes, bool]]) -> None:
    """Publish everything as fast as paho can."""
    for topic, payload, retain in messages:
        publish(client, topic, payload, retain=retain)


def send_scheduled(
    client: mqtt.Client, schedule: Sequence[tuple[float, str, bytes]], times: array[float]
) -> None:
    """Publish each message at its offset from now; record when it left.

    Plain sleeps (no spinning, which would take CPU from HA on a small machine): a message
    may leave up to the timer slack late, and its send time is taken after it left.
    """
    start = time.monotonic()
    next_service = start + SERVICE_EVERY
    for offset, topic, payload in schedule:
        now = time.monotonic()
        if (wait := start + offset - now) > 0:
            time.sleep(wait)
        publish(client, topic, payload)
        times.append(time.monotonic())
        if now > next_service:  # keepalive and anything the broker sent us
            client.loop(timeout=0)
            next_service = now + SERVICE_EVERY


def send_discovery(client: mqtt.Client, configs: Sequence[tuple[str, bytes, bool]]) -> None:
    """Publish the retained discovery configs at QoS 1 and wait for every PUBACK."""
    infos = [client.publish(topic, payload, qos=1, retain=True) for topic, payload, _ in configs]
    deadline = time.monotonic() + FLUSH_TIMEOUT
    for info in infos:
        info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        if not info.is_published():
            raise SystemExit("publisher: a discovery config was not acknowledged")
    client.disconnect()
    client.loop_stop()


type Flat = list[tuple[str, bytes, bool]]  # topic, payload, retained
type Schedule = list[tuple[float, str, bytes]]


def build(args: argparse.Namespace) -> tuple[Flat, Schedule]:
    """Return what to send at once and what to send on a schedule (offset s, topic, payload)."""
    workload = Workload(args.n, args.mix)
    match args.mode:
        case "flat" | "rate":
            count = args.rounds * workload.messages_per_round("stream")
            messages = workload.stream("stream", args.first_round, count)
            if args.mode == "rate":
                return [], [(j / args.rate, m.topic, m.payload) for j, m in enumerate(messages)]
            return [(m.topic, m.payload, False) for m in messages], []
        case "warmup":
            warmup = workload.round("warmup", args.first_round)
            return [(m.topic, m.payload, m.kind == "status") for m in warmup], []
        case "discovery":
            return [(topic, payload, True) for topic, payload in workload.discovery()], []
    schedule = workload.natural_schedule(args.first_round, args.seconds)
    return [], [(offset, m.topic, m.payload) for offset, m in schedule]


def main(argv: Sequence[str] | None = None) -> int:
    """Build, connect, wait for GO, publish, report."""
    args = build_parser().parse_args(argv)
    flat, schedule = build(args)
    total = len(flat) + len(schedule)
    discovery = args.mode == "discovery"
    client = connect(args.nodelay, args.port, threaded=discovery)
    print(f"READY {total}", flush=True)
    if sys.stdin.readline().strip() != "GO":
        return 1
    times: array[float] = array("d")
    start = time.monotonic()
    if discovery:
        send_discovery(client, flat)
        end = time.monotonic()
    else:
        if schedule:
            send_scheduled(client, schedule, times)
        else:
            send_flat(client, flat)
        drain(client)
        end = time.monotonic()
        if args.mode == "natural":  # the window is SECONDS long, however the sends fall
            time.sleep(max(0.0, start + args.seconds - time.monotonic()))
        client.disconnect()
        client.loop(timeout=0.05)
    if args.times:
        with open(args.times, "wb") as file:
            times.tofile(file)
    print("DONE " + json.dumps({"sent": total, "start": start, "end": end}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
