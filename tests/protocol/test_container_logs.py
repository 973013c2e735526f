"""Tests for protocol/container_logs.py: topics, single logs and batches of container logs.

Topics and payloads follow docs/protocols.md, section "Container logs", and MqttLogBackend
(buildTopic, publishSingle, publishBatch). The backend publishes `JSON.stringify(message)` of a
LogMessage, so keys come in the order the object was built, compact, with raw UTF-8.
"""

from __future__ import annotations

import dataclasses
import math
import re

import orjson
import pytest

from custom_components.mqtt_fleet.protocol.container_logs import (
    BATCH_LEVEL,
    ContainerLogsProtocol,
    Level,
    LogMessage,
    LogStream,
    SourceType,
    app_id_for,
    log_body,
    read_level,
)
from custom_components.mqtt_fleet.protocol.payload import MAX_PAYLOAD_BYTES, InvalidMessage
from custom_components.mqtt_fleet.protocol.topics import OutgoingMessage, UnsafeIdError

BASE = "container-manager/logs"
PROTOCOL = ContainerLogsProtocol(BASE)
WEB = f"{BASE}/1/web/info"
INT64_MIN = -(2**63)

# The documented example: a container log from service 1001 ("web") of app 1.
EXAMPLE_LOG = LogMessage(
    message="Server started",
    level=Level.INFO,
    timestamp=1700000000000,
    source_type=SourceType.CONTAINER,
    source_name="web",
    service_id=1001,
    service_name="web",
    container_id="3f2a9c",
    is_stderr=False,
    is_system=False,
)
# Byte for byte what JSON.stringify gives for EXAMPLE_LOG built field by field.
EXAMPLE_PAYLOAD = (
    b'{"message":"Server started","timestamp":1700000000000,"level":"info",'
    b'"source":{"type":"container","name":"web"},"serviceId":1001,"serviceName":"web",'
    b'"containerId":"3f2a9c","isStdErr":false,"isSystem":false}'
)
MINIMAL = b'{"message":"m","level":"info"}'
MINIMAL_LOG = LogMessage(message="m", level=Level.INFO)
MINIMAL_LOG_BODY = {"message": "m", "level": "info"}


def dumps(value: object) -> bytes:
    return orjson.dumps(value)


def reason_of(topic: str, payload: bytes, protocol: ContainerLogsProtocol = PROTOCOL) -> str:
    """Parse a message that must be refused and return why."""
    with pytest.raises(InvalidMessage) as err:
        protocol.parse(topic, payload)
    assert err.value.reason == str(err.value)
    # The detail in brackets is orjson's own text, which changes between its versions.
    return re.sub(r"^invalid JSON \(.+\)$", "invalid JSON (…)", err.value.reason)


def log_payload(**fields: object) -> bytes:
    """A single log with a message and a level, some fields added or replaced."""
    body: dict[str, object] = {"message": "m", "level": "info"}
    body.update(fields)
    return dumps(body)


def container(service_name: str | None = "web", service_id: float | None = 1001) -> LogMessage:
    return LogMessage(
        message="m",
        level=Level.INFO,
        source_type=SourceType.CONTAINER,
        service_id=service_id,  # type: ignore[arg-type]  # the backend's ids are JS numbers
        service_name=service_name,
    )


# --- levels and app ids ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("debug", Level.DEBUG),
        ("info", Level.INFO),
        ("warn", Level.WARN),
        ("error", Level.ERROR),
        ("warning", Level.WARN),
        ("fatal", Level.ERROR),
        ("DEBUG", Level.DEBUG),
        ("Info", Level.INFO),
        ("WaRn", Level.WARN),
        ("ERROR", Level.ERROR),
        ("WARNING", Level.WARN),
        ("Warning", Level.WARN),
        ("FATAL", Level.ERROR),
        ("Fatal", Level.ERROR),
        ("", None),
        ("trace", None),
        ("critical", None),
        ("err", None),
        ("warnings", None),
        (" info", None),
        ("info ", None),
        ("in fo", None),
        ("batch", None),
        ("in+fo", None),
        ("#", None),
        ("info\x00", None),
        ("\u0130nfo", None),  # İ lowercases to i + a combining dot
    ],
)
def test_read_level(name: str, level: Level | None) -> None:
    assert read_level(name) is level


def test_levels_rank_in_increasing_severity() -> None:
    assert [level.rank for level in Level] == [0, 1, 2, 3]
    assert Level.DEBUG.rank < Level.INFO.rank < Level.WARN.rank < Level.ERROR.rank
    assert sorted(Level, key=lambda level: -level.rank) == [
        Level.ERROR,
        Level.WARN,
        Level.INFO,
        Level.DEBUG,
    ]
    assert [str(level) for level in Level] == ["debug", "info", "warn", "error"]


@pytest.mark.parametrize(
    ("service_id", "app_id"),
    [
        (1001, "1"),
        (999, "0"),
        (2500, "2"),
        (1000, "1"),
        (1999, "1"),
        (2000, "2"),
        (1, "0"),
        (1_000_000, "1000"),
        (2**53, "9007199254740"),
        # Math.floor rounds towards minus infinity.
        (-1, "-1"),
        (-999, "-1"),
        (-1000, "-1"),
        (-1001, "-2"),
        (-1500, "-2"),
        (-2000, "-2"),
        # Fractional ids are divided and floored as they are.
        (1500.5, "1"),
        (999.999, "0"),
        (1000.0, "1"),
        (0.5, "0"),
        (-0.5, "-1"),
        (-1500.5, "-2"),
        # JS falsy: missing and zero ids have no app.
        (None, "unknown"),
        (0, "unknown"),
        (0.0, "unknown"),
        (-0.0, "unknown"),
    ],
)
def test_app_id_for_is_the_backends_floor(service_id: float | None, app_id: str) -> None:
    assert app_id_for(service_id) == app_id


def test_app_id_for_nan_is_unknown_as_in_js() -> None:
    assert app_id_for(math.nan) == "unknown"


# --- topic_for: the backend's buildTopic ----------------------------------------------


@pytest.mark.parametrize(
    ("log", "topic"),
    [
        # container with a serviceName: {appId}/{serviceName}
        (container(service_id=1001), f"{BASE}/1/web/info"),
        (container(service_id=999), f"{BASE}/0/web/info"),
        (container(service_id=2500), f"{BASE}/2/web/info"),
        (container(service_id=1000), f"{BASE}/1/web/info"),
        (container(service_id=-1500), f"{BASE}/-2/web/info"),
        (container(service_id=1500.5), f"{BASE}/1/web/info"),
        # Its documentation shows 1001/web for serviceId 1; buildTopic gives 0/web (see
        # docs/protocols.md, section "Container logs").
        (container(service_id=1), f"{BASE}/0/web/info"),
        (container(service_id=None), f"{BASE}/unknown/web/info"),
        (container(service_id=0), f"{BASE}/unknown/web/info"),
        (container(service_name="redis", service_id=1002), f"{BASE}/1/redis/info"),
        (container(service_name="0", service_id=5), f"{BASE}/0/0/info"),  # "0" is truthy
        (container(service_name="batch"), f"{BASE}/1/batch/info"),
        (container(service_name="system"), f"{BASE}/1/system/info"),
        (container(service_name="Web Server"), f"{BASE}/1/Web Server/info"),
        (container(service_name="caf\u00e9"), f"{BASE}/1/caf\u00e9/info"),
        # container without a serviceName: other
        (container(service_name=None), f"{BASE}/other/info"),
        (container(service_name=""), f"{BASE}/other/info"),
        (container(service_name=None, service_id=None), f"{BASE}/other/info"),
        # the other source types
        (LogMessage(message="m", level=Level.INFO, source_type="system"), f"{BASE}/system/info"),
        (LogMessage(message="m", level=Level.INFO, source_type="manager"), f"{BASE}/manager/info"),
        (LogMessage(message="m", level=Level.INFO, source_type="other"), f"{BASE}/other/info"),
        (LogMessage(message="m", level=Level.INFO), f"{BASE}/other/info"),
        (LogMessage(message="m", level=Level.INFO, source_type=""), f"{BASE}/other/info"),
        (LogMessage(message="m", level=Level.INFO, source_type="docker"), f"{BASE}/other/info"),
        (LogMessage(message="m", level=Level.INFO, source_type="Container"), f"{BASE}/other/info"),
        (LogMessage(message="m", level=Level.INFO, source_type="SYSTEM"), f"{BASE}/other/info"),
        # serviceName and serviceId only count for containers.
        (
            LogMessage(
                message="m",
                level=Level.WARN,
                source_type="system",
                service_id=1001,
                service_name="web",
            ),
            f"{BASE}/system/warn",
        ),
        (
            LogMessage(
                message="m",
                level=Level.ERROR,
                source_type="manager",
                service_id=1001,
                service_name="web",
            ),
            f"{BASE}/manager/error",
        ),
        (
            LogMessage(message="m", level=Level.DEBUG, service_id=1001, service_name="web"),
            f"{BASE}/other/debug",
        ),
    ],
)
def test_topic_for_matches_the_backends_build_topic(log: LogMessage, topic: str) -> None:
    assert PROTOCOL.topic_for(log) == topic


@pytest.mark.parametrize("level", list(Level))
def test_topic_for_ends_in_the_level_as_given(level: Level) -> None:
    log = dataclasses.replace(container(), level=level)
    assert PROTOCOL.topic_for(log) == f"{BASE}/1/web/{level}"
    system = LogMessage(message="m", level=level, source_type="system")
    assert PROTOCOL.topic_for(system) == f"{BASE}/system/{level}"


@pytest.mark.parametrize("base", ["logs", "a/b/c/d", "site 1/container-manager/logs"])
def test_topic_for_any_base(base: str) -> None:
    protocol = ContainerLogsProtocol(base)
    assert protocol.topic_for(container(service_id=2500)) == f"{base}/2/web/info"
    system = LogMessage(message="m", level=Level.ERROR, source_type="system")
    assert protocol.topic_for(system) == f"{base}/system/error"
    assert protocol.subscriptions == (f"{base}/#",)
    assert protocol.base == base


UNSAFE_NAMES = [
    "a/b",
    "/",
    "web/",
    "+",
    "we+b",
    "#",
    "web#",
    "\x00",
    "we\x00b",
    "we\nb",
    "\t",
    "\u2028",
    "x" * 129,
    ".",
    "..",
    "$SYS",
    "$x",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_service_names_never_make_a_topic(name: str) -> None:
    log = container(service_name=name)
    with pytest.raises(UnsafeIdError):
        PROTOCOL.topic_for(log)
    with pytest.raises(UnsafeIdError):
        PROTOCOL.single(log)


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_service_names_do_not_matter_outside_containers(name: str) -> None:
    log = LogMessage(message="m", level=Level.INFO, source_type="system", service_name=name)
    assert PROTOCOL.topic_for(log) == f"{BASE}/system/info"


def test_the_longest_safe_service_name_makes_a_topic() -> None:
    assert PROTOCOL.topic_for(container(service_name="x" * 128)) == f"{BASE}/1/{'x' * 128}/info"


@pytest.mark.parametrize("base", ["", "/logs", "logs/", "a//b", "logs/#", "logs/+", "lo\x00gs"])
def test_an_unusable_base_is_refused(base: str) -> None:
    with pytest.raises(ValueError, match="invalid base topic"):
        ContainerLogsProtocol(base)


# --- single: publishSingle -------------------------------------------------------------


def test_single_is_the_backends_topic_and_json_stringify() -> None:
    assert PROTOCOL.single(EXAMPLE_LOG) == OutgoingMessage(
        f"{BASE}/1/web/info", EXAMPLE_PAYLOAD, qos=1, retain=False
    )


def test_single_leaves_absent_fields_out() -> None:
    assert PROTOCOL.single(MINIMAL_LOG) == OutgoingMessage(
        f"{BASE}/other/info", b'{"message":"m","level":"info","source":{"type":"other"}}', 1, False
    )


@pytest.mark.parametrize(
    ("log", "payload"),
    [
        (
            LogMessage(message="", level=Level.DEBUG, timestamp=0),
            b'{"message":"","timestamp":0,"level":"debug","source":{"type":"other"}}',
        ),
        (
            LogMessage(message="x", level=Level.WARN, source_type="system", source_name="kernel"),
            b'{"message":"x","level":"warn","source":{"type":"system","name":"kernel"}}',
        ),
        (
            LogMessage(message="x", level=Level.ERROR, is_stderr=True),
            b'{"message":"x","level":"error","source":{"type":"other"},"isStdErr":true}',
        ),
        (
            LogMessage(message="x", level=Level.ERROR, is_system=False),
            b'{"message":"x","level":"error","source":{"type":"other"},"isSystem":false}',
        ),
        (
            LogMessage(message="x", level=Level.INFO, container_id="c", service_id=0),
            b'{"message":"x","level":"info","source":{"type":"other"},'
            b'"serviceId":0,"containerId":"c"}',
        ),
        (
            LogMessage(message="x", level=Level.INFO, service_name="", service_id=-1500),
            b'{"message":"x","level":"info","source":{"type":"other"},'
            b'"serviceId":-1500,"serviceName":""}',
        ),
        # Raw UTF-8 and JSON.stringify's escapes: \n \t \" \\ and \u00XX for controls.
        (
            LogMessage(
                message='caf\u00e9 \u2603 "q" \\ \n\t\x00\x1f\x7f /<>&\u2028', level=Level.INFO
            ),
            b'{"message":"caf\xc3\xa9 \xe2\x98\x83 \\"q\\" \\\\ \\n\\t\\u0000\\u001f\x7f '
            b'/<>&\xe2\x80\xa8","level":"info","source":{"type":"other"}}',
        ),
    ],
)
def test_single_payloads(log: LogMessage, payload: bytes) -> None:
    assert PROTOCOL.single(log).payload == payload


def test_single_key_order_is_the_backends_even_when_built_out_of_order() -> None:
    log = LogMessage(
        is_system=True,
        is_stderr=True,
        container_id="c",
        service_name="web",
        service_id=7,
        source_name="n",
        source_type="container",
        timestamp=5,
        level=Level.WARN,
        message="m",
    )
    body = log_body(log)
    assert list(body) == [
        "message",
        "timestamp",
        "level",
        "source",
        "serviceId",
        "serviceName",
        "containerId",
        "isStdErr",
        "isSystem",
    ]
    assert list(body["source"]) == ["type", "name"]  # type: ignore[call-overload]
    assert PROTOCOL.single(log).payload == (
        b'{"message":"m","timestamp":5,"level":"warn","source":{"type":"container","name":"n"},'
        b'"serviceId":7,"serviceName":"web","containerId":"c","isStdErr":true,"isSystem":true}'
    )


@pytest.mark.parametrize(("qos", "retain"), [(0, False), (1, True), (2, False), (2, True)])
def test_single_qos_and_retain_as_asked(qos: int, retain: bool) -> None:
    message = PROTOCOL.single(EXAMPLE_LOG, qos, retain)
    assert (message.topic, message.payload, message.qos, message.retain) == (
        f"{BASE}/1/web/info",
        EXAMPLE_PAYLOAD,
        qos,
        retain,
    )


def test_single_levels_are_lower_case_names() -> None:
    for level in Level:
        message = PROTOCOL.single(dataclasses.replace(EXAMPLE_LOG, level=level))
        assert message.topic == f"{BASE}/1/web/{level.value}"
        assert f'"level":"{level.value}"'.encode() in message.payload


# --- batch: publishBatch ---------------------------------------------------------------


def one_batch(topic: str, logs: list[LogMessage], qos: int = 1) -> OutgoingMessage:
    """Build the logs' batches and return the only one, which must hold every log."""
    [(message, count)] = PROTOCOL.batches(topic, logs, qos)
    assert count == len(logs)
    return message


def test_batch_is_topic_slash_batch_with_count_and_logs() -> None:
    second = dataclasses.replace(EXAMPLE_LOG, message="GET /", timestamp=1700000000001)
    message = one_batch(WEB, [EXAMPLE_LOG, second])
    assert message == OutgoingMessage(
        f"{WEB}/batch",
        b'{"count":2,"logs":['
        + EXAMPLE_PAYLOAD
        + b","
        + EXAMPLE_PAYLOAD.replace(b"Server started", b"GET /").replace(
            b"1700000000000", b"1700000000001"
        )
        + b"]}",
        qos=1,
        retain=False,
    )
    assert BATCH_LEVEL == "batch"


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_batches_are_never_retained(qos: int) -> None:
    message = one_batch(f"{BASE}/system/error", [MINIMAL_LOG], qos)
    assert message == OutgoingMessage(
        f"{BASE}/system/error/batch",
        b'{"count":1,"logs":[{"message":"m","level":"info","source":{"type":"other"}}]}',
        qos,
        False,
    )


def test_no_logs_build_no_batch() -> None:
    assert PROTOCOL.batches(WEB, []) == []


def test_batch_keeps_the_order_of_the_logs() -> None:
    logs = [dataclasses.replace(MINIMAL_LOG, message=str(index)) for index in range(50)]
    body = orjson.loads(one_batch(WEB, logs).payload)
    assert body["count"] == 50
    assert [log["message"] for log in body["logs"]] == [str(index) for index in range(50)]


# --- parse: topics ---------------------------------------------------------------------


def test_subscriptions_cover_the_whole_base() -> None:
    assert PROTOCOL.subscriptions == (f"{BASE}/#",)
    assert PROTOCOL.base == BASE


@pytest.mark.parametrize(
    ("levels", "source", "app_id", "service_name"),
    [
        ("1/web/info", "1:web", "1", "web"),
        ("0/web/debug", "0:web", "0", "web"),
        ("-2/web/error", "-2:web", "-2", "web"),
        ("unknown/web/warn", "unknown:web", "unknown", "web"),
        ("007/redis/info", "007:redis", "007", "redis"),
        ("18446744073709552/web/info", "18446744073709552:web", "18446744073709552", "web"),
        ("1/batch/info", "1:batch", "1", "batch"),
        ("1/system/info", "1:system", "1", "system"),
        ("1/info/info", "1:info", "1", "info"),
        ("1/Web Server/info", "1:Web Server", "1", "Web Server"),
        (f"1/{'x' * 128}/info", f"1:{'x' * 128}", "1", "x" * 128),
        ("1/web/warning", "1:web", "1", "web"),
        ("1/web/fatal", "1:web", "1", "web"),
        ("1/web/WARNING", "1:web", "1", "web"),
        ("1/web/Fatal", "1:web", "1", "web"),
        ("1/web/INFO", "1:web", "1", "web"),
        ("system/info", "system", None, None),
        ("system/error", "system", None, None),
        ("manager/warn", "manager", None, None),
        ("manager/warning", "manager", None, None),
        ("other/debug", "other", None, None),
        ("other/FATAL", "other", None, None),
    ],
)
@pytest.mark.parametrize("batch", [False, True])
def test_topics_are_read_from_the_right(
    levels: str,
    source: str,
    app_id: str | None,
    service_name: str | None,
    batch: bool,
) -> None:
    topic = f"{BASE}/{levels}/batch" if batch else f"{BASE}/{levels}"
    payload = b'{"count":1,"logs":[{"message":"m","level":"info"}]}' if batch else MINIMAL
    assert PROTOCOL.parse(topic, payload) == LogStream(
        source=source,
        app_id=app_id,
        service_name=service_name,
        logs=(MINIMAL_LOG,),
        problems=(),
    )


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        # outside the base
        ("other/logs/1/web/info", "topic is outside the base topic"),
        (BASE, "topic is outside the base topic"),
        (f"{BASE}X/1/web/info", "topic is outside the base topic"),
        (f"/{BASE}/1/web/info", "topic is outside the base topic"),
        ("container-manager/1/web/info", "topic is outside the base topic"),
        ("", "topic is outside the base topic"),
        # not ending in a known level
        (f"{BASE}/", "the topic does not end in a log level"),
        (f"{BASE}/batch", "the topic does not end in a log level"),
        (f"{BASE}/1/web/trace", "the topic does not end in a log level"),
        (f"{BASE}/1/web/", "the topic does not end in a log level"),
        (f"{BASE}/1/web", "the topic does not end in a log level"),
        (f"{BASE}/1/web/batch", "the topic does not end in a log level"),
        (f"{BASE}/1/web/info/batch/batch", "the topic does not end in a log level"),
        (f"{BASE}/1/web/info/extra", "the topic does not end in a log level"),
        (f"{BASE}/system/info/x", "the topic does not end in a log level"),
        (f"{BASE}/1/web/batch/info/x", "the topic does not end in a log level"),
        (f"{BASE}/1/web/info/BATCH", "the topic does not end in a log level"),
        (f"{BASE}/1/web/in+fo", "the topic does not end in a log level"),
        (f"{BASE}/1/web/+", "the topic does not end in a log level"),
        (f"{BASE}/1/web/#", "the topic does not end in a log level"),
        (f"{BASE}/1/web/info\x00", "the topic does not end in a log level"),
        (f"{BASE}/1/web/ info", "the topic does not end in a log level"),
        # wrong depth or sources
        (f"{BASE}/info", "not a container-log topic"),
        (f"{BASE}/info/batch", "not a container-log topic"),
        (f"{BASE}/web/info", "not a container-log topic"),
        (f"{BASE}/container/info", "not a container-log topic"),
        (f"{BASE}/unknown/info", "not a container-log topic"),
        (f"{BASE}/System/info", "not a container-log topic"),
        (f"{BASE}/MANAGER/info", "not a container-log topic"),
        (f"{BASE}//info", "not a container-log topic"),
        (f"{BASE}/1/info", "not a container-log topic"),
        (f"{BASE}/1/2/web/info", "not a container-log topic"),
        (f"{BASE}/system/x/info", "not a container-log topic"),
        (f"{BASE}/x/1/web/info/batch", "not a container-log topic"),
        # app ids are what floor() gives or `unknown`
        (f"{BASE}/abc/web/info", "not a container-log topic"),
        (f"{BASE}/1.5/web/info", "not a container-log topic"),
        (f"{BASE}/+1/web/info", "not a container-log topic"),
        (f"{BASE}/1e3/web/info", "not a container-log topic"),
        (f"{BASE}/--1/web/info", "not a container-log topic"),
        (f"{BASE}/-/web/info", "not a container-log topic"),
        (f"{BASE}/ 1/web/info", "not a container-log topic"),
        (f"{BASE}/1 /web/info", "not a container-log topic"),
        (f"{BASE}/Unknown/web/info", "not a container-log topic"),
        (f"{BASE}/\u0661/web/info", "not a container-log topic"),  # an Arabic-Indic digit
        (f"{BASE}//web/info", "not a container-log topic"),
        (f"{BASE}/+/web/info", "not a container-log topic"),
        # unsafe service names
        (f"{BASE}/1//info", "not a container-log topic"),
        (f"{BASE}/1/+/info", "not a container-log topic"),
        (f"{BASE}/1/we+b/info", "not a container-log topic"),
        (f"{BASE}/1/#/info", "not a container-log topic"),
        (f"{BASE}/1/we\x00b/info", "not a container-log topic"),
        (f"{BASE}/1/we\nb/info", "not a container-log topic"),
        (f"{BASE}/1/{'x' * 129}/info", "not a container-log topic"),
        (f"{BASE}/1/{'x' * 129}/info/batch", "not a container-log topic"),
        (f"{BASE}/1/./info", "not a container-log topic"),
        (f"{BASE}/1/../info", "not a container-log topic"),
        (f"{BASE}/1/$SYS/info", "not a container-log topic"),
        (f"{BASE}/unknown/$x/info/batch", "not a container-log topic"),
        # The service level names a device: nothing in it may hide or restyle text.
        (f"{BASE}/1/\x1b[31mweb/info", "not a container-log topic"),
        (f"{BASE}/1/web\u202e/info", "not a container-log topic"),
        (f"{BASE}/1/we\u200bb/info", "not a container-log topic"),
        (f"{BASE}/1/web\u2066x\u2069/info", "not a container-log topic"),
    ],
)
def test_invalid_topics_raise(topic: str, reason: str) -> None:
    assert reason_of(topic, MINIMAL) == reason


def test_the_topic_is_checked_before_the_payload() -> None:
    assert reason_of(f"{BASE}/1/web/trace", b"\xff") == "the topic does not end in a log level"
    assert reason_of(f"{BASE}/x/web/info", b"\xff") == "not a container-log topic"


# --- parse: single logs ---------------------------------------------------------------


def test_the_backends_log_is_read_back() -> None:
    stream = PROTOCOL.parse(f"{BASE}/1/web/info", EXAMPLE_PAYLOAD)
    assert stream == LogStream(
        source="1:web",
        app_id="1",
        service_name="web",
        logs=(EXAMPLE_LOG,),
    )


def test_a_pretty_printed_log_in_another_key_order_is_read() -> None:
    payload = b"""{
      "isSystem": false, "isStdErr": false, "containerId": "3f2a9c",
      "serviceName": "web", "serviceId": 1001,
      "source": {"name": "web", "type": "container"},
      "level": "info", "timestamp": 1700000000000, "message": "Server started"
    }"""
    assert PROTOCOL.parse(WEB, payload).logs == (EXAMPLE_LOG,)


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("debug", Level.DEBUG),
        ("info", Level.INFO),
        ("warn", Level.WARN),
        ("error", Level.ERROR),
        ("warning", Level.WARN),
        ("fatal", Level.ERROR),
        ("WARNING", Level.WARN),
        ("Fatal", Level.ERROR),
        ("ERROR", Level.ERROR),
        ("Debug", Level.DEBUG),
    ],
)
def test_payload_levels_and_aliases(name: str, level: Level) -> None:
    stream = PROTOCOL.parse(WEB, log_payload(level=name))
    assert stream.logs == (LogMessage(message="m", level=level),)
    assert stream.problems == ()


def test_the_payload_level_counts_not_the_topic_level() -> None:
    stream = PROTOCOL.parse(f"{BASE}/system/info", log_payload(level="error"))
    assert stream.logs[0].level is Level.ERROR
    assert stream.problems == ()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{}", "message and level are required"),
        (b'{"message":"m"}', "message and level are required"),
        (b'{"level":"info"}', "message and level are required"),
        (b'{"message":null,"level":"info"}', "message and level are required"),
        (b'{"message":"m","level":null}', "message and level are required"),
        (b'{"msg":"m","lvl":"info"}', "message and level are required"),
        (b'{"message":"m","level":"trace"}', "level: unknown level 'trace'"),
        (b'{"message":"m","level":""}', "level: unknown level ''"),
        (b'{"level":"verbose"}', "level: unknown level 'verbose'"),
        (log_payload(level="x" * 100), f"level: unknown level {'x' * 16!r}"),
        (b'{"message":5,"level":"info"}', "message: expected a string, got number"),
        (b'{"message":["m"],"level":"info"}', "message: expected a string, got array"),
        (b'{"message":"m","level":3}', "level: expected a string, got number"),
        (b'{"message":"m","level":true}', "level: expected a string, got boolean"),
        (b'{"message":"m","level":{"name":"info"}}', "level: expected a string, got object"),
        # Both wrong: the first problem is the reason.
        (b'{"message":{},"level":"nope"}', "message: expected a string, got object"),
        # A batch on a single-log topic.
        (b'{"count":1,"logs":[{"message":"m","level":"info"}]}', "message and level are required"),
    ],
)
def test_a_log_without_message_or_known_level_is_refused(payload: bytes, reason: str) -> None:
    assert reason_of(WEB, payload) == reason


@pytest.mark.parametrize(
    ("fields", "expected", "problems"),
    [
        ({"timestamp": 1700000000000}, {"timestamp": 1700000000000}, ()),
        ({"timestamp": 0}, {"timestamp": 0}, ()),
        ({"timestamp": 1700000000000.0}, {"timestamp": 1700000000000}, ()),
        ({"timestamp": 253402300799999}, {"timestamp": 253402300799999}, ()),
        ({"timestamp": 2**64 - 1}, {}, ("timestamp: expected a whole number <= 253402300799999",)),
        ({"timestamp": "1700000000000"}, {}, ("timestamp: number sent as a string",)),
        ({"timestamp": "2024-01-01T00:00:00Z"}, {}, ("timestamp: expected a number, got string",)),
        ({"timestamp": -1}, {}, ("timestamp: expected a whole number >= 0",)),
        ({"timestamp": 1.5}, {}, ("timestamp: expected a whole number >= 0",)),
        ({"timestamp": True}, {}, ("timestamp: expected a number, got boolean",)),
        ({"serviceId": 1001}, {"service_id": 1001}, ()),
        ({"serviceId": -1500}, {"service_id": -1500}, ()),
        ({"serviceId": 0}, {"service_id": 0}, ()),
        ({"serviceId": 1001.0}, {"service_id": 1001}, ()),
        ({"serviceId": INT64_MIN}, {"service_id": INT64_MIN}, ()),
        ({"serviceId": 2**63 - 1}, {"service_id": 2**63 - 1}, ()),
        ({"serviceId": 2**64 - 1}, {}, (f"serviceId: expected a whole number <= {2**63 - 1}",)),
        ({"serviceId": "1001"}, {}, ("serviceId: number sent as a string",)),
        (
            {"serviceId": 1001.5},
            {},
            (f"serviceId: expected a whole number >= {INT64_MIN}",),
        ),
        ({"serviceId": False}, {}, ("serviceId: expected a number, got boolean",)),
        ({"serviceName": "web"}, {"service_name": "web"}, ()),
        ({"serviceName": ""}, {"service_name": ""}, ()),
        ({"serviceName": "a/b+#"}, {"service_name": "a/b+#"}, ()),  # data, not a topic
        ({"serviceName": 5}, {}, ("serviceName: expected a string, got number",)),
        ({"containerId": "3f2a9c"}, {"container_id": "3f2a9c"}, ()),
        ({"containerId": []}, {}, ("containerId: expected a string, got array",)),
        ({"isStdErr": True}, {"is_stderr": True}, ()),
        ({"isStdErr": False}, {"is_stderr": False}, ()),
        ({"isStdErr": "true"}, {}, ("isStdErr: expected a boolean, got string",)),
        ({"isStdErr": 1}, {}, ("isStdErr: expected a boolean, got number",)),
        ({"isSystem": True}, {"is_system": True}, ()),
        ({"isSystem": 0}, {}, ("isSystem: expected a boolean, got number",)),
        ({"source": {"type": "system"}}, {"source_type": "system"}, ()),
        (
            {"source": {"type": "container", "name": "web"}},
            {"source_type": "container", "source_name": "web"},
            (),
        ),
        ({"source": {"type": "docker"}}, {"source_type": "docker"}, ()),
        ({"source": {"type": ""}}, {"source_type": SourceType.OTHER}, ()),
        ({"source": {"name": "n"}}, {"source_name": "n"}, ()),
        ({"source": {}}, {}, ()),
        ({"source": "container"}, {}, ("source: expected an object, got string",)),
        ({"source": ["container"]}, {}, ("source: expected an object, got array",)),
        ({"extra": [1, 2], "isStdErr": None}, {}, ()),
        (
            {"timestamp": None, "serviceId": None, "serviceName": None, "source": None},
            {},
            (),
        ),
        (
            {"timestamp": "x", "serviceId": "1", "serviceName": 1, "isSystem": "no"},
            {},
            (
                "timestamp: expected a number, got string",
                "serviceId: number sent as a string",
                "serviceName: expected a string, got number",
                "isSystem: expected a boolean, got string",
            ),
        ),
    ],
)
def test_log_fields(
    fields: dict[str, object], expected: dict[str, object], problems: tuple[str, ...]
) -> None:
    stream = PROTOCOL.parse(WEB, log_payload(**fields))
    assert stream.logs == (dataclasses.replace(MINIMAL_LOG, **expected),)
    assert stream.problems == problems


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"type": 5}, {}),
        ({"type": "system", "name": 5}, {"source_type": "system"}),
        ({"type": [], "name": "n"}, {"source_name": "n"}),
    ],
)
def test_wrong_types_inside_source_are_problems(
    source: dict[str, object], expected: dict[str, object]
) -> None:
    stream = PROTOCOL.parse(WEB, log_payload(source=source))
    assert stream.logs == (dataclasses.replace(MINIMAL_LOG, **expected),)
    assert len(stream.problems) == 1
    assert ": expected a string, got " in stream.problems[0]


def test_problems_inside_source_name_the_source_field() -> None:
    single = PROTOCOL.parse(WEB, log_payload(source={"type": 5, "name": True}))
    assert single.problems == (
        "source.type: expected a string, got number",
        "source.name: expected a string, got boolean",
    )
    batch = PROTOCOL.parse(
        f"{WEB}/batch",
        dumps({"count": 1, "logs": [{"message": "m", "level": "info", "source": {"type": 5}}]}),
    )
    assert batch.problems == ("logs[0].source.type: expected a string, got number",)


def test_whole_numbers_are_64_bit_and_timestamps_end_with_the_year_9999() -> None:
    # Found by the fuzz tier: a warning with timestamp 1e20 broke its "last problem" sensor
    # (no date that late), and whole numbers beyond 64 bits made over-long states.
    last_ms = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
    stream = PROTOCOL.parse(WEB, log_payload(timestamp=last_ms, serviceId=2**63 - 1))
    assert (stream.logs[0].timestamp, stream.logs[0].service_id) == (last_ms, 2**63 - 1)
    assert stream.problems == ()
    stream = PROTOCOL.parse(WEB, log_payload(timestamp=last_ms + 1, serviceId=1e20))
    assert (stream.logs[0].timestamp, stream.logs[0].service_id) == (None, None)
    assert stream.problems == (
        f"timestamp: expected a whole number <= {last_ms}",
        f"serviceId: expected a whole number <= {2**63 - 1}",
    )
    stream = PROTOCOL.parse(WEB, log_payload(serviceId=-1e20))
    assert stream.logs[0].service_id is None
    assert stream.problems == (f"serviceId: expected a whole number >= {INT64_MIN}",)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"message":"m","level":"info","timestamp":NaN}', "payload contains NaN or Infinity"),
        (
            b'{"message":"m","level":"info","serviceId":Infinity}',
            "payload contains NaN or Infinity",
        ),
        (
            b'{"message":"m","level":"info","serviceId":-Infinity}',
            "payload contains NaN or Infinity",
        ),
        (b'{"message":"m","level":"info","timestamp":1e400}', "payload contains NaN or Infinity"),
        (b'{"count":NaN,"logs":[]}', "payload contains NaN or Infinity"),
        (b'{"message":"\xff","level":"info"}', "payload is not valid UTF-8"),
        (b'{"message":"caf\xc3","level":"info"}', "payload is not valid UTF-8"),
        (b"[]", "expected a JSON object, got array"),
        (b'"info"', "expected a JSON object, got string"),
        (b"null", "expected a JSON object, got null"),
        (b"1001", "expected a JSON object, got number"),
    ],
)
def test_undecodable_payloads_raise(payload: bytes, reason: str) -> None:
    assert reason_of(WEB, payload) == reason
    assert reason_of(f"{WEB}/batch", payload) == reason


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"Server started",
        b"\xef\xbb\xbf" + MINIMAL,  # a byte-order mark
        b'{"message":"m","level":"info"',
        b'{"message":"m","level":"info",}',
        b"{'message':'m','level':'info'}",
        MINIMAL + b"\n" + MINIMAL,  # two logs in one message
    ],
)
def test_invalid_json_raises(payload: bytes) -> None:
    assert reason_of(WEB, payload).startswith("invalid JSON (")
    assert reason_of(f"{WEB}/batch", payload).startswith("invalid JSON (")


def test_oversized_payloads_raise() -> None:
    payload = log_payload(message="x" * MAX_PAYLOAD_BYTES)
    assert reason_of(WEB, payload) == f"payload of {len(payload)} bytes exceeds 64 KiB"
    batch = dumps({"count": 2, "logs": [{"message": "x" * 40000, "level": "info"}] * 2})
    assert reason_of(f"{WEB}/batch", batch) == f"payload of {len(batch)} bytes exceeds 64 KiB"


def test_a_payload_of_exactly_64_kib_is_read() -> None:
    padding = MAX_PAYLOAD_BYTES - len(log_payload(message=""))
    payload = log_payload(message="x" * padding)
    assert len(payload) == MAX_PAYLOAD_BYTES
    assert PROTOCOL.parse(WEB, payload).logs[0].message == "x" * padding


# --- parse: batches -------------------------------------------------------------------


def test_the_backends_batch_is_read_back() -> None:
    second = dataclasses.replace(EXAMPLE_LOG, message="GET /", is_stderr=True)
    outgoing = one_batch(WEB, [EXAMPLE_LOG, second])
    assert PROTOCOL.parse(outgoing.topic, outgoing.payload) == LogStream(
        source="1:web",
        app_id="1",
        service_name="web",
        logs=(EXAMPLE_LOG, second),
    )


def test_bad_entries_are_problems_and_good_ones_are_kept_in_order() -> None:
    payload = dumps(
        {
            "count": 7,
            "logs": [
                {"message": "a", "level": "info"},
                1,
                {"level": "trace", "message": "b"},
                None,
                {"message": "c", "level": "FATAL", "timestamp": -1, "isStdErr": "no"},
                {},
                {"message": "d", "level": "warning"},
            ],
        }
    )
    stream = PROTOCOL.parse(f"{BASE}/system/info/batch", payload)
    assert stream.logs == (
        LogMessage(message="a", level=Level.INFO),
        LogMessage(message="c", level=Level.ERROR),
        LogMessage(message="d", level=Level.WARN),
    )
    assert stream.problems == (
        "logs[1]: expected an object",
        "logs[2].level: unknown level 'trace'",
        "logs[3]: expected an object",
        "logs[4].timestamp: expected a whole number >= 0",
        "logs[4].isStdErr: expected a boolean, got string",
        "logs[5].message and level are required",
    )
    assert (stream.source, stream.app_id, stream.service_name) == ("system", None, None)


def test_a_batch_of_only_bad_entries_has_no_logs() -> None:
    stream = PROTOCOL.parse(f"{WEB}/batch", dumps({"count": 2, "logs": ["x", {"message": 1}]}))
    assert stream.logs == ()
    assert stream.problems == (
        "logs[0]: expected an object",
        "logs[1].message: expected a string, got number",
    )


@pytest.mark.parametrize(
    ("count", "entries", "problems"),
    [
        (0, 0, ()),
        (3, 3, ()),
        (3.0, 3, ()),
        (2, 3, ("count: 2 but 3 logs",)),
        (4, 3, ("count: 4 but 3 logs",)),
        (1, 0, ("count: 1 but 0 logs",)),
        (None, 3, ()),
        ("3", 3, ("count: number sent as a string",)),
        (-1, 0, ("count: expected a whole number >= 0",)),
        (1.5, 1, ("count: expected a whole number >= 0",)),
        (True, 1, ("count: expected a number, got boolean",)),
    ],
)
def test_batch_count(count: object, entries: int, problems: tuple[str, ...]) -> None:
    body: dict[str, object] = {"logs": [{"message": "m", "level": "info"}] * entries}
    if count is not None:
        body["count"] = count
    stream = PROTOCOL.parse(f"{WEB}/batch", dumps(body))
    assert stream.logs == (MINIMAL_LOG,) * entries
    assert stream.problems == problems


def test_count_counts_entries_not_good_logs() -> None:
    stream = PROTOCOL.parse(f"{WEB}/batch", dumps({"count": 2, "logs": [{}, MINIMAL_LOG_BODY]}))
    assert stream.logs == (MINIMAL_LOG,)
    assert stream.problems == ("logs[0].message and level are required",)


@pytest.mark.parametrize(
    "payload",
    [
        b"{}",
        b'{"count":0}',
        b'{"count":1,"logs":null}',
        b'{"count":1,"logs":{"0":{"message":"m","level":"info"}}}',
        b'{"count":1,"logs":"m"}',
        b'{"count":1,"logs":1}',
        MINIMAL,  # a single log on a batch topic
    ],
)
def test_logs_that_are_not_a_list_are_refused(payload: bytes) -> None:
    assert reason_of(f"{WEB}/batch", payload) == "logs: expected an array"


def test_batch_entries_keep_their_own_levels() -> None:
    payload = dumps({"count": 2, "logs": [MINIMAL_LOG_BODY, {"message": "e", "level": "error"}]})
    stream = PROTOCOL.parse(f"{BASE}/1/web/debug/batch", payload)
    assert [log.level for log in stream.logs] == [Level.INFO, Level.ERROR]
