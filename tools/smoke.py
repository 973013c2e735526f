"""Check a running ``scripts/demo`` from outside, as a user's Home Assistant would show it.

``scripts/smoke`` starts the demo on the newest Home Assistant and runs this against it: the
unit tests pin one Home Assistant and fake most of it, so this is what tells that the real
thing starts, finds every simulated device and keeps every entity available. It talks to
Home Assistant's websocket API with the demo's token and reads the demo's files:

- every MQTT Fleet config entry is ``loaded``;
- every device the simulator announced (its ``READY`` line) is in the device registry,
  per family (polled: discovery waits for each device's first message);
- no enabled MQTT Fleet entity is ``unavailable`` (polled until it settles);
- ``home-assistant.log`` has no record at WARNING or above that mentions ``mqtt_fleet``,
  apart from Home Assistant's standard warning about any custom integration.

``--log-only`` does the last check alone, for the log of a stopped demo (its shutdown).

Usage (with the main venv's python)::

    python tools/smoke.py --url http://127.0.0.1:8123 --demo-dir .demo/smoke
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from dataclasses import dataclass, field
import json
from pathlib import Path
import re
import sys
import time
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

DOMAIN = "mqtt_fleet"
# The simulator's READY keys behind each family's device ids.
FAMILY_KEYS: dict[str, tuple[str, ...]] = {
    "autocore": ("layout_a", "layout_b"),
    "janus": ("janus",),
    "spotfi": ("spotfi",),
    "container_logs": ("logs",),
}
# Each entry's hub device is modelled "<family title> hub".
HUB_MODELS: dict[str, str] = {
    "AutoCore hub": "autocore",
    "Janus hub": "janus",
    "SpotFi hub": "spotfi",
    "Container logs hub": "container_logs",
}
KNOWN_WARNING = f"We found a custom integration {DOMAIN} which has not been tested"
LOUD_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL", "FATAL"})
# "2026-12-06 23:15:06.472+00:00 WARNING (MainThread) [logger] message"; older releases
# leave out the UTC offset.
RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:?\d\d|Z)? "
    r"(?P<level>[A-Z]+) \((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] (?P<message>.*)$"
)
POLL_INTERVAL = 2.0
SHOWN = 15  # offenders listed per check


def say(message: str) -> None:
    """Print a progress or result line, prefixed like the rest of scripts/smoke."""
    print(f"smoke: {message}", flush=True)


@dataclass
class Outcome:
    """The checks' verdicts, in order, for the summary and the exit code."""

    failed: list[str] = field(default_factory=list)

    def report(self, name: str, ok: bool, summary: str, details: Sequence[str] = ()) -> None:
        """Print one check's line (and its offenders) and remember a failure."""
        say(f"[{'ok' if ok else 'FAIL'}] {name}: {summary}")
        for line in details[:SHOWN]:
            print(f"         {line}")
        if len(details) > SHOWN:
            print(f"         ... and {len(details) - SHOWN} more")
        if not ok:
            self.failed.append(name)


# --- the log -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRecord:
    """One log record: its first line and any continuation (a traceback)."""

    level: str
    logger: str
    first_line: str
    text: str


def read_records(path: Path) -> list[LogRecord]:
    """Split Home Assistant's log file into records."""
    records: list[LogRecord] = []
    current: tuple[str, str, str, list[str]] | None = None
    for line in path.read_text(errors="replace").splitlines():
        if match := RECORD.match(line):
            if current is not None:
                records.append(LogRecord(current[0], current[1], current[2], "\n".join(current[3])))
            current = (match["level"], match["logger"], line, [line])
        elif current is not None:
            current[3].append(line)
    if current is not None:
        records.append(LogRecord(current[0], current[1], current[2], "\n".join(current[3])))
    return records


def check_log(outcome: Outcome, path: Path, label: str) -> None:
    """Fail on any WARNING+ record about mqtt_fleet; count the rest, which are not ours."""
    if not path.is_file():
        outcome.report(label, ok=False, summary=f"{path} does not exist")
        return
    records = read_records(path)
    loud = [record for record in records if record.level in LOUD_LEVELS]
    ours = [record for record in loud if DOMAIN in record.text.lower()]
    known = [record for record in ours if KNOWN_WARNING in record.first_line]
    offenders = [record for record in ours if KNOWN_WARNING not in record.first_line]
    others = Counter(f"{r.level} [{r.logger}]" for r in loud if DOMAIN not in r.text.lower())
    other_note = (
        "; not about it: " + ", ".join(f"{name} x{count}" for name, count in sorted(others.items()))
        if others
        else ""
    )
    outcome.report(
        label,
        ok=not offenders,
        summary=(
            f"{len(offenders)} of {len(records)} records mention {DOMAIN} at WARNING or above "
            f"({len(known)} known custom-integration warning ignored{other_note})"
        ),
        details=[record.first_line[:300] for record in offenders],
    )


# --- the API -----------------------------------------------------------------------------


class HomeAssistantApi:
    """A minimal websocket client: authenticate, then one command at a time."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Wrap an open websocket; call `authenticate` first."""
        self._ws = ws
        self._next_id = 1
        self.version = ""

    async def authenticate(self, token: str) -> None:
        """Do the auth handshake; the demo's long-lived token is an admin's."""
        hello = await self._ws.receive_json()
        if hello.get("type") != "auth_required":
            raise RuntimeError(f"unexpected greeting: {hello}")
        await self._ws.send_json({"type": "auth", "access_token": token})
        answer = await self._ws.receive_json()
        if answer.get("type") != "auth_ok":
            raise RuntimeError(f"authentication failed: {answer}")
        self.version = str(answer.get("ha_version", ""))

    async def command(self, kind: str, **data: Any) -> Any:
        """Send a command and return its result, skipping anything else that arrives."""
        msg_id = self._next_id
        self._next_id += 1
        await self._ws.send_json({"id": msg_id, "type": kind, **data})
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == msg_id and message.get("type") == "result":
                if not message.get("success"):
                    raise RuntimeError(f"{kind} failed: {message.get('error')}")
                return message["result"]


def expected_devices(sim_log: Path) -> dict[str, set[str]]:
    """Return each family's device ids from the simulator's READY line."""
    for line in sim_log.read_text(errors="replace").splitlines():
        if line.startswith("READY "):
            ready: dict[str, list[str]] = json.loads(line.removeprefix("READY "))
            return {
                family: {device for key in keys for device in ready.get(key, [])}
                for family, keys in FAMILY_KEYS.items()
            }
    raise RuntimeError(f"no READY line in {sim_log}")


def fleet_devices(devices: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Return the registry's fleet devices per family.

    An entry's hub device (model "<family title> hub") has the entry id as its identifier;
    its devices have ``<entry id>/<device id>``.
    """
    hubs = {
        identifier: HUB_MODELS[device["model"]]
        for device in devices
        if device.get("model") in HUB_MODELS
        for domain, identifier in device.get("identifiers", [])
        if domain == DOMAIN and "/" not in identifier
    }
    found: dict[str, set[str]] = {family: set() for family in FAMILY_KEYS}
    for device in devices:
        for domain, identifier in device.get("identifiers", []):
            hub, _, wire_id = identifier.partition("/")
            if domain == DOMAIN and wire_id and hub in hubs:
                found[hubs[hub]].add(wire_id)
    return found


async def poll[T](
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], limit: float
) -> tuple[T, float, bool]:
    """Fetch until `done` or `limit` seconds; return the last value, the time taken and `done`.

    Devices and entities come up at the simulator's pace, so a single look would be a race.
    """
    start = time.monotonic()
    while True:
        value = await fetch()
        elapsed = time.monotonic() - start
        if done(value):
            return value, elapsed, True
        if elapsed >= limit:
            return value, elapsed, False
        await asyncio.sleep(POLL_INTERVAL)


async def check_entries(outcome: Outcome, api: HomeAssistantApi) -> None:
    """Every MQTT Fleet entry is loaded (the demo waited for Home Assistant to start)."""
    entries: list[dict[str, Any]] = await api.command("config_entries/get", domain=DOMAIN)
    not_loaded = [
        f"{entry['title']}: {entry['state']}"
        + (f" ({entry['reason']})" if entry.get("reason") else "")
        for entry in entries
        if entry["state"] != "loaded"
    ]
    outcome.report(
        "config entries",
        ok=bool(entries) and not not_loaded,
        summary=f"{len(entries) - len(not_loaded)}/{len(entries)} {DOMAIN} entries loaded",
        details=not_loaded,
    )


async def check_devices(
    outcome: Outcome, api: HomeAssistantApi, expected: dict[str, set[str]], limit: float
) -> None:
    """Every simulated device is discovered, per family (each waits for its first message)."""

    async def fetch() -> dict[str, set[str]]:
        return fleet_devices(await api.command("config/device_registry/list"))

    def missing(found: dict[str, set[str]]) -> dict[str, set[str]]:
        return {family: ids - found.get(family, set()) for family, ids in expected.items()}

    found, elapsed, ok = await poll(fetch, lambda found: not any(missing(found).values()), limit)
    gaps = missing(found)
    counts = ", ".join(
        f"{family} {len(ids) - len(gaps[family])}/{len(ids)}" for family, ids in expected.items()
    )
    outcome.report(
        "devices",
        ok=ok and all(expected.values()),
        summary=f"{counts} (after {elapsed:.0f}s)",
        details=[
            f"{family}: missing {', '.join(sorted(ids))}" for family, ids in gaps.items() if ids
        ]
        + [f"{family}: the simulator runs none" for family, ids in expected.items() if not ids],
    )


@dataclass(frozen=True)
class EntityCensus:
    """The enabled MQTT Fleet entities and the ones without a usable state."""

    enabled: int
    disabled: int
    unavailable: list[str]


async def check_entities(outcome: Outcome, api: HomeAssistantApi, limit: float) -> None:
    """No enabled MQTT Fleet entity stays unavailable (polled until it settles)."""

    async def fetch() -> EntityCensus:
        registry: list[dict[str, Any]] = await api.command("config/entity_registry/list")
        states = {state["entity_id"]: state["state"] for state in await api.command("get_states")}
        ours = [entry for entry in registry if entry["platform"] == DOMAIN]
        enabled = [entry["entity_id"] for entry in ours if entry["disabled_by"] is None]
        return EntityCensus(
            enabled=len(enabled),
            disabled=len(ours) - len(enabled),
            unavailable=sorted(
                f"{entity_id}: {states.get(entity_id, 'no state')}"
                for entity_id in enabled
                if states.get(entity_id, "unavailable") == "unavailable"
            ),
        )

    census, elapsed, ok = await poll(
        fetch, lambda census: census.enabled > 0 and not census.unavailable, limit
    )
    outcome.report(
        "entities",
        ok=ok,
        summary=(
            f"{census.enabled} enabled {DOMAIN} entities, {len(census.unavailable)} unavailable "
            f"(after {elapsed:.0f}s); {census.disabled} disabled by default"
        ),
        details=census.unavailable,
    )


async def check_api(outcome: Outcome, args: argparse.Namespace) -> None:
    """Run the API checks against the running demo."""
    token = (args.demo_dir / "api_token").read_text().strip()
    expected = expected_devices(args.demo_dir / "simulator.log")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.ws_connect(f"{args.url.rstrip('/')}/api/websocket", max_msg_size=0) as ws,
    ):
        api = HomeAssistantApi(ws)
        await api.authenticate(token)
        config: dict[str, Any] = await api.command("get_config")
        version_ok = not args.expect_version or api.version == args.expect_version
        outcome.report(
            "Home Assistant",
            ok=version_ok and config.get("state") == "RUNNING",
            summary=f"{api.version} at {args.url}, {config.get('state')}"
            + ("" if version_ok else f" (expected {args.expect_version})"),
        )
        await check_entries(outcome, api)
        await check_devices(outcome, api, expected, args.device_timeout)
        await check_entities(outcome, api, args.settle_timeout)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--demo-dir",
        type=Path,
        required=True,
        help="the demo's DEMO_DIR: api_token, simulator.log, home-assistant.log",
    )
    parser.add_argument("--url", help="Home Assistant's URL, e.g. http://127.0.0.1:8123")
    parser.add_argument("--expect-version", default="", help="fail on another HA version")
    parser.add_argument(
        "--device-timeout",
        type=float,
        default=180.0,
        metavar="S",
        help="seconds to wait for every simulated device (default 180)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=120.0,
        metavar="S",
        help="seconds to wait for no unavailable entity, after the devices (default 120)",
    )
    parser.add_argument(
        "--log-only",
        action="store_true",
        help="only check home-assistant.log (of a stopped demo: its shutdown included)",
    )
    args = parser.parse_args(argv)
    if not args.log_only and not args.url:
        parser.error("--url is required unless --log-only")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks; exit 0 when all pass, 1 when one fails, 2 when it cannot check."""
    args = parse_args(argv)
    outcome = Outcome()
    log = args.demo_dir / "home-assistant.log"
    if args.log_only:
        check_log(outcome, log, "log after stop")
    else:
        try:
            asyncio.run(check_api(outcome, args))
        except (OSError, RuntimeError, aiohttp.ClientError, ValueError) as err:
            say(f"ERROR: cannot check through the API: {type(err).__name__}: {err}")
            return 2
        except KeyboardInterrupt:
            return 130
        check_log(outcome, log, "log")
    if outcome.failed:
        say(f"FAILED: {', '.join(outcome.failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
