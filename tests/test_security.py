"""Security: credentials never leak, unsafe ids never reach a topic, opt-ins hold, schemas bite.

Every test drives the real actions and hubs through HA's (mocked) MQTT client; what the
integration publishes is read from `mqtt_mock.async_publish`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import json
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import MATCH_ALL
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.diagnostics import (
    async_get_config_entry_diagnostics,
    async_get_device_diagnostics,
)
from custom_components.mqtt_fleet.families.autocore.actions import (
    SEND_COMMAND_SCHEMA,
    SERVICE_SEND_COMMAND,
)
from custom_components.mqtt_fleet.families.container_logs.actions import (
    FORWARD_LOG_SCHEMA,
    SERVICE_FORWARD_LOG,
)
from custom_components.mqtt_fleet.families.janus.actions import (
    LIST_SESSIONS_SCHEMA,
    SERVICE_LIST_SESSIONS,
)
from custom_components.mqtt_fleet.families.janus.hub import JanusHub
from custom_components.mqtt_fleet.families.spotfi.actions import (
    RPC_CALL_SCHEMA,
    SERVICE_RPC_CALL,
    SERVICE_TERMINAL_EXEC,
    TERMINAL_EXEC_SCHEMA,
)
from custom_components.mqtt_fleet.families.spotfi.hub import SpotFiHub
from custom_components.mqtt_fleet.protocol.spotfi import DEFAULT_RPC_ALLOW_LIST, rpc_name_problem

from .clock import settle
from .common import TRANSLATIONS, device_by_identifier
from .families.autocore.helpers import status_b
from .families.container_logs.helpers import logs_entry
from .families.janus.helpers import (
    advance,
    call_list_sessions,
    device_entry,
    error,
    first_poll,
    janus_entry,
    replies_subscribed,
    reply,
    status,
    success,
    wait_request,
)
from .families.spotfi.helpers import METRICS, action, spotfi_entry, tunnel
from .report import Reliability

pytestmark = pytest.mark.reliability

SECRET = "Jn-4dm1n-S3cr3t-7f1e"
NEW_SECRET = "Jn-r0tated-S3cr3t-c2d9"
MQTT_PASSWORD = "mqtt-P4ssw0rd-9e8d"
CREDENTIALS = (SECRET, NEW_SECRET, MQTT_PASSWORD)
SERVER = "gw1"
ROUTER = "rtr-1a2b3c4d"
BOARD = "board-b1"
LOGS_BASE = "container-manager/logs"
START = "2026-01-02T03:04:05+00:00"

# Ids that must never become a topic level: wildcards, separators, NUL and other controls,
# invisible or unencodable characters, nothing at all, too long, whole topic paths.
UNSAFE_IDS = [
    "a+b",
    "+",
    "#",
    "a#",
    "a/b",
    "/",
    "../x",
    "gw1/",
    "janus/gw1",
    "rtr/+/#",
    "a\x00b",
    "\x00",
    "a\nb",
    "\t",
    "a\u200bb",  # zero-width space
    "a\u2028b",  # line separator
    "a\ud800b",  # lone surrogate: it has no UTF-8 form
    "",
    "x" * 129,
    ".",  # path tricks, and the broker's own `$` topics
    "..",
    "$SYS",
]

# (path, method) pairs that try to get past the default allow-list.
BYPASS_ATTEMPTS = [
    # Wildcards and the calls that give root.
    ("file", "exec"),
    ("file", "*"),
    ("file.*", "exec"),
    ("*", "exec"),
    ("*", "*"),
    ("*.*", "*"),
    ("file", "exec*"),
    ("file", "ex?c"),
    ("system", "*"),
    ("system.*", "board"),
    ("system", "board*"),
    ("network.interface.*", "status"),
    ("network.interface.**", "status"),
    ("rc", "init"),
    ("system", "reboot"),
    ("uci", "set"),
    ("session", "login"),
    # Levels moved between path and method, or added, or emptied.
    ("file.exec", ""),
    ("", "file.exec"),
    ("", ""),
    (".", "."),
    ("system.board", "x"),
    ("system", "board.exec"),
    ("network.interface", "wan.status"),
    ("network", "interface.wan.status"),
    ("network.interface.wan.x", "status"),
    ("network.interface..wan", "status"),
    ("network.interface.wan", "status.x"),
    # Case variants: ubus names are case-sensitive, so these are other objects.
    ("System", "board"),
    ("SYSTEM", "BOARD"),
    ("system", "Board"),
    ("File", "Exec"),
    ("USPOT", "client_list"),
    # Whitespace and controls.
    (" system", "board"),
    ("system ", "board"),
    ("system", " board"),
    ("system", "board "),
    ("sys tem", "board"),
    ("system\t", "board"),
    ("system\n", "board"),
    ("system", "board\r\n"),
    ("system\x00", "board"),
    ("system", "board\x00file"),
    # Unicode look-alikes and invisible characters.
    ("\u0455ystem", "board"),  # Cyrillic dze
    ("system", "b\u043eard"),  # Cyrillic o
    ("\uff53\uff59\uff53\uff54\uff45\uff4d", "board"),  # fullwidth
    ("system", "board\u200b"),  # zero-width space
    ("sy\u00adstem", "board"),  # soft hyphen
    ("\ufb01le", "exec"),  # the fi ligature
    ("system\u0301", "board"),  # a combining accent
    ("system", "b\ud800oard"),  # a lone surrogate
    # Injection into the JSON request, a shell or a path.
    ('system","path":"file', "board"),
    ("system", 'board","method":"exec'),
    ("system/../file", "exec"),
    ("system;file", "exec"),
    ("system", "board;reboot"),
    ("system", "board && reboot"),
    ("$(reboot)", "board"),
    ("system", "board%00"),
    # Very long.
    ("system." * 5000 + "x", "board"),
    ("a" * 100_000, "board"),
    ("system", "b" * 100_000),
]

# Stored options no options flow would write: none may widen what an entry allows.
ODD_TERMINAL_SWITCHES: list[Any] = [
    False,
    None,
    "false",
    "False",
    "no",
    "off",
    "0",
    0,
    1,
    "true",
    "yes",
    [],
    [True],
    {"enabled": True},
]
ODD_ALLOW_LISTS: list[Any] = [
    ["*.*", "*", "*.exec", "**", "file*.exec", "", ".", "system.board", 5, None, ["file.exec"]],
    "file.exec",
    None,
    {"file.exec": True},
]


def nested(depth: int) -> dict[str, Any]:
    """Return an object nested `depth` levels deep."""
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


WRONG_FOR_EVERY_FIELD: list[Any] = [None, [], ["x"], {}, {"a": "b"}, True, False]
NOT_NUMBERS: list[Any] = ["abc", "", "nan", "inf", "-inf", "1e999"]
NOT_JSON_ARGS: list[Any] = [
    {"n": 2**70},
    {1: "a"},
    {"s": {1, 2}},
    {"b": b"bytes"},
    {"f": float("nan")},
    {"f": float("inf")},
    {"t": "a\ud800"},
    nested(300),
]


# --- helpers ----------------------------------------------------------------------------


def translated(err: HomeAssistantError) -> str:
    """Return the English text of a translated error; fail unless HA shows exactly that."""
    assert err.translation_domain == DOMAIN, err
    assert err.translation_key is not None, err
    template = TRANSLATIONS["exceptions"][err.translation_key]["message"]
    text = str(template.format(**(err.translation_placeholders or {})))
    assert str(err) == text.rstrip("."), (str(err), text)
    return text


async def call_action(hass: HomeAssistant, service: str, data: dict[str, Any]) -> Any:
    """Call an action and wait for it (with its response where it gives one)."""
    return await hass.services.async_call(
        DOMAIN,
        service,
        data,
        blocking=True,
        return_response=service not in (SERVICE_SEND_COMMAND, SERVICE_FORWARD_LOG),
    )


async def refusal(hass: HomeAssistant, service: str, data: dict[str, Any]) -> str:
    """Call an action that must be refused; return the translated refusal's key."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, service, data)
    translated(err.value)
    assert err.value.translation_key is not None
    return err.value.translation_key


def published_topics(mqtt_mock: Any) -> list[str]:
    """Return the topic of every publish so far."""
    return [call.args[0] for call in mqtt_mock.async_publish.call_args_list]


def containing(texts: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """Return the texts that contain any of the secrets."""
    return [text for text in texts if any(secret in text for secret in secrets)]


def encodable(*texts: str) -> bool:
    """Tell whether every text has a UTF-8 form (no lone surrogate)."""
    try:
        for text in texts:
            text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def mqtt_config_entry_data() -> dict[str, Any]:
    """HA's MQTT entry logs in with a password: a credential that must not leak either."""
    return {"broker": "mock-broker", "username": "fleet", "password": MQTT_PASSWORD}


@pytest.fixture
async def fleet(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> dict[str, MockConfigEntry]:
    """An entry of every family, each with a device that reported; the terminal is on."""
    entries = {
        "autocore": config_entry,
        "janus": janus_entry(),
        "spotfi": spotfi_entry(terminal_enabled=True),
        "logs": logs_entry(),
    }
    for entry in entries.values():
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, f"autocore/devices/{BOARD}/status", status_b())
    async_fire_mqtt_message(hass, f"janus/{SERVER}/status", "online")
    async_fire_mqtt_message(hass, f"spotfi/router/{ROUTER}/status", "ONLINE")
    async_fire_mqtt_message(hass, f"spotfi/router/{ROUTER}/metrics", METRICS)
    await hass.async_block_till_done()
    mqtt_mock.async_publish.reset_mock()
    return entries


@pytest.fixture
async def spotfi_router(hass: HomeAssistant, mqtt_mock: Any) -> MockConfigEntry:
    """A SpotFi entry with the default options and one connected router."""
    entry = spotfi_entry()
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, f"spotfi/router/{ROUTER}/status", "ONLINE")
    async_fire_mqtt_message(hass, f"spotfi/router/{ROUTER}/metrics", METRICS)
    await settle(hass)
    # Coming online, the router is asked its board (docs/protocols.md, "Board"): answer it.
    board = json.loads(mqtt_mock.async_publish.call_args.args[1])
    async_fire_mqtt_message(
        hass,
        f"spotfi/router/{ROUTER}/rpc/response",
        json.dumps({"id": board["id"], "status": "success", "result": {}}),
    )
    await settle(hass)
    mqtt_mock.async_publish.reset_mock()
    return entry


# --- credentials ------------------------------------------------------------------------


async def test_credentials_never_leak(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    reliability: Reliability,
) -> None:
    """Setup, polls, list_sessions, 403, reauth, timeout, diagnostics, unload: no secret shows.

    Logged at DEBUG for every logger. The one place a secret does show is HA's own MQTT
    client echoing, at DEBUG, the payload of each admin request it transmits: Janus wants
    the secret in that payload, and the integration publishes only through HA's client.
    """
    caplog.set_level(logging.DEBUG)
    events: list[Event] = []

    @callback
    def _any_event(event: Event) -> None:
        events.append(event)

    hass.bus.async_listen(MATCH_ALL, _any_event)
    freezer.move_to(START)
    entry = janus_entry(secret=SECRET)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await replies_subscribed(hass, freezer)
    hub: JanusHub = entry.runtime_data
    mqtt_mock.async_publish.reset_mock()
    errors: list[HomeAssistantError] = []

    await status(hass, SERVER, '{"online": true}')
    await first_poll(hass, freezer, mqtt_mock)
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    await reply(hass, SERVER, success(body["transaction"], [1, 2]))
    assert await call == {"server": SERVER, "count": 2, "sessions": [1, 2]}

    # The server refuses the secret: the poll starts a reauth, the action says why.
    await advance(hass, freezer, 10)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 3)
    await reply(hass, SERVER, error(body["transaction"], 403, "Unauthorized request"))
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 4)
    await reply(hass, SERVER, error(body["transaction"], 403, "Unauthorized request"))
    with pytest.raises(HomeAssistantError) as unauthorized:
        await call
    assert unauthorized.value.translation_key == "janus_unauthorized"
    errors.append(unauthorized.value)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    # Reauth checks the new secret with the entry's server before it saves it.
    configure = asyncio.create_task(
        hass.config_entries.flow.async_configure(flow["flow_id"], {"admin_secret": NEW_SECRET})
    )
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 5)
    assert body["admin_secret"] == NEW_SECRET
    await reply(hass, SERVER, success(body["transaction"], [3]))
    result = await configure
    assert result["type"] is FlowResultType.ABORT
    await hass.async_block_till_done()
    flows = [json.dumps(flow, default=str), json.dumps(result, default=str)]

    # The new secret is used from the next poll on; then an action times out.
    await advance(hass, freezer, 10)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 6)
    assert body["admin_secret"] == NEW_SECRET
    await reply(hass, SERVER, success(body["transaction"], [3]))
    call = call_list_sessions(hass, {"server": SERVER, "timeout": 1})
    await wait_request(mqtt_mock, SERVER, "list_sessions", 7)
    await advance(hass, freezer, 1)
    with pytest.raises(HomeAssistantError) as no_reply:
        await call
    errors.append(no_reply.value)

    hub_device = device_by_identifier(dr.async_get(hass), "entry_janus_janus")
    assert hub_device is not None
    diagnostics = [
        await async_get_config_entry_diagnostics(hass, entry),
        await async_get_device_diagnostics(hass, entry, device_entry(hass, SERVER)),
        await async_get_device_diagnostics(hass, entry, hub_device),
    ]
    states = [state.as_dict() for state in hass.states.async_all()]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()

    # The secrets went where they must, in each list_sessions request, and nowhere else.
    sent = mqtt_mock.async_publish.call_args_list
    carried = [call.args[0] for call in sent if containing([call.args[1].decode()], CREDENTIALS)]
    assert carried == [f"janus/{SERVER}/to-janus-admin"] * 7  # reauth's check among them
    assert len(sent) == 8  # and one info request, without it
    assert diagnostics[0]["entry"]["data"]["admin_secret"] == "**REDACTED**"
    outputs = {
        "diagnostics": [json.dumps(diagnostics, default=str)],
        "events": [json.dumps(event.as_dict(), default=str) for event in events],
        "states and attributes": [json.dumps(state, default=str) for state in states],
        "action errors": [f"{translated(e)} {e.translation_placeholders} {e}" for e in errors],
        "the reauth flow": flows,
    }
    for place, texts in outputs.items():
        assert containing(texts, CREDENTIALS) == [], place
    logged = [
        record
        for record in caplog.records
        if containing([record.getMessage(), record.exc_text or ""], CREDENTIALS)
    ]
    echoes = [
        record
        for record in logged
        if record.name == "homeassistant.components.mqtt.client"
        and record.levelno == logging.DEBUG
        and record.getMessage().startswith(
            (
                f"Transmitting message on janus/{SERVER}/to-janus-admin: ",
                # The mocked broker hands every publish back to HA's client.
                f"Received message on janus/{SERVER}/to-janus-admin ",
            )
        )
    ]
    assert logged == echoes
    assert len(echoes) == 2 * len(carried)
    assert containing((record.getMessage() for record in caplog.records), [MQTT_PASSWORD]) == []
    assert hub.invalid_messages == 0
    reliability.record(
        area="security",
        load=(
            "1 Janus entry: status, 6 polls and actions, 2 refusals (403), reauth to a new"
            " secret, a timeout, 3 diagnostics, unload; every logger at DEBUG"
        ),
        faults="old and new admin secret and the MQTT password searched in every output",
        result=(
            f"0 in diagnostics, {len(events)} events, {len(states)} states, 2 action errors"
            f" and {len(caplog.records) - len(echoes)} log records; at DEBUG only HA's MQTT"
            f" client echoes the {len(carried)} list_sessions payloads that must carry it"
        ),
    )


# --- unsafe ids -------------------------------------------------------------------------


async def test_unsafe_ids_never_reach_a_topic(
    hass: HomeAssistant,
    fleet: dict[str, MockConfigEntry],
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
    reliability: Reliability,
) -> None:
    """Each unsafe id given to each action: a translated validation error, nothing sent."""
    keys: dict[str, set[str]] = {}
    tried = 0
    for unsafe in UNSAFE_IDS:
        attempts = {
            SERVICE_SEND_COMMAND: {"device_id": unsafe, "command": "status"},
            SERVICE_LIST_SESSIONS: {"server": unsafe},
            SERVICE_RPC_CALL: {"router": unsafe, "path": "system", "method": "board"},
            SERVICE_TERMINAL_EXEC: {"router": unsafe, "command": "uptime"},
        }
        if unsafe:  # an empty entry id or service name is none: see the end
            attempts[SERVICE_FORWARD_LOG] = {"message": "m", "config_entry_id": unsafe}
            for retain in (False, True):  # batched, and alone
                attempts[f"{SERVICE_FORWARD_LOG} retain={retain}"] = {
                    "message": "m",
                    "source_type": "container",
                    "service_id": 1001,
                    "service_name": unsafe,
                    "retain": retain,
                }
        for name, data in attempts.items():
            key = await refusal(hass, name.split(" ")[0], data)
            keys.setdefault(name.split(" ")[0], set()).add(key)
            tried += 1
    await hass.async_block_till_done()
    assert published_topics(mqtt_mock) == []
    assert keys == {
        SERVICE_SEND_COMMAND: {"device_not_found", "invalid_action_data"},
        SERVICE_LIST_SESSIONS: {"device_not_found", "invalid_action_data"},
        SERVICE_RPC_CALL: {"device_not_found", "invalid_action_data"},
        SERVICE_TERMINAL_EXEC: {"device_not_found", "invalid_action_data"},
        SERVICE_FORWARD_LOG: {"log_entry_not_found", "unsafe_service_name", "invalid_action_data"},
    }
    assert fleet["logs"].runtime_data.forwarder.queued == 0

    # The same actions with safe ids do publish, on the device's own topic level.
    await call_action(hass, SERVICE_SEND_COMMAND, {"device_id": BOARD, "command": "status"})
    for name in ("web", ""):
        await call_action(
            hass,
            SERVICE_FORWARD_LOG,
            {
                "message": "m",
                "source_type": "container",
                "service_id": 1001,
                "service_name": name,
                "retain": True,
            },
        )
    assert published_topics(mqtt_mock) == [
        f"autocore/devices/{BOARD}/commands/status",
        f"{LOGS_BASE}/1/web/info",
        f"{LOGS_BASE}/other/info",
    ]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    reliability.record(
        area="security",
        load=f"{tried} action calls, an entry of every family loaded",
        faults=(
            f"{len(UNSAFE_IDS)} unsafe ids (+ # / NUL, controls, invisible and unencodable"
            " characters, empty, 129 characters, topic paths) as device, server, router,"
            " service name and entry id"
        ),
        result=f"{tried} translated validation errors, 0 publishes, 0 errors logged",
    )


async def test_unsafe_configured_and_restored_servers_are_never_polled(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    reliability: Reliability,
) -> None:
    """Servers no options flow would store, or left in the registry: skipped, not crashed on."""
    freezer.move_to(START)
    configured = [SERVER, "a/b", "+", "#", "a\x00b", "", 7, None]
    entry = janus_entry(servers=configured)
    entry.add_to_hass(hass)
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "entry_janus_janus/x+y")}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await replies_subscribed(hass, freezer)
    hub: JanusHub = entry.runtime_data
    assert set(hub.devices) == {SERVER, "x+y"}  # the stray one only as the registry has it
    mqtt_mock.async_publish.reset_mock()
    await advance(hass, freezer, 10)
    assert published_topics(mqtt_mock) == [f"janus/{SERVER}/to-janus-admin"]
    stray = device_by_identifier(dr.async_get(hass), "entry_janus_janus/x+y")
    assert stray is not None
    for reference in ("x+y", stray.id):
        key = await refusal(hass, SERVICE_LIST_SESSIONS, {"server": reference})
        assert key == "device_not_found"
    assert published_topics(mqtt_mock) == [f"janus/{SERVER}/to-janus-admin"]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    reliability.record(
        area="security",
        load="1 Janus entry set up, then its first poll",
        faults=(
            f"{len(configured) - 1} stored server names no options flow accepts (a/b, +, #,"
            " NUL, empty, a number, null) and a registry device named x+y"
        ),
        result=(
            "0 devices made for the stored names; the stray device never polled and not found"
            " by name or registry id; 0 requests to them, 0 errors logged"
        ),
    )


# --- the allow-list and the terminal opt-in ---------------------------------------------


async def test_rpc_allow_list_cannot_be_bypassed(
    hass: HomeAssistant,
    spotfi_router: MockConfigEntry,
    mqtt_mock: Any,
    reliability: Reliability,
) -> None:
    """Wildcards, moved levels, case, whitespace, look-alikes, injections, huge names."""
    hub: SpotFiHub = spotfi_router.runtime_data
    assert hub.allow_list == DEFAULT_RPC_ALLOW_LIST
    for path, method in BYPASS_ATTEMPTS:
        data = {"router": ROUTER, "path": path, "method": method}
        key = await refusal(hass, SERVICE_RPC_CALL, data)
        expected = (
            "invalid_action_data"
            if not encodable(path, method)
            else "rpc_name_invalid"  # no allow-list entry could name it
            if rpc_name_problem(path, method)
            else "rpc_not_allowed"
        )
        assert key == expected, (path, method)
    for command in ("uptime", "id; cat /etc/shadow"):
        key = await refusal(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": command})
        assert key == "terminal_disabled"
    assert published_topics(mqtt_mock) == []
    assert len(hub.pending) == 0
    assert not hub.terminals

    # The allowed call itself goes out: the refusals above were the allow-list's.
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await settle(hass)
    assert published_topics(mqtt_mock) == [f"spotfi/router/{ROUTER}/rpc/request"]
    request = json.loads(mqtt_mock.async_publish.call_args.args[1])
    async_fire_mqtt_message(
        hass,
        f"spotfi/router/{ROUTER}/rpc/response",
        json.dumps({"id": request["id"], "status": "success", "result": {"ok": 1}}),
    )
    assert await call == {"ok": 1}
    reliability.record(
        area="security",
        load="1 SpotFi entry with the default allow-list and the terminal off",
        faults=(
            f"{len(BYPASS_ATTEMPTS)} hostile path/method pairs (wildcards, file exec, moved"
            " levels, case, whitespace, controls, look-alikes, injections, 100k characters);"
            " 2 terminal commands"
        ),
        result=(
            f"{len(BYPASS_ATTEMPTS) + 2} refused with translated validation errors,"
            " 0 published, pending map empty; the allowed system.board still answered"
        ),
    )


async def test_stored_options_cannot_open_the_terminal_or_widen_the_allow_list(
    hass: HomeAssistant,
    spotfi_router: MockConfigEntry,
    mqtt_mock: Any,
    reliability: Reliability,
) -> None:
    """Only a stored True opens the terminal; only valid patterns count in a stored list."""
    entry = spotfi_router
    for switch in ODD_TERMINAL_SWITCHES:
        hass.config_entries.async_update_entry(
            entry, options={**entry.options, "terminal_enabled": switch}
        )
        assert await hass.config_entries.async_reload(entry.entry_id)  # as stored at start
        assert entry.runtime_data.terminal_enabled is False, switch
        key = await refusal(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "id"})
        assert key == "terminal_disabled", switch
    for allow_list in ODD_ALLOW_LISTS:
        hass.config_entries.async_update_entry(
            entry, options={**entry.options, "rpc_allow_list": allow_list}
        )
        assert await hass.config_entries.async_reload(entry.entry_id)  # as stored at start
        expected = ("system.board",) if isinstance(allow_list, list) else ()
        assert entry.runtime_data.allow_list == expected, allow_list
        for path, method in (("file", "exec"), ("system", "reboot"), ("x", "y")):
            data = {"router": ROUTER, "path": path, "method": method}
            assert await refusal(hass, SERVICE_RPC_CALL, data) == "rpc_not_allowed"
    assert published_topics(mqtt_mock) == []

    # A real True does open it: the session starts (and the router refuses it).
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "terminal_enabled": True}
    )
    assert await hass.config_entries.async_reload(entry.entry_id)  # as stored at start
    call = action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "id"})
    await settle(hass)
    assert published_topics(mqtt_mock) == [f"spotfi/router/{ROUTER}/x/in"]
    async_fire_mqtt_message(
        hass, f"spotfi/router/{ROUTER}/x/out", tunnel("x-error", error="no shell")
    )
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "terminal_error"
    reliability.record(
        area="security",
        load="1 SpotFi entry reloaded with each stored option value",
        faults=(
            f"{len(ODD_TERMINAL_SWITCHES)} non-True terminal switches ('false', 'yes', 1,"
            f" lists ...); {len(ODD_ALLOW_LISTS)} odd allow-lists ('*.*', '*', '*.exec',"
            " non-text entries, a bare string)"
        ),
        result=(
            "terminal stayed off for every one, file.exec and system.reboot refused for"
            " every list, 0 published; only a stored True opened the terminal"
        ),
    )


# --- action schemas ---------------------------------------------------------------------

# Per action: data that passes its schema, and each field's kind.
ACTIONS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    SERVICE_SEND_COMMAND: (
        {"device_id": BOARD, "command": "status"},
        {"device_id": "id", "command": "choice"},
    ),
    SERVICE_LIST_SESSIONS: (
        {"server": SERVER},
        {"server": "id", "timeout": "number"},
    ),
    SERVICE_RPC_CALL: (
        {"router": ROUTER, "path": "system", "method": "board"},
        {"router": "id", "path": "id", "method": "id", "args": "object", "timeout": "number"},
    ),
    SERVICE_TERMINAL_EXEC: (
        {"router": ROUTER, "command": "uptime"},
        {"router": "id", "command": "text", "timeout": "number", "idle": "number"},
    ),
    SERVICE_FORWARD_LOG: (
        {"message": "m"},
        {
            "message": "text",
            "level": "choice",
            "source_type": "choice",
            "source_name": "text",
            "service_id": "number",
            "service_name": "text",
            "container_id": "text",
            "qos": "number",
            "retain": "boolean",
            "config_entry_id": "id",
        },
    ),
}
SCHEMAS = {
    SERVICE_SEND_COMMAND: SEND_COMMAND_SCHEMA,
    SERVICE_LIST_SESSIONS: LIST_SESSIONS_SCHEMA,
    SERVICE_RPC_CALL: RPC_CALL_SCHEMA,
    SERVICE_TERMINAL_EXEC: TERMINAL_EXEC_SCHEMA,
    SERVICE_FORWARD_LOG: FORWARD_LOG_SCHEMA,
}


def wrong_values(kind: str) -> list[Any]:
    """Values of the wrong type for a field of `kind` (numbers for text: see the test)."""
    if kind == "object":
        return [None, [], ["x"], True, False, "x", "{}", 1, *NOT_JSON_ARGS]
    if kind == "boolean":
        return [None, [], ["x"], {}, {"a": "b"}, "maybe", "", "2"]
    wrong = list(WRONG_FOR_EVERY_FIELD)
    if kind == "number":
        wrong += NOT_NUMBERS
    if kind == "choice":
        wrong += [1, 0, 2.5, "nope", "STATUS", " info"]
    if kind in ("id", "text"):
        wrong += ["a\ud800"]  # text with no UTF-8 form
    return wrong


async def test_action_schemas_reject_wrong_types(
    hass: HomeAssistant,
    fleet: dict[str, MockConfigEntry],
    mqtt_mock: Any,
    reliability: Reliability,
) -> None:
    """Every field of every action, given each wrong type: a translated validation error."""
    tried = 0
    for service, (valid, fields) in ACTIONS.items():
        SCHEMAS[service](valid)  # the rest of each call is right: only the field is wrong
        for field, kind in fields.items():
            for value in wrong_values(kind):
                with pytest.raises(ServiceValidationError) as err:
                    await call_action(hass, service, {**valid, field: value})
                assert err.value.translation_key == "invalid_action_data", (field, value)
                assert err.value.translation_placeholders["action"] == service
                translated(err.value)
                tried += 1
        with pytest.raises(ServiceValidationError) as err:
            await call_action(hass, service, {**valid, "unexpected": 1})
        assert err.value.translation_key == "invalid_action_data"
        tried += 1
    assert published_topics(mqtt_mock) == []

    # A number where an id belongs is read as that id's text, and names no device.
    for service, data, key in (
        (SERVICE_SEND_COMMAND, {"device_id": 7, "command": "status"}, "device_not_found"),
        (SERVICE_LIST_SESSIONS, {"server": 7}, "device_not_found"),
        (SERVICE_RPC_CALL, {"router": 7, "path": "system", "method": "b"}, "device_not_found"),
        (SERVICE_RPC_CALL, {"router": ROUTER, "path": 7, "method": "b"}, "rpc_not_allowed"),
        (SERVICE_TERMINAL_EXEC, {"router": 7, "command": "id"}, "device_not_found"),
        (SERVICE_FORWARD_LOG, {"message": "m", "config_entry_id": 7}, "log_entry_not_found"),
    ):
        assert await refusal(hass, service, data) == key, data
        tried += 1
    assert published_topics(mqtt_mock) == []
    # In free text a number is its text, as everywhere in HA (a template may render one).
    assert TERMINAL_EXEC_SCHEMA({"router": ROUTER, "command": 42})["command"] == "42"
    await call_action(
        hass,
        SERVICE_FORWARD_LOG,
        {
            "message": 21.5,
            "source_type": "container",
            "service_id": 1001,
            "service_name": 7,
            "container_id": 3,
            "source_name": 1,
            "retain": True,
        },
    )
    ((topic, payload, _qos, _retain),) = (c.args for c in mqtt_mock.async_publish.call_args_list)
    assert topic == f"{LOGS_BASE}/1/7/info"
    body = json.loads(payload)
    assert (body["message"], body["serviceName"], body["containerId"]) == ("21.5", "7", "3")
    assert body["source"]["name"] == "1"
    reliability.record(
        area="security",
        load=f"the 5 actions, {sum(len(f) for _, f in ACTIONS.values())} fields",
        faults=(
            "per field: None, lists, objects, true/false, text with no UTF-8 form; numbers"
            " for ids; non-numbers, NaN, Infinity for numbers; unknown choices; args that are"
            " no plain JSON (64-bit overflow, non-text keys, sets, bytes, NaN); unknown keys"
        ),
        result=f"{tried} calls, {tried} translated validation errors, 0 published",
    )
