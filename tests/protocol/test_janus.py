"""Tests for protocol/janus.py: server status and the admin API over MQTT.

Payloads follow docs/protocols.md, section "Janus": the Janus WebRTC Server's MQTT
transport and admin API.
"""

from __future__ import annotations

import dataclasses
import re

import orjson
import pytest

from custom_components.mqtt_fleet.protocol.janus import (
    AdminError,
    AdminErrorCode,
    AdminReply,
    AdminRequest,
    AdminSuccess,
    JanusProtocol,
    ServerInfo,
    ServerStatus,
    new_transaction,
)
from custom_components.mqtt_fleet.protocol.payload import MAX_PAYLOAD_BYTES, InvalidMessage
from custom_components.mqtt_fleet.protocol.topics import (
    MAX_ID_LENGTH,
    OutgoingMessage,
    UnsafeIdError,
)

PROTOCOL = JanusProtocol("janus")
SERVER = "gxy1"
STATUS = f"janus/{SERVER}/status"
ADMIN = f"janus/{SERVER}/from-janus-admin"
TRANSACTION = "5c3e1d2f0a9b8c7d6e5f4a3b"
HEX_24 = re.compile(r"[0-9a-f]{24}")


def dumps(value: object) -> bytes:
    return orjson.dumps(value)


def reason_of(topic: str, payload: bytes, protocol: JanusProtocol = PROTOCOL) -> str:
    """Parse a message that must be refused and return why."""
    with pytest.raises(InvalidMessage) as err:
        protocol.parse(topic, payload)
    assert err.value.reason == str(err.value)
    # The detail in brackets is orjson's own text, which changes between its versions.
    return re.sub(r"^invalid JSON \(.+\)$", "invalid JSON (…)", err.value.reason)


# --- realistic payloads ---------------------------------------------------------------

# list_sessions reply as the Janus admin API sends it (jansson, pretty-printed by default).
LIST_SESSIONS_REPLY = b"""{
   "janus": "success",
   "transaction": "5c3e1d2f0a9b8c7d6e5f4a3b",
   "sessions": [
      4286563947329114,
      7216423153437852
   ]
}"""
# The documented error example: wrong or missing admin_secret.
UNAUTHORIZED_REPLY = (
    b'{"janus":"error","transaction":"5c3e1d2f0a9b8c7d6e5f4a3b",'
    b'"error":{"code":403,"reason":"Unauthorized request (wrong or missing secret/token)"}}'
)
# `info` reply, trimmed of the plugin and transport lists but keeping their shape.
SERVER_INFO_REPLY = b"""{
   "janus": "server_info",
   "transaction": "5c3e1d2f0a9b8c7d6e5f4a3b",
   "name": "Janus WebRTC Server",
   "version": 1403,
   "version_string": "1.4.3",
   "author": "Meetecho s.r.l.",
   "commit-hash": "not-a-git-repo",
   "server-name": "gxy1.example.org",
   "local-ip": "10.0.0.7",
   "session-timeout": 60,
   "api_secret": false,
   "auth_token": false,
   "transports": {"janus.transport.mqtt": {"name": "JANUS MQTT transport plugin"}},
   "plugins": {"janus.plugin.videoroom": {"version": 9}}
}"""


# --- 1. status ------------------------------------------------------------------------


def test_subscriptions_are_status_and_admin_replies_only() -> None:
    assert PROTOCOL.subscriptions == ("janus/+/status", "janus/+/from-janus-admin")
    assert PROTOCOL.base == "janus"


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        # The convention: connect_message / disconnect_message (the latter is the LWT).
        (b'{"online": true}', True),
        (b'{"online": false}', False),
        (b'{"online":true}', True),
        (b'{\n  "online": false\n}\n', False),
        (b'{"online": true, "server": "gxy1", "extra": [1, 2]}', True),
        # Bare JSON booleans.
        (b"true", True),
        (b"false", False),
        (b" true\n", True),
        (b"\tfalse ", False),
        # Plain words in any case and with whitespace.
        (b"online", True),
        (b"offline", False),
        (b"ONLINE", True),
        (b"OffLine", False),
        (b"TRUE", True),
        (b"False", False),
        (b"  online  ", True),
        (b"\r\noffline\r\n", False),
        (b"\tTrue\n", True),
        # The same words as a JSON string.
        (b'"online"', True),
        (b'"OFFLINE"', False),
        (b'" true "', True),
    ],
)
def test_status_forms_are_read(payload: bytes, online: bool) -> None:
    assert PROTOCOL.parse(STATUS, payload) == ServerStatus(server=SERVER, online=online)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "unknown status ''"),
        (b"   ", "unknown status ''"),
        (b"up", "unknown status 'up'"),
        (b"on line", "unknown status 'on line'"),
        (b"yes", "unknown status 'yes'"),
        (b"1", "unknown status '1'"),
        (b"0", "unknown status '0'"),
        (b"1.0", "unknown status '1.0'"),
        (b"null", "unknown status 'null'"),
        (b"[true]", "unknown status '[true]'"),
        (b'"up"', "unknown status '\"up\"'"),
        (b"NaN", "unknown status 'NaN'"),
        (b"online!", "unknown status 'online!'"),
        (b"onlineoffline", "unknown status 'onlineoffline'"),
        # Objects without a boolean `online`.
        (b"{}", "online: expected a boolean"),
        (b'{"online": null}', "online: expected a boolean"),
        (b'{"online": "true"}', "online: expected a boolean"),
        (b'{"online": 1}', "online: expected a boolean"),
        (b'{"online": "online"}', "online: expected a boolean"),
        (b'{"status": "online"}', "online: expected a boolean"),
        (b'{"Online": true}', "online: expected a boolean"),
        # Not UTF-8.
        (b"\xff\xfeonline", "payload is not valid UTF-8"),
        (b'{"online": true, "x": "\xc3"}', "payload is not valid UTF-8"),
    ],
)
def test_invalid_status_payloads_raise(payload: bytes, reason: str) -> None:
    assert reason_of(STATUS, payload) == reason


def test_unknown_status_reason_is_truncated_to_32_characters() -> None:
    assert reason_of(STATUS, b"x" * 500) == f"unknown status {'x' * 32!r}"


@pytest.mark.parametrize("payload", [b"online", b'{"online": true}'])
def test_oversized_status_payload_raises(payload: bytes) -> None:
    oversized = payload + b" " * (MAX_PAYLOAD_BYTES + 1 - len(payload))
    assert len(oversized) == MAX_PAYLOAD_BYTES + 1
    assert (
        reason_of(STATUS, oversized) == f"payload of {MAX_PAYLOAD_BYTES + 1} bytes exceeds 64 KiB"
    )


def test_status_payload_of_exactly_64_kib_is_read() -> None:
    payload = b"offline" + b" " * (MAX_PAYLOAD_BYTES - 7)
    assert PROTOCOL.parse(STATUS, payload) == ServerStatus(server=SERVER, online=False)


# --- 2. admin replies -----------------------------------------------------------------


def test_list_sessions_reply_is_read() -> None:
    assert PROTOCOL.parse(ADMIN, LIST_SESSIONS_REPLY) == AdminSuccess(
        server=SERVER,
        transaction=TRANSACTION,
        sessions=(4286563947329114, 7216423153437852),
        problems=(),
    )


def test_list_sessions_reply_with_no_sessions_is_an_empty_tuple() -> None:
    payload = dumps({"janus": "success", "transaction": TRANSACTION, "sessions": []})
    assert PROTOCOL.parse(ADMIN, payload) == AdminSuccess(
        server=SERVER, transaction=TRANSACTION, sessions=()
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"janus": "success", "transaction": TRANSACTION},
        {"janus": "success", "transaction": TRANSACTION, "sessions": None},
        # get_status answers with a `status` object and no sessions.
        {"janus": "success", "transaction": TRANSACTION, "status": {"token_auth": False}},
    ],
)
def test_success_without_sessions_has_none(payload: dict[str, object]) -> None:
    assert PROTOCOL.parse(ADMIN, dumps(payload)) == AdminSuccess(
        server=SERVER, transaction=TRANSACTION, sessions=None, problems=()
    )


def test_odd_session_entries_are_problems_and_good_ones_are_kept() -> None:
    payload = dumps(
        {
            "janus": "success",
            "transaction": TRANSACTION,
            "sessions": [11, "22", 3.5, True, None, {"id": 4}, [5], 66, 0],
        }
    )
    assert PROTOCOL.parse(ADMIN, payload) == AdminSuccess(
        server=SERVER,
        transaction=TRANSACTION,
        sessions=(11, 66, 0),
        problems=("sessions: expected whole numbers",),
    )


def test_session_id_with_a_decimal_point_is_not_a_whole_number() -> None:
    payload = b'{"janus":"success","transaction":"t","sessions":[1.0,2]}'
    message = PROTOCOL.parse(ADMIN, payload)
    assert message == AdminSuccess(
        server=SERVER,
        transaction="t",
        sessions=(2,),
        problems=("sessions: expected whole numbers",),
    )


@pytest.mark.parametrize(
    ("sessions", "problem"),
    [
        ({"1": 1}, "sessions: expected an array, got object"),
        ("1,2", "sessions: expected an array, got string"),
        (3, "sessions: expected an array, got number"),
        (True, "sessions: expected an array, got boolean"),
    ],
)
def test_sessions_that_are_not_an_array_are_a_problem(sessions: object, problem: str) -> None:
    payload = dumps({"janus": "success", "transaction": TRANSACTION, "sessions": sessions})
    assert PROTOCOL.parse(ADMIN, payload) == AdminSuccess(
        server=SERVER, transaction=TRANSACTION, sessions=None, problems=(problem,)
    )


def test_documented_unauthorized_error_is_read() -> None:
    assert PROTOCOL.parse(ADMIN, UNAUTHORIZED_REPLY) == AdminError(
        server=SERVER,
        transaction=TRANSACTION,
        code=403,
        reason="Unauthorized request (wrong or missing secret/token)",
        problems=(),
    )


@pytest.mark.parametrize(
    ("code", "reason", "known"),
    [
        (403, "Unauthorized request (wrong or missing secret/token)", AdminErrorCode.UNAUTHORIZED),
        (456, "Missing mandatory element (transaction)", None),
        (
            457,
            "Unhandled request 'list_sessions' at this path",
            AdminErrorCode.NOT_HANDLED_AT_PATH,
        ),
        (458, "No such session 4286563947329114", None),
        (467, "Invalid element type (admin_secret should be a string)", None),
    ],
)
def test_admin_error_codes_are_read(code: int, reason: str, known: AdminErrorCode | None) -> None:
    payload = dumps(
        {"janus": "error", "transaction": TRANSACTION, "error": {"code": code, "reason": reason}}
    )
    message = PROTOCOL.parse(ADMIN, payload)
    assert message == AdminError(
        server=SERVER, transaction=TRANSACTION, code=code, reason=reason, problems=()
    )
    assert isinstance(message, AdminError)
    # Codes without a member of their own are kept as plain numbers.
    assert (message.code in set(AdminErrorCode)) is (known is not None)
    if known is not None:
        assert message.code == known


def test_admin_error_code_values_match_the_contract() -> None:
    assert {code.name: int(code) for code in AdminErrorCode} == {
        "UNAUTHORIZED": 403,
        "NOT_HANDLED_AT_PATH": 457,
    }


def test_validation_error_without_transaction_is_read_unmatched() -> None:
    # Janus answers a request it cannot validate without echoing the transaction.
    payload = (
        b'{"janus":"error","error":{"code":456,"reason":"Missing mandatory element (transaction)"}}'
    )
    assert PROTOCOL.parse(ADMIN, payload) == AdminError(
        server=SERVER,
        transaction=None,
        code=456,
        reason="Missing mandatory element (transaction)",
    )


@pytest.mark.parametrize(
    ("error", "code", "reason", "problems"),
    [
        ({}, None, "", ()),
        ({"code": 403}, 403, "", ()),
        ({"reason": "boom"}, None, "boom", ()),
        ({"code": 403.0, "reason": "x"}, 403, "x", ()),
        ({"code": "403", "reason": "x"}, None, "x", ("error.code: number sent as a string",)),
        ({"code": -1, "reason": "x"}, None, "x", ("error.code: expected a whole number >= 0",)),
        ({"code": 4.5, "reason": "x"}, None, "x", ("error.code: expected a whole number >= 0",)),
        ({"code": True, "reason": "x"}, None, "x", ("error.code: expected a number, got boolean",)),
        ({"code": 403, "reason": 7}, 403, "", ("error.reason: expected a string, got number",)),
        (
            {"code": [1], "reason": None},
            None,
            "",
            ("error.code: expected a number, got array",),
        ),
    ],
)
def test_admin_error_with_odd_details_keeps_what_it_can(
    error: dict[str, object], code: int | None, reason: str, problems: tuple[str, ...]
) -> None:
    payload = dumps({"janus": "error", "transaction": TRANSACTION, "error": error})
    assert PROTOCOL.parse(ADMIN, payload) == AdminError(
        server=SERVER, transaction=TRANSACTION, code=code, reason=reason, problems=problems
    )


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("missing", "error: missing"),
        (None, "error: missing"),
        ("Unauthorized", "error: expected an object, got string"),
        (403, "error: expected an object, got number"),
        ([403, "x"], "error: expected an object, got array"),
    ],
)
def test_admin_error_without_an_error_object_raises(error: object, reason: str) -> None:
    body: dict[str, object] = {"janus": "error", "transaction": TRANSACTION}
    if error != "missing":
        body["error"] = error
    assert reason_of(ADMIN, dumps(body)) == reason


def test_server_info_reply_is_read() -> None:
    assert PROTOCOL.parse(ADMIN, SERVER_INFO_REPLY) == ServerInfo(
        server=SERVER,
        transaction=TRANSACTION,
        version="1.4.3",
        problems=(),
    )


def test_server_info_with_missing_and_wrong_fields_keeps_the_rest() -> None:
    payload = dumps(
        {
            "janus": "server_info",
            "transaction": TRANSACTION,
            "version_string": 1403,
            "server-name": "gxy1",
        }
    )
    assert PROTOCOL.parse(ADMIN, payload) == ServerInfo(
        server=SERVER,
        transaction=TRANSACTION,
        version=None,
        problems=("version_string: expected a string, got number",),
    )


@pytest.mark.parametrize("value", [None, 7, True, ["x"], {"a": 1}, "x" * 5000])
def test_server_info_reads_only_the_version(value: object) -> None:
    payload = dumps(
        {"janus": "server_info", "version_string": "1.4.3", "name": value, "server-name": value}
    )
    assert PROTOCOL.parse(ADMIN, payload) == ServerInfo(
        server=SERVER, transaction=None, version="1.4.3", problems=()
    )


@pytest.mark.parametrize(
    ("version", "shown"),
    [
        ("1.4.3\x1b[31m-evil\x1b[0m\n", "1.4.3-evil"),
        ("\u202e3.4.1\u200b \x1b]0;title\x07 build", "3.4.1 build"),
        ("\x1b[2J\r\n", None),
    ],
)
def test_server_info_version_is_read_as_display_text(version: str, shown: str | None) -> None:
    payload = dumps({"janus": "server_info", "transaction": "t", "version_string": version})
    assert PROTOCOL.parse(ADMIN, payload) == ServerInfo(
        server=SERVER, transaction="t", version=shown, problems=()
    )


def test_pong_is_a_plain_admin_reply() -> None:
    # The answer to a ping someone else sent on the admin topic: valid, nothing to read.
    payload = b'{"janus":"pong","transaction":"5c3e1d2f0a9b8c7d6e5f4a3b"}'
    message = PROTOCOL.parse(ADMIN, payload)
    assert message == AdminReply(server=SERVER, transaction=TRANSACTION)
    assert type(message) is AdminReply


def test_escaped_unicode_in_strings_is_decoded() -> None:
    payload = (
        b'{"janus":"server_info","version_string":"1.4.3 \\u003cdev\\u003e \\u0026 co",'
        b'"transaction":"t"}'
    )
    message = PROTOCOL.parse(ADMIN, payload)
    assert isinstance(message, ServerInfo)
    assert message.version == "1.4.3 <dev> & co"


@pytest.mark.parametrize(
    "transaction",
    ["missing", None, "", 123, 0, True, False, ["t"], {"t": 1}, 1.5],
)
@pytest.mark.parametrize(
    "body",
    [
        {"janus": "success", "sessions": [1]},
        {"janus": "error", "error": {"code": 403, "reason": "no"}},
        {"janus": "server_info", "version_string": "1.4.3"},
        {"janus": "pong"},
    ],
)
def test_unusable_transaction_reads_as_none(transaction: object, body: dict[str, object]) -> None:
    if transaction != "missing":
        body = body | {"transaction": transaction}
    message = PROTOCOL.parse(ADMIN, dumps(body))
    assert message.transaction is None  # type: ignore[attr-defined]
    assert message.problems == ()


@pytest.mark.parametrize("transaction", [" ", "a", "x" * 1000, "\u00e9\u00e8", "0"])
def test_any_non_empty_transaction_is_kept_verbatim(transaction: str) -> None:
    message = PROTOCOL.parse(ADMIN, dumps({"janus": "pong", "transaction": transaction}))
    assert message == AdminReply(server=SERVER, transaction=transaction)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"janus":"ack","transaction":"t"}', "janus: unknown reply 'ack'"),
        (b'{"janus":"event","transaction":"t"}', "janus: unknown reply 'event'"),
        (b'{"janus":"SUCCESS","transaction":"t"}', "janus: unknown reply 'SUCCESS'"),
        (b'{"janus":"","transaction":"t"}', "janus: unknown reply ''"),
        (b'{"janus":"list_sessions","transaction":"t"}', "janus: unknown reply 'list_sessions'"),
        (b'{"transaction":"t","sessions":[1]}', "janus: missing"),
        (b'{"janus":null,"transaction":"t"}', "janus: missing"),
        (b'{"janus":1,"transaction":"t"}', "janus: expected a string, got number"),
        (b'{"janus":true}', "janus: expected a string, got boolean"),
        (b'{"janus":["success"]}', "janus: expected a string, got array"),
        (b"{}", "janus: missing"),
        (b"[]", "expected a JSON object, got array"),
        (b'"success"', "expected a JSON object, got string"),
        (b"null", "expected a JSON object, got null"),
        (b"42", "expected a JSON object, got number"),
        (b"success", "invalid JSON (…)"),
        (b"", "invalid JSON (…)"),
        (b'{"janus":"pong"', "invalid JSON (…)"),
        (b'{"janus":"success","sessions":[NaN]}', "payload contains NaN or Infinity"),
        (b'{"janus":"success","x":Infinity}', "payload contains NaN or Infinity"),
        (b'{"janus":"pong","x":"\xff"}', "payload is not valid UTF-8"),
    ],
)
def test_invalid_admin_replies_raise(payload: bytes, reason: str) -> None:
    assert reason_of(ADMIN, payload) == reason


def test_unknown_reply_reason_is_truncated_to_32_characters() -> None:
    payload = dumps({"janus": "z" * 100})
    assert reason_of(ADMIN, payload) == f"janus: unknown reply {'z' * 32!r}"


def test_oversized_admin_reply_raises() -> None:
    payload = dumps({"janus": "success", "sessions": [], "pad": "x" * MAX_PAYLOAD_BYTES})
    assert reason_of(ADMIN, payload) == f"payload of {len(payload)} bytes exceeds 64 KiB"


def test_parsed_messages_are_frozen() -> None:
    message = PROTOCOL.parse(ADMIN, LIST_SESSIONS_REPLY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.server = "other"  # type: ignore[misc]


# --- 3. topics ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "janus",
        "janusx/gxy1/status",
        "Janus/gxy1/status",
        "/janus/gxy1/status",
        "other/gxy1/status",
        "spotfi/router/gxy1/status",
        "site-a/janus/gxy1/status",
    ],
)
def test_topics_outside_the_base_are_refused(topic: str) -> None:
    assert reason_of(topic, b'{"online": true}') == "topic is outside the base topic"


@pytest.mark.parametrize(
    "topic",
    [
        "janus/",
        "janus/gxy1",
        "janus/status",
        "janus/gxy1/status/extra",
        "janus/gxy1/Status",
        "janus/gxy1/to-janus-admin",  # our own requests are never parsed
        "janus/gxy1/from-janus",
        "janus/gxy1/from-janus-admin/x",
        "janus/a/b/status",
        "janus/a/b/from-janus-admin",
        "janus/gxy1/status/",
        "janus//status",
        "janus//from-janus-admin",
    ],
)
def test_unknown_shapes_are_refused(topic: str) -> None:
    assert reason_of(topic, b'{"online": true}') == "not a Janus topic"


@pytest.mark.parametrize(
    "server",
    [
        "+",
        "#",
        "a+b",
        "a#",
        "\x00",
        "a\x00b",
        "tab\there",
        "new\nline",
        "\x7f",
        "\u2028",
        "x" * 129,
        ".",
        "..",
        "$SYS",
        "$x",
    ],
)
@pytest.mark.parametrize("kind", ["status", "from-janus-admin"])
def test_unsafe_server_levels_are_refused(server: str, kind: str) -> None:
    assert reason_of(f"janus/{server}/{kind}", b'{"online": true}') == "not a Janus topic"


@pytest.mark.parametrize("server", ["x" * MAX_ID_LENGTH, "gxy 1", "g\u00e9", "status", "janus"])
def test_odd_but_safe_server_levels_are_read(server: str) -> None:
    assert PROTOCOL.parse(f"janus/{server}/status", b"online") == ServerStatus(
        server=server, online=True
    )


def test_multi_level_base() -> None:
    protocol = JanusProtocol("site-a/janus")
    assert protocol.subscriptions == (
        "site-a/janus/+/status",
        "site-a/janus/+/from-janus-admin",
    )
    assert protocol.parse("site-a/janus/gxy1/status", b'{"online": false}') == ServerStatus(
        server="gxy1", online=False
    )
    assert protocol.parse("site-a/janus/gxy1/from-janus-admin", b'{"janus":"pong"}') == (
        AdminReply(server="gxy1", transaction=None)
    )
    assert reason_of("janus/gxy1/status", b"online", protocol) == "topic is outside the base topic"
    assert reason_of("site-a/gxy1/status", b"online", protocol) == (
        "topic is outside the base topic"
    )
    assert reason_of("site-a/janus/x/gxy1/status", b"online", protocol) == "not a Janus topic"
    message, _ = protocol.admin_request("gxy1", AdminRequest.INFO, None, "t")
    assert message.topic == "site-a/janus/gxy1/to-janus-admin"


@pytest.mark.parametrize(
    ("base", "problem"),
    [
        ("", "empty"),
        ("/janus", "edge_slash"),
        ("janus/", "edge_slash"),
        ("a//janus", "empty_level"),
        ("janus/+", "wildcard"),
        ("janus/#", "wildcard"),
        ("ja\x00nus", "control_character"),
        ("j" * 40000, "too_long"),
    ],
)
def test_unusable_base_topics_are_refused(base: str, problem: str) -> None:
    with pytest.raises(ValueError, match=f": {problem}$"):
        JanusProtocol(base)


# --- 4. building admin requests -------------------------------------------------------


def test_list_sessions_carries_the_secret_exactly() -> None:
    message, transaction = PROTOCOL.admin_request(
        SERVER, AdminRequest.LIST_SESSIONS, "janusoverlord", "abc123"
    )
    assert transaction == "abc123"
    assert message == OutgoingMessage(
        topic="janus/gxy1/to-janus-admin",
        payload=b'{"janus":"list_sessions","transaction":"abc123","admin_secret":"janusoverlord"}',
        qos=1,
        retain=False,
    )


@pytest.mark.parametrize("secret", [None, ""])
def test_list_sessions_without_a_secret_omits_it(secret: str | None) -> None:
    message, _ = PROTOCOL.admin_request(SERVER, AdminRequest.LIST_SESSIONS, secret, "t1")
    assert message.payload == b'{"janus":"list_sessions","transaction":"t1"}'


@pytest.mark.parametrize("secret", ["janusoverlord", None, ""])
def test_info_never_carries_the_secret(secret: str | None) -> None:
    message, transaction = PROTOCOL.admin_request(SERVER, AdminRequest.INFO, secret, "abc123")
    assert transaction == "abc123"
    assert message == OutgoingMessage(
        "janus/gxy1/to-janus-admin", b'{"janus":"info","transaction":"abc123"}'
    )
    assert b"admin_secret" not in message.payload
    assert b"janusoverlord" not in message.payload


def test_secret_with_json_special_characters_is_escaped() -> None:
    message, _ = PROTOCOL.admin_request(SERVER, AdminRequest.LIST_SESSIONS, 'a"b\\c\n\u00e9', "t")
    assert orjson.loads(message.payload) == {
        "janus": "list_sessions",
        "transaction": "t",
        "admin_secret": 'a"b\\c\n\u00e9',
    }


@pytest.mark.parametrize("given", [None, ""])
@pytest.mark.parametrize("request_kind", list(AdminRequest))
def test_fresh_transaction_when_none_is_given(
    given: str | None, request_kind: AdminRequest
) -> None:
    first, first_transaction = PROTOCOL.admin_request(SERVER, request_kind, "s", given)
    second, second_transaction = PROTOCOL.admin_request(SERVER, request_kind, "s", given)
    assert HEX_24.fullmatch(first_transaction)
    assert HEX_24.fullmatch(second_transaction)
    assert first_transaction != second_transaction
    assert orjson.loads(first.payload)["transaction"] == first_transaction
    assert orjson.loads(second.payload)["transaction"] == second_transaction


def test_new_transaction_is_24_hex_characters_and_fresh() -> None:
    transactions = {new_transaction() for _ in range(100)}
    assert len(transactions) == 100
    assert all(HEX_24.fullmatch(transaction) for transaction in transactions)


def test_a_reply_to_a_built_request_matches_its_transaction() -> None:
    _, transaction = PROTOCOL.admin_request(SERVER, AdminRequest.LIST_SESSIONS, "s")
    reply = dumps({"janus": "success", "transaction": transaction, "sessions": [7]})
    message = PROTOCOL.parse(ADMIN, reply)
    assert message == AdminSuccess(server=SERVER, transaction=transaction, sessions=(7,))


def test_admin_request_values_are_the_janus_verbs() -> None:
    assert [kind.value for kind in AdminRequest] == ["list_sessions", "info"]


@pytest.mark.parametrize(
    "server",
    [
        "",
        "+",
        "#",
        "a/b",
        "a+b",
        "a#b",
        "/",
        "a\x00b",
        "\x00",
        "line\nbreak",
        "x" * 129,
        ".",
        "..",
        "$SYS",
        "$x",
    ],
)
@pytest.mark.parametrize("request_kind", list(AdminRequest))
def test_unsafe_server_names_raise_and_build_no_topic(
    server: str, request_kind: AdminRequest
) -> None:
    with pytest.raises(UnsafeIdError, match="unsafe id"):
        PROTOCOL.admin_request(server, request_kind, "secret", "t")


def test_unsafe_id_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unsafe id"):
        PROTOCOL.admin_request("a/b", AdminRequest.INFO, None)
