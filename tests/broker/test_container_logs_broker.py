"""Container logs end to end: forward_log and HA's own records -> mosquitto, simulator -> HA.

Every message crosses a real broker. Our own paho subscriber (`wire`: its own connection,
subscribed before anything is published, at QoS 2 so a message arrives with the QoS it was
published with, and retain-as-published) sees what the integration forwarded and what the
simulated container manager (MqttLogBackend, docs/protocols.md, section "Container logs")
sent; HA's counters,
devices and events are compared with it log by log.

Quiescence is proven with a barrier rather than a sleep: mosquitto queues a message for
every subscriber before it acknowledges it and sends each subscriber's queue in order, so
a barrier published after the last log was acknowledged reaches a subscriber only after
every log did.
"""

from __future__ import annotations

from collections import Counter
import json
import logging
import re
import signal
import threading
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.mqtt_fleet import config_flow
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.container_logs.hub import EVENT_LOG

from ..common import device_by_identifier
from .helpers import (
    LEVELS,
    LOGS_BASE,
    LOGS_WIRE_TOPICS,
    SOURCES,
    UID,
    HaBarrier,
    ReceivedLog,
    Tally,
    backend_body,
    backend_topic,
    check_forwarded,
    forward_all,
    forward_plan,
    logs_config_entry,
    logs_hub,
    nothing_dropped,
    source_id,
    wait_for,
    without_debug,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from homeassistant.core import Event

    from custom_components.mqtt_fleet.families.container_logs import ContainerLogsHub

    from .helpers import Broker, Fleet, Simulator, Wire

pytestmark = pytest.mark.broker

TOTAL = 10_000
# The simulator's log sources, in READY's order (tools/simulator/__main__.py docstring).
SIMULATOR_SOURCES = [
    "1:web",
    "1:api",
    "2:db",
    "2:redis",
    "unknown:watchtower",
    "other",
    "system",
    "manager",
]
# --- the wire, log by log --------------------------------------------------------------------


def hub_counts(hub: ContainerLogsHub) -> dict[str, dict[str, int]]:
    """HA's in-memory counters per source and level, without the zeros."""
    return {
        source: {level.value: n for level, n in device.counts.items() if n}
        for source, device in hub.devices.items()
    }


def counter_state(hass: HomeAssistant, source: str, level: str) -> str | None:
    """The state of a source's counter entity for one level; None while it has none."""
    entity_id = er.async_get(hass).async_get_entity_id(
        "sensor", DOMAIN, f"{UID}/{source}/{level}_logs"
    )
    state = None if entity_id is None else hass.states.get(entity_id)
    return None if state is None else state.state


def counters_shown(hass: HomeAssistant, counts: dict[str, dict[str, int]]) -> bool:
    """Tell whether every enabled counter entity shows its count (debug is off by default)."""
    return all(
        counter_state(hass, source, level) == str(n)
        for source, levels in counts.items()
        for level, n in levels.items()
        if level != "debug"
    )


def event_counts(events: list[Event]) -> Counter[tuple[str, str]]:
    """mqtt_fleet_log events per source and level."""
    return Counter((event.data["device"], event.data["level"]) for event in events)


def wire_problems(tally: Tally) -> Counter[tuple[str, str]]:
    """Warnings and errors on the wire per source and level."""
    return Counter((log.source, log.level) for log in tally.logs if log.level in ("warn", "error"))


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def wire_topics() -> tuple[str, ...]:
    """Record the container-log base and the barrier."""
    return LOGS_WIRE_TOPICS


@pytest.fixture
def config_entry() -> MockConfigEntry:
    """The Container logs entry under `container-manager/logs` (entry_options add to it)."""
    return logs_config_entry()


@pytest.fixture
def simulator_stop_signal() -> int:
    """Tests that need the manager's last batch stop it with SIGTERM themselves."""
    return signal.SIGKILL


@pytest.fixture
def sim_extra() -> dict[str, Any]:
    """Per-test simulator options on top of the container manager's: parametrize it."""
    return {}


@pytest.fixture
def simulator_options(sim_extra: dict[str, Any]) -> dict[str, Any]:
    """Only the container manager, 50 logs a second."""
    return {"layout_a": 0, "layout_b": 0, "logs": True, "log_rate": 50} | sim_extra


@pytest.fixture
def fast_hub_sensors() -> Iterator[None]:
    """Run the hub's tick (which writes the counters) every second (ask before `fleet`)."""
    with patch("custom_components.mqtt_fleet.hub.HUB_SENSOR_REFRESH_SECONDS", 1):
        yield


@pytest.fixture
def production_loop(fleet: Fleet) -> Iterator[None]:
    """Run the volume tests without asyncio's debug mode (helpers.without_debug)."""
    with without_debug(fleet.hass.loop):
        yield


@pytest.fixture
def log_events(fleet: Fleet) -> list[Event]:
    """mqtt_fleet_log events from HA's start on (ask before `simulator`)."""
    events: list[Event] = async_capture_events(fleet.hass, EVENT_LOG)
    return events


@pytest.fixture
def barrier(fleet: Fleet, wire: Wire) -> Iterator[HaBarrier]:
    """A barrier between HA and the recorder."""
    ha_barrier = HaBarrier(fleet.hass, wire)
    yield ha_barrier
    ha_barrier.close()


# --- forwarding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry_options", "batched"),
    [({}, True), ({"batch_logs": False}, False)],
    ids=["batched", "unbatched"],
)
async def test_10000_forwarded_logs_none_lost_even_at_unload(
    wire: Wire,
    fleet: Fleet,
    production_loop: None,
    broker: Broker,
    barrier: HaBarrier,
    batched: bool,
    entry_options: dict[str, Any],
) -> None:
    """10,000 concurrent forward_log calls: each log on the wire exactly once, as MqttLogBackend
    writes it.

    The entry is unloaded right after the last call returns; whatever was still queued for
    its batch is flushed by the unload, not lost.
    """
    hass = fleet.hass
    hub = logs_hub(fleet)
    assert hub.forwarder.batching is batched
    plan = forward_plan(TOTAL)
    tally = Tally(wire)
    since_ms = time.time_ns() // 1_000_000
    started = time.monotonic()

    await forward_all(hass, plan)
    called = time.monotonic()
    forwarder = hub.forwarder
    unsent = TOTAL - forwarder.forwarded
    assert forwarder.forwarded + forwarder.queued <= TOTAL
    assert await hass.config_entries.async_unload(fleet.entry.entry_id)
    assert fleet.entry.state is ConfigEntryState.NOT_LOADED
    unloaded = time.monotonic()
    assert (forwarder.forwarded, forwarder.queued, forwarder.dropped) == (TOTAL, 0, 0)

    await wait_for(lambda: tally.update() >= TOTAL, 30, f"{TOTAL} logs on the wire")
    arrived = time.monotonic()
    await barrier.wire_only()  # nothing more comes after it: no duplicates later either
    tally.update()
    check_forwarded(tally, plan, batched=batched, since_ms=since_ms)
    if batched:
        assert unsent > 0, "the unload had no tail to flush: the check proved nothing"
        assert forwarder.batches == tally.messages
    else:
        assert unsent == 0
        assert tally.messages == TOTAL
    nothing_dropped(broker)
    print(  # noqa: T201 - reported with -rP
        f"{'batched' if batched else 'unbatched'}:"
        f" {TOTAL} forward_log calls {called - started:.2f} s,"
        f" unload flushed {unsent} logs in {unloaded - called:.2f} s,"
        f" all on the wire after {arrived - started:.2f} s in {tally.messages} messages"
    )


@pytest.mark.parametrize("entry_options", [{"forward_ha_logs": True}], ids=["forward_ha_logs"])
async def test_home_assistant_records_are_forwarded_never_our_own(
    wire: Wire, fleet: Fleet, barrier: HaBarrier
) -> None:
    """200 warnings from a HA logger (half from another thread) arrive; ours and MQTT's never.

    A logger merely named like an excluded one (mqtt_statestream) is forwarded.
    """
    hass = fleet.hass
    hub = logs_hub(fleet)
    tally = Tally(wire)
    demo = logging.getLogger("homeassistant.components.demo")
    statestream = logging.getLogger("homeassistant.components.mqtt_statestream")
    excluded = [
        logging.getLogger("custom_components.mqtt_fleet"),
        logging.getLogger("custom_components.mqtt_fleet.families.container_logs.forwarding"),
        logging.getLogger("homeassistant.components.mqtt"),
        logging.getLogger("homeassistant.components.mqtt.client"),
        logging.getLogger("paho.mqtt.client"),
    ]

    def log_records(numbers: range, where: str) -> None:
        for number in numbers:
            demo.warning("record %03d from the %s", number, where)
            excluded[number % len(excluded)].warning("excluded %03d from the %s", number, where)
            demo.info("below the level %03d", number)

    thread = threading.Thread(target=log_records, args=(range(100, 200), "thread"))
    thread.start()
    log_records(range(100), "loop")
    statestream.warning("not HA's MQTT layer")
    await hass.async_add_executor_job(thread.join)

    def demo_logs() -> list[ReceivedLog]:
        tally.update()
        return [
            log
            for log in tally.logs
            if log.body["message"].startswith("homeassistant.components.demo: ")
        ]

    await wait_for(lambda: len(demo_logs()) >= 200, 15, "the 200 warnings on the wire")
    await hub.forwarder.async_flush()  # whatever the handler still held is on its way
    await barrier.wire_only()
    received = demo_logs()
    expected = [
        f"homeassistant.components.demo: record {n:03d} from the {'loop' if n < 100 else 'thread'}"
        for n in range(200)
    ]
    assert sorted(log.body["message"] for log in received) == expected
    for log in received:
        body = dict(log.body)
        assert isinstance(body.pop("timestamp"), int)
        assert body == {
            "message": body["message"],
            "level": "warn",
            "source": {"type": "system", "name": "homeassistant"},
            "isSystem": True,
        }
        assert (log.topic, log.batch, log.qos, log.retain) == (
            f"{LOGS_BASE}/system/warn",
            True,
            1,
            False,
        ), log
    messages = [log.body["message"] for log in tally.logs]
    leaked = [m for m in messages if "excluded" in m or "below the level" in m]
    assert not leaked, leaked[:5]
    assert messages.count("homeassistant.components.mqtt_statestream: not HA's MQTT layer") == 1


async def test_only_manager_logs_reach_discovery(
    wire: Wire, fleet: Fleet, production_loop: None, barrier: HaBarrier
) -> None:
    """Container and system logs start no discovery flow; the manager's own logs do.

    Those (rare: the manager's lifecycle) abort at once on the configured base, and the
    entry's discovery keys change once per new topic, not per message.
    """
    hass = fleet.hass
    hub = logs_hub(fleet)
    flows: list[tuple[str, str]] = []
    original = config_flow.MqttFleetConfigFlow.async_step_mqtt

    async def counted_step(self: Any, discovery_info: Any) -> Any:
        try:
            return await original(self, discovery_info)
        except AbortFlow as abort:
            flows.append((discovery_info.topic, abort.reason))
            raise

    entries = hass.config_entries
    with (
        patch.object(config_flow.MqttFleetConfigFlow, "async_step_mqtt", counted_step),
        patch.object(entries, "async_update_entry", wraps=entries.async_update_entry) as update,
    ):
        published: Counter[str] = Counter()
        for number in range(320):
            data = {**SOURCES[number % 8], "level": LEVELS[number // 8 % 4]}
            data["message"] = f"seq {number:05d} published by another client"
            wire.publish(topic := backend_topic(data), backend_body(data) | {"timestamp": number})
            published[topic] += 1
        await barrier.both()  # HA has dispatched every log, to the hub and to discovery
        await hass.async_block_till_done()
    assert sum(sum(levels.values()) for levels in hub_counts(hub).values()) == 320
    manager_topics = {t: n for t, n in published.items() if t.startswith(f"{LOGS_BASE}/manager/")}
    assert (len(manager_topics), sum(manager_topics.values())) == (4, 40)
    assert Counter(topic for topic, _ in flows) == manager_topics
    assert {reason for _, reason in flows} == {"already_configured"}
    updates = sum(1 for call in update.call_args_list if call.args[0] is fleet.entry)
    assert updates <= len(manager_topics)


# --- round trip: the entry reads the base it forwards to ------------------------------------


@pytest.mark.parametrize(
    ("entry_options", "batched"),
    [({}, True), ({"batch_logs": False}, False)],
    ids=["batched", "unbatched"],
)
async def test_round_trip_counts_what_was_forwarded(
    fast_hub_sensors: None,
    wire: Wire,
    fleet: Fleet,
    production_loop: None,
    log_events: list[Event],
    barrier: HaBarrier,
    batched: bool,
    entry_options: dict[str, Any],
) -> None:
    """The entry reads its own base back: counters, devices and events equal what it sent."""
    hass = fleet.hass
    hub = logs_hub(fleet)
    plan = forward_plan(2_000, seed=5)
    tally = Tally(wire)
    await forward_all(hass, plan)
    await hub.forwarder.async_flush()
    await barrier.both()
    tally.update()
    check_forwarded(tally, plan, batched=batched, since_ms=0)

    sent: dict[str, Counter[str]] = {}
    for data in plan:
        sent.setdefault(source_id(data), Counter())[data["level"]] += 1
    expected = {source: dict(levels) for source, levels in sent.items()}
    assert hub_counts(hub) == expected
    assert hub.invalid_messages == 0
    registry = dr.async_get(hass)
    names = {
        "1:web": "web (app 1)",
        "1:api": "api (app 1)",
        "2:db": "db (app 2)",
        "unknown:watchtower": "watchtower (app unknown)",
        "other": "Other logs",
        "system": "System",
        "manager": "Container manager",
    }
    assert set(hub.devices) == set(names)
    for source, name in names.items():
        device = device_by_identifier(registry, f"{UID}/{source}")
        assert device is not None, source
        assert (device.name, device.model) == (name, "Container log source")

    problems = Counter(
        (source_id(data), data["level"]) for data in plan if data["level"] in ("warn", "error")
    )
    assert event_counts(log_events) == problems
    by_message = {data["message"]: data for data in plan}
    for event in log_events:
        data = by_message[event.data["message"]]
        assert (event.data["level"], event.data["source_type"]) == (
            data["level"],
            data["source_type"],
        )
        for key in ("source_name", "service_id", "service_name", "container_id"):
            assert event.data[key] == data.get(key), (key, event.data, data)
    await wait_for(lambda: counters_shown(hass, expected), 5, "the counters after the tick")


@pytest.mark.parametrize(
    ("entry_options", "message", "repeat"),
    [
        ({}, "x" * 30_000, 3),
        ({}, "x" * 32_768, 2),
        ({"batch_logs": False}, "x" * 32_768, 1),
        ({}, "\u20ac" * 21_000, 2),
        ({"batch_logs": False}, "\u20ac" * 30_000, 1),
        ({}, "\x01" * 32_768, 1),
    ],
    ids=[
        "batch-of-3-long-logs",
        "batch-of-2-longest-logs",
        "longest-single-log",
        "batch-of-2-multibyte-logs",
        "multibyte-single-log",
        "escaped-control-characters",
    ],
)
async def test_round_trip_of_long_logs(
    wire: Wire,
    fleet: Fleet,
    barrier: HaBarrier,
    entry_options: dict[str, Any],
    message: str,
    repeat: int,
) -> None:
    """What forward_log accepts is read back by the entry on that base; the rest it refuses.

    Our reader refuses payloads over 64 KiB: a batch of long logs must be split, and a log
    whose JSON is over 64 KiB (multi-byte or escaped text) refused at the call.
    """
    hass = fleet.hass
    hub = logs_hub(fleet)
    tally = Tally(wire)
    data = {"message": message, "level": "info", "source_type": "system"}
    body_bytes = len(json.dumps(backend_body(data) | {"timestamp": 0}, ensure_ascii=False).encode())
    accepted = 0
    for _ in range(repeat):
        try:
            await hass.services.async_call(DOMAIN, "forward_log", data, blocking=True)
        except ServiceValidationError:
            assert body_bytes > 60_000, "a log that fits was refused"
        else:
            accepted += 1
    if body_bytes < 60_000:
        assert accepted == repeat
    await hub.forwarder.async_flush()
    await barrier.both()
    assert tally.update() == accepted
    assert hub.invalid_messages == 0
    assert hub_counts(hub) == ({"system": {"info": accepted}} if accepted else {})
    sizes = [len(m.payload) for m in wire.messages(f"{LOGS_BASE}/#")]
    assert all(size <= 64 * 1024 for size in sizes), sizes


# --- reading the simulated container manager ------------------------------------------------


@pytest.mark.parametrize(
    ("sim_extra", "batched"),
    [({}, True), ({"no_log_batching": True}, False)],
    ids=["batched", "unbatched"],
)
async def test_counters_and_events_equal_the_wire(
    fast_hub_sensors: None,
    fleet: Fleet,
    log_events: list[Event],
    simulator: Simulator,
    wire: Wire,
    barrier: HaBarrier,
    batched: bool,
) -> None:
    """A device per source of READY; counts per level and events equal the wire's logs."""
    hass = fleet.hass
    hub = logs_hub(fleet)
    tally = Tally(wire)
    assert simulator.logs == SIMULATOR_SOURCES
    await wait_for(
        lambda: set(hub.devices) == set(SIMULATOR_SOURCES),
        20,
        "a device for every source the simulator named",
    )
    simulator.send_signal(signal.SIGTERM)  # it publishes its pending batch, then exits
    await wait_for(lambda: simulator.proc.poll() is not None, 15, "the simulator to exit")
    assert simulator.proc.returncode == 0, simulator.log_tail()
    await barrier.both()
    tally.update()

    wire_counts = tally.counts()
    assert set(wire_counts) == set(SIMULATOR_SOURCES)
    assert sum(map(sum, (c.values() for c in wire_counts.values()))) == len(tally.logs) > 100
    assert all(log.topic.rsplit("/", 1)[1] == log.level for log in tally.logs)
    assert {log.batch for log in tally.logs} == {batched}
    assert hub_counts(hub) == wire_counts
    assert hub.invalid_messages == 0
    registry = dr.async_get(hass)
    for source in SIMULATOR_SOURCES:
        assert device_by_identifier(registry, f"{UID}/{source}"), source
    assert event_counts(log_events) == wire_problems(tally)
    assert sorted(event.data["message"] for event in log_events) == sorted(
        log.body["message"] for log in tally.logs if log.level in ("warn", "error")
    )
    await wait_for(lambda: counters_shown(hass, wire_counts), 5, "the counters after the tick")


@pytest.mark.parametrize(
    "sim_extra",
    [
        {"log_rate": 0, "log_burst": TOTAL},
        {"log_rate": 0, "log_burst": TOTAL, "no_log_batching": True},
    ],
    ids=["batched", "unbatched"],
)
async def test_burst_of_10000_logs_is_counted_in_full(
    fleet: Fleet,
    production_loop: None,
    simulator: Simulator,
    wire: Wire,
    broker: Broker,
    barrier: HaBarrier,
) -> None:
    """--log-burst 10000: HA counts every one of them, with no invalid message."""
    hub = logs_hub(fleet)
    tally = Tally(wire)
    started = time.monotonic()
    done = await wait_for(
        lambda: next((x for x in simulator.read_lines() if x.startswith("BURST_DONE ")), None),
        60,
        "BURST_DONE",
    )
    assert done is not None
    report = json.loads(done.removeprefix("BURST_DONE "))
    assert report["published"] == TOTAL
    await barrier.both(timeout=60)
    counted = time.monotonic()
    tally.update()
    assert tally.messages == report["messages"]
    burst = re.compile(rf"burst (\d+) of {TOTAL}: ")
    numbers = sorted(int(m[1]) for log in tally.logs if (m := burst.match(log.body["message"])))
    assert numbers == list(range(1, TOTAL + 1))
    assert sum(n for levels in hub_counts(hub).values() for n in levels.values()) == TOTAL
    assert hub_counts(hub) == tally.counts()
    assert hub.invalid_messages == 0
    nothing_dropped(broker)
    print(  # noqa: T201 - reported with -rP
        f"burst of {TOTAL} in {report['messages']} messages counted by HA"
        f" {counted - started:.2f} s after READY"
    )
