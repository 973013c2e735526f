"""Fuzz: hostile messages for every family through the real hubs and HA's MQTT layer.

Each message goes in the way HA's MQTT client hands on what the broker sent: a paho
`MQTTMessage` passed to the client's on-message callback, so HA's topic decoding, its
subscription matching, its guard around callbacks and its MQTT discovery (which runs our
config flow on every new payload of a discovery topic) all run, then the hub. That is what
`async_fire_mqtt_message` does, minus the `Mock` it builds per message (too slow for 100k)
and plus topics that are not UTF-8, which it cannot send.

After every message, against the oracle (strategies.py): messages received = messages
delivered, invalid messages = invalid messages sent, no invalid message is an "internal
error", the hub's devices and values are exactly what the valid (and partly valid) messages
made, and the entities the message changed show the last value sent. At every checkpoint
(and at the end) every entity a message made shows its last value, no device value exists
that no message set, and nothing was logged at ERROR or above, by any logger.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
import json
import logging
import os
import random
import time
from typing import Any, Final

from homeassistant.components.mqtt.models import DATA_MQTT
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from paho.mqtt.client import MQTTMessage
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.mqtt_fleet.const import (
    CONF_BASE_TOPIC,
    CONF_FAMILY,
    CONF_OFFLINE_TIMEOUT,
    DOMAIN,
    MAX_OFFLINE_TIMEOUT,
)
from custom_components.mqtt_fleet.entities.sensor import RESTART_TOLERANCE
from custom_components.mqtt_fleet.families.container_logs.hub import (
    PROBLEM_EVENT_TYPES,
    PROBLEM_EVENTS,
)
from custom_components.mqtt_fleet.families.janus.actions import SERVICE_LIST_SESSIONS
from custom_components.mqtt_fleet.families.janus.hub import CONF_POLL_INTERVAL, MAX_POLL_INTERVAL
from custom_components.mqtt_fleet.hub import FleetHub
from custom_components.mqtt_fleet.protocol.container_logs import Level

from ..common import default_options, entry_id_for
from ..report import Reliability, scaled
from .strategies import (
    MEBIBYTE,
    STATE_LENGTH,
    AutoCoreFuzzer,
    ContainerLogsFuzzer,
    Effect,
    Expect,
    Fuzzed,
    Fuzzer,
    JanusFuzzer,
    Json,
    SpotFiFuzzer,
)

MESSAGES: Final = scaled(3_000, 100_000)  # per family (AutoCore: per layout)
CHECK_EVERY: Final = 1_000
# The same streams every run; set MQTT_FLEET_FUZZ_SEED to draw others.
SEED: Final = os.environ.get("MQTT_FLEET_FUZZ_SEED", "mqtt-fleet-fuzz-1")
KIB: Final = 1024
LAST_RESTART: Final = "last_restart"
# Seconds between the hub's clock reading and the model's for the same message, plus the
# hub's rounding to whole seconds.
CLOCK_SLACK: Final = 2.0
# The earliest restart a timestamp can show (datetime's year 1).
EARLIEST_RESTART: Final = datetime.min.replace(tzinfo=UTC).timestamp()

type Render = Callable[[str, Json], bool]

# Device values no fuzzed message sets: display interactions (events, not states) and the
# Janus admin API's state (set by the list_sessions round trips).
UNMODELLED: Final = frozenset({"display", "admin_state"})
ABSENT: Final = object()


def _number(scale: int = 1, places: str = "0") -> Render:
    """A numeric state: the value divided by `scale`, rounded to `places` or not at all.

    HA writes a float state with 15 significant digits: the largest double reads back as
    1.79769313486232e+308, which is no double at all, so states are read as decimals.
    """

    def matches(state: str, value: Json) -> bool:
        expected = Decimal(value) / Decimal(scale)
        tolerance = max(abs(expected) * Decimal("1e-14"), Decimal(places))
        return abs(Decimal(state) - expected) <= tolerance

    return matches


def _text(state: str, value: Json) -> bool:
    return state == value[:STATE_LENGTH]


def _switch(state: str, value: Json) -> bool:
    return state == ("on" if value else "off")


def _restart(state: str, value: Json) -> bool:
    """A timestamp state: the restart the model dates, within the clocks' slack."""
    shown = dt_util.parse_datetime(state)
    return shown is not None and abs(shown.timestamp() - value) <= CLOCK_SLACK


def same_value(key: str, held: Json, value: Json) -> bool:
    """Whether the hub holds the value the model expects (a restart: within the slack)."""
    if key == LAST_RESTART and isinstance(held, datetime) and value is not None:
        return abs(held.timestamp() - value) <= CLOCK_SLACK
    return bool(held == value)


PLAIN = _number()
AUTOCORE_STATES: Final[dict[str, Render]] = {
    "temperature": PLAIN,
    "humidity": PLAIN,
    "voltage": PLAIN,
    "wifi_signal": PLAIN,
    "free_memory": _number(KIB),  # shown in KiB
    LAST_RESTART: _restart,
    "ip_address": _text,
    "disconnect_reason": _text,
}
SPOTFI_STATES: Final[dict[str, Render]] = {
    "cpu_load": PLAIN,
    "memory_used": PLAIN,
    "active_users": PLAIN,
    "free_memory": _number(MEBIBYTE),  # shown in MiB
    "total_memory": _number(MEBIBYTE),
    LAST_RESTART: _restart,
}


def render_for(key: str, states: dict[str, Render]) -> tuple[str, Render]:
    """Return the platform and state check of an entity key."""
    if key.startswith(("relay_", "channel_")):
        return "switch", _switch
    if key.startswith("telemetry_"):
        return "sensor", PLAIN
    return "sensor", states[key]


@dataclass
class Tally:
    """What was sent, by the oracle's classification."""

    sent: int = 0
    delivered: int = 0
    valid: int = 0
    invalid: int = 0
    ignored: int = 0
    partial: int = 0
    attacks: Counter[str] = field(default_factory=Counter)
    checkpoints: int = 0
    values_checked: int = 0

    def add(self, message: Fuzzed) -> None:
        """Count one message."""
        self.sent += 1
        self.attacks[message.attack] += 1
        if message.expect is not Expect.UNDELIVERED:
            self.delivered += 1
        if message.expect is Expect.VALID:
            self.valid += 1
        elif message.expect is Expect.INVALID:
            self.invalid += 1
            self.partial += message.partial
        elif message.expect is Expect.IGNORED:
            self.ignored += 1


@dataclass
class Model:
    """What the contract says the hub holds now: its devices and their last good values."""

    devices: set[str] = field(default_factory=set)
    values: dict[tuple[str, str], Json] = field(default_factory=dict)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # container logs
    # The latest warning and the latest error of each log source: (source, level) -> text.
    last_problems: dict[tuple[str, str], str] = field(default_factory=dict)
    # Values kept whose entity is unavailable until a value is set again.
    hidden: set[tuple[str, str]] = field(default_factory=set)

    def apply(self, effects: tuple[Effect, ...], *, logs: bool = False) -> None:
        """Apply a delivered message's effects."""
        for effect in effects:
            self.devices.add(effect.device)
            if effect.key is None:
                continue
            if not logs:
                self.set_value(effect)
                continue
            self.counts[effect.device, effect.key] += 1
            if effect.key in PROBLEM_LEVELS:
                self.last_problems[effect.device, effect.key] = effect.value

    def set_value(self, effect: Effect) -> None:
        """Set a device value; an uptime dates the restart, which moves only past a minute.

        Every fuzzed message is live (not retained): its uptime counts from now.
        """
        where = (effect.device, str(effect.key))
        if (effect.if_shown or effect.hides) and where not in self.values:
            return
        if effect.hides:
            self.hidden.add(where)
            return
        self.hidden.discard(where)
        if effect.key != LAST_RESTART:
            self.values[where] = effect.value
            return
        restarted = round(time.time() - effect.value)
        if restarted < EARLIEST_RESTART:  # before year 1: no time to show, nothing changes
            return
        shown = self.values.get(where)
        if shown is None or abs(restarted - shown) > RESTART_TOLERANCE:
            self.values[where] = restarted


def shows(state: str, value: Json, matches: Render) -> bool:
    """Whether a state shows a value: None (a reading the device could not take) as unknown."""
    if value is None:
        return state == STATE_UNKNOWN
    return state not in (STATE_UNAVAILABLE, STATE_UNKNOWN) and matches(state, value)


def deliver(hass: HomeAssistant, topic: bytes, payload: bytes, qos: int = 1) -> None:
    """Hand a message to HA's MQTT client as paho does when the broker sends one."""
    message = MQTTMessage(topic=topic)
    message.payload = payload
    message.qos = qos
    message.retain = False
    message.timestamp = time.monotonic()
    hass.data[DATA_MQTT].client._async_mqtt_on_message(None, None, message)


class FuzzRun:
    """Deliver a family's messages to its hub and hold the hub to the oracle."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: MockConfigEntry,
        caplog: pytest.LogCaptureFixture,
        states: dict[str, Render],
        *,
        logs: bool = False,
        heartbeat_connects: bool = False,
    ) -> None:
        """Follow `entry`'s hub; `states` says how each value key shows as a state."""
        self.hass = hass
        self.hub: FleetHub[Any] = entry.runtime_data
        self.caplog = caplog
        self.states = states
        self.logs = logs
        self.heartbeat_connects = heartbeat_connects
        self.tally = Tally()
        self.model = Model()
        self.entity_ids: dict[tuple[str, str, str], str] = {}
        self.seconds = 0.0
        # The problems shown (paced): the last per source and level, and the last per source.
        self.shown: dict[tuple[str, str], str] = {}
        self.last_shown: dict[str, tuple[str, str, str]] = {}
        if logs:
            for level, event_type in PROBLEM_EVENTS.items():
                entry.async_on_unload(
                    hass.bus.async_listen(event_type, partial(self._problem_shown, level.value))
                )

    @callback
    def _problem_shown(self, level: str, event: Event) -> None:
        """Record a problem the hub showed: its device trigger event fires with it."""
        self.shown[event.data["device"], level] = event.data["message"]
        self.last_shown[event.data["device"]] = (
            level,
            event.data["message"],
            event.data["first_line"],
        )

    def send(self, message: Fuzzed) -> None:
        """Deliver one message as HA's MQTT client would, and check the hub's counters."""
        deliver(self.hass, message.topic, message.payload, message.qos)
        self.tally.add(message)
        hub = self.hub
        if hub.messages_received != self.tally.delivered or (
            hub.invalid_messages != self.tally.invalid
        ):
            last = hub.dead_letters[-1].reason if hub.dead_letters else None
            pytest.fail(
                f"message {self.tally.sent}: {message.describe()}; the hub counted "
                f"{hub.messages_received} received (oracle {self.tally.delivered}) and "
                f"{hub.invalid_messages} invalid (oracle {self.tally.invalid}); "
                f"last dead letter: {last!r}"
            )
        if message.expect is Expect.INVALID and hub.dead_letters[-1].reason == "internal error":
            pytest.fail(f"message {self.tally.sent}: internal error on {message.describe()}")
        if message.effects:
            self.model.apply(message.effects, logs=self.logs)
        if message.expect is Expect.UNDELIVERED:
            return
        if problem := self.hub_problem() or self.shown_problem(message.effects):
            pytest.fail(f"message {self.tally.sent}: {message.describe()}; {problem}")

    def hub_problem(self) -> str | None:
        """Compare the hub's devices and values with the model (cheap: after every message)."""
        devices = self.hub.devices
        if len(devices) != len(self.model.devices):
            return f"the hub has devices {sorted(devices)}, the model {sorted(self.model.devices)}"
        if self.logs:
            for (source, level), count in self.model.counts.items():
                if (device := devices.get(source)) is None or device.counts[level] != count:
                    return (
                        f"{source} counted {device and device.counts[level]} {level}, sent {count}"
                    )
            return None
        for (device_id, key), value in self.model.values.items():
            device = devices.get(device_id)
            held = None if device is None else device.values.get(key)
            if device is None or not same_value(key, held, value):
                return f"{device_id}/{key}: the hub holds {held!r}, the model {value!r}"
        return None

    async def run(
        self,
        fuzzer: Fuzzer,
        count: int,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Send `count` messages, checking the model every CHECK_EVERY and at the end."""
        assert set(self.hub.protocol.subscriptions) == set(fuzzer.filters)
        # asyncio's debug mode (on in HA's tests) records a stack for every task: HA's MQTT
        # discovery starts a config flow task for most messages on a discovery topic.
        debug = self.hass.loop.get_debug()
        self.hass.loop.set_debug(False)
        try:
            started = time.perf_counter()
            for message in fuzzer.messages(count):
                self.send(message)
                if self.tally.sent % CHECK_EVERY == 0:
                    self.seconds += time.perf_counter() - started
                    await self.checkpoint()
                    if between is not None:
                        await between()
                    started = time.perf_counter()
            self.seconds += time.perf_counter() - started
            await self.checkpoint()
        finally:
            self.hass.loop.set_debug(debug)

    async def checkpoint(self) -> None:
        """Let HA settle, then check logs, devices and every value the model holds."""
        await self.hass.async_block_till_done()
        self.tally.checkpoints += 1
        errors = [r for r in self.caplog.records if r.levelno >= logging.ERROR]
        assert not errors, f"after {self.tally.sent} messages: {errors[0].getMessage()[:2000]}"
        assert set(self.hub.devices) == self.model.devices
        if self.logs:
            self.check_logs()
            return
        for device_id, device in self.hub.devices.items():  # no value the model does not know
            held = set(device.values) - UNMODELLED
            sent = {key for device, key in self.model.values if device == device_id}
            assert held == sent, f"{device_id} holds {sorted(held)}, messages set {sorted(sent)}"
        self.check_values()

    def shown_problem(self, effects: tuple[Effect, ...]) -> str | None:
        """Compare the states a message changed with the model (entities made by then)."""
        for effect in effects:
            if effect.key is None:
                continue
            if not self.logs:
                key = effect.key
                if (value := self.model.values.get((effect.device, key), ABSENT)) is ABSENT:
                    continue  # nothing to show: an address never shown, a restart before year 1
                platform, matches = render_for(key, self.states)
            elif effect.key in PROBLEM_LEVELS:
                if problem := self.problem_lost(effect.device, effect.key):
                    return problem
                continue
            else:
                continue
            entity_id = self.known_entity_id(platform, effect.device, key)
            state = None if entity_id is None else self.hass.states.get(entity_id)
            if (effect.device, key) in self.model.hidden:
                if state is not None and state.state != STATE_UNAVAILABLE:
                    return f"{effect.device}/{key} shows {state.state!r}, not unavailable"
                continue
            if state is not None and not shows(state.state, value, matches):
                return f"{effect.device}/{key} shows {state.state!r}, the model {value!r}"
        return None

    def problem_lost(self, device_id: str, level: str) -> str | None:
        """The latest problem of a level is shown, or held back for its turn (paced)."""
        sent = self.model.last_problems[device_id, level]
        held = self.hub.devices[device_id].held_problems.get(Level(level))
        if held is not None and held.message == sent:
            return None
        if self.shown.get((device_id, level)) == cut(sent, ATTRIBUTE_LENGTH):
            return None
        return f"{device_id}: the last {level} {sent[:80]!r} is neither shown nor held"

    def known_entity_id(self, platform: str, device: str, key: str) -> str | None:
        """Return the entity showing `key` of `device`, None before it is made."""
        cache_key = (platform, device, key)
        if (entity_id := self.entity_ids.get(cache_key)) is None:
            unique_id = f"{self.hub.entry.entry_id}/{device}/{key}"
            registry = er.async_get(self.hass)
            entity_id = registry.async_get_entity_id(platform, DOMAIN, unique_id)
            if entity_id is not None:
                self.entity_ids[cache_key] = entity_id
        return entity_id

    def entity_id(self, platform: str, device: str, key: str) -> str:
        """Return the entity showing `key` of `device` (it must exist by now)."""
        entity_id = self.known_entity_id(platform, device, key)
        assert entity_id is not None, f"no {platform} entity for {device}/{key}"
        return entity_id

    def state(self, platform: str, device: str, key: str) -> str:
        """Return the state of the entity showing `key` of `device`: never unavailable."""
        state = self.hass.states.get(self.entity_id(platform, device, key))
        assert state is not None, f"{device}/{key} has no state"
        assert state.state != STATE_UNAVAILABLE, f"{device}/{key}: {state}"
        return state.state

    def check_values(self) -> None:
        """Every value a message set is still the model's, in the hub and the state."""
        for (device, key), value in self.model.values.items():
            platform, matches = render_for(key, self.states)
            if (device, key) in self.model.hidden:
                state = self.hass.states.get(self.entity_id(platform, device, key))
                assert state is not None
                assert state.state == STATE_UNAVAILABLE, f"{device}/{key} shows {state.state!r}"
                self.tally.values_checked += 1
                continue
            shown = self.state(platform, device, key)
            assert shows(shown, value, matches), f"{device}/{key} shows {shown!r}, model {value!r}"
            self.tally.values_checked += 1
        if not self.hub.has_connectivity:
            return
        reporting = {device for device, _key in self.model.values}
        for device in self.model.devices:
            entity_id = self.entity_id("binary_sensor", device, "connectivity")
            state = self.hass.states.get(entity_id)
            assert state is not None
            # A SpotFi router is connected once a heartbeat came (its status alone: unknown).
            unknown_ok = self.heartbeat_connects and device not in reporting
            assert state.state == STATE_ON or (unknown_ok and state.state == STATE_UNKNOWN), state
            self.tally.values_checked += 1

    def check_logs(self) -> None:
        """Every source counted every valid log; its last problem is the last warn or error."""
        for device_id, device in self.hub.devices.items():
            counted = {level: count for level, count in device.counts.items() if count}
            expected = {
                level: count
                for (source, level), count in self.model.counts.items()
                if source == device_id
            }
            assert counted == expected, f"{device_id}: counted {counted}, sent {expected}"
            self.tally.values_checked += len(expected)
            for level in PROBLEM_LEVELS:
                if (device_id, level) in self.model.last_problems:
                    assert not (problem := self.problem_lost(device_id, level)), problem
                    self.tally.values_checked += 1
            if (shown := self.last_shown.get(device_id)) is not None:
                # The event entity shows the last problem shown, its first line recorded.
                state = self.hass.states.get(self.entity_id("event", device_id, "problem"))
                assert state is not None
                level, message, first_line = shown
                assert state.attributes["event_type"] == PROBLEM_EVENT_TYPES[Level(level)]
                assert state.attributes["message"] == message
                assert state.attributes["first_line"] == first_line
                self.tally.values_checked += 1

    def record(self, reliability: Reliability, family: str) -> None:
        """Record the run's row of RELIABILITY.md (after its assertions passed)."""
        tally = self.tally
        undelivered = tally.sent - tally.delivered
        attacks = ", ".join(f"{name} {count:,}" for name, count in tally.attacks.most_common())
        mqtt_warnings = sum(
            record.name.startswith("homeassistant.components.mqtt")
            for record in self.caplog.records
        )
        reliability.record(
            area="fuzz",
            load=(
                f"{tally.sent:,} messages to the {family} hub via HA's MQTT dispatch:"
                f" {tally.valid:,} valid, {tally.invalid:,} invalid ({tally.partial:,} of them"
                f" partly), {tally.ignored:,} empty (ignored), {undelivered:,} off its"
                f" subscriptions; {len(self.model.devices)} devices"
            ),
            faults=attacks,
            result=(
                f"invalid counter {self.hub.invalid_messages:,} = {tally.invalid:,} invalid"
                f" sent; received {self.hub.messages_received:,} = {tally.delivered:,}"
                " delivered; 0 records at ERROR or above (HA's MQTT layer: 0 errors,"
                f" {mqtt_warnings:,} warnings about topics or payloads it cannot decode),"
                " 0 internal errors; the hub's devices and values equal to the model after"
                f" every delivered message, and {tally.values_checked:,} entity states at"
                f" {tally.checkpoints} checkpoints: none cleared or changed;"
                f" {tally.sent / self.seconds:,.0f} msg/s"
            ),
        )


def entry_for(family: str, base: str, **data: Any) -> MockConfigEntry:
    """An entry of `family` under `base` with the family's default options, except timers.

    A full run takes minutes of real time: no device may go stale meanwhile (a quiet odd id
    would read as cleared) and Janus is not polled (the test makes its own requests).
    """
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"{family} ({base})",
        data={CONF_FAMILY: family, CONF_BASE_TOPIC: base, **data},
        options=default_options(family)
        | {CONF_OFFLINE_TIMEOUT: MAX_OFFLINE_TIMEOUT}
        | ({CONF_POLL_INTERVAL: MAX_POLL_INTERVAL} if family == "janus" else {}),
        unique_id=f"{family}:{base}",
        entry_id=entry_id_for(f"{family}:{base}"),
        version=2,
        minor_version=1,
    )


async def start(
    hass: HomeAssistant, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Set up the entry; capture WARNING and above (debug records for 100k messages cost)."""
    caplog.set_level(logging.WARNING)
    for name in ("homeassistant.components.mqtt", "custom_components.mqtt_fleet"):
        caplog.set_level(logging.WARNING, logger=name)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


@pytest.mark.reliability
@pytest.mark.parametrize("layout", ["A", "B"])
async def test_fuzz_autocore(
    hass: HomeAssistant,
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
    reliability: Reliability,
    layout: str,
) -> None:
    """AutoCore boards of one layout: status, telemetry, relays, displays, system, errors."""
    entry = entry_for("autocore", "autocore")
    await start(hass, entry, caplog)
    run = FuzzRun(hass, entry, caplog, AUTOCORE_STATES)
    await run.run(AutoCoreFuzzer(SEED, layout), MESSAGES)
    assert run.model.values  # good values existed to be cleared
    run.record(reliability, f"AutoCore layout {layout}")


@pytest.mark.reliability
async def test_fuzz_janus(
    hass: HomeAssistant,
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
    reliability: Reliability,
) -> None:
    """Janus statuses and admin replies; a real list_sessions round trip per checkpoint."""
    entry = entry_for("janus", "janus", admin_secret="s3cret")
    await start(hass, entry, caplog)
    run = FuzzRun(hass, entry, caplog, {"sessions": PLAIN})
    fuzzer = JanusFuzzer(SEED)
    rng = random.Random(SEED)  # noqa: S311 - reproducible, not secret

    async def list_sessions() -> None:
        """Ask a server for its sessions; the reply sets the sessions value."""
        server = rng.choice(sorted(run.model.devices & set(fuzzer.good_ids)))
        sessions = [rng.randrange(2**53) for _ in range(rng.randrange(8))]
        mqtt_mock.async_publish.reset_mock()
        call = hass.async_create_task(
            hass.services.async_call(
                DOMAIN,
                SERVICE_LIST_SESSIONS,
                {"server": server, "timeout": 5},
                blocking=True,
                return_response=True,
            )
        )
        for _ in range(100):
            if mqtt_mock.async_publish.call_count:
                break
            await asyncio.sleep(0)
        assert mqtt_mock.async_publish.call_count == 1, "no list_sessions request was sent"
        (topic, payload, *_), _ = mqtt_mock.async_publish.call_args
        assert topic == f"janus/{server}/to-janus-admin"
        request = json.loads(payload)
        assert request["janus"] == "list_sessions"
        reply = {"janus": "success", "transaction": request["transaction"], "sessions": sessions}
        run.send(
            Fuzzed(
                topic=f"janus/{server}/from-janus-admin".encode(),
                payload=json.dumps(reply).encode(),
                qos=1,
                expect=Expect.VALID,
                attack="list_sessions reply",
            )
        )
        assert await call == {"server": server, "count": len(sessions), "sessions": sessions}
        run.model.set_value(Effect(server, "sessions", len(sessions)))

    await run.run(fuzzer, MESSAGES, list_sessions)
    assert run.model.values
    assert len(entry.runtime_data.pending) == 0  # every request was answered
    run.record(reliability, "Janus")


@pytest.mark.reliability
async def test_fuzz_spotfi(
    hass: HomeAssistant,
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
    reliability: Reliability,
) -> None:
    """SpotFi statuses, heartbeats (with the bridge's own faults), RPC and terminal output."""
    entry = entry_for("spotfi", "spotfi/router")
    await start(hass, entry, caplog)
    run = FuzzRun(hass, entry, caplog, SPOTFI_STATES, heartbeat_connects=True)
    await run.run(SpotFiFuzzer(SEED), MESSAGES)
    assert run.model.values
    run.record(reliability, "SpotFi")


@pytest.mark.reliability
async def test_fuzz_container_logs(
    hass: HomeAssistant,
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
    reliability: Reliability,
) -> None:
    """Container logs, single and batched; counters are checked once the hub wrote them."""
    entry = entry_for("container_logs", "container-manager/logs")
    await start(hass, entry, caplog)
    run = FuzzRun(hass, entry, caplog, {}, logs=True)
    await run.run(ContainerLogsFuzzer(SEED), MESSAGES)
    assert run.model.counts

    # The counters write their state on the hub's 10 s timer: one tick, then every state.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=11))
    await hass.async_block_till_done()
    shown = 0
    for (source, level), count in run.model.counts.items():
        if level == "debug":  # disabled by default
            continue
        state = run.state("sensor", source, f"{level}_logs")
        assert int(state) == count, f"{source}/{level}: shows {state}, sent {count}"
        shown += 1
    assert shown
    run.tally.values_checked += shown
    run.record(reliability, "container logs")


LIGATURES: Final = "\ufdfa" * 16  # a safe id whose slug has 272 characters
FOUND: Final = [
    pytest.param(
        "autocore",
        "autocore/d1/status",
        b'{"status": "online", "ip_address": "' + b"x" * 300 + b'"}',
        None,
        ("sensor", "d1", "ip_address", "x" * STATE_LENGTH),
        id="text-over-255-characters",
    ),
    pytest.param(
        "autocore",
        "autocore/d1/status",
        b'{"status": "online", "uptime": 1e308, "ip_address": "10.0.0.1"}',
        "uptime: expected a whole number <= 9223372036854775807",
        ("sensor", "d1", "ip_address", "10.0.0.1"),
        id="whole-number-1e308",
    ),
    pytest.param(
        "autocore",
        "autocore/d1/telemetry",
        b'{"uptime": 1e300, "temperature": 21.5}',
        "uptime: expected a whole number <= 9223372036854775807",
        ("sensor", "d1", "temperature", "21.5"),
        id="telemetry-uptime-1e300",
    ),
    pytest.param(
        "autocore",
        f"autocore/{LIGATURES}/status",
        b'{"status": "online"}',
        None,
        ("binary_sensor", LIGATURES, "connectivity", STATE_ON),
        id="id-with-a-272-character-slug",
    ),
    pytest.param(
        "autocore",
        "autocore/d1/relay/" + "9" * 5000 + "/status",
        b'{"state": true}',
        "relay index '9999999999999999' is not a number from 0 to 255",
        None,
        id="relay-index-of-5000-digits",
    ),
    pytest.param(
        "spotfi",
        "spotfi/router/r1/metrics",
        b'{"metrics": {"uptime": "' + b"9" * 5000 + b'", "cpuLoad": 12.5}}',
        "metrics.uptime: expected a whole number <= 9223372036854775807",
        ("sensor", "r1", "cpu_load", "12.5"),
        id="uptime-of-5000-digits",
    ),
    # An uptime no restart time can show (before the year 1): a valid whole number, so the
    # message stays valid and the last restart is left as it is.
    pytest.param(
        "autocore",
        "autocore/d1/status",
        b'{"status": "online", "uptime": 9223372036854775807, "ip_address": "10.0.0.1"}',
        None,
        ("sensor", "d1", "ip_address", "10.0.0.1"),
        id="status-uptime-before-the-year-1",
    ),
    pytest.param(
        "autocore",
        "autocore/d1/telemetry",
        b'{"uptime": 9007199254740993, "temperature": 21.5}',
        None,
        ("sensor", "d1", "temperature", "21.5"),
        id="telemetry-uptime-before-the-year-1",
    ),
    pytest.param(
        "spotfi",
        "spotfi/router/r1/metrics",
        b'{"metrics": {"uptime": "9007199254740993", "cpuLoad": 12.5}}',
        None,
        ("sensor", "r1", "cpu_load", "12.5"),
        id="metrics-uptime-before-the-year-1",
    ),
    pytest.param(
        "container_logs",
        "container-manager/logs/system/warn",
        b'{"message": "disk full", "level": "warn", "timestamp": 1e20}',
        "timestamp: expected a whole number <= 253402300799999",
        ("sensor", "system", "warn_logs", "1"),
        id="log-timestamp-after-the-year-9999",
    ),
]


@pytest.mark.parametrize(("family", "topic", "payload", "reason", "shown"), FOUND)
async def test_inputs_the_fuzz_found(
    hass: HomeAssistant,
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
    family: str,
    topic: str,
    payload: bytes,
    reason: str | None,
    shown: tuple[str, str, str, str] | None,
) -> None:
    """Regressions: each made HA log an error (a state or entity id it refused) or was an
    internal error. Not part of the reliability tier: one message each.
    """
    base = {"autocore": "autocore", "spotfi": "spotfi/router"}.get(family, topic[:22])
    entry = entry_for(family, base)
    await start(hass, entry, caplog)
    deliver(hass, topic.encode(), payload)
    await hass.async_block_till_done()
    hub = entry.runtime_data
    assert hub.messages_received == 1
    assert [letter.reason for letter in hub.dead_letters] == ([] if reason is None else [reason])
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    if shown is not None:
        platform, device, key, state = shown
        unique_id = f"{hub.entry.entry_id}/{device}/{key}"
        entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
        assert entity_id is not None
        assert hass.states.get(entity_id).state == state


ATTRIBUTE_LENGTH = 2048  # characters of a log text kept in an attribute or event
PROBLEM_LEVELS: Final = ("warn", "error")  # the levels shown as problems


def cut(text: str, limit: int) -> str:
    """A text as the recorder may keep it: at most `limit` characters, "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
