"""The rpc_call and terminal_exec actions: allow-list, replies, timeouts, router resolution."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.selector import selector
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
import yaml

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.spotfi.actions import (
    SERVICE_RPC_CALL,
    SERVICE_TERMINAL_EXEC,
)
from custom_components.mqtt_fleet.families.spotfi.hub import MAX_TERMINAL_OUTPUT, SpotFiHub

from ...clock import advance, settle, until as _until
from ...common import default_options, device_by_identifier, entry_id_for
from ...flow_helpers import suggested_values
from .helpers import (
    BASE,
    HEX24,
    METRICS,
    ROUTER,
    START,
    FakeRouter,
    action,
    bodies,
    fire,
    output,
    publishes,
    registry_device,
    rpc_reply,
    spotfi_entry,
    tunnel,
)

SERVICES_YAML = Path(__file__).parents[3] / "custom_components/mqtt_fleet/services.yaml"

# --- rpc_call ---------------------------------------------------------------------------


async def test_rpc_call_allowed(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    (published,) = publishes(mqtt_mock, "rpc/request")
    request_id = json.loads(published.args[1])["id"]
    assert HEX24.fullmatch(request_id)
    assert published.args == (
        f"{BASE}/{ROUTER}/rpc/request",
        (
            f'{{"type":"rpc","id":"{request_id}","path":"system","method":"board","args":{{}}}}'
        ).encode(),
        1,
        False,
    )
    result = {"board_name": "tplink,archer-c7-v5", "release": {"version": "23.05.3"}}
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, result=result))
    assert await call == result
    assert len(router.runtime_data.pending) == 0
    assert router.runtime_data.invalid_messages == 0


@pytest.mark.parametrize(
    ("service", "data"),
    [
        (SERVICE_RPC_CALL, {"path": "system", "method": "board"}),
        (SERVICE_TERMINAL_EXEC, {"command": "uptime"}),
    ],
)
@pytest.mark.parametrize("spotfi_options", [{"terminal_enabled": True}])
async def test_actions_for_an_offline_router_fail_at_once(
    hass: HomeAssistant,
    router: MockConfigEntry,
    mqtt_mock: Any,
    service: str,
    data: dict[str, Any],
) -> None:
    """OFFLINE (the Last Will) means nobody answers: nothing is sent, the action says why."""
    await fire(hass, ROUTER, "status", "OFFLINE")
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(HomeAssistantError) as err:
        await action(hass, service, {"router": ROUTER, **data})
    assert err.value.translation_key == "device_offline"
    assert err.value.translation_placeholders == {"device": ROUTER}
    mqtt_mock.async_publish.assert_not_called()


async def test_rpc_call_by_device_id_with_args_and_wildcard(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(
        hass,
        SERVICE_RPC_CALL,
        {
            "router": registry_device(hass).id,
            "path": "network.interface.wan",
            "method": "status",
            "args": {"verbose": True, "n": [1, "x"]},
        },
    )
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    body = bodies(mqtt_mock, "rpc/request")[0]
    assert body == {
        "type": "rpc",
        "id": body["id"],
        "path": "network.interface.wan",
        "method": "status",
        "args": {"verbose": True, "n": [1, "x"]},
    }
    await fire(hass, ROUTER, "rpc/response", rpc_reply(body["id"], result={"up": True}))
    assert await call == {"up": True}


@pytest.mark.parametrize(
    ("result", "response"),
    [
        ([1, 2], {"result": [1, 2]}),
        ("ok", {"result": "ok"}),
        (0, {"result": 0}),
        (None, {"result": None}),
    ],
)
async def test_rpc_call_non_object_result_is_wrapped(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, result: Any, response: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "info"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    extra = {} if result is None else {"result": result}
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, **extra))
    assert await call == response


async def test_rpc_call_error_reply(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await fire(
        hass,
        ROUTER,
        "rpc/response",
        # The bridge passes ubus's stderr on with its newline: the error text has none.
        rpc_reply(
            request_id, "error", error="exit status 4\n", stderr="Command failed: Not found\n"
        ),
    )
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert type(err.value) is HomeAssistantError
    assert err.value.translation_key == "rpc_failed"
    assert err.value.translation_placeholders == {
        "router": ROUTER,
        "name": "system.board",
        "details": "exit status 4: Command failed: Not found",
    }
    assert len(router.runtime_data.pending) == 0


async def test_rpc_call_error_reply_without_details(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, "error"))
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_placeholders["details"] == "-"


async def test_rpc_call_timeout(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await advance(hass, freezer, 9)
    assert not call.done()
    await advance(hass, freezer, 1)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "rpc_no_reply"
    assert err.value.translation_placeholders == {"router": ROUTER, "timeout": "10"}
    assert len(router.runtime_data.pending) == 0
    # A late result finds nobody: ignored, not invalid.
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, result={}))
    assert router.runtime_data.invalid_messages == 0

    call = action(
        hass,
        SERVICE_RPC_CALL,
        {"router": ROUTER, "path": "system", "method": "board", "timeout": 0.5},
    )
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 2)
    await advance(hass, freezer, 0.5)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_placeholders == {"router": ROUTER, "timeout": "0.5"}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("file", "exec"),
        ("system", "reboot"),
        ("rc", "init"),
        ("network.interface.a.b", "status"),
        ("network.interface", "status"),
        ("network.interface.wan", "up"),
        ("uspot", "client_remove"),
        ("hostapd.wlan0", "get_status"),
    ],
)
async def test_rpc_call_not_allowed(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, path: str, method: str
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": path, "method": method})
    assert err.value.translation_key == "rpc_not_allowed"
    assert err.value.translation_placeholders == {"name": f"{path}.{method}"}
    mqtt_mock.async_publish.assert_not_called()
    assert len(router.runtime_data.pending) == 0


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("system", "*"),
        ("*", "board"),
        ("system board", "info"),
        ("system", "bo ard"),
        ("system.", "board"),
        ("system..board", "info"),
        (".system", "board"),
        ("", "board"),
        ("system", ""),
        ("system/x", "board"),
        ("hostapd.wlan0/get_status", "call"),
        ("system", "board\n"),
    ],
)
async def test_rpc_call_with_a_name_no_allow_list_can_hold(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, path: str, method: str
) -> None:
    """Such a name is not offered for the allow-list (the form refuses it): the error says why."""
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": path, "method": method})
    assert err.value.translation_key == "rpc_name_invalid"
    assert err.value.translation_placeholders == {"path": path, "method": method}
    mqtt_mock.async_publish.assert_not_called()


@pytest.mark.parametrize("spotfi_options", [{"rpc_allow_list": ["rc.list"]}])
async def test_rpc_call_custom_allow_list(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    for path, method in (("system", "board"), ("rc", "init"), ("rc", "lis"), ("rc", "listx")):
        with pytest.raises(ServiceValidationError) as err:
            await action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": path, "method": method})
        assert err.value.translation_key == "rpc_not_allowed"
    mqtt_mock.async_publish.assert_not_called()

    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "rc", "method": "list"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    body = bodies(mqtt_mock, "rpc/request")[0]
    assert (body["path"], body["method"]) == ("rc", "list")
    await fire(hass, ROUTER, "rpc/response", rpc_reply(body["id"], result={"dnsmasq": {}}))
    assert await call == {"dnsmasq": {}}


async def test_rpc_call_concurrent_calls_get_their_own_results(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    hub: SpotFiHub = router.runtime_data
    calls = [
        action(
            hass,
            SERVICE_RPC_CALL,
            {"router": ROUTER, "path": "system", "method": "info", "args": {"n": index}},
        )
        for index in range(50)
    ]
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 50)
    sent = bodies(mqtt_mock, "rpc/request")
    assert len({body["id"] for body in sent}) == 50
    assert len(hub.pending) == 50
    for body in reversed(sent):
        async_fire_mqtt_message(
            hass,
            f"{BASE}/{ROUTER}/rpc/response",
            rpc_reply(body["id"], result={"n": body["args"]["n"]}),
        )
    results = await asyncio.gather(*calls)
    assert results == [{"n": index} for index in range(50)]
    assert len(hub.pending) == 0
    assert hub.invalid_messages == 0


async def test_rpc_result_with_unknown_id_is_ignored(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    hub: SpotFiHub = router.runtime_data
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await fire(hass, ROUTER, "rpc/response", rpc_reply("f" * 24, result={"wrong": True}))
    await fire(hass, ROUTER, "rpc/response", rpc_reply("12", result={"wrong": True}))
    assert hub.invalid_messages == 0
    assert not call.done()
    assert len(hub.pending) == 1
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, result={"right": True}))
    assert await call == {"right": True}


@pytest.mark.parametrize(
    "payload",
    [
        '{"status":"success","type":"rpc-result"}',
        '{"id":"","status":"success"}',
        '{"id":"abc","status":"maybe"}',
        '{"id":"abc"}',
        "nope",
    ],
)
async def test_invalid_rpc_results_are_counted(
    hass: HomeAssistant, router: MockConfigEntry, payload: str
) -> None:
    await fire(hass, ROUTER, "rpc/response", payload)
    assert router.runtime_data.invalid_messages == 1


async def test_unload_while_rpc_call_waits(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    hub: SpotFiHub = router.runtime_data
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    assert len(hub.pending) == 1
    assert await hass.config_entries.async_unload(router.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "unloaded_while_waiting"
    assert err.value.translation_placeholders == {"device": router.title}
    assert len(hub.pending) == 0


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"path": "system", "method": "board"}, id="missing-router"),
        pytest.param({"router": ROUTER, "method": "board"}, id="missing-path"),
        pytest.param({"router": ROUTER, "path": "system"}, id="missing-method"),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "args": [1]}, id="args-list"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "args": "{}"}, id="args-text"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "timeout": 0.4}, id="low"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "timeout": 121}, id="high"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "timeout": "x"}, id="text"
        ),
    ],
)
async def test_rpc_call_bad_data(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, data: dict[str, Any]
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_RPC_CALL, data)
    assert err.value.translation_key == "invalid_action_data"
    assert err.value.translation_placeholders["action"] == SERVICE_RPC_CALL
    mqtt_mock.async_publish.assert_not_called()


@pytest.mark.parametrize("service", [SERVICE_RPC_CALL, SERVICE_TERMINAL_EXEC])
async def test_router_resolution(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, service: str
) -> None:
    data: dict[str, Any] = {"path": "system", "method": "board"}
    if service == SERVICE_TERMINAL_EXEC:
        data = {"command": "uptime"}
    hub_device = device_by_identifier(dr.async_get(hass), "entry_spotfi_spotfi_router")
    for reference in ("rtr-nope", hub_device.id, "0" * 32):
        with pytest.raises(ServiceValidationError) as err:
            await action(hass, service, {"router": reference, **data})
        assert err.value.translation_key == "device_not_found"
        assert err.value.translation_placeholders == {"device_id": reference}
    # By own id and by HA device id the router is found (terminal then says it is off).
    if service == SERVICE_TERMINAL_EXEC:
        for reference in (ROUTER, registry_device(hass).id):
            with pytest.raises(ServiceValidationError) as err:
                await action(hass, service, {"router": reference, **data})
            assert err.value.translation_key == "terminal_disabled"
    mqtt_mock.async_publish.assert_not_called()


async def test_router_of_a_janus_entry_is_not_found(
    hass: HomeAssistant, spotfi: MockConfigEntry, mqtt_mock: Any
) -> None:
    janus = MockConfigEntry(
        domain=DOMAIN,
        title="Janus (janus)",
        unique_id="janus:janus",
        entry_id=entry_id_for("janus:janus"),
        data={"family": "janus", "base_topic": "janus", "admin_secret": "s3cret"},
        options=default_options("janus") | {"servers": [ROUTER]},
    )
    janus.add_to_hass(hass)
    assert await hass.config_entries.async_setup(janus.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await action(
            hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"}
        )
    assert err.value.translation_key == "device_not_found"


async def test_router_in_two_entries_is_ambiguous(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    other = spotfi_entry("site-b/router")
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, f"site-b/router/{ROUTER}/status", "ONLINE")
    await settle(hass)
    with pytest.raises(ServiceValidationError) as err:
        await action(
            hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"}
        )
    assert err.value.translation_key == "device_ambiguous"
    mqtt_mock.async_publish.assert_not_called()


# --- terminal_exec ----------------------------------------------------------------------


TERMINAL_ON = {"terminal_enabled": True}


async def test_terminal_disabled_by_default(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    assert router.options["terminal_enabled"] is False
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "uptime"})
    assert err.value.translation_key == "terminal_disabled"
    mqtt_mock.async_publish.assert_not_called()
    assert not router.runtime_data.terminals


async def _start_terminal(
    hass: HomeAssistant, mqtt_mock: Any, data: dict[str, Any]
) -> tuple[asyncio.Task[Any], str]:
    """Start terminal_exec and wait for its x-start; return the call and the session id."""
    call = action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, **data})
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 1)
    return call, bodies(mqtt_mock, "x/in")[0]["sessionId"]


def started(session: str) -> str:
    """What the shell prints as the wrapped command starts (protocol.spotfi.terminal_input)."""
    return f"mqttfleet{session}B\r\n"


def exited(session: str, code: int) -> str:
    """What the shell prints after the wrapped command: a newline, then the end marker."""
    return f"\r\nmqttfleet{session}E{code}\r\n"


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_returns_stdout_and_exit_code(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    hub: SpotFiHub = router.runtime_data
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime; ls /tmp"})
    (start,) = publishes(mqtt_mock, "x/in")
    assert HEX24.fullmatch(session)
    assert start.args[0] == f"{BASE}/{ROUTER}/x/in"
    assert start.args[2:] == (1, False)
    assert json.loads(start.args[1]) == {
        "type": "x-start",
        "sessionId": session,
        "responseTopic": f"{BASE}/{ROUTER}/x/out",
        "timestamp": int(dt_util.parse_datetime(START).timestamp() * 1000),
    }
    assert list(hub.terminals) == [session]

    # The router's x-started names no session: it goes to the router's only session.
    await fire(hass, ROUTER, "x/out", tunnel("x-started", status="ready"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    data = bodies(mqtt_mock, "x/in")[1]
    typed = (
        f"echo mqttfleet{session}''B; (eval 'uptime; ls /tmp'); "
        f"printf '\\n%sE%s\\n' mqttfleet{session} \"$?\"\n"
    )
    assert data == {
        "type": "x-data",
        "sessionId": session,
        "data": base64.b64encode(typed.encode()).decode(),
    }

    # The PTY echoes the line, then the output comes, in chunks cut anywhere.
    await fire(hass, ROUTER, "x/out", output("BusyBox banner\r\nroot@OpenWrt:~# ", session))
    await fire(hass, ROUTER, "x/out", output(typed.replace("\n", "\r\n"), session))
    await advance(hass, freezer, 2)  # no idle time unless asked: it waits for the command
    await fire(hass, ROUTER, "x/out", output(started(session) + " 10:00:00 up 1 day\r\n"))
    await fire(hass, ROUTER, "x/out", output("other session\r\n", "f" * 24))  # not ours
    end = f"a.txt  b.txt\r\n{exited(session, 0)}root@OpenWrt:~# "
    await fire(hass, ROUTER, "x/out", output(end[:20], session))
    assert not call.done()
    await fire(hass, ROUTER, "x/out", output(end[20:], session))
    assert await call == {
        "stdout": " 10:00:00 up 1 day\na.txt  b.txt\n",
        "exit_code": 0,
        "reason": "exited",
    }
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[2:] == [{"type": "x-stop", "sessionId": session}]
    assert not hub.terminals
    assert hub.invalid_messages == 0


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_by_device_id_with_custom_idle(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call = action(
        hass,
        SERVICE_TERMINAL_EXEC,
        {"router": registry_device(hass).id, "command": "id", "idle": 0.5, "timeout": 5},
    )
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 1)
    session = bodies(mqtt_mock, "x/in")[0]["sessionId"]
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session, status="ready"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session))  # a repeat changes nothing
    await fire(hass, ROUTER, "x/out", output(started(session) + "uid=0(root)\r\n"))
    await advance(hass, freezer, 0.5)
    # The end marker never came: the output so far, and no exit code.
    assert await call == {"stdout": "uid=0(root)\n", "exit_code": None, "reason": "idle"}
    assert len(publishes(mqtt_mock, "x/in")) == 3  # x-start, x-data, x-stop


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_continuous_output_times_out(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call, session = await _start_terminal(
        hass, mqtt_mock, {"command": "ping 10.0.0.1", "timeout": 3}
    )
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    await fire(hass, ROUTER, "x/out", output(started(session), session))
    lines = 0
    while not call.done():
        assert lines < 10
        await fire(hass, ROUTER, "x/out", output(f"line {lines}\n", session))
        lines += 1
        await advance(hass, freezer, 0.5)
    result = await call
    assert result["reason"] == "timeout"
    assert result["exit_code"] is None
    assert result["stdout"] == "".join(f"line {index}\n" for index in range(lines))
    assert 5 <= lines <= 7
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[-1] == {"type": "x-stop", "sessionId": session}
    assert not router.runtime_data.terminals


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_output_beyond_the_cap_is_truncated(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A router printing without end: 1 MiB is kept, then the session ends at once."""
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "yes", "timeout": 300})
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    chunk = "y\n" * 20_000  # 40,000 bytes: 54 KB once in base64 and JSON
    await fire(hass, ROUTER, "x/out", output(started(session), session))
    sent = len(started(session))
    while not call.done():
        assert sent <= MAX_TERMINAL_OUTPUT
        await fire(hass, ROUTER, "x/out", output(chunk, session))
        sent += len(chunk)
        await settle(hass)
    assert sent == len(started(session)) + 27 * len(chunk)  # the 27th message went past 1 MiB
    result = await call
    assert result["reason"] == "truncated"
    assert result["exit_code"] is None
    assert (
        result["stdout"]
        == ("y\n" * MAX_TERMINAL_OUTPUT)[: MAX_TERMINAL_OUTPUT - len(started(session))]
    )
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[-1] == {"type": "x-stop", "sessionId": session}
    assert not router.runtime_data.terminals
    await fire(hass, ROUTER, "x/out", output(chunk, session))  # late output is ignored
    assert router.runtime_data.invalid_messages == 0


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_output_of_exactly_the_cap_is_whole(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call, session = await _start_terminal(
        hass, mqtt_mock, {"command": "cat big", "idle": 1, "raw": True}
    )
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    chunk = "a" * (MAX_TERMINAL_OUTPUT // 32)
    for _ in range(32):
        await fire(hass, ROUTER, "x/out", output(chunk, session))
    await advance(hass, freezer, 1)
    # No start marker came (the shell never ran the line): no stdout, the whole transcript.
    assert await call == {
        "stdout": "",
        "exit_code": None,
        "reason": "idle",
        "transcript": chunk * 32,
    }


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_no_start(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime", "timeout": 2})
    # Another session's x-started does not start ours.
    await fire(hass, ROUTER, "x/out", tunnel("x-started", "0" * 24))
    await advance(hass, freezer, 2)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "terminal_no_start"
    assert err.value.translation_placeholders == {"router": ROUTER, "timeout": "2"}
    await settle(hass)
    assert [body["type"] for body in bodies(mqtt_mock, "x/in")] == ["x-start", "x-stop"]
    assert bodies(mqtt_mock, "x/in")[1]["sessionId"] == session
    assert not router.runtime_data.terminals


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_error_before_start(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    await fire(hass, ROUTER, "x/out", tunnel("x-error", session, error="shell unavailable"))
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "terminal_error"
    assert err.value.translation_placeholders == {"router": ROUTER, "error": "shell unavailable"}
    await settle(hass)
    assert [body["type"] for body in bodies(mqtt_mock, "x/in")] == ["x-start", "x-stop"]
    assert not router.runtime_data.terminals


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_error_while_collecting(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "cat /dev/zero"})
    await fire(hass, ROUTER, "x/out", tunnel("x-started"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    await advance(hass, freezer, 0.5)
    await fire(hass, ROUTER, "x/out", output("partial"))
    await fire(hass, ROUTER, "x/out", tunnel("x-error"))  # no text: a generic one
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "terminal_error"
    assert err.value.translation_placeholders == {"router": ROUTER, "error": "terminal error"}
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[-1] == {"type": "x-stop", "sessionId": session}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_error_during_the_input_publish_is_not_lost(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    real_publish = mqtt_mock.async_publish._mock_wraps  # HA's MQTT client, mocked paho below

    async def publish(topic: str, payload: bytes, qos: int, retain: bool, **kwargs: Any) -> None:
        if json.loads(payload)["type"] == "x-data":
            # The router refuses the input before the broker's PUBACK reaches HA.
            async_fire_mqtt_message(
                hass, f"{BASE}/{ROUTER}/x/out", tunnel("x-error", error="shell died")
            )
        await real_publish(topic, payload, qos, retain, **kwargs)

    mqtt_mock.async_publish.side_effect = publish
    call, _session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    await fire(hass, ROUTER, "x/out", tunnel("x-started"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) >= 2)
    await advance(hass, freezer, 1.5)
    assert call.done()
    error = call.exception()
    assert isinstance(error, HomeAssistantError), f"returned {call.result()!r}"
    assert error.translation_key == "terminal_error"
    assert error.translation_placeholders == {"router": ROUTER, "error": "shell died"}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_output_of_two_sessions_is_kept_apart(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    first = action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "one"})
    second = action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "two"})
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    one, two = (body["sessionId"] for body in bodies(mqtt_mock, "x/in"))
    assert one != two
    await fire(hass, ROUTER, "x/out", tunnel("x-started", one))
    await fire(hass, ROUTER, "x/out", tunnel("x-started", two))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 4)
    await fire(hass, ROUTER, "x/out", output(started(one) + "1\r\n", one))
    await fire(hass, ROUTER, "x/out", output(started(two) + "2\r\n", two))
    await fire(hass, ROUTER, "x/out", output("?\n"))  # two sessions open: nobody's
    await fire(hass, ROUTER, "x/out", output(exited(two, 2), two))
    await fire(hass, ROUTER, "x/out", output(exited(one, 1), one))
    assert await first == {"stdout": "1\n", "exit_code": 1, "reason": "exited"}
    assert await second == {"stdout": "2\n", "exit_code": 2, "reason": "exited"}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_output_with_no_session_open_is_ignored(
    hass: HomeAssistant, router: MockConfigEntry
) -> None:
    await fire(hass, ROUTER, "x/out", output("stray"))
    await fire(hass, ROUTER, "x/out", tunnel("x-started", "a" * 24))
    assert router.runtime_data.invalid_messages == 0


@pytest.mark.parametrize(
    "payload",
    ['{"type":"x-data","data":"not base64!"}', '{"type":"x-nope"}', '{"data":"aGk="}', "[]"],
)
async def test_invalid_tunnel_messages_are_counted(
    hass: HomeAssistant, router: MockConfigEntry, payload: str
) -> None:
    await fire(hass, ROUTER, "x/out", payload)
    assert router.runtime_data.invalid_messages == 1


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_unload_while_terminal_waits(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    """The call fails at once; x-stop is still sent and the session is forgotten."""
    hub: SpotFiHub = router.runtime_data
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    assert await hass.config_entries.async_unload(router.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "unloaded_while_waiting"
    assert not hub.terminals
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[-1] == {"type": "x-stop", "sessionId": session}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_unload_while_terminal_waits_says_unloaded(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call, _session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    assert await hass.config_entries.async_unload(router.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "unloaded_while_waiting"


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"router": ROUTER}, id="missing-command"),
        pytest.param({"router": ROUTER, "command": ""}, id="empty-command"),
        pytest.param({"router": ROUTER, "command": "x" * 4097}, id="long-command"),
        pytest.param({"command": "uptime"}, id="missing-router"),
        pytest.param({"router": ROUTER, "command": "uptime", "timeout": 301}, id="timeout"),
        pytest.param({"router": ROUTER, "command": "uptime", "idle": 0.05}, id="idle"),
    ],
)
async def test_terminal_exec_bad_data(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, data: dict[str, Any]
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_TERMINAL_EXEC, data)
    assert err.value.translation_key == "invalid_action_data"
    mqtt_mock.async_publish.assert_not_called()


# --- the allow-list refusal and the options form agree -----------------------------------


async def test_the_refusal_names_what_the_options_form_accepts(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    """The name the refusal asks to add is accepted by the form, and then allowed."""
    data = {"router": ROUTER, "path": "hostapd.wlan0", "method": "get_status"}
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_RPC_CALL, data)
    name = err.value.translation_placeholders["name"]
    assert name == "hostapd.wlan0.get_status"

    form = await hass.config_entries.options.async_init(router.entry_id)
    user_input = {key: value for key, value in suggested_values(form).items() if value is not None}
    user_input["rpc_allow_list"] = [*user_input["rpc_allow_list"], name]
    result = await hass.config_entries.options.async_configure(form["flow_id"], user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert name in router.options["rpc_allow_list"]

    mqtt_mock.async_publish.reset_mock()
    call = action(hass, SERVICE_RPC_CALL, data)
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    body = bodies(mqtt_mock, "rpc/request")[0]
    assert (body["path"], body["method"]) == ("hostapd.wlan0", "get_status")
    await fire(hass, ROUTER, "rpc/response", rpc_reply(body["id"], result={"status": "ENABLED"}))
    assert await call == {"status": "ENABLED"}


# --- the router fields pick SpotFi routers -----------------------------------------------


@pytest.mark.parametrize("service", [SERVICE_RPC_CALL, SERVICE_TERMINAL_EXEC])
def test_router_field_is_a_device_selector_of_spotfi_routers(service: str) -> None:
    """The registry model comes from each router's board: the filter is the manufacturer."""
    services = yaml.safe_load(SERVICES_YAML.read_text(encoding="utf-8"))
    selector_config = services[service]["fields"]["router"]["selector"]
    assert selector_config == {
        "device": {"filter": {"integration": DOMAIN, "manufacturer": SpotFiHub.manufacturer}}
    }
    selector(selector_config)  # HA accepts it
    manufacturers = {family.hub_type.manufacturer for family in FAMILIES.values()}
    assert len(manufacturers) == len(FAMILIES)  # no other family's devices match


async def test_router_picked_in_the_selector_runs_the_action(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    """The registry device the selector offers (by manufacturer) is the router itself."""
    (device,) = [
        device
        for device in dr.async_entries_for_config_entry(dr.async_get(hass), router.entry_id)
        if device.manufacturer == SpotFiHub.manufacturer
    ]
    call = action(hass, SERVICE_RPC_CALL, {"router": device.id, "path": "system", "method": "info"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    body = bodies(mqtt_mock, "rpc/request")[0]
    await fire(hass, ROUTER, "rpc/response", rpc_reply(body["id"], result={"uptime": 1}))
    assert await call == {"uptime": 1}


# --- terminal_exec on the simulated router --------------------------------------------------


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
@pytest.mark.parametrize(
    ("command", "stdout", "exit_code"),
    [
        ("hostname", "OpenWrt\n", 0),
        ("ls /nope", "ls: /nope: No such file or directory\n", 1),
        ("nosuch", "ash: nosuch: not found\n", 127),
        ("exit 3", "", 3),
        ("printf no-newline", "no-newline", 0),
        ("echo 'a # b'\necho \"it's\"", "a # b\nit's\n", 0),
        ("echo one; ubus call system nope", "one\nCommand failed: Method not found\n", 3),
    ],
)
async def test_terminal_exec_on_the_simulated_router(
    hass: HomeAssistant,
    fake_router: FakeRouter,
    command: str,
    stdout: str,
    exit_code: int,
) -> None:
    """Banner, prompt and echo are gone, lines end in newlines, the exit code is the shell's."""
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    result = await action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": command})
    assert result == {"stdout": stdout, "exit_code": exit_code, "reason": "exited"}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_raw_adds_the_transcript(
    hass: HomeAssistant, fake_router: FakeRouter
) -> None:
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    result = await action(
        hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "uptime", "raw": True}
    )
    assert result["exit_code"] == 0
    assert result["reason"] == "exited"
    assert re.fullmatch(r" \d\d:\d\d:\d\d up .*load average: .*\n", result["stdout"])
    transcript = result["transcript"]
    assert transcript.startswith("\r\n\r\nBusyBox v1.36.1")
    assert "W I R E L E S S   F R E E D O M\r\n" in transcript
    assert "root@OpenWrt:~# echo mqttfleet" in transcript
    assert result["stdout"].replace("\n", "\r\n") in transcript
