"""RPC and admin load over a real broker: many concurrent actions against slow, jittery peers.

The simulated routers and Janus servers answer every request late, each after its own random
extra wait, so replies overtake each other. Calls with a timeout shorter than that delay give
up first; their replies still come, late, and must find nobody. Each call is matched to its
own request and reply on the wire by the request id or transaction HA used, and its answer
must be that reply's (a per-request echo, the router's or server's own topic): nothing may be
misrouted, and no pending map may keep anything once the calls have ended.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
import logging
import signal
from typing import TYPE_CHECKING, Any

from homeassistant.const import STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet.const import DOMAIN, LOGGER
from custom_components.mqtt_fleet.protocol.spotfi import DEFAULT_RPC_ALLOW_LIST

from ..families.janus.helpers import janus_entry
from ..families.spotfi.helpers import spotfi_entry
from ..report import scaled
from .helpers import (
    JANUS_BASE,
    JANUS_SPOTFI_WIRE_TOPICS,
    JANUS_UID,
    SPOTFI_BASE,
    SPOTFI_UID,
    connectivity,
    loop_errors,
    request_keys,
    rpc_call,
    shown,
    wait_for,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from homeassistant.core import HomeAssistant

    from custom_components.mqtt_fleet.families.janus import JanusHub
    from custom_components.mqtt_fleet.families.spotfi import SpotFiHub
    from custom_components.mqtt_fleet.protocol.correlation import PendingReplies

    from ..report import Reliability
    from .helpers import Fleet, Simulator, Wire, WireMessage

pytestmark = [pytest.mark.broker, pytest.mark.reliability]

RPC_CALLS = scaled(200, 500)
LIST_SESSIONS_CALLS = scaled(60, 100)
ROUTERS = 5
SERVERS = 4
SECRET = "load-test-secret"
REPLY_DELAY = 1.5  # seconds every reply is late by
REPLY_JITTER = 1.0  # a further random 0..1 s per reply: replies overtake each other
SHORT_TIMEOUT = 0.5  # below the delay: these calls time out and their replies come late
LONG_TIMEOUT = 30.0  # far above delay + jitter, for two shared cores under load
SHORT_EVERY = 4  # every 4th call has the short timeout
UNKNOWN_EVERY = 10  # every 10th RPC asks for an interface the router lacks: an error reply
LATE_REPLY_WAIT = 20.0  # seconds for the last late reply to arrive and be ignored


# --- helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """One family's request and reply topics, the field pairing them, the stray-reply log."""

    requests: str
    replies: str
    key: str
    ignored: str


RPC = Traffic(
    f"{SPOTFI_BASE}/+/rpc/request",
    f"{SPOTFI_BASE}/+/rpc/response",
    "id",
    "Ignored an RPC result nobody waits for on %s",
)
ADMIN = Traffic(
    f"{JANUS_BASE}/+/to-janus-admin",
    f"{JANUS_BASE}/+/from-janus-admin",
    "transaction",
    "Ignored an admin reply nobody waits for on %s",
)


@dataclass
class Outcome:
    """One action call: the ids it sent requests under, and its answer or error."""

    keys: list[str] = field(default_factory=list)
    response: dict[str, Any] | None = None
    error: HomeAssistantError | None = None

    def failed_with(self, translation_key: str, placeholders: dict[str, str]) -> bool:
        """Tell whether the call raised exactly this translated error."""
        return (
            self.error is not None
            and self.error.translation_key == translation_key
            and self.error.translation_placeholders == placeholders
        )


@dataclass(frozen=True)
class LoadRun:
    """What a run did: each call's outcome, and every request and reply on the wire."""

    outcomes: list[Outcome]
    seconds: float
    requests: dict[str, WireMessage]
    replies: dict[str, WireMessage]
    ignored: Counter[str]  # late replies the integration ignored, per topic

    def exchange(self, outcome: Outcome) -> tuple[WireMessage, WireMessage] | None:
        """Return the one request a call sent and the reply to it, as seen on the wire."""
        if len(outcome.keys) != 1:
            return None
        (key,) = outcome.keys
        request, reply = self.requests.get(key), self.replies.get(key)
        return None if request is None or reply is None else (request, reply)


async def run_concurrently(
    pending: PendingReplies[Any], calls: list[Callable[[], Any]]
) -> list[Outcome]:
    """Start every call at once; return each one's request ids and answer, in order."""
    outcomes = [Outcome() for _ in calls]
    tasks: dict[Any, Outcome] = {}

    async def one(call: Callable[[], Any], outcome: Outcome) -> None:
        tasks[asyncio.current_task()] = outcome
        try:
            outcome.response = await call()
        except HomeAssistantError as err:
            outcome.error = err

    with request_keys(pending) as keys:
        await asyncio.gather(
            *(one(call, outcome) for call, outcome in zip(calls, outcomes, strict=True))
        )
    for task, outcome in tasks.items():
        outcome.keys = keys[task]
    return outcomes


async def run_load(
    hass: HomeAssistant,
    wire: Wire,
    caplog: pytest.LogCaptureFixture,
    pending: PendingReplies[Any],
    traffic: Traffic,
    calls: list[Callable[[], Any]],
    late: int,
) -> LoadRun:
    """Run every call at once, then let the `late` replies come: nothing may go wrong.

    No unhandled exception, nothing logged at error (nor a warning of ours), and no
    request left pending, neither when the calls have ended nor after the late replies.
    The hub's own requests must be answered before (see `own_requests_settled`): the run's
    requests and replies are those on the wire from here on.
    """
    loop = asyncio.get_running_loop()
    mark = wire.mark()
    with loop_errors(loop) as errors:
        started = loop.time()
        outcomes = await run_concurrently(pending, calls)
        seconds = loop.time() - started
        assert len(pending) == 0
        await wait_for(
            lambda: ignored_topics(caplog, traffic).total() >= late,
            LATE_REPLY_WAIT,
            "every late reply to arrive and be ignored",
        )
        await wait_for(
            lambda: len(wire.messages(traffic.replies, mark)) >= len(calls),
            what="our own recorder to have every reply",
        )
        await hass.async_block_till_done()
    assert errors == []
    assert serious_records(caplog) == []
    assert len(pending) == 0
    return LoadRun(
        outcomes,
        seconds,
        by_key(wire.messages(traffic.requests, mark), traffic.key),
        by_key(wire.messages(traffic.replies, mark), traffic.key),
        ignored_topics(caplog, traffic),
    )


async def own_requests_settled(
    wire: Wire, traffic: Traffic, pending: PendingReplies[Any], done: Callable[[], bool]
) -> None:
    """Wait until the requests the hub sends by itself when devices come online are over.

    Janus servers are polled once they connect, SpotFi routers asked `system board`:
    every such request has its reply on the wire and none waits in the hub.
    """

    def settled() -> bool:
        requests = by_key(wire.messages(traffic.requests), traffic.key)
        replies = by_key(wire.messages(traffic.replies), traffic.key)
        return done() and requests.keys() <= replies.keys() and len(pending) == 0

    await wait_for(settled, LATE_REPLY_WAIT, "the hub's own requests to be answered")


def timeout_of(number: int) -> float:
    """Every SHORT_EVERY-th call gives up before its reply can come."""
    return SHORT_TIMEOUT if number % SHORT_EVERY == 0 else LONG_TIMEOUT


async def all_connected(hass: HomeAssistant, uid: str, devices: list[str]) -> None:
    """Wait until every device of the entry shows as connected."""
    await wait_for(
        lambda: connectivity(hass, uid, devices) == [STATE_ON] * len(devices),
        what=f"all of {devices} connected",
    )


def by_key(messages: list[WireMessage], key: str) -> dict[str, WireMessage]:
    """Index JSON messages by one field (a request id or a transaction)."""
    return {message.json()[key]: message for message in messages}


def ignored_topics(caplog: pytest.LogCaptureFixture, traffic: Traffic) -> Counter[str]:
    """Count, per topic, the replies the integration logged as awaited by nobody."""
    return Counter(
        str(record.args[0]) for record in caplog.records if record.msg == traffic.ignored
    )


def serious_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors from anywhere, and warnings of the integration: none may occur under load."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
        or (record.levelno >= logging.WARNING and record.name.startswith(LOGGER.name))
    ]


@pytest.fixture
def wire_topics() -> tuple[str, ...]:
    """Record both families' topics (as test_janus_spotfi_broker.py does)."""
    return JANUS_SPOTFI_WIRE_TOPICS


@pytest.fixture
def simulator_stop_signal() -> int:
    """Stop the simulator at once: SIGTERM only cuts these devices off, a bit more slowly."""
    return signal.SIGKILL


@pytest.fixture
def our_debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture the integration's own debug records (the ignored late replies)."""
    with caplog.at_level(logging.DEBUG, logger=LOGGER.name):
        yield caplog


# --- 500 concurrent rpc_call ---------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRpc:
    """One planned rpc_call: an echo of its own number, or an interface the router lacks."""

    number: int
    router: str
    timeout: float

    @property
    def unknown_interface(self) -> bool:
        """Every 10th call (with a long timeout) gets an error reply naming its interface."""
        return self.timeout == LONG_TIMEOUT and self.number % UNKNOWN_EVERY == UNKNOWN_EVERY - 1

    @property
    def path(self) -> str:
        """The ubus object."""
        return f"network.interface.if{self.number}" if self.unknown_interface else "file"

    @property
    def method(self) -> str:
        """The ubus method."""
        return "status" if self.unknown_interface else "exec"

    @property
    def args(self) -> dict[str, Any]:
        """`echo <router> <number>`: an answer no other call can have."""
        if self.unknown_interface:
            return {}
        return {"command": "echo", "params": [self.router, self.number]}


class TestRpcLoad:
    """Five routers answering RPC late and out of order; file.exec is allowed for the echo."""

    @pytest.fixture
    def config_entry(self) -> MockConfigEntry:
        """The SpotFi entry, with `file.exec` added to the allow-list for the echo."""
        return spotfi_entry(SPOTFI_BASE, rpc_allow_list=[*DEFAULT_RPC_ALLOW_LIST, "file.exec"])

    @pytest.fixture
    def simulator_options(self) -> dict[str, Any]:
        """Routers only, slow to answer RPC."""
        return {
            "layout_a": 0,
            "layout_b": 0,
            "spotfi": ROUTERS,
            "spotfi_reply_delay": REPLY_DELAY,
            "reply_jitter": REPLY_JITTER,
        }

    async def test_concurrent_rpc_calls_late_replies_ignored(
        self,
        fleet: Fleet,
        simulator: Simulator,
        wire: Wire,
        our_debug_logs: pytest.LogCaptureFixture,
        reliability: Reliability,
    ) -> None:
        """All calls at once: each gets its own reply or times out; late replies find nobody."""
        hass = fleet.hass
        hub: SpotFiHub = fleet.entry.runtime_data
        routers = simulator.spotfi
        await all_connected(hass, SPOTFI_UID, routers)

        def boards_asked() -> bool:
            asked = {
                message.topic.split("/")[2]
                for message in wire.messages(RPC.requests)
                if (message.json()["path"], message.json()["method"]) == ("system", "board")
            }
            return asked == set(routers)

        await own_requests_settled(wire, RPC, hub.pending, boards_asked)
        plan = [
            PlannedRpc(number, routers[number % ROUTERS], timeout_of(number))
            for number in range(RPC_CALLS)
        ]
        timed_out = [call for call in plan if call.timeout == SHORT_TIMEOUT]
        run = await run_load(
            hass,
            wire,
            our_debug_logs,
            hub.pending,
            RPC,
            [
                lambda call=call: rpc_call(
                    hass, call.router, call.path, call.method, args=call.args, timeout=call.timeout
                )
                for call in plan
            ],
            late=len(timed_out),
        )

        misrouted = [
            (call, outcome)
            for call, outcome in zip(plan, run.outcomes, strict=True)
            if not self.answered_by_own_reply(call, outcome, run)
        ]
        assert misrouted == []
        assert len(run.requests) == len(run.replies) == RPC_CALLS
        # Every late reply reached HA and was ignored, on its own router's topic.
        assert run.ignored == Counter(
            f"{SPOTFI_BASE}/{call.router}/rpc/response" for call in timed_out
        )
        assert hub.invalid_messages == 0, list(hub.dead_letters)

        answered = sum(outcome.response is not None for outcome in run.outcomes)
        refused = sum(call.unknown_interface for call in plan)
        reliability.record(
            area="load",
            load=(
                f"{RPC_CALLS} concurrent rpc_call over {ROUTERS} simulated routers, real mosquitto"
            ),
            faults=(
                f"every reply {REPLY_DELAY:g} s late + 0-{REPLY_JITTER:g} s jitter (out of"
                f" order); {len(timed_out)} calls with a {SHORT_TIMEOUT:g} s timeout;"
                f" {refused} calls for a missing interface"
            ),
            result=(
                f"{answered} answered with their own echo, {refused} error replies,"
                f" {len(timed_out)} timed out; 0 misrouted; {run.ignored.total()} late"
                " replies ignored; 0 invalid, 0 errors logged; pending map empty;"
                f" {run.seconds:.1f} s"
            ),
        )

    @staticmethod
    def answered_by_own_reply(call: PlannedRpc, outcome: Outcome, run: LoadRun) -> bool:
        """Tell whether a call sent its one request and got exactly what its reply says."""
        if (exchange := run.exchange(outcome)) is None:
            return False
        request, reply = exchange
        topic = f"{SPOTFI_BASE}/{call.router}/rpc"
        body = reply.json()
        if (request.topic, reply.topic) != (f"{topic}/request", f"{topic}/response"):
            return False
        if request.json() != {
            "type": "rpc",
            "id": body["id"],
            "path": call.path,
            "method": call.method,
            "args": call.args,
        }:
            return False
        if call.timeout == SHORT_TIMEOUT:
            return outcome.failed_with(
                "rpc_no_reply", {"router": call.router, "timeout": f"{SHORT_TIMEOUT:g}"}
            )
        if call.unknown_interface:
            return body["status"] == "error" and outcome.failed_with(
                "rpc_failed",
                {
                    "router": call.router,
                    "name": f"{call.path}.{call.method}",
                    "details": f"{body['error']}: {body['stderr'].strip()}",
                },
            )
        return (
            outcome.response
            == body["result"]
            == {
                "code": 0,
                "stdout": f"{call.router} {call.number}\n",
            }
        )


# --- 100 concurrent list_sessions ----------------------------------------------------------


class TestAdminLoad:
    """Four Janus servers answering admin requests late and out of order."""

    @pytest.fixture
    def config_entry(self) -> MockConfigEntry:
        """The Janus entry; its own poll is an hour away: only its first poll runs, then the
        test's requests."""
        return janus_entry(JANUS_BASE, SECRET, poll_interval=3600, offline_timeout=7200)

    @pytest.fixture
    def simulator_options(self) -> dict[str, Any]:
        """Janus servers only, slow to answer the admin API."""
        return {
            "layout_a": 0,
            "layout_b": 0,
            "janus": SERVERS,
            "janus_secret": SECRET,
            "janus_reply_delay": REPLY_DELAY,
            "reply_jitter": REPLY_JITTER,
        }

    async def test_concurrent_list_sessions_late_replies_ignored(
        self,
        fleet: Fleet,
        simulator: Simulator,
        wire: Wire,
        our_debug_logs: pytest.LogCaptureFixture,
        reliability: Reliability,
    ) -> None:
        """All calls at once: each answers its own transaction's sessions, or times out."""
        hass = fleet.hass
        hub: JanusHub = fleet.entry.runtime_data
        servers = simulator.janus
        await all_connected(hass, JANUS_UID, servers)
        # A server is polled once it connects: its count shows once that poll is over.
        await own_requests_settled(
            wire,
            ADMIN,
            hub.pending,
            lambda: all(
                shown(hass, JANUS_UID, server, "sessions")
                not in (None, STATE_UNAVAILABLE, STATE_UNKNOWN)
                for server in servers
            ),
        )
        plan = [
            (servers[number % SERVERS], timeout_of(number)) for number in range(LIST_SESSIONS_CALLS)
        ]
        timed_out = [server for server, timeout in plan if timeout == SHORT_TIMEOUT]
        run = await run_load(
            hass,
            wire,
            our_debug_logs,
            hub.pending,
            ADMIN,
            [
                lambda server=server, timeout=timeout: self.list_sessions(hass, server, timeout)
                for server, timeout in plan
            ],
            late=len(timed_out),
        )

        misrouted = [
            (server, timeout, outcome)
            for (server, timeout), outcome in zip(plan, run.outcomes, strict=True)
            if not self.answered_by_own_reply(server, timeout, outcome, run)
        ]
        assert misrouted == []
        assert len(run.requests) == len(run.replies) == LIST_SESSIONS_CALLS
        assert run.ignored == Counter(
            f"{JANUS_BASE}/{server}/from-janus-admin" for server in timed_out
        )
        assert hub.invalid_messages == 0, list(hub.dead_letters)

        answered = sum(outcome.response is not None for outcome in run.outcomes)
        reliability.record(
            area="load",
            load=(
                f"{LIST_SESSIONS_CALLS} concurrent list_sessions over {SERVERS} simulated"
                " Janus servers, real mosquitto"
            ),
            faults=(
                f"every reply {REPLY_DELAY:g} s late + 0-{REPLY_JITTER:g} s jitter (out of"
                f" order); {len(timed_out)} calls with a {SHORT_TIMEOUT:g} s timeout"
            ),
            result=(
                f"{answered} answered with their own transaction's sessions,"
                f" {len(timed_out)} timed out; 0 misrouted; {run.ignored.total()} late"
                " replies ignored; 0 invalid, 0 errors logged; pending map empty;"
                f" {run.seconds:.1f} s"
            ),
        )

    @staticmethod
    async def list_sessions(hass: HomeAssistant, server: str, timeout: float) -> dict[str, Any]:
        """Call the list_sessions action with a timeout."""
        response = await hass.services.async_call(
            DOMAIN,
            "list_sessions",
            {"server": server, "timeout": timeout},
            blocking=True,
            return_response=True,
        )
        assert response is not None
        return dict(response)

    @staticmethod
    def answered_by_own_reply(server: str, timeout: float, outcome: Outcome, run: LoadRun) -> bool:
        """Tell whether a call sent its one request and answered exactly its own reply."""
        if (exchange := run.exchange(outcome)) is None:
            return False
        request, reply = exchange
        body = reply.json()
        if (request.topic, reply.topic) != (
            f"{JANUS_BASE}/{server}/to-janus-admin",
            f"{JANUS_BASE}/{server}/from-janus-admin",
        ) or request.json() != {
            "janus": "list_sessions",
            "transaction": body["transaction"],
            "admin_secret": SECRET,
        }:
            return False
        if timeout == SHORT_TIMEOUT:
            return outcome.failed_with(
                "janus_no_reply", {"server": server, "timeout": f"{SHORT_TIMEOUT:g}"}
            )
        return body["janus"] == "success" and outcome.response == {
            "server": server,
            "count": len(body["sessions"]),
            "sessions": body["sessions"],
        }
