"""Parse rate of protocol/ alone against bare orjson.loads, on the workload's own payloads.

For each message kind, `parse(topic, payload)` of the family's protocol object and
`orjson.loads(payload)` run over the same messages (a plain-text status: bytes.decode),
best of several repeats, in this process without Home Assistant running.

Usage: python -m tools.bench.protocol_bench [--devices 1000] [--seconds 0.5]
"""

from __future__ import annotations

import argparse
import json
import time
from typing import TYPE_CHECKING, Any

import orjson

from custom_components.mqtt_fleet.protocol.autocore import AutoCoreProtocol
from custom_components.mqtt_fleet.protocol.janus import JanusProtocol
from custom_components.mqtt_fleet.protocol.spotfi import SpotFiProtocol

from .workload import AUTOCORE_BASE, JANUS_BASE, SPOTFI_BASE, Message, Workload

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

REPEATS = 5


def rate(
    function: Callable[[str, bytes], object], messages: Sequence[Message], seconds: float
) -> float:
    """Return calls per second: best of REPEATS runs of at least `seconds` each."""
    pairs = [(message.topic, message.payload) for message in messages]
    best = 0.0
    for _ in range(REPEATS):
        calls = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for topic, payload in pairs:
                function(topic, payload)
            calls += len(pairs)
        best = max(best, calls / elapsed)
    return best


def _bare(topic: str, payload: bytes) -> object:
    """Decode as the floor does: orjson.loads, or bytes.decode for a plain-text status."""
    if payload[:1] in (b"{", b"["):
        return orjson.loads(payload)
    return payload.decode()


def measure(devices: int = 1000, seconds: float = 0.5) -> list[dict[str, Any]]:
    """Return one row per message kind, plus the stream's mix."""
    workload = Workload(devices)
    parsers: dict[str, Callable[[str, bytes], object]] = {
        "autocore": AutoCoreProtocol(AUTOCORE_BASE).parse,
        "spotfi": SpotFiProtocol(SPOTFI_BASE).parse,
        "janus": JanusProtocol(JANUS_BASE).parse,
    }

    def parse(topic: str, payload: bytes) -> object:
        family = (
            "autocore"
            if topic.startswith(AUTOCORE_BASE)
            else "spotfi"
            if topic.startswith(SPOTFI_BASE)
            else "janus"
        )
        return parsers[family](topic, payload)

    warmup = workload.round("warmup", 1)
    groups: dict[str, list[Message]] = {}
    for message in warmup:
        groups.setdefault(f"{message.device.family} {message.kind}", []).append(message)
    groups["stream mix"] = workload.round("stream", 1)
    rows = []
    for name, messages in groups.items():
        family = messages[0].device.family
        parser = parse if name == "stream mix" else parsers[family]
        ours, bare = rate(parser, messages, seconds), rate(_bare, messages, seconds)
        rows.append(
            {
                "kind": name,
                "payload_bytes": round(sum(len(m.payload) for m in messages) / len(messages)),
                "protocol_per_s": ours,
                "orjson_per_s": bare,
                "ratio": ours / bare,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table and the JSON rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args(argv)
    rows = measure(args.devices, args.seconds)
    print(f"{'kind':<18} {'bytes':>6} {'protocol/s':>12} {'orjson/s':>12} {'ratio':>6}")
    for row in rows:
        print(
            f"{row['kind']:<18} {row['payload_bytes']:>6} {row['protocol_per_s']:>12,.0f}"
            f" {row['orjson_per_s']:>12,.0f} {row['ratio']:>6.2f}"
        )
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
