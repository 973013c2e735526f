"""The phases for one contender at one N, each in a fresh broker and a fresh Home Assistant.

1. setup and warm-up: the contender is set up and one warm-up round creates every entity;
   tracemalloc runs over both, which gives the memory per device.
2. flat out: ROUNDS rounds as fast as the publisher writes them; throughput up to the
   moment the last state is written, CPU seconds per 10k messages, GC share and pause.
   Each measured phase starts after a full collection, so it does not pay for the
   garbage an earlier phase left (a full collection is due after a fixed number of
   surviving objects, whichever phase allocates them).
3. latency: whole rounds, at least RATE x SECONDS messages, at RATE messages/s; each
   state-changing message is matched to the state_changed event of the value it changes
   (for (c): to its arrival, in order). Whole rounds, because a relay skipped for a round
   would not change in the next one, and its writes would no longer pair with messages.
4. natural (only for the N listed): every device reports every 30 s; CPU % of one core.
5. restart ((a), (b) and (e)): a second HA on the same config dir (registries and last states
   written by the first one's stop); seconds to set the entry up with N devices restored,
   the GC time and the longest event-loop stall inside it, and for (a) how many devices'
   retained statuses then reached HA (a broker that drops part of the burst shows here).
"""

from __future__ import annotations

from array import array
import asyncio
import contextlib
import cProfile
from dataclasses import dataclass, field
import gc
import io
import math
import pstats
import resource
import time
import tracemalloc
from typing import TYPE_CHECKING, Any, Final, Self

from homeassistant.const import EVENT_HOMEASSISTANT_STARTED, EVENT_STATE_CHANGED
from homeassistant.core import CoreState, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event

from tools.mosquitto import DEFAULT_SETTINGS, RECOMMENDED_SETTINGS

from .contenders import CONTENDERS, Contender, Fleet, NoOp, setup_limit
from .harness import (
    BenchError,
    Broker,
    Publisher,
    flush_registries,
    home_assistant,
    publish,
    setup_mqtt,
)
from .workload import KEYS, Device, Message, Mode, Workload, states_match

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path
    from types import TracebackType


@dataclass(frozen=True)
class Options:
    """How much to measure."""

    messages: int = 20_000  # flat out: at least this many (whole rounds)
    rate: float = 1000.0  # latency phase, messages/s
    latency_seconds: float = 10.0
    natural_n: frozenset[int] = frozenset({5000})
    natural_seconds: float = 60.0
    memory: bool = True
    memory_max_n: int = 5000  # tracemalloc slows setup 2-3x: RSS only above this N
    restart: bool = True
    nodelay: bool = False
    mix: tuple[int, int, int] = (6, 3, 1)
    profile_dir: Path | None = None
    profile_contenders: frozenset[str] = frozenset({"a"})


def cpu_seconds() -> float:
    """Return this process's CPU time (user + system, every thread): the HA process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def preemptions() -> int:
    """Return how often the OS took the CPU from this process: a busy machine shows here."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw


def rss_mib() -> float:
    """Return this process's resident memory now, in MiB (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


class StallWatch:
    """The longest time the event loop did not run a 10 ms ticker, while active."""

    def __init__(self) -> None:
        """Not started yet."""
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - 0.01)
            last = now

    async def __aenter__(self) -> Self:
        """Start the ticker."""
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        """Stop the ticker."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of sorted `values`."""
    index = max(0, math.ceil(fraction * len(values)) - 1)
    return values[index]


@dataclass
class GcWatch:
    """Time every garbage collection while active (gc.callbacks)."""

    total: float = 0.0
    longest: float = 0.0
    collections: int = 0
    full: int = 0  # generation 2: these walk the whole heap and make the long pauses
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        """Gc callback: start and stop of one collection."""
        if phase == "start":
            self._started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._started
            self.total += pause
            self.longest = max(self.longest, pause)
            self.collections += 1
            self.full += info["generation"] == 2

    def __enter__(self) -> Self:
        """Start watching."""
        gc.callbacks.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop watching."""
        gc.callbacks.remove(self)


@dataclass
class Context:
    """One contender at one N: its HA, broker and where the rounds are."""

    hass: HomeAssistant
    contender: Contender
    workload: Workload
    broker: Broker
    options: Options
    workdir: Path
    next_round: int = 0
    result: dict[str, Any] = field(default_factory=dict)

    def publisher(self, mode: str, **options: Any) -> Publisher:
        """Start a publisher for this workload."""
        workload = self.workload
        return Publisher(
            self.broker.port,
            workload.n,
            workload.mix,
            mode,
            nodelay=self.options.nodelay,
            **options,
        )

    def probes(self, mode: Mode, rnd: int) -> list[tuple[Device, str, str]]:
        """Return (device, key, expected state) of every value a whole round changes."""
        return [
            (message.device, *message.probe)
            for message in self.workload.round(mode, rnd)
            if message.probe is not None
        ]

    def mismatches(self, probes: Sequence[tuple[Device, str, str]]) -> int:
        """Count values that do not (yet) show what the round sent."""
        bad = 0
        for device, key, state in probes:
            entity_id = self.contender.entity_id(device, key)
            shown = None if entity_id is None else self.shown_state(entity_id)
            if shown is None or not states_match(shown, state):
                bad += 1
        return bad

    def shown_state(self, entity_id: str) -> str | None:
        """Return an entity's state string, None without one."""
        state = self.hass.states.get(entity_id)
        return None if state is None else state.state


async def _wait_event(event: asyncio.Event, seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        raise BenchError(f"timed out after {seconds:g} s waiting for {what}") from None


async def warm_up(ctx: Context) -> None:
    """Set the contender up and create every entity with one round; memory per device."""
    options, workload = ctx.options, ctx.workload
    memory = options.memory and workload.n <= options.memory_max_n
    if memory:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    await ctx.contender.async_setup(ctx.broker.port)
    limit = setup_limit(workload)
    contender = ctx.contender
    if isinstance(contender, NoOp):
        contender.expect(contender.count + workload.messages_per_round("warmup"))
        await publish(ctx.broker.port, workload.n, workload.mix, "warmup", first_round=0)
        await _wait_event(contender.reached, limit, "the warm-up round")
    else:
        await publish(ctx.broker.port, workload.n, workload.mix, "warmup", first_round=0)
        deadline = time.monotonic() + limit
        probes = ctx.probes("warmup", 0)
        while bad := ctx.mismatches(probes):
            if time.monotonic() > deadline:
                raise BenchError(f"warm-up: {bad} values never showed")
            await asyncio.sleep(0.2)
    await ctx.hass.async_block_till_done()
    ctx.result["setup_and_warmup_s"] = time.perf_counter() - start
    if memory:
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        ctx.result["memory_bytes_per_device"] = (after - before) / workload.n
    gc.collect()
    ctx.result["rss_mib"] = rss_mib()
    ctx.result["entities"] = sum(
        ctx.contender.entity_id(device, key) is not None
        for device in workload.devices
        for key in KEYS[device.family]
    )
    ctx.next_round = 1
    await flush_registries(ctx.hass)


class Finish:
    """Fires once the contender fully processed a flat-out run: the last state is written.

    The run ends on a telemetry whose device's temperature changes once per round; values
    repeat after 100 rounds, so the changes are counted, not the value matched. For (c),
    the message count.
    """

    def __init__(self, ctx: Context, count: int, first: int, rounds: int) -> None:
        """Arm the listener (or the count) before the publisher starts."""
        self.done = asyncio.Event()
        self._at: float | None = None
        self._unsubscribe: Callable[[], None] | None = None
        contender = ctx.contender
        if isinstance(contender, NoOp):
            contender.expect(contender.count + count)
            self._noop: NoOp | None = contender
            self.done = contender.reached
            return
        self._noop = None
        last = ctx.workload.round("stream", first + rounds - 1)[-1]
        if last.probe is None:
            raise BenchError("a round must end on a telemetry")
        key, expected = last.probe
        marker = contender.entity_id(last.device, key)
        if marker is None:
            raise BenchError(f"no entity shows {key} of {last.device.device_id}")
        changes = 0

        @callback
        def _on_marker(event: Event[EventStateChangedData]) -> None:
            nonlocal changes
            changes += 1
            new = event.data["new_state"]
            if changes == rounds and new is not None and states_match(new.state, expected):
                self._at = time.monotonic()
                self.done.set()

        self._unsubscribe = async_track_state_change_event(ctx.hass, [marker], _on_marker)

    @property
    def at(self) -> float:
        """Return when the last message was processed (CLOCK_MONOTONIC)."""
        at = self._noop.reached_at if self._noop is not None else self._at
        if at is None:
            raise BenchError("the run has not finished")
        return at

    def close(self) -> None:
        """Stop listening."""
        if self._unsubscribe is not None:
            self._unsubscribe()


async def flat_out(ctx: Context, profile: cProfile.Profile | None = None) -> dict[str, Any]:
    """Publish whole rounds flat out; measure until the last state is written."""
    workload, contender = ctx.workload, ctx.contender
    rounds = max(1, math.ceil(ctx.options.messages / workload.messages_per_round("stream")))
    first = ctx.next_round
    ctx.next_round += rounds
    publisher = ctx.publisher("flat", first_round=first, rounds=rounds)
    finish: Finish | None = None
    try:
        count = await publisher.ready()
        finish = Finish(ctx, count, first, rounds)
        gc.collect()  # start clean: the previous phase's garbage is not this phase's cost
        with GcWatch() as gc_watch:
            cpu_before, go_at, preempted = cpu_seconds(), time.monotonic(), preemptions()
            if profile is not None:
                profile.enable()
            publisher.go()
            await _wait_event(finish.done, 60 + count / 100, f"{count} messages flat out")
            if profile is not None:
                profile.disable()
            cpu, preempted = cpu_seconds() - cpu_before, preemptions() - preempted
        sent = await publisher.done()
    finally:
        publisher.stop()
        if finish is not None:
            finish.close()
    row: dict[str, Any] = {
        "flat_messages": count,
        "flat_rounds": rounds,
        "throughput": count / (finish.at - sent.start),
        "publisher_rate": count / max(sent.end - sent.start, 1e-9),
        "cpu_s_per_10k": cpu / count * 10_000,
        "us_per_message": cpu / count * 1e6,
        "gc_share": gc_watch.total / max(finish.at - go_at, 1e-9),
        "gc_longest_ms": gc_watch.longest * 1000,
        "gc_collections": gc_watch.collections,
        "gc_full_collections": gc_watch.full,
        "flat_preemptions": preempted,
    }
    if contender.writes_state:
        row["flat_wrong_values"] = ctx.mismatches(ctx.probes("stream", first + rounds - 1))
    return row


class StateLog:
    """Every state write of the values the latency phase's messages change, with its time."""

    def __init__(self, ctx: Context, messages: Sequence[Message]) -> None:
        """Map each entity to the messages that change it, in order; start listening."""
        self.messages = messages
        self.expected: dict[str, list[int]] = {}  # entity id -> message indices, in order
        for index, message in enumerate(messages):
            if (probe := message.probe) is not None:
                entity_id = ctx.contender.entity_id(message.device, probe[0])
                if entity_id is None:
                    raise BenchError(f"no entity shows {probe[0]} of {message.device}")
                self.expected.setdefault(entity_id, []).append(index)
        self.seen: dict[str, list[tuple[str, float]]] = {e: [] for e in self.expected}
        self._awaited = sum(map(len, self.expected.values()))
        self.complete = asyncio.Event()  # every expected write was seen
        self.unsubscribe = ctx.hass.bus.async_listen(EVENT_STATE_CHANGED, self._record)

    @callback
    def _record(self, event: Event[EventStateChangedData]) -> None:
        entity_id = event.data["entity_id"]
        if (seen := self.seen.get(entity_id)) is not None:
            new = event.data["new_state"]
            seen.append((new.state if new is not None else "", time.monotonic()))
            if len(seen) <= len(self.expected[entity_id]):
                self._awaited -= 1
                if not self._awaited:
                    self.complete.set()

    def match(self, sent_at: Sequence[float]) -> tuple[list[float], int, int]:
        """Return (latencies, missing writes, writes showing the wrong value)."""
        latencies: list[float] = []
        missing = wrong = 0
        for entity_id, indices in self.expected.items():
            seen = self.seen[entity_id]
            missing += max(0, len(indices) - len(seen))
            for index, (state, written) in zip(indices, seen, strict=False):
                probe = self.messages[index].probe
                if probe is None or not states_match(state, probe[1]):
                    wrong += 1
                latencies.append(written - sent_at[index])
        return latencies, missing, wrong


async def latency(ctx: Context) -> dict[str, Any]:
    """Publish at a fixed rate; match each state-changing message to its state write."""
    workload, contender, options = ctx.workload, ctx.contender, ctx.options
    per_round = workload.messages_per_round("stream")
    rounds = max(1, math.ceil(options.rate * options.latency_seconds / per_round))
    count = rounds * per_round
    messages = list(workload.stream("stream", ctx.next_round, count))
    times_file = ctx.workdir / "send_times.bin"
    publisher = ctx.publisher(
        "rate", first_round=ctx.next_round, rounds=rounds, rate=options.rate, times=str(times_file)
    )
    ctx.next_round += rounds
    log: StateLog | None = None
    try:
        await publisher.ready()
        if isinstance(contender, NoOp):
            contender.arrivals = []
            contender.expect(contender.count + count)
        else:
            log = StateLog(ctx, messages)
        gc.collect()
        with GcWatch() as gc_watch:
            preempted = preemptions()
            publisher.go()
            await publisher.done()
            if isinstance(contender, NoOp):
                await _wait_event(contender.reached, 30, "the latency phase's messages")
            elif log is not None:
                with contextlib.suppress(TimeoutError):  # what never came counts as missing
                    await asyncio.wait_for(log.complete.wait(), 30)
            preempted = preemptions() - preempted
    finally:
        publisher.stop()
        if log is not None:
            log.unsubscribe()
    sent_at = array("d", times_file.read_bytes())
    if isinstance(contender, NoOp):
        arrivals = contender.arrivals or []
        contender.arrivals = None
        latencies = [arrived - sent for arrived, sent in zip(arrivals, sent_at, strict=False)]
        missing, wrong = count - len(arrivals), 0
    elif log is not None:
        latencies, missing, wrong = log.match(sent_at)
    else:
        raise BenchError("latency: nothing recorded the state writes")
    latencies.sort()
    if not latencies:
        raise BenchError("latency: no message reached a state")
    return {
        "latency_rate": options.rate,
        "latency_samples": len(latencies),
        "latency_p50_ms": percentile(latencies, 0.50) * 1000,
        "latency_p99_ms": percentile(latencies, 0.99) * 1000,
        "latency_max_ms": latencies[-1] * 1000,
        "latency_missing": missing,
        "latency_wrong": wrong,
        "latency_gc_longest_ms": gc_watch.longest * 1000,
        "latency_gc_full_collections": gc_watch.full,
        "latency_preemptions": preempted,
    }


async def natural(ctx: Context) -> dict[str, Any]:
    """Every device reports every 30 s (staggered); CPU % of one core over the window."""
    seconds = ctx.options.natural_seconds
    first = ctx.next_round
    ctx.next_round += math.ceil(seconds / 30) + 1
    publisher = ctx.publisher("natural", first_round=first, seconds=seconds)
    try:
        count = await publisher.ready()
        gc.collect()
        with GcWatch() as gc_watch:
            cpu_before, start = cpu_seconds(), time.monotonic()
            publisher.go()
            await publisher.done()
            cpu, wall = cpu_seconds() - cpu_before, time.monotonic() - start
    finally:
        publisher.stop()
    return {
        "natural_seconds": wall,
        "natural_messages": count,
        "natural_cpu_percent": 100 * cpu / wall,
        "natural_gc_share": gc_watch.total / wall,
        "natural_gc_longest_ms": gc_watch.longest * 1000,
    }


# Where a profiled run's own time (tottime) went, by the file a function lives in; the
# first matching part of the path wins.
PROFILE_PARTS: Final = (
    ("MQTT Fleet", ("custom_components/mqtt_fleet/",)),
    ("paho and HA's MQTT client", ("/paho/", "/components/mqtt/")),
    (
        "HA entity state (entity.py, sensor, switch, binary_sensor)",
        (
            "/helpers/entity.py",
            "/components/sensor/",
            "/components/switch/",
            "/components/binary_sensor/",
        ),
    ),
    ("HA state machine and event bus (core.py)", ("homeassistant/core.py",)),
    ("asyncio and selectors", ("/asyncio/", "/selectors.py")),
)
OTHER_PART: Final = "everything else (templates, registries, timers, ...)"


def _part(filename: str) -> str:
    return next(
        (name for name, needles in PROFILE_PARTS if any(n in filename for n in needles)),
        OTHER_PART,
    )


def profile_shares(stats: pstats.Stats) -> dict[str, float]:
    """Return each part's share of the profiled run's own time.

    A builtin (dict.get, orjson.loads, ...) counts for the code that called it.
    """
    totals = dict.fromkeys([*(name for name, _ in PROFILE_PARTS), OTHER_PART], 0.0)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, own, _cum, callers) in raw.items():
        if filename != "~" or not callers:
            totals[_part(filename)] += own
            continue
        for (caller_file, _caller_line, _caller_name), call in callers.items():
            totals[_part(caller_file)] += call[2]  # own time spent in calls from there
    whole = sum(totals.values()) or 1.0
    return {name: total / whole for name, total in totals.items()}


def _profile_summary(profile: cProfile.Profile, path: Path) -> dict[str, float]:
    profile.dump_stats(path.with_suffix(".prof"))
    text = io.StringIO()
    shares = profile_shares(pstats.Stats(profile))
    stats = pstats.Stats(profile, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(30)
    path.with_suffix(".txt").write_text(text.getvalue())
    return shares


# After a restart, (a)'s retained burst is over when every status came, or none for this long
# (the broker sends 20 at a time at QoS 1, each 20 waiting for HA's acknowledgements).
RETAINED_QUIET_S: Final = 15.0


async def _retained_statuses(fleet: Fleet, expected: int, limit: float) -> tuple[int, float]:
    """Return how many devices got their status, and when the last one came (monotonic)."""
    deadline = time.monotonic() + limit
    received, last = fleet.statuses_received(), time.monotonic()
    while (
        received < expected
        and time.monotonic() - last < RETAINED_QUIET_S
        and time.monotonic() < deadline
    ):
        await asyncio.sleep(0.1)
        if (now := fleet.statuses_received()) != received:
            received, last = now, time.monotonic()
    return received, last


async def restart(key: str, ctx_dir: Path, workload: Workload, port: int) -> dict[str, Any]:
    """Start a second HA on the same config dir and time the contender's setup in it."""
    # After a restart HA is a new process: the old one's garbage is gone, nothing is frozen.
    gc.unfreeze()
    gc.collect()
    async with home_assistant(ctx_dir) as hass:
        restarted = CONTENDERS[key](hass, workload)
        if key != "b":  # (b)'s entry is the MQTT entry itself: it times that
            await setup_mqtt(hass, port)
        gc.collect()
        # As HA's bootstrap does: entries are set up while it starts, then it has started.
        hass.set_state(CoreState.starting)
        started = time.monotonic()
        async with StallWatch() as stalls:
            with GcWatch() as gc_watch:
                setup_s = await restarted.async_restart_setup(port, limit=setup_limit(workload))
        hass.set_state(CoreState.running)
        hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
        await hass.async_block_till_done()
        row: dict[str, Any] = {
            "restart_setup_s": setup_s,
            "restart_gc_s": gc_watch.total,
            "restart_longest_stall_ms": stalls.longest * 1000,
        }
        if isinstance(restarted, Fleet):
            received, last = await _retained_statuses(restarted, workload.n, setup_limit(workload))
            row["restart_retained_expected"] = workload.n
            row["restart_retained_received"] = received
            row["restart_retained_s"] = last - started
        return row


async def run_one(
    key: str, n: int, options: Options, workdir: Path, *, default_broker: bool = False
) -> dict[str, Any]:
    """Measure contender `key` at N = n in `workdir` (an empty directory); return its row.

    `default_broker` runs mosquitto with its own defaults instead of README's settings.
    """
    workload = Workload(n, options.mix)
    settings = DEFAULT_SETTINGS if default_broker else RECOMMENDED_SETTINGS
    broker = Broker(workdir, nodelay=options.nodelay, settings=settings)
    broker.start()
    config_dir = workdir / "config"
    result: dict[str, Any] = {
        "contender": key,
        "n": n,
        "broker": "default" if default_broker else "recommended",
        "messages_per_round": workload.messages_per_round("stream"),
    }
    if key == "a":
        result["hubs"] = len(workload.families) * workload.shards
    try:
        async with home_assistant(config_dir) as hass:
            await setup_mqtt(hass, broker.port)
            contender = CONTENDERS[key](hass, workload)
            ctx = Context(hass, contender, workload, broker, options, workdir, result=result)
            await warm_up(ctx)
            result |= await flat_out(ctx)
            result |= await latency(ctx)
            if n in options.natural_n:
                result |= await natural(ctx)
            if options.profile_dir is not None and key in options.profile_contenders:
                profile = cProfile.Profile()
                await flat_out(ctx, profile)
                result["profile_shares"] = _profile_summary(
                    profile, options.profile_dir / f"flat-{key}-{n}"
                )
            result["counters"] = contender.counters()
        if options.restart and key in ("a", "b", "e"):
            result |= await restart(key, config_dir, workload, broker.port)
    finally:
        broker.stop()
    return result
