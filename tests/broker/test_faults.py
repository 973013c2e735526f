"""Broker crashes and Home Assistant restarts with every family live (issue 5, items 2 and 3).

One simulator runs every family at once (AutoCore layouts A and B, Janus, SpotFi, a container
manager's logs) against a private mosquitto; HA has one entry per stream. What HA shows is
checked entity by entity against what the devices last said on the wire, as recorded by our
own subscriber (`wire`).

Broker faults: mosquitto is killed with SIGKILL mid-stream and started again on the same port.
It keeps no state (`persistence false`), so retained messages are gone: HA must resubscribe,
the devices announce themselves again (their birth messages, as real firmware does) and HA
asks each layout-B board for its status. Two things are fixed for the measurement, both HA
core's, not the integration's: HA's MQTT client retries every second instead of every 10 s,
and it reconnects only once our recorder has resubscribed, so that what HA sends on
reconnect (the status requests) is on the recorded wire.

HA restart: Home Assistant is stopped the way it stops (restore-state dump, registries
flushed to `.storage`) and a new instance starts on the same config directory, loading the
registries, config entries and last states from those files as HA's bootstrap does, while
the simulator is frozen (SIGSTOP) so that no new traffic can stand in for a restored state.
Both instances run in this process, one after the other; the end of the first process is
stood in for by unloading its entries after the stop (that closes its broker connection).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
import json
import logging
import math
from pathlib import Path
import signal
import threading
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant import bootstrap, loader
from homeassistant.components import mqtt
from homeassistant.components.mqtt.models import DATA_MQTT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    ATTR_RESTORED,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfInformation,
    UnitOfTime,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.json import json_bytes
from homeassistant.setup import async_setup_component
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    DurationConverter,
    InformationConverter,
)
import paho.mqtt.client as paho
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.mqtt_fleet.const import (
    CONF_ADMIN_SECRET,
    CONF_BASE_TOPIC,
    CONF_FAMILY,
    DOMAIN,
)
from custom_components.mqtt_fleet.families.container_logs.hub import ContainerLogsHub
from custom_components.mqtt_fleet.families.container_logs.keys import LOG_COUNTS
from custom_components.mqtt_fleet.families.janus.hub import CONF_POLL_INTERVAL
from custom_components.mqtt_fleet.hub import FleetHub
from custom_components.mqtt_fleet.protocol.autocore import Layout
from custom_components.mqtt_fleet.protocol.container_logs import Level

from ..common import default_options, entry_id_for, entry_title
from ..report import Reliability, scaled
from .helpers import BASE, HOST, PROBE_TOPIC, START_TIMEOUT, STOP_TIMEOUT, Fleet, Wire, wait_for

if TYPE_CHECKING:
    from homeassistant.components.mqtt.models import ReceiveMessage

    from .helpers import Broker, Simulator, WireMessage

pytestmark = [pytest.mark.broker, pytest.mark.reliability]

STREAMS: dict[str, str] = {
    "autocore": BASE,
    "janus": "janus",
    "spotfi": "spotfi/router",
    "container_logs": "container-manager/logs",
}
SECRET = "fleet-faults-secret"
POLL_INTERVAL = 2  # seconds between Janus admin polls, the option's minimum
CYCLES = scaled(2, 5)  # broker kills
CORRECT_WITHIN = 10.0  # seconds from the broker listening again to every entity correct
HA_RECONNECT_INTERVAL = 1  # seconds; HA core's own is 10
SIMULATED_FLEET: dict[str, Any] = {
    "layout_a": 2,
    "layout_b": 2,
    "janus": 2,
    "janus_secret": SECRET,
    "spotfi": 2,
    "metrics_interval": 1.0,
    "logs": True,
}
HUB_GAUGES = {"devices_online"}  # live counts, not restored: checked once traffic resumes
# What a device answered since setup, never restored: unavailable until it answers again.
ANSWERED_SINCE_SETUP = {"admin_state"}
# What HA's MQTT client logs when the broker vanishes, once per crash at most.
# What HA's MQTT layer and paho may log about one crash, at WARNING or above: the lost
# connection, and the socket error paho saw first (its text is theirs, so not asserted).
CRASH_REPORTS_PER_CYCLE = 2


def stream_uid(family: str) -> str:
    """Return a stream's entry id, the prefix of its registry ids."""
    return entry_id_for(f"{family}:{STREAMS[family]}")


def stream_entries() -> list[MockConfigEntry]:
    """One config entry per stream, as the config flow creates them."""
    extra: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "janus": ({CONF_ADMIN_SECRET: SECRET}, {CONF_POLL_INTERVAL: POLL_INTERVAL}),
    }
    entries = []
    for family, base in STREAMS.items():
        data, options = extra.get(family, ({}, {}))
        entries.append(
            MockConfigEntry(
                domain=DOMAIN,
                title=entry_title(family, base),
                data={CONF_FAMILY: family, CONF_BASE_TOPIC: base, **data},
                options=default_options(family) | options,
                unique_id=f"{family}:{base}",
                entry_id=stream_uid(family),
                version=2,
                minor_version=1,
            )
        )
    return entries


def mqtt_entry_for(broker: Broker) -> MockConfigEntry:
    """HA's MQTT entry for the private broker."""
    return MockConfigEntry(
        domain=mqtt.DOMAIN,
        data={"broker": HOST, "port": broker.port},
        version=2,
        minor_version=2,
    )


@contextmanager
def no_configuration_yaml() -> Iterator[None]:
    """MQTT reads configuration.yaml at setup; the test config dirs have none."""
    with patch("homeassistant.config.load_yaml_config_file", return_value={}):
        yield


async def async_subscriptions_live(hass: HomeAssistant) -> None:
    """Return once every subscription HA asked for is live on the broker.

    HA debounces subscribes; a retained probe is subscribed to last, and the broker handles
    one client's packets in order (the `fleet` fixture's barrier).
    """
    probed = asyncio.Event()

    @callback
    def _probe_received(_msg: ReceiveMessage) -> None:
        probed.set()

    await mqtt.async_publish(hass, PROBE_TOPIC, "probe", qos=1, retain=True)
    unsubscribe = await mqtt.async_subscribe(hass, PROBE_TOPIC, _probe_received)
    try:
        await wait_for(probed.is_set, START_TIMEOUT, "HA's subscriptions to be live")
    finally:
        unsubscribe()


async def async_round_trip(hass: HomeAssistant) -> None:
    """Publish a fresh message through HA and wait for it to come back from the broker."""
    received = asyncio.Event()
    topic = f"{PROBE_TOPIC}/round-trip"

    @callback
    def _received(_msg: ReceiveMessage) -> None:
        received.set()

    unsubscribe = await mqtt.async_subscribe(hass, topic, _received)
    try:
        await async_subscriptions_live(hass)
        await mqtt.async_publish(hass, topic, "ping", qos=1)
        await wait_for(received.is_set, START_TIMEOUT, "our message to come back")
    finally:
        unsubscribe()


def hubs_of(hass: HomeAssistant) -> dict[str, FleetHub[Any]]:
    """Map stream entry id -> its hub, for every loaded MQTT Fleet entry."""
    return {
        entry.entry_id: entry.runtime_data
        for entry in hass.config_entries.async_loaded_entries(DOMAIN)
    }


# --- what the wire says HA must show -------------------------------------------------------


class WireView:
    """What every device last said on the wire since a mark: the truth HA must show.

    Retained state (relays, a router's status) counts from `retained_since`: after a broker
    crash it must have been published again, after an HA restart it is what the broker
    still holds.
    """

    def __init__(self, wire: Wire, since: int, retained_since: int) -> None:
        """Index the recorded messages: the newest per topic, Janus counts."""
        self.latest: dict[str, WireMessage] = {}
        self.retained: dict[str, WireMessage] = {}
        self.sessions: dict[str, int] = {}  # Janus server -> count in its newest reply
        janus_replies = f"{STREAMS['janus']}/+/from-janus-admin"
        first = min(since, retained_since)
        for position, message in enumerate(wire.messages(since=first), start=first):
            if message.retain and position >= retained_since:
                self.retained[message.topic] = message
            if position < since:
                continue
            self.latest[message.topic] = message
            if paho.topic_matches_sub(janus_replies, message.topic):
                reply = message.json()
                if reply.get("janus") == "success" and "sessions" in reply:
                    self.sessions[message.topic.split("/")[-2]] = len(reply["sessions"])

    def json(self, topic: str) -> Any:
        """Return the newest payload on `topic` decoded, None if nothing came since the mark."""
        message = self.latest.get(topic)
        return None if message is None else message.json()

    def retained_json(self, topic: str) -> Any:
        """Return the newest retained payload on `topic` decoded, None if there is none."""
        message = self.retained.get(topic)
        return None if message is None else message.json()


def shows(
    state: State,
    expected: float,
    converter: type[BaseUnitConverter] | None = None,
    unit: str | None = None,
) -> bool:
    """Tell whether a sensor shows `expected` (in `unit`), up to the rounding of its state."""
    try:
        value = float(state.state)
    except ValueError:
        return False
    if converter is None or unit is None:
        return value == expected
    shown_unit = state.attributes[ATTR_UNIT_OF_MEASUREMENT]
    decimals = len(state.state.partition(".")[2])
    half_step = converter.convert(0.5 * 10**-decimals, shown_unit, unit)
    return math.isclose(
        converter.convert(value, shown_unit, unit), expected, abs_tol=half_step * 1.0001
    )


def _memory(state: State, expected: float) -> bool:
    return shows(state, expected, InformationConverter, UnitOfInformation.BYTES)


def _seconds(state: State, expected: float) -> bool:
    return shows(state, expected, DurationConverter, UnitOfTime.SECONDS)


def _on_off(value: object) -> str:
    return STATE_ON if value is True else STATE_OFF


@dataclass
class Verdict:
    """The outcome of comparing every entity with the wire."""

    problems: dict[str, list[str]] = field(default_factory=dict)
    compared: int = 0  # entities whose value was compared with the wire
    checked: int = 0  # entities with a state (each at least checked to be available)

    def fail(self, family: str, what: str) -> None:
        """Keep something that is not right yet."""
        self.problems.setdefault(family, []).append(what)

    def expect(self, family: str, what: str, ok: bool) -> None:
        """Count one comparison; keep what failed."""
        self.compared += 1
        if not ok:
            self.fail(family, what)


def autocore_expectations(
    hub: FleetHub[Any], device: str, key: str, state: State, wire: WireView
) -> tuple[str, bool] | None:
    """Compare one AutoCore entity with its board's newest messages; None if not compared."""
    base = hub.base
    root = f"{base}/devices/{device}"
    layout_b = getattr(hub.devices[device], "layout", None) is Layout.FIRMWARE_V2
    status = wire.json(f"{root}/status" if layout_b else f"{base}/{device}/status")
    telemetry = None if layout_b else wire.json(f"{base}/{device}/telemetry")
    if key == "connectivity":
        return "on", state.state == STATE_ON
    if key.startswith("relay_"):
        relay = wire.retained_json(f"{base}/{device}/relay/{key.removeprefix('relay_')}/status")
        return "its retained relay status", relay is not None and state.state == _on_off(
            relay["state"]
        )
    if key.startswith("channel_"):
        relays = wire.retained_json(f"{root}/relays/state")
        channel = key.removeprefix("channel_")
        return "its retained relays/state", relays is not None and state.state == _on_off(
            relays["channels"][channel]
        )
    if key == "display":
        interaction = wire.json(f"{base}/{device}/display/interaction")
        return "its newest display interaction", interaction is not None and all(
            state.attributes.get(name) == value for name, value in interaction.items()
        )
    if key in ("temperature", "humidity", "voltage") or key.startswith("telemetry_"):
        name = key.removeprefix("telemetry_")
        return "its newest telemetry", telemetry is not None and shows(state, telemetry[name])
    if key == "free_memory":
        source = status if layout_b else telemetry
        name = "free_memory" if layout_b else "memory_free"
        return "its newest free memory", source is not None and _memory(state, source[name])
    if status is None:
        return "a status since the restart", False
    if key == "uptime":
        return "its newest status", _seconds(state, status["uptime"])
    if key == "wifi_signal":
        return "its newest status", shows(state, status["wifi_signal"])
    if key in ("ip_address", "firmware_version"):
        return "its newest status", state.state == status[key]
    return None


def janus_expectations(
    _hub: FleetHub[Any], device: str, key: str, state: State, wire: WireView
) -> tuple[str, bool] | None:
    """Compare one Janus entity with the server's newest admin reply."""
    if key == "connectivity":
        return "on", state.state == STATE_ON
    if key == "sessions":
        count = wire.sessions.get(device)
        return "its newest list_sessions reply", count is not None and state.state == str(count)
    if key == "admin_state":
        return "ok", state.state == "ok"
    if key == "version":
        return "1.4.0", state.state == "1.4.0"
    return None


def spotfi_expectations(
    hub: FleetHub[Any], device: str, key: str, state: State, wire: WireView
) -> tuple[str, bool] | None:
    """Compare one SpotFi entity with the router's newest heartbeat."""
    base = hub.base
    if key == "connectivity":
        status = wire.retained.get(f"{base}/{device}/status")
        return "on, ONLINE retained again", (
            state.state == STATE_ON and status is not None and status.payload == b"ONLINE"
        )
    beat = wire.json(f"{base}/{device}/metrics")
    if beat is None:
        return "a heartbeat since the restart", False
    metrics = beat["metrics"]
    total, free = metrics["totalMemory"], metrics["freeMemory"]
    checks: dict[str, Callable[[], bool]] = {
        "cpu_load": lambda: shows(state, metrics["cpuLoad"]),
        "active_users": lambda: shows(state, metrics["activeUsers"]),
        "memory_used": lambda: math.isclose(
            float(state.state), 100 * (total - free) / total, abs_tol=0.05 + 1e-9
        ),
        "free_memory": lambda: _memory(state, free),
        "total_memory": lambda: _memory(state, total),
        "uptime": lambda: _seconds(state, int(metrics["uptime"])),
    }
    if (check := checks.get(key)) is None:
        return None
    return "its newest heartbeat", state.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN) and check()


def log_expectations(
    hub: FleetHub[Any], device: str, key: str, state: State
) -> tuple[str, bool] | None:
    """A log counter shows what the hub counted (written on the hub's timer)."""
    assert isinstance(hub, ContainerLogsHub)
    for level in Level:
        if key == LOG_COUNTS[level]:
            counted = hub.devices[device].counts[level]
            return f"{counted} counted", state.state == str(counted)
    return None


EXPECTATIONS = {
    "autocore": autocore_expectations,
    "janus": janus_expectations,
    "spotfi": spotfi_expectations,
}


def verdict(hass: HomeAssistant, wire: WireView, heard_since: float) -> Verdict:
    """Compare every enabled MQTT Fleet entity with the wire; list what is not right yet.

    Every device must have been heard since `heard_since` (wall time), every hub must be
    connected and count each device online, and no entity may be unavailable.
    """
    result = Verdict()
    hubs = hubs_of(hass)
    for family in STREAMS:
        check_heard(result, family, hubs[stream_uid(family)], heard_since)
    for entry in er.async_get(hass).entities.values():
        if entry.platform != DOMAIN or entry.disabled:
            continue
        uid, device, key = split_unique_id(entry.unique_id)
        family, hub = hub_family(uid), hubs[uid]
        state = hass.states.get(entry.entity_id)
        if state is None or state.state == STATE_UNAVAILABLE:
            result.fail(family, f"{entry.entity_id}: {state and state.state}")
            continue
        result.checked += 1
        if not device:
            expected = hub_expectation(hub, key, state)
        elif family == "container_logs":
            expected = log_expectations(hub, device, key, state)
        else:
            expected = EXPECTATIONS[family](hub, device, key, state, wire)
        if expected is not None:
            what, ok = expected
            result.expect(family, f"{entry.entity_id}: shows {state.state!r}, expected {what}", ok)
    return result


def check_heard(result: Verdict, family: str, hub: FleetHub[Any], since: float) -> None:
    """Every device spoke since `since` and counts as online; a log stream delivered again."""
    if not hub.has_connectivity:  # a log source may stay quiet; the stream may not
        if (hub.last_message_at or 0) <= since:
            result.fail(family, "nothing received since the restart")
        return
    for device_id, device in hub.devices.items():
        if (device.last_seen or 0) <= since:
            result.fail(family, f"{device_id}: not heard since the restart")
    if hub.devices_online != len(hub.devices):
        result.fail(family, f"{hub.devices_online} of {len(hub.devices)} devices online")


def hub_expectation(hub: FleetHub[Any], key: str, state: State) -> tuple[str, bool] | None:
    """A hub's own entities: connected to the broker, every device online, nothing invalid."""
    expected = {
        "mqtt_connected": STATE_ON,
        "invalid_messages": "0",
        "devices_online": str(len(hub.devices)),
    }.get(key)
    return None if expected is None else (expected, state.state == expected)


def hub_family(uid: str) -> str:
    """Return the family of the stream whose entry id is `uid`."""
    (family,) = [family for family in STREAMS if stream_uid(family) == uid]
    return family


def split_unique_id(unique_id: str) -> tuple[str, str, str]:
    """Split an entity unique id into (stream uid, device id or "", key)."""
    for family in STREAMS:
        uid = stream_uid(family)
        if unique_id.startswith(f"{uid}/"):
            device, _, key = unique_id.removeprefix(f"{uid}/").rpartition("/")
            return uid, device, key
    raise AssertionError(f"not an MQTT Fleet unique id: {unique_id}")


@dataclass(frozen=True)
class Recovery:
    """How long until every entity was right, overall and per family (seconds)."""

    seconds: float
    families: dict[str, float]
    verdict: Verdict


async def until_correct(
    hass: HomeAssistant,
    wire: Wire,
    timeout: float,
    *,
    since: int = 0,
    retained_since: int = 0,
    heard_since: float = 0.0,
    measured_from: float | None = None,
) -> Recovery:
    """Poll until every entity shows what the wire says; fail listing what is still wrong.

    Times (and the timeout) count from `measured_from` (loop time), by default from now.
    """
    loop = asyncio.get_running_loop()
    started = loop.time() if measured_from is None else measured_from
    settled: dict[str, float] = {}
    while True:
        found = verdict(hass, WireView(wire, since, retained_since), heard_since)
        elapsed = loop.time() - started
        for family in STREAMS:
            if family not in found.problems:
                settled.setdefault(family, elapsed)
        if not found.problems:
            return Recovery(elapsed, settled, found)
        if elapsed >= timeout:
            problems = [f"{f}: {p}" for f, some in found.problems.items() for p in some]
            pytest.fail(
                f"after {timeout:.1f} s, {len(problems)} things are not right:\n"
                + "\n".join(problems[:40])
            )
        await asyncio.sleep(0.05)


# --- fixtures shared by both tests ---------------------------------------------------------


class FaultWire(Wire):
    """The recorder, reconnecting within 0.1 s and telling when it is subscribed again."""

    def __init__(self, port: int, topics: tuple[str, ...]) -> None:
        """Record `topics`; `subscribed` is set on every SUBACK."""
        self.subscribed = threading.Event()
        super().__init__(port, topics)
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.1)  # type: ignore[arg-type]

    def _on_subscribe(self, *args: Any) -> None:
        super()._on_subscribe(*args)
        self.subscribed.set()


@pytest.fixture
def wire_topics() -> tuple[str, ...]:
    """Record every stream."""
    return tuple(f"{base}/#" for base in STREAMS.values())


@pytest.fixture
def wire(broker: Broker, wire_topics: tuple[str, ...]) -> Generator[Wire]:
    """Record every stream with a recorder that comes back quickly after a broker crash."""
    recorder = FaultWire(broker.port, wire_topics)
    yield recorder
    recorder.close()


@pytest.fixture
def simulator_options() -> dict[str, Any]:
    """Every family at once."""
    return SIMULATED_FLEET


@pytest.fixture
def simulator_stop_signal() -> int:
    """Stop the simulator at once afterwards."""
    return signal.SIGKILL


@pytest.fixture(autouse=True)
def quick_timers() -> Generator[None]:
    """HA retries the broker every second (not 10), hubs refresh their sensors every second."""
    with (
        patch(
            "homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS",
            HA_RECONNECT_INTERVAL,
        ),
        patch("custom_components.mqtt_fleet.hub.HUB_SENSOR_REFRESH_SECONDS", 1),
    ):
        yield


def fleet_load(hass: HomeAssistant, simulator: Simulator) -> str:
    """Describe the simulated fleet and HA's entities for the report."""
    entities = [e for e in er.async_get(hass).entities.values() if e.platform == DOMAIN]
    enabled = sum(not entry.disabled for entry in entities)
    return (
        f"{len(simulator.layout_a)} layout-A + {len(simulator.layout_b)} layout-B AutoCore "
        f"boards, {len(simulator.janus)} Janus, {len(simulator.spotfi)} SpotFi, "
        f"{len(simulator.logs)} log sources; {len(entities)} entities ({enabled} enabled)"
    )


# --- 2: the broker crashes mid-stream ------------------------------------------------------


@pytest.fixture
async def fleet(fleet: Fleet) -> AsyncGenerator[Fleet]:
    """The AutoCore entry (from conftest's `fleet`) plus Janus, SpotFi and container logs."""
    hass = fleet.hass
    others = [e for e in stream_entries() if e.unique_id != fleet.entry.unique_id]
    for entry in others:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await async_subscriptions_live(hass)
    yield fleet
    for entry in others:
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)


@contextmanager
def reconnects_after(hass: HomeAssistant, ready: threading.Event) -> Iterator[None]:
    """Let HA's MQTT client reconnect only once `ready` is set (in its executor thread)."""
    paho_client = hass.data[DATA_MQTT].client._mqttc
    reconnect = paho_client.reconnect

    def gated_reconnect() -> Any:
        ready.wait(START_TIMEOUT)
        return reconnect()

    with patch.object(paho_client, "reconnect", gated_reconnect):
        yield


async def switch(hass: HomeAssistant, wire: Wire, device: str, key: str) -> None:
    """Toggle an AutoCore relay through HA; return once the board retained its new state.

    HA takes a firmware v2 board's relay event as the confirmation; the board retains its
    state just after, and that is what a broker hands out later.
    """
    uid = stream_uid("autocore")
    entity = er.async_get(hass).async_get_entity_id("switch", DOMAIN, f"{uid}/{device}/{key}")
    assert entity is not None
    mark = wire.mark()
    await hass.services.async_call("switch", "toggle", {ATTR_ENTITY_ID: entity}, blocking=True)
    state = getattr(hass.states.get(entity), "state", None)
    layout_a = key.startswith("relay_")
    if layout_a:
        topic = f"{BASE}/{device}/relay/{key.removeprefix('relay_')}/status"
    else:
        topic = f"{BASE}/devices/{device}/relays/state"

    def retained() -> bool:
        found = [m.json() for m in wire.messages(topic, mark) if m.retain]
        if not found:
            return False
        value = found[-1]["state"] if layout_a else found[-1]["channels"][key[len("channel_") :]]
        return _on_off(value) == state

    await wait_for(retained, what=f"{device} to retain {key} {state}")


async def test_broker_killed_mid_stream(
    fleet: Fleet,
    simulator: Simulator,
    broker: Broker,
    wire: FaultWire,
    reliability: Reliability,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """SIGKILL mosquitto mid-stream, restart it: every entity is right again within 10 s."""
    hass = fleet.hass
    loop = asyncio.get_running_loop()
    await until_correct(hass, wire, START_TIMEOUT)
    hubs = hubs_of(hass)
    received_before = sum(hub.messages_received for hub in hubs.values())
    went_unavailable: list[str] = []

    @callback
    def _state_changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.state == STATE_UNAVAILABLE:
            went_unavailable.append(new.entity_id)

    hass.bus.async_listen("state_changed", _state_changed)
    registry = er.async_get(hass)
    broker_links = [
        registry.async_get_entity_id("binary_sensor", DOMAIN, f"{uid}/mqtt_connected")
        for uid in hubs
    ]
    outages: list[float] = []
    reconnected: list[float] = []
    recoveries: list[Recovery] = []
    requests_seen = 0
    started = loop.time()

    with reconnects_after(hass, wire.subscribed):
        for cycle in range(CYCLES):
            # A relay of each layout changes before the crash: its state must survive it.
            await switch(hass, wire, simulator.layout_a[cycle % 2], f"relay_{cycle % 4}")
            await switch(hass, wire, simulator.layout_b[cycle % 2], f"channel_{cycle + 1}")

            wire.subscribed.clear()
            killed = loop.time()
            await broker.async_kill()
            await wait_for(
                lambda: not mqtt.is_connected(hass) and not wire.client.is_connected(),
                STOP_TIMEOUT,
                "HA and the recorder to notice the crash",
            )
            mark = wire.mark()  # everything after it was sent after the crash
            assert [
                getattr(hass.states.get(link or ""), "state", None) for link in broker_links
            ] == [STATE_OFF] * len(STREAMS)
            await broker.async_relaunch()
            back, back_wall = loop.time(), time.time()
            outages.append(back - killed)

            await wait_for(lambda: mqtt.is_connected(hass), CORRECT_WITHIN, "HA to reconnect")
            reconnected.append(loop.time() - back)
            recoveries.append(
                await until_correct(
                    hass,
                    wire,
                    CORRECT_WITHIN,
                    since=mark,
                    retained_since=mark,
                    heard_since=back_wall,
                    measured_from=back,
                )
            )

            # On reconnect HA asked each layout-B board for its status, once.
            requests = [m.topic for m in wire.messages(f"{BASE}/devices/+/commands/status", mark)]
            assert sorted(requests) == sorted(
                f"{BASE}/devices/{board}/commands/status" for board in simulator.layout_b
            )
            requests_seen += len(requests)

    elapsed = loop.time() - started
    assert not went_unavailable, went_unavailable
    for hub in hubs.values():
        assert hub.invalid_messages == 0, list(hub.dead_letters)
    ours = [r for r in caplog.records if r.name.startswith("custom_components.mqtt_fleet")]
    assert not [r for r in ours if r.levelno >= logging.WARNING], ours
    # HA's MQTT layer reports each crash (paho may see a reset, a broken pipe or a plain end
    # of stream); the texts are theirs, the count per crash is bounded.
    mqtt_layer = Counter(
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and r.name.startswith(("paho", "homeassistant.components.mqtt"))
    )
    assert mqtt_layer.total() <= CRASH_REPORTS_PER_CYCLE * CYCLES, mqtt_layer
    received = sum(hub.messages_received for hub in hubs.values()) - received_before
    slowest = {
        family: max(recovery.families[family] for recovery in recoveries) for family in STREAMS
    }
    reliability.record(
        area="broker faults",
        load=f"{fleet_load(hass, simulator)}; {received / elapsed:.0f} msg/s into HA",
        faults=(
            f"mosquitto SIGKILLed mid-stream and restarted on the same port, {CYCLES} times "
            f"(no persistence: retained state lost; down {max(outages):.2f} s at most); "
            "a relay per layout switched before each crash"
        ),
        result=(
            f"HA reconnected {_seconds_list(reconnected)} after the broker was back "
            f"(its retry interval set to {HA_RECONNECT_INTERVAL} s); every entity right "
            f"{_seconds_list([r.seconds for r in recoveries])} after (bound "
            f"{CORRECT_WITHIN:g} s; slowest per stream: "
            + ", ".join(f"{f} {t:.2f} s" for f, t in slowest.items())
            + f"; {recoveries[-1].verdict.compared} of {recoveries[-1].verdict.checked} "
            f"entities compared with the wire); {requests_seen} layout-B status requests on "
            f"the wire ({len(simulator.layout_b)} per reconnect); 0 entities unavailable at "
            "any time; 0 invalid messages; 0 warnings from the integration"
        ),
    )


def _seconds_list(values: list[float]) -> str:
    return "[" + ", ".join(f"{value:.2f}" for value in values) + "] s"


# --- 3: Home Assistant restarts ------------------------------------------------------------


class HomeAssistantRun:
    """One run of Home Assistant on a config directory, loaded and stopped as HA does it.

    Storage is real: registries, config entries and the restore-state dump are files in
    `<config_dir>/.storage`, read back by the next run.
    """

    def __init__(self, config_dir: Path) -> None:
        """Nothing runs before async_start."""
        self.config_dir = config_dir
        self._context: Any = None
        self._hass: HomeAssistant | None = None
        self.loop_errors: list[dict[str, Any]] = []
        self._loop_handler: Any = None
        self.stopped = False

    @property
    def hass(self) -> HomeAssistant:
        """Return the running instance."""
        assert self._hass is not None
        return self._hass

    async def async_start(self) -> HomeAssistant:
        """Start HA: load registries, restore states and config entries from the config dir."""
        self.config_dir.mkdir(exist_ok=True)
        context = async_test_home_assistant(config_dir=str(self.config_dir), load_registries=False)
        hass: HomeAssistant = await context.__aenter__()
        self._context, self._hass = context, hass
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # find custom_components/mqtt_fleet
        self._loop_handler = hass.loop.get_exception_handler()
        hass.loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        await bootstrap.async_load_base_functionality(hass)
        return hass

    async def async_set_up(self) -> None:
        """Set up the stored config entries, as HA's bootstrap does for each integration."""
        with no_configuration_yaml():
            assert await async_setup_component(self.hass, DOMAIN, {})
            await self.hass.async_block_till_done()

    async def async_stop(self) -> None:
        """Stop HA the way it stops: shutdown jobs, stop, final write (dump, stores), close."""
        if not self.stopped:
            self.stopped = True
            await self.hass.async_stop()

    async def async_close(self) -> None:
        """End the run, as the process ending would: unload what still runs, leave the loop.

        A real restart ends the process; here the entries are unloaded in order (ours, then
        MQTT, which closes the broker connection) so no timer or socket outlives the test.
        """
        if self._context is None:
            return
        hass = self.hass
        entries = hass.config_entries.async_entries(DOMAIN)
        entries += hass.config_entries.async_entries(mqtt.DOMAIN)
        for entry in entries:
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)
        if DATA_MQTT in hass.data:
            await wait_for(lambda: not mqtt.is_connected(hass), STOP_TIMEOUT, "MQTT disconnect")
        await self.async_stop()
        context, self._context = self._context, None
        hass.loop.set_exception_handler(self._loop_handler)
        await context.__aexit__(None, None, None)
        assert not self.loop_errors, self.loop_errors


@dataclass(frozen=True)
class Snapshot:
    """What a run of HA holds for MQTT Fleet: devices, entities and their states."""

    devices: dict[frozenset[tuple[str, str]], tuple[Any, ...]]
    entities: dict[str, tuple[Any, ...]]  # unique id -> registry facts
    states: dict[str, tuple[str, Any]]  # unique id -> (state, attributes as JSON)
    restored: set[str]  # unique ids whose state is only a placeholder (`restored: true`)


def snapshot(hass: HomeAssistant) -> Snapshot:
    """Read the registries and states of every MQTT Fleet entry."""
    device_registry = dr.async_get(hass)
    entry_ids = {entry.entry_id for entry in hass.config_entries.async_entries(DOMAIN)}

    def identifiers(device_id: str | None) -> frozenset[tuple[str, str]] | None:
        device = None if device_id is None else device_registry.async_get(device_id)
        return None if device is None else frozenset(device.identifiers)

    devices = {
        frozenset(device.identifiers): (
            device.name,
            device.manufacturer,
            device.model,
            device.sw_version,
            device.serial_number,
            identifiers(device.via_device_id),
            device.entry_type,
        )
        for device in device_registry.devices
        if device.config_entry_id in entry_ids
    }
    entities: dict[str, tuple[Any, ...]] = {}
    states: dict[str, tuple[str, Any]] = {}
    restored: set[str] = set()
    for entry in er.async_get(hass).entities.values():
        if entry.platform != DOMAIN:
            continue
        entities[entry.unique_id] = (
            entry.entity_id,
            entry.disabled_by,
            entry.entity_category,
            identifiers(entry.device_id),
        )
        if (state := hass.states.get(entry.entity_id)) is not None:
            attributes = json.loads(json_bytes(dict(state.attributes)))
            states[entry.unique_id] = (state.state, attributes)
            if state.attributes.get(ATTR_RESTORED):
                restored.add(entry.unique_id)
    return Snapshot(devices, entities, states, restored)


def logs_hub(hass: HomeAssistant) -> ContainerLogsHub:
    """Return the container-log stream's hub."""
    hub = hubs_of(hass)[stream_uid("container_logs")]
    assert isinstance(hub, ContainerLogsHub)
    return hub


def log_counts(messages: list[WireMessage]) -> Counter[tuple[str, str]]:
    """Count the logs in MqttLogBackend messages per (source, level) (docs/protocols.md,
    section "Container logs")."""
    base = STREAMS["container_logs"]
    counts: Counter[tuple[str, str]] = Counter()
    for message in messages:
        *route, level = message.topic.removeprefix(f"{base}/").split("/")
        logs = 1
        if level == "batch":
            *route, level = route
            logs = len(message.json()["logs"])
        counts[":".join(route), level] += logs
    return counts


async def async_logs_not_yet_written(hass: HomeAssistant, wire: Wire) -> None:
    """Have the log hub count a log it has not written to its counter yet.

    Counters are written on the hub's timer, so a stop between two writes must not lose
    what was counted since the last one. The log is the manager's own, as it sends it.
    """
    hub = logs_hub(hass)

    def warnings() -> int:
        return hub.devices["system"].counts[Level.WARN] if "system" in hub.devices else 0

    entity_unique_id = f"{stream_uid('container_logs')}/system/{LOG_COUNTS[Level.WARN]}"
    for attempt in range(5):
        before = warnings()
        log = {
            "message": f"disk almost full ({attempt})",
            "timestamp": int(time.time() * 1000),
            "level": "warn",
            "source": {"type": "system", "name": "container-manager"},
            "isSystem": True,
        }
        wire.publish(f"{STREAMS['container_logs']}/system/warn", log)
        await wait_for(partial(more_than, warnings, before), what="the log to be counted")
        entity = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, entity_unique_id)
        shown = getattr(hass.states.get(entity or ""), "state", None)
        if shown != str(warnings()):
            return
    pytest.fail("the hub's timer wrote every counter each time")


def more_than(count: Callable[[], int], before: int) -> bool:
    """Tell whether `count()` went above `before`."""
    return count() > before


def differences(
    before: dict[str, Any], after: dict[str, Any], skip: Callable[[str], bool] = lambda _: False
) -> list[str]:
    """List what differs between two mappings, key by key, but for the keys to skip."""
    return [
        f"{key}: {before.get(key)!r} -> {after.get(key)!r}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key) and not skip(key)
    ]


def is_log_counter(unique_id: str) -> bool:
    """Tell whether an entity is a log counter (written on the hub's timer)."""
    return unique_id.endswith("_logs")


def is_gauge(unique_id: str) -> bool:
    """Tell whether an entity is a live hub gauge (not restored)."""
    return split_unique_id(unique_id)[2] in HUB_GAUGES


def is_live_before_traffic(unique_id: str) -> bool:
    """Tell whether an entity follows the live broker connection or a live hub gauge.

    Right after a restart HA's MQTT client may or may not have connected yet, so the hub's
    broker connection is off or on; the comparison with the first run checks it again.
    """
    return is_gauge(unique_id) or split_unique_id(unique_id)[2] == "mqtt_connected"


def is_gauge_or_counter(unique_id: str) -> bool:
    """Tell whether an entity is a live hub gauge or a log counter."""
    return is_log_counter(unique_id) or is_gauge(unique_id)


def is_answered_since_setup(unique_id: str) -> bool:
    """Tell whether an entity shows only what its device answered since setup."""
    return split_unique_id(unique_id)[2] in ANSWERED_SINCE_SETUP


def is_not_restored(unique_id: str) -> bool:
    """Tell whether an entity's state is not restored: a gauge, a counter, an answer."""
    return is_gauge_or_counter(unique_id) or is_answered_since_setup(unique_id)


def process_state(pid: int) -> str:
    """Return a process's state letter from /proc (T: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0]


class TestHomeAssistantRestart:
    """Stop HA and start it again on the same config dir, with the devices frozen meanwhile."""

    @pytest.fixture
    def auto_enable_custom_integrations(self) -> None:
        """No `hass` fixture here: this test runs Home Assistant itself, twice."""

    @pytest.fixture
    async def first_run(self, broker: Broker, tmp_path: Path) -> AsyncGenerator[HomeAssistantRun]:
        """The first run: MQTT and the four streams added as the config flow adds them."""
        run = HomeAssistantRun(tmp_path / "config")
        try:
            hass = await run.async_start()
            with no_configuration_yaml():
                await hass.config_entries.async_add(mqtt_entry_for(broker))
                await wait_for(lambda: mqtt.is_connected(hass), START_TIMEOUT, "HA's MQTT")
                for entry in stream_entries():
                    await hass.config_entries.async_add(entry)
                await hass.async_block_till_done()
            await async_subscriptions_live(hass)
            yield run
        finally:
            await run.async_close()

    @pytest.fixture
    def fleet(self, first_run: HomeAssistantRun) -> Fleet:
        """The first run as `fleet`, so the simulator starts once it listens."""
        hass = first_run.hass
        (autocore,) = [
            e
            for e in hass.config_entries.async_entries(DOMAIN)
            if e.entry_id == stream_uid("autocore")
        ]
        (mqtt_entry,) = hass.config_entries.async_entries(mqtt.DOMAIN)
        assert isinstance(autocore, MockConfigEntry)
        assert isinstance(mqtt_entry, MockConfigEntry)
        return Fleet(hass=hass, entry=autocore, mqtt_entry=mqtt_entry)

    async def test_restart_restores_every_device_entity_and_state(
        self,
        first_run: HomeAssistantRun,
        simulator: Simulator,
        wire: FaultWire,
        tmp_path: Path,
        reliability: Reliability,
    ) -> None:
        """Every device, entity and last state comes back; availability once traffic resumes."""
        hass = first_run.hass
        loop = asyncio.get_running_loop()
        await until_correct(hass, wire, START_TIMEOUT)
        # Relays in states the boards did not start with, so restoring them means something.
        await switch(hass, wire, simulator.layout_a[0], "relay_1")
        await switch(hass, wire, simulator.layout_b[1], "channel_3")

        simulator.send_signal(signal.SIGSTOP)
        await wait_for(lambda: process_state(simulator.proc.pid) == "T", what="the freeze")
        await async_round_trip(hass)  # what the devices sent before the freeze is in
        await async_logs_not_yet_written(hass, wire)
        before = snapshot(hass)
        load = fleet_load(hass, simulator)
        counted = {
            (source, level.value): count
            for source, device in logs_hub(hass).devices.items()
            for level, count in device.counts.items()
        }
        await first_run.async_stop()
        # Nothing changed between the snapshot and the restore-state dump (but a counter
        # write on the hub's timer: counters are compared with what was counted).
        assert differences(before.states, snapshot(hass).states, skip=is_log_counter) == []
        await first_run.async_close()

        second = HomeAssistantRun(tmp_path / "config")
        try:
            starting = loop.time()
            hass = await second.async_start()
            await second.async_set_up()
            # As restored, most likely before any message (HA subscribes after a cooldown),
            # then once the broker delivered what it retained: the same states either way.
            as_restored = snapshot(hass)
            received_when_restored = sum(h.messages_received for h in hubs_of(hass).values())
            await wait_for(lambda: mqtt.is_connected(hass), START_TIMEOUT, "HA's MQTT client")
            await async_subscriptions_live(hass)
            restarted_after = loop.time() - starting
            after = snapshot(hass)
            assert as_restored.devices == after.devices
            assert as_restored.entities == after.entities
            assert differences(as_restored.states, after.states, skip=is_live_before_traffic) == []
            online_at_start = {
                family: f"{hub.devices_online}/{len(hub.devices)}"
                for family in STREAMS
                if (hub := hubs_of(hass)[stream_uid(family)]).has_connectivity
            }

            # 100% of devices and entities, with the states from before the stop.
            assert after.devices == before.devices
            assert after.entities == before.entities
            assert not after.restored, sorted(after.restored)
            assert after.states.keys() == before.states.keys()
            assert differences(before.states, after.states, skip=is_not_restored) == []
            # The Janus admin state is what the admin API answered since setup: the frozen
            # servers have not answered the new instance yet.
            answered = [uid for uid in before.states if is_answered_since_setup(uid)]
            assert answered
            assert {after.states[uid][0] for uid in answered} == {STATE_UNAVAILABLE}
            # Log counters: what the first run had counted, not only what it had written
            # (counters are written on the hub's timer; a log came after the last write).
            logs_uid = stream_uid("container_logs")
            shown_counts = {
                (source, key.removesuffix("_logs")): int(state)
                for uid, (state, _attributes) in after.states.items()
                if uid.startswith(f"{logs_uid}/")
                for _uid, source, key in [split_unique_id(uid)]
                if key.endswith("_logs")
            }
            assert shown_counts == {
                (source, level): count
                for (source, level), count in counted.items()
                if count and level != Level.DEBUG  # debug counters are disabled by default
            }

            # Traffic resumes: every device is available and right, counting continues.
            mark = wire.mark()
            resumed, resumed_wall = loop.time(), time.time()
            simulator.send_signal(signal.SIGCONT)
            recovery = await until_correct(
                hass,
                wire,
                CORRECT_WITHIN,
                since=mark,
                heard_since=resumed_wall,
                measured_from=resumed,
            )
            hub = logs_hub(hass)
            restored = {
                key: count for key, count in counted.items() if key[1] != Level.DEBUG
            }  # a disabled counter has no state to restore

            def counts_go_on() -> bool:
                new = log_counts(wire.messages(f"{STREAMS['container_logs']}/#", mark))
                return any(new.values()) and all(
                    (device := hub.devices.get(source)) is not None
                    and device.counts[Level(level)] == restored.get((source, level), 0) + count
                    for (source, level), count in new.items()
                )

            await wait_for(counts_go_on, what="log counters to go on from the restored ones")
        finally:
            await second.async_close()

        equal = [uid for uid in before.states if not is_not_restored(uid)]
        reliability.record(
            area="HA restart",
            load=load,
            faults=(
                "HA stopped (restore-state dump, registries and entries flushed to .storage) "
                "and started again on the same config dir; devices frozen (SIGSTOP) "
                "meanwhile, then resumed"
            ),
            result=(
                f"{len(after.devices)}/{len(before.devices)} devices, "
                f"{len(after.entities)}/{len(before.entities)} entities restored from "
                f".storage; {len(equal)}/{len(equal)} states equal to before the stop "
                f"(state and attributes), as restored ({received_when_restored} messages in "
                "yet) and after the retained ones came in; "
                f"{len(shown_counts)}/{len(shown_counts)} log counters at their counts at the "
                "stop (not their last write); "
                f"{len(answered)} Janus admin states unavailable until the servers answer; "
                f"{len(before.states) - len(equal) - len(shown_counts) - len(answered)} hub"
                " gauges recomputed "
                "(devices online before the devices resumed: "
                + ", ".join(f"{f} {n}" for f, n in online_at_start.items())
                + ", restored devices not heard yet are not counted); "
                f"the new instance started and subscribed in {restarted_after:.2f} s; every entity "
                f"available and right {recovery.seconds:.2f} s after traffic resumed (slowest "
                "per stream: "
                + ", ".join(f"{f} {t:.2f} s" for f, t in recovery.families.items())
                + f"; {recovery.verdict.compared} entities compared with the wire); log "
                "counters went on from there, log by log"
            ),
        )
