"""Tests for protocol/spotfi.py: status, metrics, ubus RPC, the x-tunnel and the allow-list.

Payloads follow docs/protocols.md, section "SpotFi" (spotfi-bridge-go), quirks
included: the bridge marshals with Go's encoding/json (keys
sorted, `<` `>` `&` escaped as \\u003c..., whole floats without a decimal point) and formats
uptime with `fmt.Sprintf("%.0f", ...)`, which yields "%!f(<nil>)" when ubus failed.
"""

from __future__ import annotations

import base64
import dataclasses
import re

import orjson
import pytest

from custom_components.mqtt_fleet.protocol.payload import MAX_PAYLOAD_BYTES, InvalidMessage
from custom_components.mqtt_fleet.protocol.spotfi import (
    DEFAULT_RPC_ALLOW_LIST,
    Metrics,
    RouterBoard,
    RouterStatus,
    RpcResult,
    SpotFiProtocol,
    TerminalResult,
    TunnelData,
    TunnelError,
    TunnelMessage,
    TunnelStarted,
    is_allow_pattern,
    new_id,
    parse_board,
    read_terminal,
    rpc_allowed,
    rpc_name_problem,
    terminal_finished,
    terminal_input,
)
from custom_components.mqtt_fleet.protocol.topics import OutgoingMessage, UnsafeIdError

PROTOCOL = SpotFiProtocol("spotfi/router")
ROUTER = "cm4x2k9l0000abcd"
STATUS = f"spotfi/router/{ROUTER}/status"
METRICS = f"spotfi/router/{ROUTER}/metrics"
RPC = f"spotfi/router/{ROUTER}/rpc/response"
TUNNEL = f"spotfi/router/{ROUTER}/x/out"
HEX_24 = re.compile(r"[0-9a-f]{24}")
GARBAGE = "%!f(<nil>)"


def dumps(value: object) -> bytes:
    return orjson.dumps(value)


def go_marshal(value: object) -> bytes:
    """Encode like Go's encoding/json: sorted keys, no spaces, <>& escaped."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").encode()


def reason_of(topic: str, payload: bytes, protocol: SpotFiProtocol = PROTOCOL) -> str:
    """Parse a message that must be refused and return why."""
    with pytest.raises(InvalidMessage) as err:
        protocol.parse(topic, payload)
    assert err.value.reason == str(err.value)
    # The detail in brackets is orjson's own text, which changes between its versions.
    return re.sub(r"^invalid JSON \(.+\)$", "invalid JSON (…)", err.value.reason)


def metrics_payload(**fields: object) -> bytes:
    """A Go-marshalled heartbeat with the documented example's values, some replaced."""
    metrics: dict[str, object] = {
        "uptime": "86400",
        "cpuLoad": 12.5,
        "totalMemory": 262144000,
        "freeMemory": 104857600,
        "activeUsers": 7,
    }
    metrics.update(fields)
    return go_marshal({"type": "metrics", "metrics": metrics})


# Byte for byte what spotfi-bridge-go publishes for the documented example heartbeat.
EXAMPLE_METRICS = (
    b'{"metrics":{"activeUsers":7,"cpuLoad":12.5,"freeMemory":104857600,'
    b'"totalMemory":262144000,"uptime":"86400"},"type":"metrics"}'
)
EXAMPLE_METRICS_MESSAGE = Metrics(
    router=ROUTER,
    uptime=86400,
    cpu_load=12.5,
    total_memory=262144000,
    free_memory=104857600,
    active_users=7,
    problems=(),
)


# --- 1. status ------------------------------------------------------------------------


def test_subscriptions_cover_every_router_topic() -> None:
    assert PROTOCOL.subscriptions == (
        "spotfi/router/+/status",
        "spotfi/router/+/metrics",
        "spotfi/router/+/rpc/response",
        "spotfi/router/+/x/out",
    )
    assert PROTOCOL.base == "spotfi/router"


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"ONLINE", True),
        (b"OFFLINE", False),
        (b"online", True),
        (b"Offline", False),
        (b"oNlInE", True),
        (b"  ONLINE  ", True),
        (b"OFFLINE\n", False),
        (b"\r\n\tONLINE\r\n", True),
        (b'{"status":"online"}', True),
        (b'{"status":"offline"}', False),
        (b'{"status": "ONLINE"}', True),
        (b'{"status": "Offline", "router": "x"}', False),
        (b'  {"status":"online"}\n', True),
        (b'{"status": " online "}', True),
        (b'{"status":"\\tOFFLINE\\n"}', False),
        # A JSON-quoted word is the same word.
        (b'"ONLINE"', True),
        (b'"offline"', False),
        (b' "Online" \n', True),
        (b'" online "', True),
    ],
)
def test_status_forms_are_read(payload: bytes, online: bool) -> None:
    assert PROTOCOL.parse(STATUS, payload) == RouterStatus(router=ROUTER, online=online)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        # Whatever is not ONLINE/OFFLINE, plain or as JSON, is an unknown status.
        (b"", "unknown status ''"),
        (b"   ", "unknown status ''"),
        (b"ON LINE", "unknown status 'ON LINE'"),
        (b"true", "unknown status 'true'"),
        (b"false", "unknown status 'false'"),
        (b"1", "unknown status '1'"),
        (b"null", "unknown status 'null'"),
        (b"[]", "unknown status '[]'"),
        (b'"ON LINE"', "unknown status '\"ON LINE\"'"),
        (b'"up"', "unknown status '\"up\"'"),
        (b'""', "unknown status '\"\"'"),
        (b'["online"]', "unknown status '[\"online\"]'"),
        (b'{"status":{"status":1}}', 'unknown status \'{"status":{"status":1}}\''),
        (b"{}", "unknown status '{}'"),
        (b'{"status":"up"}', 'unknown status \'{"status":"up"}\''),
        (b'{"status":true}', "unknown status '{\"status\":true}'"),
        (b'{"online":true}', "unknown status '{\"online\":true}'"),
        (b'{"status":null}', "unknown status '{\"status\":null}'"),
        (b"ONLINE!", "unknown status 'ONLINE!'"),
        (b"CONNECTED", "unknown status 'CONNECTED'"),
        (b"\xffONLINE", "payload is not valid UTF-8"),
        (b"ONLINE\xc3", "payload is not valid UTF-8"),
    ],
)
def test_invalid_status_payloads_raise(payload: bytes, reason: str) -> None:
    assert reason_of(STATUS, payload) == reason


def test_unknown_status_reason_is_truncated_to_32_characters() -> None:
    assert reason_of(STATUS, b"x" * 100) == f"unknown status {'x' * 32!r}"


def test_oversized_status_payload_raises() -> None:
    payload = b"ONLINE" + b" " * MAX_PAYLOAD_BYTES
    assert reason_of(STATUS, payload) == f"payload of {len(payload)} bytes exceeds 64 KiB"


# --- 2. metrics -----------------------------------------------------------------------


def test_example_metrics_in_exact_go_form_are_read() -> None:
    assert metrics_payload() == EXAMPLE_METRICS
    assert PROTOCOL.parse(METRICS, EXAMPLE_METRICS) == EXAMPLE_METRICS_MESSAGE


def test_example_metrics_pretty_printed_in_documented_key_order_are_read() -> None:
    payload = b"""{
      "type": "metrics",
      "metrics": {
        "uptime": "86400",
        "cpuLoad": 12.5,
        "totalMemory": 262144000,
        "freeMemory": 104857600,
        "activeUsers": 7
      }
    }"""
    assert PROTOCOL.parse(METRICS, payload) == EXAMPLE_METRICS_MESSAGE


def test_memory_used_is_a_percentage() -> None:
    message = PROTOCOL.parse(METRICS, EXAMPLE_METRICS)
    assert isinstance(message, Metrics)
    assert message.memory_used == 60.0


@pytest.mark.parametrize(
    ("total", "free", "used"),
    [
        (262144000, 104857600, 60.0),
        (3, 2, 33.3),
        (3, 1, 66.7),
        (1000, 0, 100.0),
        (1000, 1000, 0.0),
        (0, 0, None),
        (None, 100, None),
        (1000, None, None),
        (None, None, None),
    ],
)
def test_memory_used_rounds_and_is_none_without_a_total(
    total: int | None, free: int | None, used: float | None
) -> None:
    message = PROTOCOL.parse(METRICS, metrics_payload(totalMemory=total, freeMemory=free))
    assert isinstance(message, Metrics)
    assert (message.total_memory, message.free_memory) == (total, free)
    assert message.problems == ()
    assert message.memory_used == used


@pytest.mark.parametrize(("total", "free"), [(0, 100), (0, 1), (1000, 1001), (3, 262144000)])
def test_free_memory_above_the_total_is_a_problem(total: int, free: int) -> None:
    message = PROTOCOL.parse(METRICS, metrics_payload(totalMemory=total, freeMemory=free))
    assert message == dataclasses.replace(
        EXAMPLE_METRICS_MESSAGE,
        total_memory=total,
        free_memory=None,
        problems=("metrics.freeMemory: more than totalMemory",),
    )
    assert isinstance(message, Metrics)
    assert message.memory_used is None


def test_memory_used_when_the_memory_fields_are_missing() -> None:
    message = PROTOCOL.parse(METRICS, b'{"metrics":{"cpuLoad":1},"type":"metrics"}')
    assert isinstance(message, Metrics)
    assert message.total_memory is None
    assert message.memory_used is None


@pytest.mark.parametrize(
    ("uptime", "expected", "problems"),
    [
        ("86400", 86400, ()),
        ("0", 0, ()),
        ("00042", 42, ()),
        ("31536000000", 31536000000, ()),
        (86400, 86400, ()),
        (86400.0, 86400, ()),
        (0, 0, ()),
        (None, None, ()),
        ("", None, ("metrics.uptime: expected seconds, got ''",)),
        (" 86400", None, ("metrics.uptime: expected seconds, got ' 86400'",)),
        ("86400.5", None, ("metrics.uptime: expected seconds, got '86400.5'",)),
        ("-5", None, ("metrics.uptime: expected seconds, got '-5'",)),
        ("1e5", None, ("metrics.uptime: expected seconds, got '1e5'",)),
        # Unicode digits are digits to str.isdigit(), not to a router.
        ("\u0661\u0662", None, ("metrics.uptime: expected seconds, got '\u0661\u0662'",)),
        ("\u00b2", None, ("metrics.uptime: expected seconds, got '\u00b2'",)),
        ("9223372036854775807", 2**63 - 1, ()),
        # Found by the fuzz tier: 5000 digits made int() raise (an internal error).
        ("9" * 40, None, (f"metrics.uptime: expected a whole number <= {2**63 - 1}",)),
        ("9" * 5000, None, (f"metrics.uptime: expected a whole number <= {2**63 - 1}",)),
        (86400.5, None, ("metrics.uptime: expected a whole number >= 0",)),
        (-1, None, ("metrics.uptime: expected a whole number >= 0",)),
        (True, None, ("metrics.uptime: expected a number, got boolean",)),
        ([1], None, ("metrics.uptime: expected a number, got array",)),
    ],
)
def test_uptime_as_a_string_of_seconds_or_a_number(
    uptime: object, expected: int | None, problems: tuple[str, ...]
) -> None:
    message = PROTOCOL.parse(METRICS, metrics_payload(uptime=uptime))
    assert message == dataclasses.replace(
        EXAMPLE_METRICS_MESSAGE, uptime=expected, problems=problems
    )


def test_uptime_garbage_reason_is_truncated_to_32_characters() -> None:
    message = PROTOCOL.parse(METRICS, metrics_payload(uptime="x" * 100))
    assert message.problems == (f"metrics.uptime: expected seconds, got {'x' * 32!r}",)


@pytest.mark.parametrize(
    ("key", "attribute"),
    [
        ("uptime", "uptime"),
        ("cpuLoad", "cpu_load"),
        ("totalMemory", "total_memory"),
        ("freeMemory", "free_memory"),
        ("activeUsers", "active_users"),
    ],
)
@pytest.mark.parametrize("nil", [GARBAGE, "%!d(<nil>)", "%!v(MISSING)"])
def test_go_nil_is_an_unknown_value_not_a_problem(key: str, attribute: str, nil: str) -> None:
    """What Go's fmt writes for a value it could not format: no reading this time."""
    message = PROTOCOL.parse(METRICS, metrics_payload(**{key: nil}))
    assert message == dataclasses.replace(
        EXAMPLE_METRICS_MESSAGE, **{attribute: None}, unknown=(key,)
    )


def test_go_nil_in_every_field_keeps_a_message_of_unknowns() -> None:
    payload = metrics_payload(
        uptime=GARBAGE,
        cpuLoad=GARBAGE,
        totalMemory=GARBAGE,
        freeMemory=GARBAGE,
        activeUsers=GARBAGE,
    )
    message = PROTOCOL.parse(METRICS, payload)
    assert message == Metrics(
        router=ROUTER,
        uptime=None,
        cpu_load=None,
        total_memory=None,
        free_memory=None,
        active_users=None,
        unknown=("activeUsers", "cpuLoad", "freeMemory", "totalMemory", "uptime"),
    )
    assert isinstance(message, Metrics)
    assert message.memory_used is None


def test_what_the_bridge_sends_when_ubus_failed_entirely() -> None:
    # GetMetrics with an empty sysInfo: zero floats, Sprintf garbage for uptime.
    payload = (
        b'{"metrics":{"activeUsers":0,"cpuLoad":0,"freeMemory":0,"totalMemory":0,'
        b'"uptime":"%!f(\\u003cnil\\u003e)"},"type":"metrics"}'
    )
    message = PROTOCOL.parse(METRICS, payload)
    # The zeros come from the same failed `system info` call: they are unknown too.
    assert message == Metrics(
        router=ROUTER,
        uptime=None,
        cpu_load=None,
        total_memory=None,
        free_memory=None,
        active_users=0,
        unknown=("uptime", "cpuLoad", "totalMemory", "freeMemory"),
    )
    assert isinstance(message, Metrics)
    assert message.memory_used is None


def test_failed_system_info_drops_cpu_and_memory_whatever_their_values() -> None:
    payload = metrics_payload(uptime=GARBAGE, totalMemory=0.0, cpuLoad=-1, freeMemory=5)
    assert PROTOCOL.parse(METRICS, payload) == dataclasses.replace(
        EXAMPLE_METRICS_MESSAGE,
        uptime=None,
        cpu_load=None,
        total_memory=None,
        free_memory=None,
        unknown=("uptime", "cpuLoad", "totalMemory", "freeMemory"),
        problems=("metrics.cpuLoad: expected a number >= 0",),
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # A readable uptime: a zero total is read as sent.
        (
            {"totalMemory": 0, "freeMemory": 0, "cpuLoad": 0},
            {"total_memory": 0, "free_memory": 0, "cpu_load": 0},
        ),
        # A nil uptime with a real total: only uptime is unknown.
        (
            {"uptime": GARBAGE, "cpuLoad": 0},
            {"uptime": None, "cpu_load": 0, "unknown": ("uptime",)},
        ),
        # A nil uptime with a nil total: each field for itself.
        (
            {"uptime": GARBAGE, "totalMemory": GARBAGE, "freeMemory": 0},
            {
                "uptime": None,
                "total_memory": None,
                "free_memory": 0,
                "unknown": ("totalMemory", "uptime"),
            },
        ),
    ],
)
def test_system_info_failure_needs_a_nil_uptime_and_a_zero_total(
    fields: dict[str, object], expected: dict[str, object]
) -> None:
    message = PROTOCOL.parse(METRICS, metrics_payload(**fields))
    assert message == dataclasses.replace(EXAMPLE_METRICS_MESSAGE, **expected)


def test_zero_total_without_an_uptime_is_read_as_sent() -> None:
    payload = dumps({"type": "metrics", "metrics": {"cpuLoad": 0, "totalMemory": 0}})
    assert PROTOCOL.parse(METRICS, payload) == Metrics(
        router=ROUTER,
        uptime=None,
        cpu_load=0,
        total_memory=0,
        free_memory=None,
        active_users=None,
    )


@pytest.mark.parametrize(
    ("fields", "expected", "problems"),
    [
        # Go prints float64 loads in full and whole floats without a decimal point.
        ({"cpuLoad": 0.30518043793392844}, {"cpu_load": 0.30518043793392844}, ()),
        ({"cpuLoad": 100}, {"cpu_load": 100}, ()),
        ({"cpuLoad": 0}, {"cpu_load": 0}, ()),
        ({"cpuLoad": 1e-7}, {"cpu_load": 1e-7}, ()),
        ({"cpuLoad": 250.0}, {"cpu_load": 250.0}, ()),
        ({"cpuLoad": -0.5}, {"cpu_load": None}, ("metrics.cpuLoad: expected a number >= 0",)),
        ({"cpuLoad": -3}, {"cpu_load": None}, ("metrics.cpuLoad: expected a number >= 0",)),
        (
            {"cpuLoad": "12.5"},
            {"cpu_load": None},
            ("metrics.cpuLoad: number sent as a string",),
        ),
        (
            {"cpuLoad": False},
            {"cpu_load": None},
            ("metrics.cpuLoad: expected a number, got boolean",),
        ),
        ({"cpuLoad": None}, {"cpu_load": None}, ()),
        ({"totalMemory": 2.62144e8}, {"total_memory": 262144000}, ()),
        (
            {"totalMemory": 1.5},
            {"total_memory": None},
            ("metrics.totalMemory: expected a whole number >= 0",),
        ),
        (
            {"freeMemory": -1},
            {"free_memory": None},
            ("metrics.freeMemory: expected a whole number >= 0",),
        ),
        (
            {"freeMemory": "104857600"},
            {"free_memory": None},
            ("metrics.freeMemory: number sent as a string",),
        ),
        (
            {"activeUsers": 2.5},
            {"active_users": None},
            ("metrics.activeUsers: expected a whole number >= 0",),
        ),
        (
            {"activeUsers": {"wlan0": 3}},
            {"active_users": None},
            ("metrics.activeUsers: expected a number, got object",),
        ),
    ],
)
def test_numeric_fields_are_checked_one_by_one(
    fields: dict[str, object], expected: dict[str, object], problems: tuple[str, ...]
) -> None:
    message = PROTOCOL.parse(METRICS, metrics_payload(**fields))
    assert message == dataclasses.replace(EXAMPLE_METRICS_MESSAGE, **expected, problems=problems)


def test_metrics_without_type_are_accepted() -> None:
    payload = (
        b'{"metrics":{"activeUsers":7,"cpuLoad":12.5,"freeMemory":104857600,'
        b'"totalMemory":262144000,"uptime":"86400"}}'
    )
    assert PROTOCOL.parse(METRICS, payload) == EXAMPLE_METRICS_MESSAGE


def test_metrics_with_extra_fields_are_accepted() -> None:
    payload = go_marshal(
        {"type": "metrics", "ts": 1, "metrics": {"uptime": 5, "load": [1, 2], "extra": "x"}}
    )
    assert PROTOCOL.parse(METRICS, payload) == Metrics(
        router=ROUTER,
        uptime=5,
        cpu_load=None,
        total_memory=None,
        free_memory=None,
        active_users=None,
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"type":"rpc-result","metrics":{}}', "type: expected 'metrics', got 'rpc-result'"),
        (b'{"type":"Metrics","metrics":{}}', "type: expected 'metrics', got 'Metrics'"),
        (b'{"type":"","metrics":{}}', "type: expected 'metrics', got ''"),
        (b'{"type":"metrics"}', "metrics: missing"),
        (b'{"type":"metrics","metrics":null}', "metrics: missing"),
        (b'{"type":"metrics","metrics":[]}', "metrics: expected an object, got array"),
        (b'{"type":"metrics","metrics":"86400"}', "metrics: expected an object, got string"),
        (b'{"uptime":"86400","cpuLoad":12.5}', "metrics: missing"),
        # A wrong `type` type does not take over the reason for a missing `metrics`.
        (b'{"type":5}', "metrics: missing"),
        (b"[]", "expected a JSON object, got array"),
        (b"ONLINE", "invalid JSON (…)"),
        (b'{"type":"metrics","metrics":{"cpuLoad":NaN}}', "payload contains NaN or Infinity"),
        (b'{"type":"metrics","metrics":{"cpuLoad":1e400}}', "payload contains NaN or Infinity"),
        (b'{"type":"metrics","metrics":{"x":"\xfe"}}', "payload is not valid UTF-8"),
    ],
)
def test_invalid_metrics_raise(payload: bytes, reason: str) -> None:
    assert reason_of(METRICS, payload) == reason


def test_wrong_type_reason_is_truncated_to_32_characters() -> None:
    payload = dumps({"type": "m" * 100, "metrics": {}})
    assert reason_of(METRICS, payload) == f"type: expected 'metrics', got {'m' * 32!r}"


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        (5, "type: expected a string, got number"),
        (True, "type: expected a string, got boolean"),
        (["metrics"], "type: expected a string, got array"),
        ({"metrics": 1}, "type: expected a string, got object"),
    ],
)
def test_metrics_with_a_non_string_type_are_read_and_reported(kind: object, problem: str) -> None:
    payload = dumps({"type": kind, "metrics": {"uptime": "1"}})
    assert PROTOCOL.parse(METRICS, payload) == Metrics(
        router=ROUTER,
        uptime=1,
        cpu_load=None,
        total_memory=None,
        free_memory=None,
        active_users=None,
        problems=(problem,),
    )


def test_envelope_problems_come_before_the_metrics_problems() -> None:
    payload = dumps({"type": 5, "metrics": {"uptime": "soon", "activeUsers": 3}})
    assert PROTOCOL.parse(METRICS, payload) == Metrics(
        router=ROUTER,
        uptime=None,
        cpu_load=None,
        total_memory=None,
        free_memory=None,
        active_users=3,
        problems=(
            "type: expected a string, got number",
            "metrics.uptime: expected seconds, got 'soon'",
        ),
    )


def test_metrics_with_a_null_type_are_read_without_a_problem() -> None:
    payload = dumps({"type": None, "metrics": {"uptime": "1"}})
    assert PROTOCOL.parse(METRICS, payload).problems == ()


def test_oversized_metrics_raise() -> None:
    payload = metrics_payload(pad="x" * MAX_PAYLOAD_BYTES)
    assert reason_of(METRICS, payload) == f"payload of {len(payload)} bytes exceeds 64 KiB"


# --- 3. RPC results -------------------------------------------------------------------

# system board via the bridge: Go escapes < > & inside the ubus output it re-marshals.
BOARD_RESULT = (
    b'{"id":"9f1c2b3a4d5e6f708192a3b4","result":{"board_name":"tplink,archer-c7-v2",'
    b'"kernel":"5.15.137","model":"TP-Link Archer C7 v2","release":{"description":'
    b'"OpenWrt 23.05.2 \\u003cr23630\\u003e \\u0026 co","version":"23.05.2"},'
    b'"system":"Qualcomm Atheros QCA9558 ver 1 rev 0"},"status":"success","type":"rpc-result"}'
)


def test_success_with_a_result_object_is_read() -> None:
    assert PROTOCOL.parse(RPC, BOARD_RESULT) == RpcResult(
        router=ROUTER,
        request_id="9f1c2b3a4d5e6f708192a3b4",
        ok=True,
        result={
            "board_name": "tplink,archer-c7-v2",
            "kernel": "5.15.137",
            "model": "TP-Link Archer C7 v2",
            "release": {"description": "OpenWrt 23.05.2 <r23630> & co", "version": "23.05.2"},
            "system": "Qualcomm Atheros QCA9558 ver 1 rev 0",
        },
        error=None,
        stderr=None,
        problems=(),
    )


def test_error_as_the_bridge_sends_it_is_read() -> None:
    payload = b'{"error":"exit status 4","id":"abc","status":"error","type":"rpc-result"}'
    assert PROTOCOL.parse(RPC, payload) == RpcResult(
        router=ROUTER,
        request_id="abc",
        ok=False,
        result=None,
        error="exit status 4",
        stderr=None,
    )


def test_error_with_stderr_is_read() -> None:
    payload = go_marshal(
        {
            "type": "rpc-result",
            "id": "abc",
            "status": "error",
            "error": "exit status 5",
            "stderr": "Command failed: Not found <system.nope>",
        }
    )
    assert b"\\u003csystem.nope\\u003e" in payload
    assert PROTOCOL.parse(RPC, payload) == RpcResult(
        router=ROUTER,
        request_id="abc",
        ok=False,
        result=None,
        error="exit status 5",
        stderr="Command failed: Not found <system.nope>",
    )


@pytest.mark.parametrize("result", [{}, [], "text", 0, True, [{"a": 1}], None])
def test_success_keeps_any_result_value(result: object) -> None:
    payload = dumps({"type": "rpc-result", "id": "r1", "status": "success", "result": result})
    message = PROTOCOL.parse(RPC, payload)
    assert isinstance(message, RpcResult)
    assert message.ok is True
    assert message.result == result
    assert message.problems == ()


@pytest.mark.parametrize(
    ("request_id", "expected"),
    [(42, "42"), (0, "0"), (-7, "-7"), (2**63, str(2**63)), ("x", "x"), (" ", " ")],
)
def test_request_id_is_a_string_or_a_whole_number(request_id: object, expected: str) -> None:
    payload = dumps({"id": request_id, "status": "success", "result": {}})
    message = PROTOCOL.parse(RPC, payload)
    assert isinstance(message, RpcResult)
    assert message.request_id == expected


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"status":"success","result":{}}', "id: missing"),
        (b'{"id":"","status":"success"}', "id: missing"),
        (b'{"id":null,"status":"success"}', "id: missing"),
        (b'{"id":true,"status":"success"}', "id: missing"),
        (b'{"id":1.5,"status":"success"}', "id: missing"),
        (b'{"id":1.0,"status":"success"}', "id: missing"),
        (b'{"id":["a"],"status":"success"}', "id: missing"),
        (b'{"id":{"a":1},"status":"success"}', "id: missing"),
        (b'{"id":"a"}', "status: missing"),
        (b'{"id":"a","status":null}', "status: missing"),
        (b'{"id":"a","status":1}', "status: expected a string, got number"),
        (b'{"id":"a","status":"ok"}', "status: unknown value 'ok'"),
        (b'{"id":"a","status":"SUCCESS"}', "status: unknown value 'SUCCESS'"),
        (b'{"id":"a","status":""}', "status: unknown value ''"),
        (b'{"id":"a","status":"pending"}', "status: unknown value 'pending'"),
        (b"[]", "expected a JSON object, got array"),
        (b"", "invalid JSON (…)"),
        (b'{"id":"a","status":"success","result":{"x":NaN}}', "payload contains NaN or Infinity"),
    ],
)
def test_invalid_rpc_results_raise(payload: bytes, reason: str) -> None:
    assert reason_of(RPC, payload) == reason


def test_unknown_rpc_status_reason_is_truncated() -> None:
    payload = dumps({"id": "a", "status": "s" * 100})
    assert reason_of(RPC, payload) == f"status: unknown value {'s' * 32!r}"


def test_wrongly_typed_error_and_stderr_are_problems() -> None:
    payload = dumps({"id": "a", "status": "error", "error": {"code": 4}, "stderr": ["x"]})
    assert PROTOCOL.parse(RPC, payload) == RpcResult(
        router=ROUTER,
        request_id="a",
        ok=False,
        result=None,
        error=None,
        stderr=None,
        problems=(
            "error: expected a string, got object",
            "stderr: expected a string, got array",
        ),
    )


# --- 4. tunnel messages ---------------------------------------------------------------

PROMPT = b"\x1b[1;32mroot@OpenWrt\x1b[0m:~# "


@pytest.mark.parametrize(("session_field", "session"), [({"sessionId": "s-1"}, "s-1"), ({}, None)])
def test_x_started_is_read(session_field: dict[str, str], session: str | None) -> None:
    payload = go_marshal({"type": "x-started", "status": "ready", **session_field})
    assert PROTOCOL.parse(TUNNEL, payload) == TunnelStarted(router=ROUTER, session=session)


@pytest.mark.parametrize(("session_field", "session"), [({"sessionId": "s-1"}, "s-1"), ({}, None)])
def test_x_data_is_decoded_from_base64(session_field: dict[str, str], session: str | None) -> None:
    payload = go_marshal(
        {"type": "x-data", "data": base64.b64encode(PROMPT).decode(), **session_field}
    )
    assert PROTOCOL.parse(TUNNEL, payload) == TunnelData(
        router=ROUTER, session=session, data=PROMPT
    )


@pytest.mark.parametrize(
    ("data", "decoded"),
    [
        ("", b""),
        ("AA==", b"\x00"),
        ("/w==", b"\xff"),
        ("aGk=", b"hi"),
        ("bHMgLWxhCg==", b"ls -la\n"),
        ("+/+/", b"\xfb\xff\xbf"),
    ],
)
def test_x_data_edge_cases(data: str, decoded: bytes) -> None:
    payload = dumps({"type": "x-data", "sessionId": "s", "data": data})
    assert PROTOCOL.parse(TUNNEL, payload) == TunnelData(router=ROUTER, session="s", data=decoded)


@pytest.mark.parametrize(
    "data",
    [
        "aGk",  # missing padding
        "aG k=",  # a space
        "aGk=\n",  # a newline: Go's StdEncoding never adds one
        "a",
        "====",
        "not base64!",
        "aGk=aGk",
        "-_-_",  # URL-safe alphabet
        "aGk\x00",
    ],
)
def test_x_data_with_invalid_base64_raises(data: str) -> None:
    payload = dumps({"type": "x-data", "sessionId": "s", "data": data})
    assert reason_of(TUNNEL, payload) == "data: not base64"


# Non-ASCII text makes base64.b64decode raise a plain ValueError, not binascii.Error.
@pytest.mark.parametrize("data", ["\u00e9", "aGk=\u00a0", "\uff41\uff27\uff4b=", "aGk\u2028"])
def test_x_data_with_non_ascii_base64_raises_invalid_message(data: str) -> None:
    payload = dumps({"type": "x-data", "sessionId": "s", "data": data})
    assert reason_of(TUNNEL, payload) == "data: not base64"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"type":"x-data","sessionId":"s"}', "data: missing"),
        (b'{"type":"x-data","data":null}', "data: missing"),
        (b'{"type":"x-data","data":5}', "data: expected a string, got number"),
        (b'{"type":"x-data","data":["aGk="]}', "data: expected a string, got array"),
        (b'{"type":"x-stop","sessionId":"s"}', "type: unknown tunnel message 'x-stop'"),
        (b'{"type":"x-start","sessionId":"s"}', "type: unknown tunnel message 'x-start'"),
        (b'{"type":"X-DATA","data":"aGk="}', "type: unknown tunnel message 'X-DATA'"),
        (b'{"type":"","data":"aGk="}', "type: unknown tunnel message ''"),
        (b'{"sessionId":"s","data":"aGk="}', "type: missing"),
        (b'{"type":null}', "type: missing"),
        (b'{"type":3}', "type: expected a string, got number"),
        (b"[]", "expected a JSON object, got array"),
        (b"aGk=", "invalid JSON (…)"),
        (b'{"type":"x-data","data":"\xff"}', "payload is not valid UTF-8"),
    ],
)
def test_invalid_tunnel_messages_raise(payload: bytes, reason: str) -> None:
    assert reason_of(TUNNEL, payload) == reason


def test_unknown_tunnel_type_reason_is_truncated() -> None:
    assert reason_of(TUNNEL, dumps({"type": "t" * 100})) == (
        f"type: unknown tunnel message {'t' * 32!r}"
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"type": "x-error", "sessionId": "s-1", "error": "fork/exec /bin/sh: no such file"},
            TunnelError(router=ROUTER, session="s-1", error="fork/exec /bin/sh: no such file"),
        ),
        (
            {"type": "x-error", "error": "denied"},
            TunnelError(router=ROUTER, session=None, error="denied"),
        ),
        ({"type": "x-error"}, TunnelError(router=ROUTER, session=None, error="")),
        ({"type": "x-error", "error": None}, TunnelError(router=ROUTER, session=None, error="")),
    ],
)
def test_x_error_is_read(body: dict[str, object], expected: TunnelError) -> None:
    assert PROTOCOL.parse(TUNNEL, go_marshal(body)) == expected


def test_empty_session_id_reads_as_none() -> None:
    payload = b'{"sessionId":"","status":"ready","type":"x-started"}'
    assert PROTOCOL.parse(TUNNEL, payload) == TunnelStarted(router=ROUTER, session=None)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"type": "x-started", "sessionId": 5},
            TunnelStarted(
                router=ROUTER,
                session=None,
                problems=("sessionId: expected a string, got number",),
            ),
        ),
        (
            {"type": "x-data", "sessionId": ["s-1"], "data": "aGk="},
            TunnelData(
                router=ROUTER,
                session=None,
                data=b"hi",
                problems=("sessionId: expected a string, got array",),
            ),
        ),
        (
            {"type": "x-error", "sessionId": "s-1", "error": {"msg": "denied"}},
            TunnelError(
                router=ROUTER,
                session="s-1",
                error="",
                problems=("error: expected a string, got object",),
            ),
        ),
        (
            {"type": "x-error", "sessionId": True, "error": 5},
            TunnelError(
                router=ROUTER,
                session=None,
                error="",
                problems=(
                    "sessionId: expected a string, got boolean",
                    "error: expected a string, got number",
                ),
            ),
        ),
    ],
)
def test_wrongly_typed_tunnel_fields_are_problems(
    body: dict[str, object], expected: TunnelMessage
) -> None:
    assert PROTOCOL.parse(TUNNEL, dumps(body)) == expected


# --- 5. topics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "spotfi",
        "spotfi/router",
        "spotfi/r1/status",
        "spotfi/routerx/r1/status",
        "Spotfi/router/r1/status",
        "/spotfi/router/r1/status",
        "janus/r1/status",
    ],
)
def test_topics_outside_the_base_are_refused(topic: str) -> None:
    assert reason_of(topic, b"ONLINE") == "topic is outside the base topic"


@pytest.mark.parametrize(
    "topic",
    [
        "spotfi/router/",
        "spotfi/router/r1",
        "spotfi/router/r1/STATUS",
        "spotfi/router/r1/status/x",
        "spotfi/router/r1/metrics/",
        "spotfi/router/r1/rpc",
        "spotfi/router/r1/rpc/request",  # our own requests are never parsed
        "spotfi/router/r1/rpc/response/x",
        "spotfi/router/r1/x",
        "spotfi/router/r1/x/in",  # our own tunnel input neither
        "spotfi/router/r1/x/out/x",
        "spotfi/router/r1/heartbeat",
        "spotfi/router/a/b/status",
        "spotfi/router//status",
        "spotfi/router//metrics",
        "spotfi/router//rpc/response",
        "spotfi/router//x/out",
    ],
)
def test_unknown_shapes_are_refused(topic: str) -> None:
    assert reason_of(topic, b"ONLINE") == "not a SpotFi topic"


@pytest.mark.parametrize(
    "router",
    ["+", "#", "\x00", "a\x00b", "new\nline", "\x1b[2J", "x" * 129, ".", "..", "$SYS", "$x"],
)
@pytest.mark.parametrize("suffix", ["status", "metrics", "rpc/response", "x/out"])
def test_unsafe_router_levels_are_refused(router: str, suffix: str) -> None:
    assert reason_of(f"spotfi/router/{router}/{suffix}", b"ONLINE") == "not a SpotFi topic"


def test_router_ids_that_are_topic_words_are_read() -> None:
    for router in ("status", "metrics", "x", "rpc", "router"):
        assert PROTOCOL.parse(f"spotfi/router/{router}/status", b"ONLINE") == RouterStatus(
            router=router, online=True
        )


def test_single_level_base() -> None:
    protocol = SpotFiProtocol("spotfi")
    assert protocol.subscriptions[0] == "spotfi/+/status"
    assert protocol.parse("spotfi/r1/status", b"OFFLINE") == RouterStatus(router="r1", online=False)
    assert reason_of("spotfi/router/r1/status", b"OFFLINE", protocol) == "not a SpotFi topic"
    assert protocol.response_topic("r1") == "spotfi/r1/x/out"


@pytest.mark.parametrize(
    ("base", "problem"),
    [
        ("", "empty"),
        ("spotfi/router/", "edge_slash"),
        ("/spotfi", "edge_slash"),
        ("spotfi//router", "empty_level"),
        ("spotfi/+", "wildcard"),
        ("spotfi/#", "wildcard"),
        ("spot\nfi", "control_character"),
    ],
)
def test_unusable_base_topics_are_refused(base: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f": {problem}$"):
        SpotFiProtocol(base)


def test_parsed_messages_are_frozen() -> None:
    message = PROTOCOL.parse(METRICS, EXAMPLE_METRICS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.router = "other"  # type: ignore[misc]


# --- 6. builders ----------------------------------------------------------------------


def test_rpc_request_exact_bytes() -> None:
    message, request_id = PROTOCOL.rpc_request(ROUTER, "system", "board", {}, "abc123")
    assert request_id == "abc123"
    assert message == OutgoingMessage(
        topic=f"spotfi/router/{ROUTER}/rpc/request",
        payload=b'{"type":"rpc","id":"abc123","path":"system","method":"board","args":{}}',
        qos=1,
        retain=False,
    )


def test_rpc_request_carries_args_as_given() -> None:
    args = {"name": "wan", "nested": {"list": [1, "<&>"]}, "flag": True}
    message, _ = PROTOCOL.rpc_request(ROUTER, "network.interface.wan", "status", args, "r")
    assert message.payload == (
        b'{"type":"rpc","id":"r","path":"network.interface.wan","method":"status",'
        b'"args":{"name":"wan","nested":{"list":[1,"<&>"]},"flag":true}}'
    )


@pytest.mark.parametrize("given", [None, ""])
def test_rpc_request_gets_a_fresh_id_when_none_is_given(given: str | None) -> None:
    first, first_id = PROTOCOL.rpc_request(ROUTER, "system", "info", {}, given)
    second, second_id = PROTOCOL.rpc_request(ROUTER, "system", "info", {}, given)
    assert HEX_24.fullmatch(first_id)
    assert HEX_24.fullmatch(second_id)
    assert first_id != second_id
    assert orjson.loads(first.payload)["id"] == first_id
    assert orjson.loads(second.payload)["id"] == second_id


def test_new_id_is_24_hex_characters_and_fresh() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(HEX_24.fullmatch(value) for value in ids)


UNSAFE_ROUTERS = ["", "+", "#", "a/b", "a\x00b", "x" * 129, ".", "..", "$SYS", "$x"]


@pytest.mark.parametrize("router", UNSAFE_ROUTERS)
def test_rpc_request_refuses_unsafe_router_ids(router: str) -> None:
    with pytest.raises(UnsafeIdError):
        PROTOCOL.rpc_request(router, "system", "board", {}, "r")


@pytest.mark.parametrize(
    ("path", "method", "problem"),
    [
        ("system board", "x", "path"),
        ("", "board", "path"),
        ("system", "", "method"),
        ("system", "bo.ard", "method"),
        ("system;reboot", "board", "path"),
        ("system", "board;reboot", "method"),
        ("-system", "board", None),
    ],
)
def test_rpc_request_refuses_unsafe_names(path: str, method: str, problem: str | None) -> None:
    if problem is None:
        message, _ = PROTOCOL.rpc_request(ROUTER, path, method, {}, "r")
        assert orjson.loads(message.payload)["path"] == path
        return
    with pytest.raises(ValueError, match=f"^unsafe RPC {problem}$") as err:
        PROTOCOL.rpc_request(ROUTER, path, method, {}, "r")
    assert not isinstance(err.value, UnsafeIdError)


def test_response_topic() -> None:
    assert PROTOCOL.response_topic(ROUTER) == f"spotfi/router/{ROUTER}/x/out"
    with pytest.raises(UnsafeIdError):
        PROTOCOL.response_topic("a/b")


def test_tunnel_start_exact_bytes() -> None:
    message = PROTOCOL.tunnel_start("r1", "sess-1", 1738060200000)
    assert message == OutgoingMessage(
        topic="spotfi/router/r1/x/in",
        payload=(
            b'{"type":"x-start","sessionId":"sess-1",'
            b'"responseTopic":"spotfi/router/r1/x/out","timestamp":1738060200000}'
        ),
        qos=1,
        retain=False,
    )


def test_tunnel_start_response_topic_is_subscribed() -> None:
    protocol = SpotFiProtocol("site-a/spotfi")
    message = protocol.tunnel_start("r1", "s", 0)
    response_topic = orjson.loads(message.payload)["responseTopic"]
    assert response_topic == "site-a/spotfi/r1/x/out"
    assert "site-a/spotfi/+/x/out" in protocol.subscriptions
    assert protocol.parse(response_topic, b'{"type":"x-started","sessionId":"s"}') == (
        TunnelStarted(router="r1", session="s")
    )


@pytest.mark.parametrize(
    ("data", "encoded"),
    [
        (b"ls -la\n", "bHMgLWxhCg=="),
        (b"", ""),
        (b"\x00\xff\x03", "AP8D"),
        (b"\x04", "BA=="),
    ],
)
def test_tunnel_data_exact_bytes(data: bytes, encoded: str) -> None:
    message = PROTOCOL.tunnel_data("r1", "sess-1", data)
    assert message == OutgoingMessage(
        topic="spotfi/router/r1/x/in",
        payload=f'{{"type":"x-data","sessionId":"sess-1","data":"{encoded}"}}'.encode(),
    )


def test_tunnel_stop_exact_bytes() -> None:
    assert PROTOCOL.tunnel_stop("r1", "sess-1") == OutgoingMessage(
        topic="spotfi/router/r1/x/in",
        payload=b'{"type":"x-stop","sessionId":"sess-1"}',
        qos=1,
        retain=False,
    )


@pytest.mark.parametrize("router", UNSAFE_ROUTERS)
def test_tunnel_builders_refuse_unsafe_router_ids(router: str) -> None:
    with pytest.raises(UnsafeIdError):
        PROTOCOL.tunnel_start(router, "s", 0)
    with pytest.raises(UnsafeIdError):
        PROTOCOL.tunnel_data(router, "s", b"x")
    with pytest.raises(UnsafeIdError):
        PROTOCOL.tunnel_stop(router, "s")


# --- 7. RPC names and the allow-list --------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "problem"),
    [
        ("system", "board", None),
        ("network.interface.wan", "status", None),
        ("uspot", "client_list", None),
        ("a-b_C.9", "x-Y_1", None),
        ("", "board", "path"),
        ("system", "", "method"),
        ("", "", "path"),
        ("system.", "board", "path"),
        (".system", "board", "path"),
        ("sys..tem", "board", "path"),
        ("system", "bo.ard", "method"),
        ("system", ".board", "method"),
        ("system", "board.", "method"),
        ("sys tem", "board", "path"),
        ("system", "bo ard", "method"),
        ("*", "board", "path"),
        ("system", "*", "method"),
        ("system\x00", "board", "path"),
        ("system", "board\x00", "method"),
        ("system\n", "board", "path"),
        ("system", "board\n", "method"),
        ("\u0455ystem", "board", "path"),  # Cyrillic dze
        ("system", "bo\u0430rd", "method"),  # Cyrillic a
        ("\uff53ystem", "board", "path"),  # fullwidth s
        ("system", "b\u0131ard", "method"),  # dotless i
        ("system", "\u0661", "method"),  # Arabic-Indic digit one
        ("system", "(board)", "method"),
        ("system/board", "x", "path"),
        ("system", "board;reboot", "method"),
        ("$(reboot)", "x", "path"),
    ],
)
def test_rpc_name_problem(path: str, method: str, problem: str | None) -> None:
    assert rpc_name_problem(path, method) == problem


@pytest.mark.parametrize(
    "pattern",
    [
        "system.board",
        "network.interface.*.status",
        "system.*",
        "uspot.client_*",
        "network.*.*.status",
        "net-1.*",
        "a-b_c.D-9",
        *DEFAULT_RPC_ALLOW_LIST,
    ],
)
def test_allow_patterns(pattern: str) -> None:
    assert is_allow_pattern(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "",
        "system",
        "*",
        "**",
        "system.",
        ".board",
        "system..board",
        "system.board ",
        " system.board",
        "system.board\n",
        "system.bo?rd",
        "system.[b]oard",
        "system.(board)",
        "system/board",
        "\u0455ystem.board",
        "system.board\x00",
        "system.b\u00f6ard",
        # The first level names the ubus object: `*.*` would allow `file.exec`.
        "*.board",
        "*.*",
        "*.*.*",
        "net*.st*",
        "*network.interface.*.status",
        "sys*tem.board",
    ],
)
def test_not_allow_patterns(pattern: str) -> None:
    assert not is_allow_pattern(pattern)


def test_default_allow_list_is_the_documented_read_only_set() -> None:
    assert DEFAULT_RPC_ALLOW_LIST == (
        "system.board",
        "system.info",
        "network.interface.*.status",
        "uspot.client_list",
    )


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("system", "board"),
        ("system", "info"),
        ("network.interface.wan", "status"),
        ("network.interface.lan", "status"),
        ("network.interface.wan6", "status"),
        ("network.interface.loopback", "status"),
        ("network.interface.wwan_1-b", "status"),
        ("uspot", "client_list"),
    ],
)
def test_default_allow_list_allows(path: str, method: str) -> None:
    assert rpc_allowed(path, method, DEFAULT_RPC_ALLOW_LIST)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        # `*` covers exactly one dotted level, never more.
        ("network.interface.a.b", "status"),
        ("network.interface.wan.x", "status"),
        ("network.interface", "status"),
        ("network", "interface.wan.status"),
        ("network.interface.wan", "up"),
        ("network.interface.wan", "down"),
        ("network.interface.wan", "statusx"),
        ("network.interface.wan", "Status"),
        ("network.interfacex.wan", "status"),
        ("xnetwork.interface.wan", "status"),
        # What gives root on the router.
        ("file", "exec"),
        ("file", "write"),
        ("file", "read"),
        ("system", "reboot"),
        ("system", "sysupgrade"),
        ("rc", "list"),
        ("rc", "init"),
        ("uci", "set"),
        ("uspot", "client_remove"),
        # Case and prefix look-alikes.
        ("System", "board"),
        ("system", "BOARD"),
        ("systemx", "board"),
        ("system", "boardx"),
        ("system", "boar"),
        ("xsystem", "board"),
        ("system.board", "x"),
        # Wildcards in the name itself.
        ("system", "*"),
        ("*", "board"),
        ("*", "*"),
        ("network.interface.*", "status"),
        ("network.*.*", "status"),
        # Spaces, empty levels, leading and trailing dots, NUL.
        ("system ", "board"),
        ("system", " board"),
        ("sys tem", "board"),
        ("network.interface. wan", "status"),
        ("network.interface.wan ", "status"),
        ("network.interface.", "status"),
        ("network..interface.wan", "status"),
        (".network.interface.wan", "status"),
        ("system.", "board"),
        ("system", ".board"),
        ("system", "board."),
        ("", "board"),
        ("system", ""),
        ("network.interface.wan\x00", "status"),
        ("system", "board\x00"),
        ("system\x00", "board"),
        ("network.interface.wan\x00.x", "status"),
        # Unicode look-alikes.
        ("\u0455ystem", "board"),
        ("system", "bo\u0430rd"),
        ("\uff53\uff59\uff53\uff54\uff45\uff4d", "board"),
        ("system", "boar\u0501"),
        ("network.interface.w\u0430n", "status"),
        ("system\u200b", "board"),
        ("system", "board\u00a0"),
        # Regex metacharacters: a dot is not "any character", groups are not groups.
        ("system", "boar."),
        ("system", "(board)"),
        ("system", "boa.d"),
        ("syste.", "board"),
        ("system", "board|file.exec"),
        ("system", "board$"),
        ("system", "[b]oard"),
        ("system", "board\n"),
        ("network.interface.[a-z]+", "status"),
        ("network.interface.wan", "status\nfile.exec"),
    ],
)
def test_default_allow_list_refuses(path: str, method: str) -> None:
    assert not rpc_allowed(path, method, DEFAULT_RPC_ALLOW_LIST)


@pytest.mark.parametrize(
    ("path", "method", "allowed"),
    [
        ("system", "reboot", True),
        ("system", "board", True),
        ("system", "x-y_1", True),
        ("system.a", "b", False),
        ("system", "a.b", False),
        ("systemx", "reboot", False),
        ("file", "exec", False),
        ("system", "*", False),
        ("system", "", False),
    ],
)
def test_a_user_pattern_covers_one_level(path: str, method: str, allowed: bool) -> None:
    assert rpc_allowed(path, method, ["system.*"]) is allowed


@pytest.mark.parametrize(
    ("pattern", "path", "method", "allowed"),
    [
        ("net*.status", "network", "status", True),
        ("net*.status", "net", "status", True),
        ("net*.status", "network.x", "status", False),
        ("*.board", "system", "board", True),
        ("*.board", "a.system", "board", False),
        ("*.*", "file", "exec", True),
        ("*.*", "network.interface", "status", False),
        ("*.*.*", "network.interface", "status", True),
        ("system.bo*", "system", "board", True),
        ("system.bo*", "system", "bo", True),
        ("system.bo*", "system", "xboard", False),
        ("system.*d", "system", "board", True),
        ("system.*d", "system", "boarx", False),
        ("a.*.*.d", "a.b.c", "d", True),
        ("a.*.*.d", "a.b", "d", False),
        # Regex metacharacters in a pattern are plain characters.
        ("system.boar.", "system", "board", False),
        ("system.(board)", "system", "board", False),
        ("system.b?ard", "system", "board", False),
        ("system.b.ard", "system", "board", False),
        ("system.[b]oard", "system", "board", False),
        ("system.board|file.exec", "file", "exec", False),
        ("system.board|file.exec", "system", "board", False),
        (".*", "system", "board", False),
        ("*", "system", "board", False),
        ("**", "system", "board", False),
        ("", "system", "board", False),
        ("system.board", "system", "board", True),
    ],
)
def test_pattern_matching(pattern: str, path: str, method: str, allowed: bool) -> None:
    # rpc_allowed matches whatever list it is given; is_allow_pattern vets entries earlier.
    assert rpc_allowed(path, method, [pattern]) is allowed


def test_empty_allow_list_allows_nothing() -> None:
    assert not rpc_allowed("system", "board", [])
    assert not rpc_allowed("system", "board", ())


def test_allow_list_can_be_any_iterable() -> None:
    assert rpc_allowed("uspot", "client_list", iter(["system.board", "uspot.*"]))
    assert rpc_allowed("system", "info", {"system.info"})


# --- status reason -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "online", "reason", "problems"),
    [
        (
            b'{"status":"offline","reason":"unexpected_disconnect"}',
            False,
            "unexpected_disconnect",
            (),
        ),
        (b'{"status":"online","reason":"  power\\n restored "}', True, "power restored", ()),
        (b'{"status":"offline","reason":""}', False, None, ()),
        (b'{"status":"offline","reason":null}', False, None, ()),
        (
            b'{"status":"offline","reason":5}',
            False,
            None,
            ("reason: expected a string, got number",),
        ),
        (b"OFFLINE", False, None, ()),
    ],
)
def test_status_reason_is_read_from_a_json_status(
    payload: bytes, online: bool, reason: str | None, problems: tuple[str, ...]
) -> None:
    assert PROTOCOL.parse(STATUS, payload) == RouterStatus(
        router=ROUTER, online=online, reason=reason, problems=problems
    )


def test_status_reason_is_cut_to_255_characters() -> None:
    message = PROTOCOL.parse(STATUS, dumps({"status": "offline", "reason": "x" * 300}))
    assert isinstance(message, RouterStatus)
    assert message.reason == "x" * 255


# --- system board ------------------------------------------------------------------------

BOARD = {  # `ubus call system board` on OpenWrt 23.05
    "kernel": "5.15.150",
    "hostname": "OpenWrt",
    "system": "MediaTek MT7621 ver:1 eco:3",
    "model": "Xiaomi Mi Router 4A Gigabit Edition",
    "board_name": "xiaomi,mi-router-4a-gigabit",
    "rootfs_type": "squashfs",
    "release": {
        "distribution": "OpenWrt",
        "version": "23.05.3",
        "revision": "r23809-234f1a2efa",
        "target": "ramips/mt7621",
        "description": "OpenWrt 23.05.3 r23809-234f1a2efa",
    },
}


@pytest.mark.parametrize(
    ("result", "board"),
    [
        (
            BOARD,
            RouterBoard(
                model="Xiaomi Mi Router 4A Gigabit Edition",
                model_id="xiaomi,mi-router-4a-gigabit",
                sw_version="OpenWrt 23.05.3",
            ),
        ),
        (
            {"model": "X", "release": {"description": "OpenWrt SNAPSHOT r1"}},
            RouterBoard(model="X", model_id=None, sw_version="OpenWrt SNAPSHOT r1"),
        ),
        (
            {"model": "\x1b[31mX\x1b[0m\n", "release": {"version": "24.10.0"}},
            RouterBoard(model="X", model_id=None, sw_version="24.10.0"),
        ),
        ({"model": "y" * 300}, RouterBoard(model="y" * 255, model_id=None, sw_version=None)),
        ({"model": 5, "release": "23.05"}, None),
        ({}, None),
        ([BOARD], None),
        ("OpenWrt", None),
    ],
)
def test_parse_board(result: object, board: RouterBoard | None) -> None:
    assert parse_board(result) == board


# --- terminal command framing --------------------------------------------------------------


def test_terminal_input_frames_the_command_in_one_line() -> None:
    assert terminal_input("uptime", "ab12") == (
        b"echo mqttfleetab12''B; (eval 'uptime'); printf '\\n%sE%s\\n' mqttfleetab12 \"$?\"\n"
    )


def test_terminal_input_quotes_the_command_for_eval() -> None:
    assert terminal_input("echo 'it''s' # x", "m") == (
        b"echo mqttfleetm''B; (eval 'echo '\\''it'\\'''\\''s'\\'' # x'); "
        b"printf '\\n%sE%s\\n' mqttfleetm \"$?\"\n"
    )


ECHOED = "echo mqttfleetab12''B; (eval 'ls /tmp'); printf '\\n%sE%s\\n' mqttfleetab12 \"$?\""


@pytest.mark.parametrize(
    ("transcript", "result"),
    [
        # Banner, prompt and echo before the start marker; the prompt after the end marker.
        (
            f"\r\nBusyBox\r\nroot@OpenWrt:~# {ECHOED}\r\nmqttfleetab12B\r\nhosts  log\r\n"
            "\r\nmqttfleetab12E0\r\nroot@OpenWrt:~# ",
            TerminalResult(stdout="hosts  log\n", exit_code=0),
        ),
        # Output without a final newline keeps none; no output is empty.
        (
            "mqttfleetab12B\r\nabc\r\nmqttfleetab12E1\r\n",
            TerminalResult(stdout="abc", exit_code=1),
        ),
        ("mqttfleetab12B\r\n\r\nmqttfleetab12E127\r\n", TerminalResult(stdout="", exit_code=127)),
        # A multi-line command: the start marker follows the last continuation prompt.
        (
            "> mqttfleetab12B\r\none\r\ntwo\r\n\r\nmqttfleetab12E3\r\n",
            TerminalResult(stdout="one\ntwo\n", exit_code=3),
        ),
        # Still running: what came so far, no exit code.
        ("mqttfleetab12B\r\npartial\r\n", TerminalResult(stdout="partial\n", exit_code=None)),
        # The echo alone holds neither marker; nothing ran.
        (f"root@OpenWrt:~# {ECHOED}\r\n", TerminalResult(stdout="", exit_code=None)),
        # Another session's markers are not ours.
        (
            "mqttfleetcd34B\r\nx\r\n\r\nmqttfleetcd34E0\r\n",
            TerminalResult(stdout="", exit_code=None),
        ),
    ],
)
def test_read_terminal(transcript: str, result: TerminalResult) -> None:
    assert read_terminal(transcript, "ab12") == result
    assert terminal_finished(transcript.encode(), "ab12") is (result.exit_code is not None)
