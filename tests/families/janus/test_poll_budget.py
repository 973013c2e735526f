"""The Janus poll budget: polls spread over the interval, a hard cap on requests a second.

Issue 14: every server used to be polled in one burst each interval; 9,200 fake servers
made that 920 publishes a second and stalled HA's loop.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.dispatcher import async_dispatcher_send
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)

from custom_components.mqtt_fleet.diagnostics import async_get_config_entry_diagnostics
from custom_components.mqtt_fleet.families.janus.hub import (
    MAX_POLLS_PER_SECOND,
    POLL_TICK,
    RECONNECT_POLL_DELAY,
    JanusHub,
)
from custom_components.mqtt_fleet.families.janus.poll_schedule import PollRound, RequestBudget

from ... import clock
from .helpers import AdminTraffic, answer, call_list_sessions, status

type Tick = list[tuple[str, dict[str, Any]]]  # the admin requests one tick sent

TICKS_PER_SECOND = round(1 / POLL_TICK)
STRETCHED = "need more than"  # in the one info line about a stretched interval


def servers(count: int) -> list[str]:
    return [f"gw{number:04}" for number in range(count)]


async def run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    traffic: AdminTraffic,
    seconds: float,
    answering: Container[str] = (),
) -> list[Tick]:
    """Let the poll timer tick for `seconds`; return the admin requests of each tick.

    Servers in `answering` answer at once, as running servers do: a poll may send its
    next request (list_sessions after info) in the same tick.
    """
    ticks = []
    for _ in range(round(seconds / POLL_TICK)):
        freezer.tick(timedelta(seconds=POLL_TICK))
        async_fire_time_changed_exact(hass)
        await clock.settle(hass)
        sent = traffic.take()
        answered = 0
        while answers := [
            (server, body) for server, body in sent[answered:] if server in answering
        ]:
            answered = len(sent)
            await answer(hass, answers)
            sent += traffic.take()
        ticks.append(sent)
    return ticks


def busiest_second(ticks: list[Tick]) -> int:
    """Return the most requests started in one second: any run of consecutive ticks."""
    return max(
        sum(len(tick) for tick in ticks[start : start + TICKS_PER_SECOND])
        for start in range(len(ticks))
    )


def asked(ticks: list[Tick], kind: str) -> list[list[str]]:
    """Return the servers asked for `kind`, tick by tick."""
    return [[server for server, body in tick if body["janus"] == kind] for tick in ticks]


def flat(per_tick: list[list[str]]) -> list[str]:
    return [server for tick in per_tick for server in tick]


# --- the schedule on its own ------------------------------------------------------------


def test_round_takes_turns_in_order_at_the_rate() -> None:
    """Three servers in 3 s: one a second, in order; an id that left drops out for free."""
    schedule = PollRound(interval=3, max_rate=20, tick=0.25, now=0)
    for server in ("a", "b", "c"):
        schedule.add(server)
    schedule.add("a")  # already in the round
    assert (len(schedule), schedule.rate, schedule.period) == (3, 1, 3)
    present = {"a", "b", "c"}
    turns = []
    for quarter in range(1, 29):
        schedule.accrue(quarter / 4)
        while (key := schedule.take(present)) is not None:
            turns.append((quarter / 4, key))
        if quarter == 12:
            present.discard("b")  # removed: its next turn goes to c, it leaves the round
    # Two servers left in 3 s: one turn every 1.5 s.
    assert turns == [(1, "a"), (2, "b"), (3, "c"), (4, "a"), (5, "c"), (6.5, "a")]
    assert len(schedule) == 2
    assert schedule.last_lap == 2  # the round of a and c that ended at 5 s


def test_round_stretches_and_never_catches_up_in_a_burst() -> None:
    schedule = PollRound(interval=10, max_rate=20, tick=0.25, now=0)
    for number in range(1000):
        schedule.add(f"s{number}")
    assert schedule.stretched
    assert (schedule.rate, schedule.period) == (20, 50)
    present = {f"s{number}" for number in range(1000)}
    schedule.accrue(0.25)
    assert [schedule.take(present) for _ in range(6)] == ["s0", "s1", "s2", "s3", "s4", None]
    schedule.accrue(60)  # a loop stalled for a minute: still one tick's share
    assert sum(1 for _ in iter(lambda: schedule.take(present), None)) == 5
    schedule.resume(61)  # after a pause, one turn at once
    assert schedule.take(present) == "s10"
    assert schedule.take(present) is None


def test_hurried_servers_come_first_once_and_cost_no_credit() -> None:
    """Setup and reconnects put servers first in line; the round's pacing is untouched."""
    poll_round = PollRound(10, 20, 0.25, 0.0)
    present = {"a", "b", "c"}
    for key in sorted(present):
        poll_round.add(key)
    for key in ("c", "a", "c", "gone"):
        poll_round.hurry(key)
    assert poll_round.take_hurried(present) == "c"
    assert poll_round.take_hurried(present) == "a"
    assert poll_round.take_hurried(present) is None  # "gone" left; "c" was in line once
    poll_round.accrue(0.0)
    assert poll_round.take(present) is None  # no time passed: the round earned no turn
    poll_round.accrue(10 / 3)
    assert poll_round.take(present) == "a"  # the round starts where it always did


def test_budget_is_a_sliding_second() -> None:
    budget = RequestBudget(3)
    for now in (0, 0.25, 0.5):
        assert budget.has_room(now)
        budget.spend(now)
    assert not budget.has_room(0.75)
    assert not budget.has_room(0.999)
    assert budget.has_room(1.0)  # the first start is a second old


# --- the hub ----------------------------------------------------------------------------


@pytest.mark.parametrize("platforms", [[]])
@pytest.mark.parametrize("janus_options", [{"servers": servers(100)}])
async def test_100_servers_are_spread_over_the_interval(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """10 s, 100 servers: each polled once a round at its own offset, 2 or 3 a tick."""
    caplog.set_level(logging.INFO)
    traffic = AdminTraffic(mqtt_mock)
    first = await run(hass, freezer, traffic, 10, answering=set(servers(100)))
    # The first round asks info, then list_sessions once it is answered: 20 a second.
    assert sorted(flat(asked(first, "info"))) == servers(100)
    assert sorted(flat(asked(first, "list_sessions"))) == servers(100)
    assert {len(tick) for tick in asked(first, "info")} == {2, 3}
    assert busiest_second(first) <= MAX_POLLS_PER_SECOND

    second = await run(hass, freezer, traffic, 10, answering=set(servers(100)))
    assert flat(asked(second, "info")) == []
    assert flat(asked(second, "list_sessions")) == flat(asked(first, "info"))  # same order
    assert {len(tick) for tick in second} == {2, 3}
    assert busiest_second(first + second) <= MAX_POLLS_PER_SECOND
    hub: JanusHub = janus.runtime_data
    assert hub.as_diagnostics()["poll_interval_effective"] == 10
    assert hub.as_diagnostics()["poll_round_seconds"] == 10
    assert STRETCHED not in caplog.text


@pytest.mark.parametrize("platforms", [[]])
@pytest.mark.parametrize("janus_options", [{"servers": servers(1000)}])
async def test_1000_servers_stay_within_the_budget(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """More servers than 20 polls a second cover in 10 s: each polled every 50 s instead."""
    caplog.set_level(logging.INFO)
    hub: JanusHub = janus.runtime_data
    for device in hub.devices.values():
        device.has_info = True  # one request a poll: as after a first round
    traffic = AdminTraffic(mqtt_mock)
    # Nobody answers: a poll gives up after 5 s, long before the server's next turn.
    ticks = await run(hass, freezer, traffic, 55)
    assert busiest_second(ticks) <= MAX_POLLS_PER_SECOND
    assert max(len(tick) for tick in ticks) <= MAX_POLLS_PER_SECOND * POLL_TICK
    listed = asked(ticks, "list_sessions")
    assert sorted(flat(listed[: 50 * TICKS_PER_SECOND])) == servers(1000)  # each once in 50 s
    assert flat(listed[50 * TICKS_PER_SECOND :]) == flat(listed)[:100]  # then round again
    assert flat(asked(ticks, "info")) == []
    assert hub.as_diagnostics()["poll_interval_effective"] == 50  # 1,000 / 20 a second
    assert caplog.text.count(STRETCHED) == 1

    # The list_sessions action is the user's: it goes out at once, budget spent or not.
    assert sum(len(tick) for tick in ticks[-TICKS_PER_SECOND:]) == MAX_POLLS_PER_SECOND
    call = call_list_sessions(hass, {"server": "gw0500"})
    await clock.settle(hass)
    ((server, body),) = traffic.take()
    assert (server, body["janus"]) == ("gw0500", "list_sessions")
    await answer(hass, [(server, body)])
    assert await call == {"server": "gw0500", "count": 0, "sessions": []}


@pytest.mark.parametrize("platforms", [[]])
@pytest.mark.parametrize("janus_options", [{"servers": servers(300)}])
async def test_a_stretched_interval_shows_in_diagnostics_and_one_log_line(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """300 servers: 15 s planned; the first round, two requests a server, takes twice that."""
    caplog.set_level(logging.INFO)
    diagnostics = await async_get_config_entry_diagnostics(hass, janus)
    assert diagnostics["hub"]["poll_interval_effective"] == 15  # 300 / 20 a second
    assert diagnostics["hub"]["poll_round_seconds"] is None  # no round timed yet

    traffic = AdminTraffic(mqtt_mock)
    ticks = await run(hass, freezer, traffic, 30.25, answering=set(servers(300)))
    assert busiest_second(ticks) <= MAX_POLLS_PER_SECOND
    infos = asked(ticks, "info")
    assert sorted(flat(infos)) == servers(300)
    assert max(len(tick) for tick in infos) <= MAX_POLLS_PER_SECOND * POLL_TICK
    # The round took 30 s (300 * 2 requests at 20 a second); then the next one began.
    assert not infos[-1]
    assert asked(ticks, "list_sessions")[-1] == servers(300)[:5]
    assert caplog.text.count(STRETCHED) == 1
    assert "300 Janus servers need more than 20 admin polls a second" in caplog.text


@pytest.mark.parametrize(
    "janus_options", [{"servers": ["gw1", "gw2", "gw3", "gw4"], "poll_interval": 2}]
)
async def test_offline_busy_and_removed_servers_are_skipped(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A turn passes for a server known offline or still busy; a removed one leaves."""
    hub: JanusHub = janus.runtime_data
    await status(hass, "gw2", '{"online": false}')
    traffic = AdminTraffic(mqtt_mock)
    # gw1 and gw4 never answer: a poll waits 5 s for info, 5 more for list_sessions.
    ticks = await run(hass, freezer, traffic, 10, answering={"gw3"})
    polls = flat(asked(ticks, "info")) + flat(asked(ticks, "list_sessions"))
    assert polls.count("gw2") == 0
    assert flat(asked(ticks, "info")).count("gw1") == 1  # its next four turns: busy
    assert flat(asked(ticks, "info")).count("gw4") == 1
    assert flat(asked(ticks, "list_sessions")).count("gw3") == 5  # every 2 s, at 1.5 s

    hub.async_remove_device("gw4")
    ticks = await run(hass, freezer, traffic, 10, answering={"gw3"})
    assert [server for tick in ticks for server, _ in tick if server == "gw4"] == []
    assert flat(asked(ticks, "info")).count("gw1") == 1  # its first poll over: asked again
    assert hub.as_diagnostics()["poll_interval_effective"] == 2


@pytest.mark.parametrize("platforms", [[]])
@pytest.mark.parametrize("janus_options", [{"servers": servers(40)}])
async def test_a_reconnect_spreads_the_polls_again(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Every poll in flight is dropped at a reconnect; they start again one by one."""
    hub: JanusHub = janus.runtime_data
    traffic = AdminTraffic(mqtt_mock)
    ticks = await run(hass, freezer, traffic, 10)  # nobody answers: 40 polls in flight
    assert sorted(flat(asked(ticks, "info"))) == servers(40)
    assert len(hub.pending) > 20

    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await clock.settle(hass)
    assert len(hub.pending) == 0
    paused = await run(hass, freezer, traffic, RECONNECT_POLL_DELAY - POLL_TICK)
    assert not any(paused)

    ticks = await run(hass, freezer, traffic, 10)
    infos = asked(ticks, "info")
    assert sorted(flat(infos)) == servers(40)  # all of them again, one a tick: 4 a second
    assert {len(tick) for tick in infos} == {1}
    assert busiest_second(ticks) <= MAX_POLLS_PER_SECOND
