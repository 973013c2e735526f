"""Property tests for container logs: MqttLogBackend's buildTopic and JSON.stringify, round trips.

The reference functions below transliterate MqttLogBackend's JavaScript to Python,
number semantics included: serviceId is a double, `Math.floor` keeps it a double and
`toString` prints it the way JavaScript does.
"""

from __future__ import annotations

from decimal import Decimal
import json
import math
import shutil
import subprocess

from hypothesis import example, given, settings, strategies as st
import orjson
import pytest

from custom_components.mqtt_fleet.protocol.container_logs import (
    ContainerLogsProtocol,
    Level,
    LogMessage,
    LogStream,
    SourceType,
    app_id_for,
    read_level,
)
from custom_components.mqtt_fleet.protocol.payload import InvalidMessage, display_text
from custom_components.mqtt_fleet.protocol.topics import UnsafeIdError, is_safe_id

BASE = "container-manager/logs"
PROTOCOL = ContainerLogsProtocol(BASE)
MAX_SAFE_INTEGER = 2**53 - 1  # Number.MAX_SAFE_INTEGER

# database=None: no .hypothesis directory is written into the checkout.
FAST = settings(max_examples=200, deadline=None, database=None)

# --- the backend's JavaScript, in Python ----------------------------------------------


def js_truthy(value: object) -> bool:
    """JavaScript truthiness for the values a LogMessage field holds (None is undefined)."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float):
        return not math.isnan(value) and value != 0  # NaN, 0 and -0 are falsy
    if isinstance(value, str):
        return value != ""
    return True


def js_floor(value: float) -> float:
    """Math.floor: a double stays a double (infinities included)."""
    return value if math.isinf(value) or math.isnan(value) else float(math.floor(value))


def js_number_to_string(value: float) -> str:
    """Number.prototype.toString() for the whole numbers Math.floor returns.

    JavaScript prints the shortest digits that read back as the same double (as Python's
    repr does), padded with zeros below 1e21 and in exponent form (`1e+21`) from there on.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    if abs(value) < 1e21:
        return format(Decimal(repr(value)).normalize(), "f")
    return repr(value)  # '1e+21', '-1.5e+22': the same form in both languages


def js_app_id(service_id: float | None) -> str:
    """`message.serviceId ? Math.floor(message.serviceId / 1000) : 'unknown'`, as a string."""
    if not js_truthy(service_id):
        return "unknown"
    assert service_id is not None
    return js_number_to_string(js_floor(float(service_id) / 1000))


def js_build_topic(base: str, log: LogMessage) -> str:
    """MqttLogBackend.buildTopic, line for line:

    private buildTopic(message: LogMessage): string {
        const parts = [this.options.baseTopic];
        if (message.source.type === 'container' && message.serviceName) {
            const appId = message.serviceId ? Math.floor(message.serviceId / 1000) : 'unknown';
            parts.push(appId.toString(), message.serviceName);
        } else if (message.source.type === 'system') {
            parts.push('system');
        } else if (message.source.type === 'manager') {
            parts.push('manager');
        } else {
            parts.push('other');
        }
        parts.push(message.level);
        return parts.join('/');
    }
    """
    parts = [base]
    if log.source_type == "container" and js_truthy(log.service_name):
        assert log.service_name is not None
        parts.extend([js_app_id(log.service_id), log.service_name])
    elif log.source_type == "system":
        parts.append("system")
    elif log.source_type == "manager":
        parts.append("manager")
    else:
        parts.append("other")
    parts.append(log.level.value)
    return "/".join(parts)


def js_log_object(log: LogMessage) -> dict[str, object]:
    """The LogMessage object the backend stringifies, built field by field.

    `undefined` fields (None here) are left out by JSON.stringify.
    """
    source: dict[str, object] = {"type": str(log.source_type), "name": log.source_name}
    message: dict[str, object] = {
        "message": log.message,
        "timestamp": log.timestamp,
        "level": log.level.value,
        "source": {key: value for key, value in source.items() if value is not None},
        "serviceId": log.service_id,
        "serviceName": log.service_name,
        "containerId": log.container_id,
        "isStdErr": log.is_stderr,
        "isSystem": log.is_system,
    }
    return {key: value for key, value in message.items() if value is not None}


def json_stringify(value: object) -> bytes:
    """JSON.stringify for strings without lone surrogates, ints, booleans, lists and dicts.

    Compact, raw UTF-8, and `\\n`-style or lower-case `\\u00XX` escapes for controls only:
    Python's json module with ensure_ascii=False writes exactly that.
    """
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


# --- strategies -----------------------------------------------------------------------

NAME_WORDS = ["web", "redis", "db-1", "0", "unknown", "batch", "system", "info", "Web Server"]
safe_names = st.one_of(
    st.sampled_from(NAME_WORDS),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=16).filter(is_safe_id),
)
unsafe_names = st.one_of(
    st.sampled_from(
        [
            "a/b",
            "/",
            "+",
            "#",
            "we+b",
            "web#",
            "\x00",
            "we\x00b",
            "\n",
            "x" * 129,
            ".",
            "..",
            "$SYS",
        ]
    ),
    st.text(min_size=1, max_size=8).filter(lambda name: not is_safe_id(name)),
)
any_names = st.one_of(st.none(), st.just(""), safe_names, unsafe_names)
source_types = st.one_of(
    st.sampled_from(SourceType),
    st.sampled_from(["container", "system", "manager", "other", "Container", "docker", ""]),
    st.text(max_size=10),
)
# serviceIds as JavaScript numbers: safe integers, documented examples, zeros and fractions.
js_service_ids = st.one_of(
    st.none(),
    st.sampled_from([0, 0.0, -0.0, 1, 999, 1000, 1001, 1999, 2500, -1, -1000, -1001, -1500]),
    st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
    st.floats(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER),
)
# Whole numbers as far as orjson writes them and parse reads them back exactly.
JSON_TIMESTAMPS = st.integers(min_value=0, max_value=253_402_300_799_999)  # to the year 9999
JSON_SERVICE_IDS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
texts = st.text(max_size=24)
optional_texts = st.one_of(st.none(), texts)
optional_booleans = st.one_of(st.none(), st.booleans())


@st.composite
def js_logs(draw: st.DrawFn) -> LogMessage:
    """LogMessages as the backend may hold them, unsafe service names and fractional ids too."""
    return LogMessage(
        message=draw(texts),
        level=draw(st.sampled_from(Level)),
        source_type=draw(source_types),
        service_id=draw(js_service_ids),
        service_name=draw(any_names),
    )


@st.composite
def valid_logs(
    draw: st.DrawFn,
    timestamps: st.SearchStrategy[int] = JSON_TIMESTAMPS,
    service_ids: st.SearchStrategy[int] = JSON_SERVICE_IDS,
) -> LogMessage:
    """Any LogMessage single() can publish: a container's service name is a safe id."""
    # parse reads an empty type as `other`; any other type comes back as sent.
    source_type = draw(source_types.filter(bool))
    service_name = draw(st.one_of(st.none(), safe_names, texts))
    if source_type == SourceType.CONTAINER and service_name and not is_safe_id(service_name):
        service_name = draw(safe_names)
    return LogMessage(
        message=draw(texts),
        level=draw(st.sampled_from(Level)),
        timestamp=draw(st.one_of(st.none(), timestamps)),
        source_type=source_type,
        source_name=draw(optional_texts),
        service_id=draw(st.one_of(st.none(), service_ids)),
        service_name=service_name,
        container_id=draw(optional_texts),
        is_stderr=draw(optional_booleans),
        is_system=draw(optional_booleans),
    )


def expected_source(log: LogMessage) -> tuple[str, str | None, str | None]:
    """The (source, app_id, service_name) a log's topic names."""
    if log.source_type == SourceType.CONTAINER and log.service_name:
        app_id = app_id_for(log.service_id)
        return f"{app_id}:{log.service_name}", app_id, log.service_name
    if log.source_type in (SourceType.SYSTEM, SourceType.MANAGER):
        return str(log.source_type), None, None
    return "other", None, None


# --- the reference itself -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-2.0, "-2"),
        (1e20, "100000000000000000000"),
        (2.0**60, "1152921504606847000"),  # shortest digits, padded with zeros
        (1e21, "1e+21"),
        (-1.5e22, "-1.5e+22"),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
    ],
)
def test_reference_number_to_string_is_javascripts(value: float, text: str) -> None:
    assert js_number_to_string(value) == text


def test_reference_truthiness_is_javascripts() -> None:
    assert [js_truthy(v) for v in (None, False, 0, 0.0, -0.0, math.nan, "")] == [False] * 7
    assert [js_truthy(v) for v in (True, 1, -1, 0.5, math.inf, "0", " ")] == [True] * 7


# --- topic_for against buildTopic -----------------------------------------------------


@FAST
@given(log=js_logs(), base=st.sampled_from([BASE, "logs", "a/b/c"]))
@example(log=LogMessage(message="m", level=Level.INFO, source_type="container"), base=BASE)
def test_topic_for_is_the_backends_build_topic(log: LogMessage, base: str) -> None:
    protocol = PROTOCOL if base == BASE else ContainerLogsProtocol(base)
    expected = js_build_topic(base, log)
    if log.source_type == "container" and log.service_name and not is_safe_id(log.service_name):
        # Where the backend would publish a name with / + # or NUL in it, nothing is published.
        with pytest.raises(UnsafeIdError):
            protocol.topic_for(log)
        with pytest.raises(UnsafeIdError):
            protocol.single(log)
        return
    assert protocol.topic_for(log) == expected


@FAST
@given(service_id=js_service_ids)
@example(service_id=1001)
@example(service_id=-1500)
@example(service_id=-0.0)
@example(service_id=5e-324)
@example(service_id=-5e-324)
def test_app_id_for_is_the_backends_app_id(service_id: float | None) -> None:
    assert app_id_for(service_id) == js_app_id(service_id)


@FAST
@given(service_id=st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER))
def test_app_id_for_ints_is_integer_floor_division(service_id: int) -> None:
    assert app_id_for(service_id) == ("unknown" if service_id == 0 else str(service_id // 1000))


# --- single and batch against JSON.stringify ------------------------------------------


@FAST
@given(
    # JavaScript holds integers exactly only up to 2**53 (forward_log's limit too).
    log=valid_logs(service_ids=st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER))
)
def test_single_payload_is_json_stringify(log: LogMessage) -> None:
    message = PROTOCOL.single(log)
    assert message.payload == json_stringify(js_log_object(log))
    assert message.topic == js_build_topic(BASE, log)
    assert (message.qos, message.retain) == (1, False)


@FAST
@given(
    logs=st.lists(valid_logs(), min_size=1, max_size=6),
    qos=st.sampled_from([0, 1, 2]),
    topic=st.sampled_from([f"{BASE}/1/web/info", f"{BASE}/system/error", f"{BASE}/other/debug"]),
)
def test_batch_payload_is_json_stringify(logs: list[LogMessage], qos: int, topic: str) -> None:
    [(message, count)] = PROTOCOL.batches(topic, logs, qos)
    assert count == len(logs)
    body = {"count": len(logs), "logs": [js_log_object(log) for log in logs]}
    assert message.payload == json_stringify(body)
    assert (message.topic, message.qos, message.retain) == (f"{topic}/batch", qos, False)


# --- round trips ----------------------------------------------------------------------


@FAST
@given(log=valid_logs())
def test_single_round_trip(log: LogMessage) -> None:
    message = PROTOCOL.single(log)
    source, app_id, service_name = expected_source(log)
    assert PROTOCOL.parse(message.topic, message.payload) == LogStream(
        source=source,
        app_id=app_id,
        service_name=service_name,
        logs=(log,),
        problems=(),
    )


@FAST
@given(first=valid_logs(), rest=st.lists(valid_logs(), max_size=6))
def test_batch_round_trip(first: LogMessage, rest: list[LogMessage]) -> None:
    logs = [first, *rest]
    [(message, _)] = PROTOCOL.batches(PROTOCOL.topic_for(first), logs)
    source, app_id, service_name = expected_source(first)
    assert PROTOCOL.parse(message.topic, message.payload) == LogStream(
        source=source,
        app_id=app_id,
        service_name=service_name,
        logs=tuple(logs),
        problems=(),
    )


@FAST
@given(log=valid_logs(), size=st.integers(min_value=1, max_value=50))
def test_backend_sized_batches_of_one_topic_round_trip(log: LogMessage, size: int) -> None:
    logs = [log] * size
    [(message, _)] = PROTOCOL.batches(PROTOCOL.topic_for(log), logs)
    stream = PROTOCOL.parse(message.topic, message.payload)
    assert (stream.logs, stream.problems) == (tuple(logs), ())


# --- levels ---------------------------------------------------------------------------

LEVEL_NAMES = {
    "debug": Level.DEBUG,
    "info": Level.INFO,
    "warn": Level.WARN,
    "warning": Level.WARN,
    "error": Level.ERROR,
    "fatal": Level.ERROR,
}


@FAST
@given(name=st.sampled_from(sorted(LEVEL_NAMES)), data=st.data())
def test_read_level_ignores_case(name: str, data: st.DataObject) -> None:
    flips = data.draw(st.lists(st.booleans(), min_size=len(name), max_size=len(name)))
    cased = "".join(c.upper() if flip else c for c, flip in zip(name, flips, strict=True))
    assert read_level(cased) is LEVEL_NAMES[name]


@FAST
@given(name=st.text(max_size=10))
def test_read_level_knows_only_the_six_names(name: str) -> None:
    assert read_level(name) is LEVEL_NAMES.get(name.lower())


@FAST
@given(levels=st.lists(st.sampled_from(Level), min_size=2, max_size=2))
def test_rank_order_is_declaration_order(levels: list[Level]) -> None:
    first, second = levels
    order = list(Level)
    assert (first.rank < second.rank) == (order.index(first) < order.index(second))


# --- robustness -----------------------------------------------------------------------

topic_levels = st.one_of(
    st.sampled_from(
        [
            "1",
            "0",
            "-2",
            "1.5",
            "unknown",
            "web",
            "system",
            "manager",
            "other",
            "container",
            "batch",
            "info",
            "WARNING",
            "fatal",
            "trace",
            "",
            "+",
            "#",
            "\x00",
            "x" * 129,
            ".",
            "$SYS",
            " web  1 ",
            "\x1b[1mweb",
        ]
    ),
    st.text(max_size=6),
)
topics = st.one_of(
    st.lists(topic_levels, max_size=6).map(lambda levels: "/".join([BASE, *levels])),
    st.text(max_size=40),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["debug", "info", "warn", "warning", "error", "FATAL", "container", ""]),
)
json_keys = st.one_of(
    st.sampled_from(
        [
            "message",
            "level",
            "timestamp",
            "source",
            "type",
            "name",
            "serviceId",
            "serviceName",
            "containerId",
            "isStdErr",
            "isSystem",
            "count",
            "logs",
        ]
    ),
    st.text(max_size=4),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(json_keys, children, max_size=6)
    ),
    max_leaves=24,
)
payloads = st.one_of(
    st.dictionaries(json_keys, json_values, max_size=8).map(orjson.dumps),
    st.lists(valid_logs(), max_size=3).map(
        lambda logs: orjson.dumps(
            {"count": len(logs), "logs": [json.loads(PROTOCOL.single(log).payload) for log in logs]}
        )
    ),
    st.binary(max_size=40),
)


@FAST
@given(topic=topics, payload=payloads)
def test_parse_returns_a_stream_or_raises_invalid_message(topic: str, payload: bytes) -> None:
    try:
        stream = PROTOCOL.parse(topic, payload)
    except InvalidMessage as err:
        reason: str | None = err.reason
    else:
        reason = None
    if reason is not None:
        assert isinstance(reason, str)
        assert reason
        return
    assert topic.startswith(f"{BASE}/")
    batch = topic.endswith("/batch")
    assert read_level(topic.split("/")[-2 if batch else -1]) is not None
    assert all(isinstance(log.level, Level) for log in stream.logs)
    assert all(isinstance(log.message, str) for log in stream.logs)
    assert all(isinstance(problem, str) and problem for problem in stream.problems)
    if stream.app_id is None:
        assert stream.source in ("system", "manager", "other")
        assert stream.service_name is None
    else:
        assert is_safe_id(stream.service_name)
        # It names a device, as sent: a safe id holds nothing display text drops but spaces.
        shown = display_text(stream.service_name) or ""
        assert shown == " ".join(stream.service_name.split())
        assert stream.source == f"{stream.app_id}:{stream.service_name}"
    if not batch:
        assert len(stream.logs) == 1


@FAST
@given(log=js_logs().filter(lambda log: not log.service_name or is_safe_id(log.service_name)))
def test_every_topic_the_backend_publishes_for_js_safe_ids_is_read(log: LogMessage) -> None:
    topic = js_build_topic(BASE, log)
    for suffix in ("", "/batch"):
        payload = b'{"count":0,"logs":[]}' if suffix else b'{"message":"m","level":"info"}'
        stream = PROTOCOL.parse(topic + suffix, payload)
        assert read_level(topic.rsplit("/", 1)[1]) is log.level
        if log.source_type == "container" and log.service_name:
            app_id = js_app_id(log.service_id)
            expected = (f"{app_id}:{log.service_name}", app_id, log.service_name)
        elif log.source_type in ("system", "manager"):
            expected = (str(log.source_type), None, None)
        else:
            expected = ("other", None, None)
        assert (stream.source, stream.app_id, stream.service_name) == expected


# --- the backend's own JavaScript, where node is installed ----------------------------

NODE = shutil.which("node")
# buildTopic and the payload of MqttLogBackend's publishSingle, types removed.
BACKEND_JS = r"""
function buildTopic(baseTopic, message) {
    const parts = [baseTopic];
    if (message.source.type === 'container' && message.serviceName) {
        const appId = message.serviceId ? Math.floor(message.serviceId / 1000) : 'unknown';
        parts.push(appId.toString(), message.serviceName);
    } else if (message.source.type === 'system') {
        parts.push('system');
    } else if (message.source.type === 'manager') {
        parts.push('manager');
    } else {
        parts.push('other');
    }
    parts.push(message.level);
    return parts.join('/');
}
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.logs.map((message) => [buildTopic(input.base, message), JSON.stringify(message)]);
process.stdout.write(JSON.stringify(out));
"""
NODE_RUNS = settings(max_examples=10, deadline=None, database=None)
js_safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)


def run_backend(logs: list[LogMessage]) -> list[tuple[str, bytes]]:
    """Each log's topic and payload as the backend's JavaScript makes them."""
    assert NODE is not None
    request = json.dumps({"base": BASE, "logs": [js_log_object(log) for log in logs]})
    result = subprocess.run(  # noqa: S603 - a fixed script on our own input
        [NODE, "-e", BACKEND_JS],
        input=request.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    return [(topic, payload.encode()) for topic, payload in json.loads(result.stdout)]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@NODE_RUNS
@given(logs=st.lists(js_logs(), min_size=1, max_size=40))
def test_topic_for_is_what_node_runs_the_backend_to(logs: list[LogMessage]) -> None:
    for log, (topic, _) in zip(logs, run_backend(logs), strict=True):
        assert js_build_topic(BASE, log) == topic
        if log.source_type == "container" and log.service_name and not is_safe_id(log.service_name):
            continue
        assert PROTOCOL.topic_for(log) == topic


@pytest.mark.skipif(NODE is None, reason="node is not installed")
@NODE_RUNS
@given(
    logs=st.lists(
        valid_logs(timestamps=js_safe_ints.filter(lambda n: n >= 0), service_ids=js_safe_ints),
        min_size=1,
        max_size=40,
    )
)
def test_single_is_what_node_runs_the_backend_to(logs: list[LogMessage]) -> None:
    for log, expected in zip(logs, run_backend(logs), strict=True):
        message = PROTOCOL.single(log)
        assert (message.topic, message.payload) == expected
