"""Janus gateways and SpotFi routers end to end: tools/simulator -> mosquitto -> HA.

Every message crosses a real broker. Our own paho subscriber (`wire`) records both
families' topics, so what HA shows and answers is checked against what the simulated
servers and routers really sent (docs/protocols.md, sections "Janus" and "SpotFi"), request
by request:
actions are matched to their wire traffic by the transaction or request id HA used.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
import math
import signal
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components.mqtt import async_publish
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfInformation,
)
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import BaseUnitConverter, InformationConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.mqtt_fleet.const import DOMAIN, EVENT_DEVICE_OFFLINE, EVENT_DEVICE_ONLINE
from custom_components.mqtt_fleet.protocol.spotfi import DEFAULT_RPC_ALLOW_LIST
from tools.simulator import openwrt

from ..common import default_options, device_by_identifier
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
    state_of,
    wait_for,
)

if TYPE_CHECKING:
    from custom_components.mqtt_fleet.families.janus import JanusHub
    from custom_components.mqtt_fleet.families.spotfi import SpotFiHub

    from .helpers import Broker, Fleet, Simulator, Wire, WireMessage

pytestmark = pytest.mark.broker

SECRET = "fleet-test-secret"
SERVERS = ["janus-01", "janus-02"]
POLL_INTERVAL = 2  # seconds, the option's minimum
# Our own message through HA's MQTT client: HA publishes in order, so whatever HA sends
# after it reaches the wire after it. Under janus/ for the recorder, outside HA's filters.
BARRIER_TOPIC = f"{JANUS_BASE}/mqtt-fleet-tests/barrier"


# --- helpers -------------------------------------------------------------------------------


def number(text: str | None) -> float | None:
    """Return a numeric state as a float; None for no entity, unknown or unavailable."""
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


def hub_sensor(hass: HomeAssistant, uid: str, key: str) -> str | None:
    """Return the state string of one of the hub's own sensors."""
    found = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{uid}/{key}")
    return None if found is None else getattr(hass.states.get(found), "state", None)


def in_unit(state: State | None, converter: type[BaseUnitConverter], unit: str) -> float:
    """Return a sensor's value in `unit`, whichever unit HA chose to show it in."""
    assert state is not None
    assert state.state not in (STATE_UNAVAILABLE, "unknown"), state
    return converter.convert(float(state.state), state.attributes[ATTR_UNIT_OF_MEASUREMENT], unit)


def shown_value_matches(
    state: State | None, converter: type[BaseUnitConverter], unit: str, expected: float
) -> bool:
    """Tell whether a converted sensor shows `expected` (in `unit`) up to its rounding."""
    if state is None or state.state in (STATE_UNAVAILABLE, "unknown"):
        return False
    decimals = len(state.state.partition(".")[2])
    shown_unit = state.attributes[ATTR_UNIT_OF_MEASUREMENT]
    half_step = converter.convert(0.5 * 10**-decimals, shown_unit, unit)
    return math.isclose(in_unit(state, converter, unit), expected, abs_tol=half_step * 1.0001)


def restart_matches(state: State | None, uptime: int) -> bool:
    """Tell whether a last restart sensor dates the boot an uptime just sent counts from.

    The uptime is whole seconds, sent up to a heartbeat ago; the time shown whole seconds.
    """
    if state is None or state.attributes.get(ATTR_DEVICE_CLASS) != SensorDeviceClass.UPTIME:
        return False
    if (restarted := dt_util.parse_datetime(state.state)) is None:
        return False
    return abs((dt_util.utcnow() - restarted).total_seconds() - uptime) <= 3


def registry_device(hass: HomeAssistant, uid: str, device: str) -> dr.DeviceEntry | None:
    """Return a fleet device's registry entry."""
    return device_by_identifier(dr.async_get(hass), f"{uid}/{device}")


def sw_version(hass: HomeAssistant, uid: str, device: str) -> str | None:
    """Return the firmware a device's registry entry shows (its version is no sensor)."""
    return getattr(registry_device(hass, uid, device), "sw_version", None)


# Janus on the wire


def admin_requests(
    wire: Wire, server: str, kind: str | None = None, since: int = 0
) -> list[WireMessage]:
    """Return the admin requests to `server` (of one kind) since a mark."""
    return [
        message
        for message in wire.messages(f"{JANUS_BASE}/{server}/to-janus-admin", since)
        if kind is None or message.json().get("janus") == kind
    ]


def admin_reply(wire: Wire, server: str, transaction: str) -> dict[str, Any] | None:
    """Return the server's reply to one transaction, as seen on the wire."""
    for message in wire.messages(f"{JANUS_BASE}/{server}/from-janus-admin"):
        if (reply := message.json()).get("transaction") == transaction:
            return reply  # type: ignore[no-any-return]
    return None


def last_sessions_reply(wire: Wire, server: str, since: int = 0) -> dict[str, Any] | None:
    """Return the server's reply to the newest list_sessions request it answered."""
    for request in reversed(admin_requests(wire, server, "list_sessions", since)):
        if (reply := admin_reply(wire, server, request.json()["transaction"])) is not None:
            return reply
    return None


def sessions_shown(hass: HomeAssistant, wire: Wire, server: str, since: int = 0) -> bool:
    """Tell whether the sessions sensor shows the count of the newest reply on the wire."""
    reply = last_sessions_reply(wire, server, since)
    return (
        reply is not None
        and reply.get("janus") == "success"
        and shown(hass, JANUS_UID, server, "sessions") == str(len(reply["sessions"]))
    )


async def list_sessions(hass: HomeAssistant, server: str) -> dict[str, Any]:
    """Call the list_sessions action."""
    response = await hass.services.async_call(
        DOMAIN, "list_sessions", {"server": server}, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


async def checked_list_sessions(
    hass: HomeAssistant, hub: JanusHub, wire: Wire, server: str
) -> dict[str, Any]:
    """Call list_sessions and check its answer is the reply to its own request on the wire."""
    with request_keys(hub.pending) as keys:
        response = await list_sessions(hass, server)
    (transaction,) = keys[asyncio.current_task()]
    (request,) = await wait_for(
        lambda: [
            message
            for message in admin_requests(wire, server, "list_sessions")
            if message.json()["transaction"] == transaction
        ],
        what="the action's request on the wire",
    )
    assert request.json() == {
        "janus": "list_sessions",
        "transaction": transaction,
        "admin_secret": hub.entry.data["admin_secret"],
    }
    assert (request.qos, request.retain) == (1, False)
    reply = await wait_for(
        lambda: admin_reply(wire, server, transaction), what="the action's reply on the wire"
    )
    assert reply["janus"] == "success"
    assert response == {
        "server": server,
        "count": len(reply["sessions"]),
        "sessions": reply["sessions"],
    }
    return response


# SpotFi on the wire


def metrics_of(wire: Wire, router: str, since: int = 0) -> list[dict[str, Any]]:
    """Return the router's heartbeats (the `metrics` objects) since a mark."""
    return [m.json()["metrics"] for m in wire.messages(f"{SPOTFI_BASE}/{router}/metrics", since)]


def rpc_message(wire: Wire, router: str, kind: str, request_id: str) -> WireMessage | None:
    """Return the RPC request or response (`kind`) with one id, as seen on the wire."""
    for message in wire.messages(f"{SPOTFI_BASE}/{router}/rpc/{kind}"):
        if message.json().get("id") == request_id:
            return message
    return None


async def checked_rpc_call(
    hass: HomeAssistant, hub: SpotFiHub, wire: Wire, router: str, path: str, method: str
) -> dict[str, Any]:
    """Call rpc_call; check the request on the wire and that the answer is its reply."""
    with request_keys(hub.pending) as keys:
        response = await rpc_call(hass, router, path, method)
    (request_id,) = keys[asyncio.current_task()]
    await check_rpc_on_wire(wire, router, path, method, request_id, response)
    return response


async def check_rpc_on_wire(
    wire: Wire, router: str, path: str, method: str, request_id: str, response: dict[str, Any]
) -> None:
    """Check one RPC's request and reply on the wire, and that the action answered it."""
    request = await wait_for(
        lambda: rpc_message(wire, router, "request", request_id), what=f"request {request_id}"
    )
    assert request.json() == {
        "type": "rpc",
        "id": request_id,
        "path": path,
        "method": method,
        "args": {},
    }
    assert (request.qos, request.retain) == (1, False)
    reply = await wait_for(
        lambda: rpc_message(wire, router, "response", request_id), what=f"reply {request_id}"
    )
    body = reply.json()
    assert (body["type"], body["status"]) == ("rpc-result", "success"), body
    assert response == body["result"], (path, method)


def board_reply(wire: Wire, router: str) -> dict[str, Any] | None:
    """Return the router's answer to HA's first `system board` request, once on the wire."""
    for message in wire.messages(f"{SPOTFI_BASE}/{router}/rpc/request"):
        request = message.json()
        if (request["path"], request["method"]) == ("system", "board"):
            reply = rpc_message(wire, router, "response", request["id"])
            return None if reply is None else reply.json()["result"]
    return None


def tunnel_in(wire: Wire, router: str, since: int = 0) -> list[dict[str, Any]]:
    """Return what was sent to the router's terminal since a mark."""
    return [m.json() for m in wire.messages(f"{SPOTFI_BASE}/{router}/x/in", since)]


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def wire_topics() -> tuple[str, ...]:
    """Record both families' topics."""
    return JANUS_SPOTFI_WIRE_TOPICS


@pytest.fixture
def simulator_stop_signal() -> int:
    """Stop the simulator at once: SIGTERM only cuts these devices off, a bit more slowly."""
    return signal.SIGKILL


@pytest.fixture
def sim_extra() -> dict[str, Any]:
    """Per-test simulator options on top of the family's: parametrize `sim_extra`."""
    return {}


@pytest.fixture
def admin_secret() -> str:
    """The admin secret the Janus entry is created with: parametrize `admin_secret`."""
    return SECRET


@pytest.fixture
def fast_hub_sensors() -> Iterator[None]:
    """Refresh the hub's own sensors every second instead of every 10 (ask before `fleet`)."""
    with patch("custom_components.mqtt_fleet.hub.HUB_SENSOR_REFRESH_SECONDS", 1):
        yield


# --- Janus ---------------------------------------------------------------------------------


class TestJanus:
    """Two Janus servers with the admin API on their MQTT transport, polled every 2 s."""

    @pytest.fixture
    def config_entry(self, admin_secret: str) -> MockConfigEntry:
        """The Janus entry under `janus`."""
        return MockConfigEntry(
            domain=DOMAIN,
            title=f"Janus ({JANUS_BASE})",
            data={"family": "janus", "base_topic": JANUS_BASE, "admin_secret": admin_secret},
            options=default_options("janus") | {"poll_interval": POLL_INTERVAL},
            unique_id=f"janus:{JANUS_BASE}",
            entry_id=JANUS_UID,
            version=2,
            minor_version=1,
        )

    @pytest.fixture
    def simulator_options(self, sim_extra: dict[str, Any]) -> dict[str, Any]:
        """Janus servers only; their status is not retained, so they start after HA."""
        return {"layout_a": 0, "layout_b": 0, "janus": 2, "janus_secret": SECRET} | sim_extra

    async def test_live_sessions_version_and_list_sessions(
        self, fleet: Fleet, simulator: Simulator, wire: Wire
    ) -> None:
        """Polled counts equal the servers' replies; list_sessions answers from a live request."""
        hass = fleet.hass
        hub: JanusHub = fleet.entry.runtime_data
        assert simulator.janus == SERVERS
        await wait_for(
            lambda: connectivity(hass, JANUS_UID, SERVERS) == [STATE_ON] * 2,
            what="both servers to come online",
        )
        for server in SERVERS:
            await wait_for(
                lambda server=server: sessions_shown(hass, wire, server),
                what=f"{server}'s sessions sensor to show its newest list_sessions reply",
            )
            assert shown(hass, JANUS_UID, server, "version") is None  # in the device info
            assert shown(hass, JANUS_UID, server, "admin_state") == "ok"
            device = registry_device(hass, JANUS_UID, server)
            assert device is not None
            assert (device.manufacturer, device.model, device.sw_version) == (
                "Meetecho",
                "Janus WebRTC Server",
                "1.4.0",
            )
            # docs/protocols.md, "Janus": info needs no secret and goes first; list_sessions
            # carries it.
            requests = admin_requests(wire, server)
            assert requests[0].json().keys() == {"janus", "transaction"}
            assert requests[0].json()["janus"] == "info"
            assert [r.json()["janus"] for r in requests[1:]] == ["list_sessions"] * (
                len(requests) - 1
            )
            transactions = [r.json()["transaction"] for r in requests]
            assert len(set(transactions)) == len(transactions)  # fresh per request
            for request in requests[1:]:
                assert request.json()["admin_secret"] == SECRET
            assert {(r.qos, r.retain) for r in requests} == {(1, False)}
            info = admin_reply(wire, server, transactions[0])
            assert info is not None
            assert (info["janus"], info["version_string"]) == ("server_info", "1.4.0")

        response = await checked_list_sessions(hass, hub, wire, "janus-02")
        assert response["count"] == len(response["sessions"])
        assert all(type(session) is int for session in response["sessions"])
        assert hub.invalid_messages == 0, list(hub.dead_letters)
        assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)

    @pytest.mark.parametrize("admin_secret", ["not-the-secret"], ids=["wrong_secret"])
    async def test_403_reauth_and_recovery_without_reload(
        self, fleet: Fleet, simulator: Simulator, wire: Wire
    ) -> None:
        """A wrong secret: 403, one reauth flow, the action refused; the new secret works."""
        hass = fleet.hass
        entry = fleet.entry
        hub: JanusHub = entry.runtime_data

        def refusals(server: str) -> list[dict[str, Any]]:
            replies = [
                admin_reply(wire, server, r.json()["transaction"])
                for r in admin_requests(wire, server, "list_sessions")
            ]
            return [r for r in replies if r is not None and r["janus"] == "error"]

        # Two rounds of polls, each refused by both servers.
        await wait_for(
            lambda: all(len(refusals(server)) >= 2 for server in SERVERS),
            3 * POLL_INTERVAL + 5,
            "two refused polls per server",
        )
        for server in SERVERS:
            assert {r["error"]["code"] for r in refusals(server)} == {403}
            for request in admin_requests(wire, server, "list_sessions"):
                assert request.json()["admin_secret"] == "not-the-secret"
            await wait_for(
                lambda server=server: (
                    shown(hass, JANUS_UID, server, "admin_state") == "unauthorized"
                ),
                what=f"{server}'s admin state to be unauthorized",
            )
            # No count was ever shown: a refusal is not a reading.
            assert shown(hass, JANUS_UID, server, "sessions") in (None, STATE_UNAVAILABLE)
        await hass.async_block_till_done()
        flows = [
            flow
            for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
            if flow["context"]["source"] == SOURCE_REAUTH
        ]
        assert len(flows) == 1, flows
        (flow,) = flows
        assert flow["context"]["entry_id"] == entry.entry_id
        assert flow["step_id"] == "reauth_confirm"

        with pytest.raises(HomeAssistantError) as err:
            await list_sessions(hass, "janus-01")
        assert err.value.translation_key == "janus_unauthorized"
        assert err.value.translation_placeholders["code"] == "403"

        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {"admin_secret": SECRET}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reauth_successful"
        await hass.async_block_till_done()
        assert entry.data["admin_secret"] == SECRET
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data is hub  # not reloaded: the hub reads the secret per request

        mark = wire.mark()
        for server in SERVERS:
            await wait_for(
                lambda server=server: shown(hass, JANUS_UID, server, "admin_state") == "ok",
                2 * POLL_INTERVAL + 5,
                f"{server}'s next poll to succeed",
            )
            await wait_for(
                lambda server=server: sessions_shown(hass, wire, server, since=mark),
                what=f"{server}'s sessions sensor to show a count",
            )
            sent = [
                r.json()["admin_secret"]
                for r in admin_requests(wire, server, "list_sessions", since=mark)
            ]
            # Only a request already on its way at the mark may carry the old secret.
            assert sent[-1] == SECRET
            assert "not-the-secret" not in sent[sent.index(SECRET) :], sent
        await checked_list_sessions(hass, hub, wire, "janus-01")
        assert entry.runtime_data is hub
        assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)

    @pytest.mark.parametrize("sim_extra", [{"janus_wrong_path": 1}], ids=["wrong_path_1"])
    async def test_457_wrong_path(self, fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
        """A server whose admin topics reach the plain API answers 457: wrong_path, no reauth."""
        hass = fleet.hass
        await wait_for(
            lambda: (
                [shown(hass, JANUS_UID, server, "admin_state") for server in SERVERS]
                == ["wrong_path", "ok"]
            ),
            2 * POLL_INTERVAL + 5,
            "janus-01 wrong_path, janus-02 ok",
        )
        # The wire's recorder may have subscribed after the first poll: the next one shows.
        (request, *_) = await wait_for(
            lambda: admin_requests(wire, "janus-01", "list_sessions"),
            2 * POLL_INTERVAL + 5,
            "a list_sessions request to janus-01 on the wire",
        )
        reply = await wait_for(lambda: admin_reply(wire, "janus-01", request.json()["transaction"]))
        assert (reply["janus"], reply["error"]["code"]) == ("error", 457)
        # The plain API still answers info; the server stays online.
        assert sw_version(hass, JANUS_UID, "janus-01") == "1.4.0"
        assert connectivity(hass, JANUS_UID, SERVERS) == [STATE_ON] * 2
        with pytest.raises(HomeAssistantError) as err:
            await list_sessions(hass, "janus-01")
        assert err.value.translation_key == "janus_error"
        assert err.value.translation_placeholders["code"] == "457"
        await hass.async_block_till_done()
        assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)

    @pytest.mark.parametrize("sim_extra", [{"janus_down_seconds": 4}], ids=["down_4s"])
    async def test_last_will_stops_polling_until_back(
        self, fleet: Fleet, simulator: Simulator, wire: Wire
    ) -> None:
        """SIGUSR1: the Last Will takes janus-01 offline and unpolled; back, it is asked again."""
        hass = fleet.hass
        server, other = SERVERS
        await wait_for(
            lambda: (
                connectivity(hass, JANUS_UID, SERVERS) == [STATE_ON] * 2
                and all(sessions_shown(hass, wire, s) for s in SERVERS)
            ),
            what="both servers online with a session count",
        )
        offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
        online = async_capture_events(hass, EVENT_DEVICE_ONLINE)
        marks: dict[str, int] = {}

        @callback
        def _went_offline(_event: Event) -> None:
            # Published after HA took the Last Will in: what HA sends after this knew.
            hass.async_create_task(async_publish(hass, BARRIER_TOPIC, "offline seen", qos=1))

        @callback
        def _came_back(_event: Event) -> None:
            marks.setdefault("online", wire.mark())  # all HA sent before this is before it

        hass.bus.async_listen(EVENT_DEVICE_OFFLINE, _went_offline)
        hass.bus.async_listen(EVENT_DEVICE_ONLINE, _came_back)
        mark = wire.mark()
        simulator.send_signal(signal.SIGUSR1)

        will = await wait_for(
            lambda: [
                m
                for m in wire.messages(f"{JANUS_BASE}/{server}/status", mark)
                if b"false" in m.payload
            ],
            what="janus-01's Last Will",
        )
        assert [(m.json(), m.qos, m.retain) for m in will] == [({"online": False}, 1, False)]
        await wait_for(lambda: offline, what="the offline event")
        assert connectivity(hass, JANUS_UID, SERVERS) == [STATE_OFF, STATE_ON]
        assert shown(hass, JANUS_UID, server, "sessions") == STATE_UNAVAILABLE
        assert shown(hass, JANUS_UID, other, "sessions") != STATE_UNAVAILABLE

        await wait_for(lambda: "online" in marks, 15, "janus-01 to come back online")
        assert [event.data["device"] for event in offline] == [server]
        assert [event.data["device"] for event in online] == [server]
        assert connectivity(hass, JANUS_UID, SERVERS) == [STATE_ON] * 2
        barrier = list(wire.messages(BARRIER_TOPIC, mark))
        assert len(barrier) == 1
        messages = wire.messages(since=mark)[: marks["online"] - mark]
        start = messages.index(barrier[0])
        while_offline = messages[start + 1 :]
        asked = [m for m in while_offline if m.topic.endswith("/to-janus-admin")]
        assert [m.topic for m in asked if server in m.topic] == [], "janus-01 polled while offline"
        assert any(m.topic == f"{JANUS_BASE}/{other}/to-janus-admin" for m in asked), (
            "janus-02 not polled while janus-01 was offline"
        )

        # Back: info is asked again, and the count is fresh.
        since = marks["online"]
        info = await wait_for(
            lambda: admin_requests(wire, server, "info", since), 2 * POLL_INTERVAL + 6
        )
        assert admin_requests(wire, server, since=since)[0] == info[0]
        await wait_for(
            lambda: sessions_shown(hass, wire, server, since=since),
            2 * POLL_INTERVAL + 6,
            "a count from a list_sessions reply after janus-01 came back",
        )
        assert shown(hass, JANUS_UID, server, "admin_state") == "ok"

    async def test_unanswered_info_is_asked_again(
        self, fleet: Fleet, simulator: Simulator, wire: Wire
    ) -> None:
        """A server too busy to answer the first info is asked again once it answers.

        Regression: info used to be marked as asked before it was sent, and only an offline
        status cleared that, so a server online all along never showed its version.
        """
        hass = fleet.hass
        server = SERVERS[0]
        # Both servers said they are online; now they hang (no Last Will: still online).
        simulator.send_signal(signal.SIGSTOP)
        try:
            await wait_for(
                lambda: admin_requests(wire, server, "list_sessions"),
                POLL_INTERVAL + 5 + 5,
                "the first info to time out (list_sessions follows it)",
            )
            assert [m.json()["janus"] for m in admin_requests(wire, server)] == [
                "info",
                "list_sessions",
            ]
        finally:
            simulator.send_signal(signal.SIGCONT)
        thawed = wire.mark()
        await wait_for(
            lambda: sessions_shown(hass, wire, server, since=thawed),
            2 * POLL_INTERVAL + 5,
            "the server to answer list_sessions again",
        )
        assert shown(hass, JANUS_UID, server, "admin_state") == "ok"
        assert connectivity(hass, JANUS_UID, SERVERS) == [STATE_ON] * 2
        # It answers again, so the version it never gave is asked for again.
        await wait_for(
            lambda: admin_requests(wire, server, "info", since=thawed),
            2 * POLL_INTERVAL + 1,
            "a new info request once the server answers",
        )
        await wait_for(lambda: sw_version(hass, JANUS_UID, server) == "1.4.0")

    async def test_unload_while_a_poll_publishes(
        self, fleet: Fleet, simulator: Simulator, broker: Broker, wire: Wire
    ) -> None:
        """Unloading while a poll's request waits for its PUBACK cancels the poll quietly.

        Regression: the unload failed the poll's reply future while the poll was still in
        send() (HA's MQTT publish waits for the PUBACK); the cancelled poll never read that
        failure, and asyncio logged "Future exception was never retrieved".
        """
        hass = fleet.hass
        hub: JanusHub = fleet.entry.runtime_data
        loop = asyncio.get_running_loop()
        await wait_for(
            lambda: all(shown(hass, JANUS_UID, s, "admin_state") == "ok" for s in SERVERS),
            POLL_INTERVAL + 5,
            "a first poll",
        )
        assert broker.proc is not None
        broker.proc.send_signal(signal.SIGSTOP)  # no PUBACK: the next poll stays in send()
        try:
            await wait_for(
                lambda: len(hub.pending) == len(SERVERS),
                POLL_INTERVAL + 5,
                "the next poll's requests to be on their way",
            )
            with loop_errors(loop) as errors:
                assert await hass.config_entries.async_unload(fleet.entry.entry_id)
                await hass.async_block_till_done()
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        assert fleet.entry.state is ConfigEntryState.NOT_LOADED
        assert len(hub.pending) == 0
        assert [(c["message"], repr(c.get("exception"))) for c in errors] == []


# --- SpotFi --------------------------------------------------------------------------------


class TestSpotFi:
    """Two SpotFi routers with a heartbeat every half second."""

    @pytest.fixture
    def config_entry(self) -> MockConfigEntry:
        """The SpotFi entry under `spotfi/router`."""
        return MockConfigEntry(
            domain=DOMAIN,
            title=f"SpotFi ({SPOTFI_BASE})",
            data={"family": "spotfi", "base_topic": SPOTFI_BASE},
            options=default_options("spotfi"),
            unique_id=f"spotfi:{SPOTFI_BASE}",
            entry_id=SPOTFI_UID,
            version=2,
            minor_version=1,
        )

    @pytest.fixture
    def simulator_options(self, sim_extra: dict[str, Any]) -> dict[str, Any]:
        """SpotFi routers only."""
        return {"layout_a": 0, "layout_b": 0, "spotfi": 2, "metrics_interval": 0.5} | sim_extra

    @staticmethod
    def heartbeat_shown(hass: HomeAssistant, wire: Wire, router: str) -> bool:
        """Tell whether every sensor of the router shows its newest heartbeat on the wire.

        A load the bridge sent as Go's nil (`%!f(<nil>)`) is no reading: unknown.
        """
        beats = metrics_of(wire, router)
        if not beats:
            return False
        latest = beats[-1]
        total, free = latest["totalMemory"], latest["freeMemory"]
        cpu_load = latest["cpuLoad"]
        load_shown = shown(hass, SPOTFI_UID, router, "cpu_load")

        def value(key: str) -> State | None:
            return state_of(hass, SPOTFI_UID, router, key)

        memory_used = number(shown(hass, SPOTFI_UID, router, "memory_used"))
        return (
            (
                load_shown == STATE_UNKNOWN
                if isinstance(cpu_load, str)
                else number(load_shown) == cpu_load
            )
            and number(shown(hass, SPOTFI_UID, router, "active_users")) == latest["activeUsers"]
            and memory_used is not None
            and math.isclose(memory_used, 100 * (total - free) / total, abs_tol=0.05 + 1e-9)
            and shown_value_matches(
                value("free_memory"), InformationConverter, UnitOfInformation.BYTES, free
            )
            and shown_value_matches(
                value("total_memory"), InformationConverter, UnitOfInformation.BYTES, total
            )
            and restart_matches(value("last_restart"), int(latest["uptime"]))
        )

    async def test_heartbeat_sensors(self, fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
        """Each router's sensors show its newest heartbeat; it is connected."""
        hass = fleet.hass
        hub: SpotFiHub = fleet.entry.runtime_data
        assert len(simulator.spotfi) == 2
        for router in simulator.spotfi:
            await wait_for(
                lambda router=router: (
                    len(metrics_of(wire, router)) >= 3 and self.heartbeat_shown(hass, wire, router)
                ),
                what=f"{router}'s sensors to follow its heartbeat",
            )
            assert shown(hass, SPOTFI_UID, router, "connectivity") == STATE_ON
            (status,) = wire.messages(f"{SPOTFI_BASE}/{router}/status")
            assert (status.payload, status.qos, status.retain) == (b"ONLINE", 1, True)
            # Online, the router is asked `system board`: the registry shows its answer.
            board = await wait_for(
                lambda router=router: board_reply(wire, router), what=f"{router}'s board"
            )
            release = board["release"]
            expected = (
                "SpotFi",
                board["model"],
                board["board_name"],
                f"{release['distribution']} {release['version']}",
            )

            def registry_shows_board(
                router: str = router, expected: tuple[str, ...] = expected
            ) -> bool:
                device = registry_device(hass, SPOTFI_UID, router)
                return (
                    device is not None
                    and (
                        device.manufacturer,
                        device.model,
                        device.model_id,
                        device.sw_version,
                    )
                    == expected
                )

            await wait_for(registry_shows_board, what=f"{router}'s board in the registry")
        assert hub.invalid_messages == 0, list(hub.dead_letters)
        assert len(hub.pending) == 0

    @pytest.mark.parametrize(
        "sim_extra", [{"spotfi_garbage": True, "metrics_interval": 0.25}], ids=["garbage"]
    )
    async def test_nil_cpu_load_is_unknown(
        self, fast_hub_sensors: None, fleet: Fleet, simulator: Simulator, wire: Wire
    ) -> None:
        """Every 5th heartbeat has cpuLoad "%!f(<nil>)": no reading, shown as unknown.

        Go's nil marker is what the bridge sends when its ubus call failed: not bad input,
        so nothing is counted invalid, and the load is not kept as if it were current.
        """
        hass = fleet.hass
        hub: SpotFiHub = fleet.entry.runtime_data
        router = simulator.spotfi[0]
        registry = er.async_get(hass)
        loads: list[str] = []

        # Listening before the first await: HA has not taken in any heartbeat yet (the
        # simulator fixture held the loop until READY), so every CPU state is seen.
        @callback
        def _changed(event: Event) -> None:
            new = event.data["new_state"]
            entry = None if new is None else registry.async_get(new.entity_id)
            if entry is not None and entry.unique_id == f"{SPOTFI_UID}/{router}/cpu_load":
                loads.append(new.state)

        hass.bus.async_listen("state_changed", _changed)

        def garbage() -> list[int]:
            return [
                n
                for n, beat in enumerate(metrics_of(wire, router))
                if isinstance(beat["cpuLoad"], str)
            ]

        def expected_loads() -> list[float | str]:
            """The loads to show: each heartbeat's, nil as unknown, repeats merged."""
            merged: list[float | str] = []
            for beat in metrics_of(wire, router):
                load = STATE_UNKNOWN if isinstance(beat["cpuLoad"], str) else beat["cpuLoad"]
                if not merged or merged[-1] != load:
                    merged.append(load)
            return merged

        def shown_loads() -> list[float | str | None]:
            return [STATE_UNKNOWN if load == STATE_UNKNOWN else number(load) for load in loads]

        await wait_for(
            lambda: len(garbage()) >= 2 and shown_loads() == expected_loads(),
            15,
            "two nil loads shown as unknown, each valid load shown",
        )
        beats = metrics_of(wire, router)
        assert garbage()[:2] == [4, 9]  # every 5th heartbeat, the announce one counted
        for n in garbage():
            assert beats[n]["cpuLoad"] == "%!f(<nil>)"
        assert STATE_UNAVAILABLE not in loads
        assert hub.invalid_messages == 0, list(hub.dead_letters)

        def nil_taken() -> bool:
            """The newest heartbeat has a nil load: unknown, its other values shown."""
            beats = metrics_of(wire, router)
            return isinstance(beats[-1]["cpuLoad"], str) and self.heartbeat_shown(
                hass, wire, router
            )

        # The rest of such a heartbeat is taken: users, memory and the restart follow it.
        await wait_for(nil_taken, 15, "HA to show a nil-load heartbeat's other values")
        assert hub_sensor(hass, SPOTFI_UID, "invalid_messages") == "0"
        assert shown(hass, SPOTFI_UID, router, "connectivity") == STATE_ON

    @pytest.mark.parametrize(
        "entry_options",
        [{"rpc_allow_list": [*DEFAULT_RPC_ALLOW_LIST, "luci-rpc.*"]}],
        ids=["luci_rpc_allowed"],
    )
    async def test_rpc_call(self, fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
        """Allowed calls answer with the router's result; file.exec never leaves HA."""
        hass = fleet.hass
        hub: SpotFiHub = fleet.entry.runtime_data
        router = simulator.spotfi[0]
        await wait_for(lambda: shown(hass, SPOTFI_UID, router, "connectivity") == STATE_ON)

        board = await checked_rpc_call(hass, hub, wire, router, "system", "board")
        models = {model.model: model for model in openwrt.ROUTER_MODELS}
        assert board["model"] in models
        assert board["board_name"] == models[board["model"]].board_name
        assert (board["kernel"], board["hostname"]) == ("5.15.150", "OpenWrt")
        assert board["release"]["distribution"] == "OpenWrt"

        wan = await checked_rpc_call(hass, hub, wire, router, "network.interface.wan", "status")
        assert (wan["up"], wan["proto"], wan["device"]) == (
            True,
            "dhcp",
            models[board["model"]].wan_device,
        )

        # ubus file exec is root on the router: refused before anything is sent.
        mark = wire.mark()
        with pytest.raises(ServiceValidationError) as refused:
            await rpc_call(hass, router, "file", "exec", args={"command": "id"})
        assert refused.value.translation_key == "rpc_not_allowed"
        # HA publishes in order: once the next call's request is on the wire, nothing
        # sent before it can still arrive.
        await checked_rpc_call(hass, hub, wire, router, "system", "info")
        requests = [m.json() for m in wire.messages(f"{SPOTFI_BASE}/+/rpc/request", mark)]
        assert [(r["path"], r["method"]) for r in requests] == [("system", "info")]

        # Allowed by the entry's pattern, unknown to the router: its error comes back.
        with request_keys(hub.pending) as keys, pytest.raises(HomeAssistantError) as failed:
            await rpc_call(hass, router, "luci-rpc", "getBoardJSON")
        (request_id,) = keys[asyncio.current_task()]
        reply = await wait_for(lambda: rpc_message(wire, router, "response", request_id))
        body = reply.json()
        assert (body["status"], body["error"], body["stderr"]) == (
            "error",
            "Object not found",
            "Command failed: Not found",
        )
        assert failed.value.translation_key == "rpc_failed"
        assert failed.value.translation_placeholders == {
            "router": router,
            "name": "luci-rpc.getBoardJSON",
            "details": "Object not found: Command failed: Not found",  # error: stderr
        }
        assert "Object not found" in str(failed.value)
        assert len(hub.pending) == 0

    async def test_50_concurrent_rpc_calls(
        self, fleet: Fleet, simulator: Simulator, wire: Wire
    ) -> None:
        """Fifty calls at once over two routers: each gets the reply to its own request."""
        hass = fleet.hass
        hub: SpotFiHub = fleet.entry.runtime_data
        routers = simulator.spotfi
        await wait_for(
            lambda: connectivity(hass, SPOTFI_UID, routers) == [STATE_ON] * 2,
            what="both routers connected",
        )
        calls = [
            ("system", "board"),
            ("system", "info"),
            ("network.interface.wan", "status"),
            ("network.interface.lan", "status"),
            ("network.interface.wwan", "status"),
        ]
        plan = [(routers[n % 2], *calls[n % 5]) for n in range(50)]

        async def one(router: str, path: str, method: str) -> tuple[Any, dict[str, Any]]:
            return asyncio.current_task(), await rpc_call(hass, router, path, method)

        loop = asyncio.get_running_loop()
        with request_keys(hub.pending) as keys:
            started = loop.time()
            results = await asyncio.gather(*(one(*call) for call in plan))
            elapsed = loop.time() - started
        print(f"\n50 concurrent rpc_call: {elapsed * 1000:.0f} ms")  # noqa: T201 - for the report

        ids = set()
        for (router, path, method), (task, response) in zip(plan, results, strict=True):
            (request_id,) = keys[task]
            ids.add(request_id)
            await check_rpc_on_wire(wire, router, path, method, request_id, response)
        assert len(ids) == 50
        assert len(hub.pending) == 0
        assert hub.invalid_messages == 0, list(hub.dead_letters)

    @pytest.mark.parametrize("entry_options", [{"terminal_enabled": True}], ids=["terminal_on"])
    async def test_terminal_exec(self, fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
        """`uname -a` through the x-tunnel: its output and exit code; start, data, stop."""
        hass = fleet.hass
        hub: SpotFiHub = fleet.entry.runtime_data
        router = simulator.spotfi[1]
        await wait_for(lambda: shown(hass, SPOTFI_UID, router, "connectivity") == STATE_ON)
        board = await checked_rpc_call(hass, hub, wire, router, "system", "board")
        model = next(m for m in openwrt.ROUTER_MODELS if m.model == board["model"])
        uname = (
            f"Linux {openwrt.HOSTNAME} {openwrt.KERNEL} #0 {'SMP ' if model.smp else ''}"
            f"{openwrt.KERNEL_BUILT} {model.machine} GNU/Linux"
        )

        mark = wire.mark()
        response = await hass.services.async_call(
            DOMAIN,
            "terminal_exec",
            {"router": router, "command": "uname -a", "raw": True},
            blocking=True,
            return_response=True,
        )
        assert response is not None
        # The command's own output, framed by the integration's markers: it exited, with 0.
        assert (response["reason"], response["exit_code"]) == ("exited", 0), response
        assert response["stdout"].splitlines() == [uname], response

        sent = await wait_for(
            lambda: (
                (found := tunnel_in(wire, router, mark)) and found[-1]["type"] == "x-stop" and found
            ),
            what="x-start, x-data and x-stop on the wire",
        )
        start, data, stop = sent
        session = start["sessionId"]
        assert start == {
            "type": "x-start",
            "sessionId": session,
            "responseTopic": f"{SPOTFI_BASE}/{router}/x/out",
            "timestamp": start["timestamp"],
        }
        assert isinstance(start["timestamp"], int)
        assert data.keys() == {"type", "sessionId", "data"}
        assert (data["type"], data["sessionId"]) == ("x-data", session)
        # One shell line that runs the command (quoted) between two marker lines.
        line = base64.b64decode(data["data"]).decode()
        assert line.endswith("\n")
        assert "\n" not in line[:-1]
        assert "(eval 'uname -a')" in line
        assert stop == {"type": "x-stop", "sessionId": session}
        # The output is exactly what the router sent for this session.
        out = [m.json() for m in wire.messages(f"{SPOTFI_BASE}/{router}/x/out", mark)]
        assert out[0] == {"type": "x-started", "status": "ready", "sessionId": session}
        chunks = [base64.b64decode(m["data"]) for m in out[1:] if m["type"] == "x-data"]
        assert all(m["sessionId"] == session for m in out)
        assert response["transcript"] == b"".join(chunks).decode()
        assert uname in response["transcript"].splitlines()  # the terminal's \r\n lines
        assert not hub.terminals

        # Without `raw`, no transcript.
        plain = await hass.services.async_call(
            DOMAIN,
            "terminal_exec",
            {"router": router, "command": "uname -a"},
            blocking=True,
            return_response=True,
        )
        assert plain == {"stdout": response["stdout"], "exit_code": 0, "reason": "exited"}

    async def test_terminal_disabled(self, fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
        """With terminal commands off (the default) nothing reaches the router's x/in."""
        hass = fleet.hass
        hub: SpotFiHub = fleet.entry.runtime_data
        router = simulator.spotfi[0]
        await wait_for(lambda: shown(hass, SPOTFI_UID, router, "connectivity") == STATE_ON)
        mark = wire.mark()
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                "terminal_exec",
                {"router": router, "command": "uname -a"},
                blocking=True,
                return_response=True,
            )
        assert err.value.translation_key == "terminal_disabled"
        await checked_rpc_call(hass, hub, wire, router, "system", "board")  # the barrier
        assert not wire.messages(f"{SPOTFI_BASE}/+/x/in", mark)

    @pytest.mark.parametrize("sim_extra", [{"spotfi_down_seconds": 2}], ids=["down_2s"])
    async def test_last_will(self, fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
        """SIGUSR2: OFFLINE (retained Last Will) turns connectivity off at once; back, on."""
        hass = fleet.hass
        router, other = simulator.spotfi
        await wait_for(
            lambda: connectivity(hass, SPOTFI_UID, simulator.spotfi) == [STATE_ON] * 2,
            what="both routers connected",
        )
        entity = er.async_get(hass).async_get_entity_id(
            "binary_sensor", DOMAIN, f"{SPOTFI_UID}/{router}/connectivity"
        )
        changes: list[str] = []

        @callback
        def _changed(event: Event) -> None:
            new = event.data["new_state"]
            if new is not None and new.entity_id == entity:
                old = event.data["old_state"]
                if old is None or old.state != new.state:
                    changes.append(new.state)

        hass.bus.async_listen("state_changed", _changed)
        offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
        online = async_capture_events(hass, EVENT_DEVICE_ONLINE)
        status_topic = f"{SPOTFI_BASE}/{router}/status"
        mark = wire.mark()
        simulator.send_signal(signal.SIGUSR2)

        (will,) = await wait_for(
            lambda: wire.messages(status_topic, mark), what=f"{router}'s Last Will"
        )
        assert (will.payload, will.qos, will.retain) == (b"OFFLINE", 1, True)
        # At once: the Last Will, not the 60 s heartbeat timeout.
        await wait_for(lambda: changes, 5, "connectivity to go off")
        assert changes == [STATE_OFF]
        assert shown(hass, SPOTFI_UID, router, "cpu_load") == STATE_UNAVAILABLE
        assert shown(hass, SPOTFI_UID, other, "connectivity") == STATE_ON
        assert [event.data["device"] for event in offline] == [router]

        await wait_for(lambda: changes == [STATE_OFF, STATE_ON], 15, f"{router} to come back")
        statuses = await wait_for(
            lambda: len(found := wire.messages(status_topic, mark)) >= 2 and found,
            what="ONLINE on the wire",
        )
        assert [(m.payload, m.qos, m.retain) for m in statuses] == [
            (b"OFFLINE", 1, True),
            (b"ONLINE", 1, True),
        ]
        back = wire.mark()
        await wait_for(
            lambda: metrics_of(wire, router, back) and self.heartbeat_shown(hass, wire, router),
            what="heartbeats after the router came back",
        )
        assert [event.data["device"] for event in online] == [router]
        assert shown(hass, SPOTFI_UID, router, "connectivity") == STATE_ON
