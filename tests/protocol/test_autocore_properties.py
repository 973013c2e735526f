"""Property tests for the AutoCore protocol: robustness, round trips and id safety."""

from __future__ import annotations

import json
import unicodedata

from hypothesis import given, settings, strategies as st
import orjson
import pytest

from custom_components.mqtt_fleet.protocol.autocore import (
    KNOWN_TELEMETRY,
    MAX_RELAY,
    AutoCoreMessage,
    AutoCoreProtocol,
    DeviceCommand,
    DeviceStatus,
    Layout,
    RelayState,
    RelayStates,
    SafetyShutoff,
    Telemetry,
)
from custom_components.mqtt_fleet.protocol.payload import InvalidMessage, display_text
from custom_components.mqtt_fleet.protocol.topics import (
    MAX_ID_LENGTH,
    UnsafeIdError,
    base_topic_problem,
    is_safe_id,
)

A = Layout.MONITOR
B = Layout.FIRMWARE_V2
PROTOCOL = AutoCoreProtocol("autocore")

# database=None: no .hypothesis directory is written into the checkout.
FAST = settings(max_examples=200, deadline=None, database=None)

# Unicode categories that are never printable; a space separator other than ' ' neither.
UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# --- strategies -----------------------------------------------------------------------

TOPIC_WORDS = [
    "devices",
    "status",
    "telemetry",
    "relay",
    "relays",
    "state",
    "data",
    "errors",
    "display",
    "interaction",
    "system",
    "set",
    "0",
    "1",
    "01",
    "255",
    "256",
    "-1",
    "\u0661",
    "",
    "+",
    "#",
    "dev",
    "esp32-504d34313221267d",
]
topic_levels = st.one_of(st.sampled_from(TOPIC_WORDS), st.text(max_size=8))
topics_under_base = st.lists(topic_levels, max_size=6).map(
    lambda levels: "/".join(["autocore", *levels])
)
any_topics = st.one_of(topics_under_base, st.text(max_size=40))

PAYLOAD_KEYS = [
    "status",
    "state",
    "channels",
    "channel",
    "uuid",
    "event",
    "trigger",
    "triggered_by",
    "reason",
    "uptime",
    "wifi_signal",
    "free_memory",
    "memory_free",
    "channels",
    "temperature",
    "humidity",
    "voltage",
    "ip_address",
    "firmware_version",
    "board_id",
    "type",
    "timestamp",
    "device_id",
    "1",
    "16",
    "01",
    "relay_change",
    "safety_shutoff",
]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities included: json.dumps writes them as NaN/Infinity
    st.text(max_size=12),
    st.sampled_from(["online", "offline", "relay_change", "safety_shutoff", "1", "3.5"]),
)
json_keys = st.one_of(st.sampled_from(PAYLOAD_KEYS), st.text(max_size=10))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(json_keys, children, max_size=5),
    ),
    max_leaves=20,
)


@st.composite
def json_payloads(draw: st.DrawFn) -> bytes:
    """Encode an arbitrary JSON value the way a sloppy or a careful sender would."""
    value = draw(st.one_of(st.dictionaries(json_keys, json_values, max_size=8), json_values))
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        indent=draw(st.sampled_from([None, 2])),
    )
    return text.encode("utf-8")


# One topic level the way is_safe_id accepts it (any character but + # / and C0/DEL).
safe_ids = st.text(min_size=1, max_size=MAX_ID_LENGTH).filter(is_safe_id)
bases = (
    st.lists(
        st.text(
            alphabet=st.characters(exclude_characters="+#/", exclude_categories=["Cs"]),
            min_size=1,
            max_size=10,
        ),
        min_size=1,
        max_size=3,
    )
    .map("/".join)
    .filter(lambda base: base_topic_problem(base) is None)
)


def check_invariants(message: AutoCoreMessage) -> None:
    """What every parsed message guarantees to the hub and the entities."""
    assert isinstance(message, AutoCoreMessage)
    assert is_safe_id(message.device_id)
    assert isinstance(message.layout, Layout)
    assert all(isinstance(problem, str) and problem for problem in message.problems)
    if isinstance(message, DeviceStatus):
        assert message.online in (True, False, None)
        assert message.uptime is None or (type(message.uptime) is int and message.uptime >= 0)
        assert message.free_memory is None or (
            type(message.free_memory) is int and message.free_memory >= 0
        )
        # They name the board: display text, which display_text leaves as it is.
        for text in (message.board_id, message.firmware_version):
            assert text is None or (type(text) is str and display_text(text) == text)
        assert message.wifi_signal is None or type(message.wifi_signal) in (int, float)
    elif isinstance(message, Telemetry):
        for value in [*message.values.values(), *message.extra.values()]:
            assert type(value) in (int, float)
            assert value - value == 0  # finite
    elif isinstance(message, RelayState | SafetyShutoff):
        minimum = 0 if message.layout is A else 1
        assert minimum <= message.relay <= MAX_RELAY
        assert type(message.relay) is int
        if isinstance(message, RelayState):
            assert type(message.state) is bool
    elif isinstance(message, RelayStates):
        assert all(1 <= key <= MAX_RELAY for key in message.relays)
        assert all(type(state) is bool for state in message.relays.values())


def parse_or_reason(topic: str, payload: bytes) -> AutoCoreMessage | None:
    """Parse; an InvalidMessage must carry a reason, any other exception fails the test."""
    try:
        message = PROTOCOL.parse(topic, payload)
    except InvalidMessage as err:
        reason = err.reason
    else:
        check_invariants(message)
        return message
    assert isinstance(reason, str)
    assert reason
    return None


# --- (a) parse only ever raises InvalidMessage ----------------------------------------


@FAST
@given(topic=any_topics, payload=st.binary(max_size=300))
def test_parse_arbitrary_bytes_only_raises_invalid_message(topic: str, payload: bytes) -> None:
    parse_or_reason(topic, payload)


@FAST
@given(topic=topics_under_base, payload=json_payloads())
def test_parse_arbitrary_json_only_raises_invalid_message(topic: str, payload: bytes) -> None:
    parse_or_reason(topic, payload)


MESSAGE_TOPICS = [
    "autocore/dev/status",
    "autocore/dev/telemetry",
    "autocore/dev/relay/0/status",
    "autocore/dev/display/interaction",
    "autocore/dev/system/boot",
    "autocore/devices/dev/status",
    "autocore/devices/dev/relays/state",
    "autocore/telemetry/relays/data",
    "autocore/errors/dev/command",
]


@FAST
@given(
    topic=st.sampled_from(MESSAGE_TOPICS),
    payload=json_payloads(),
    uuid=st.one_of(st.just("dev"), json_scalars),
)
def test_parse_every_known_topic_with_arbitrary_json(
    topic: str, payload: bytes, uuid: object
) -> None:
    parse_or_reason(topic, payload)
    # Also the shape the relay event parser digs deepest into.
    event = {"uuid": uuid, "event": "relay_change", "channel": 1, "state": True}
    value = json.loads(payload)
    if isinstance(value, dict):
        event |= value
    parse_or_reason("autocore/telemetry/relays/data", json.dumps(event).encode())


# --- (b) round trips: the command we build, answered by the board, parses back ----------


@FAST
@given(
    base=bases,
    device_id=safe_ids,
    relay=st.integers(min_value=0, max_value=MAX_RELAY),
    state=st.booleans(),
)
def test_layout_a_command_round_trip(base: str, device_id: str, relay: int, *, state: bool) -> None:
    protocol = AutoCoreProtocol(base)
    command = protocol.relay_command(device_id, A, relay, state)
    assert (command.qos, command.retain) == (1, False)
    # The board reads the command and confirms on the status topic next to it.
    body = orjson.loads(command.payload)
    assert body == {"state": state, "source": "home_assistant"}
    assert command.topic.endswith("/set")
    status_topic = command.topic.removesuffix("/set") + "/status"
    answer = orjson.dumps(
        {
            "device_id": device_id,
            "relay_index": relay,
            "state": body["state"],
            "triggered_by": "mqtt",
            "timestamp": "2025-01-28T10:30:30Z",
        }
    )
    assert protocol.parse(status_topic, answer) == RelayState(
        device_id=device_id, layout=A, relay=relay, state=state, problems=()
    )


@FAST
@given(
    base=bases,
    device_id=safe_ids,
    relay=st.integers(min_value=1, max_value=MAX_RELAY),
    state=st.booleans(),
)
def test_layout_b_command_round_trip(base: str, device_id: str, relay: int, *, state: bool) -> None:
    protocol = AutoCoreProtocol(base)
    command = protocol.relay_command(device_id, B, relay, state)
    assert (command.qos, command.retain) == (1, False)
    body = orjson.loads(command.payload)
    assert body["protocol_version"].startswith("2.")
    assert body["command"] in ("on", "off")
    switched_on = body["command"] == "on"
    # The board publishes its retained channel map next to the command topic ...
    assert command.topic.endswith("/relays/set")
    state_topic = command.topic.removesuffix("/set") + "/state"
    answer = orjson.dumps({"uuid": device_id, "channels": {str(body["channel"]): switched_on}})
    assert protocol.parse(state_topic, answer) == RelayStates(
        device_id=device_id, layout=B, relays={relay: state}, problems=()
    )
    # ... and a relay_change event on the shared telemetry topic.
    event = orjson.dumps(
        {
            "uuid": device_id,
            "event": "relay_change",
            "channel": body["channel"],
            "state": switched_on,
            "trigger": "mqtt",
            "source": body["source"],
        }
    )
    assert protocol.parse(f"{base}/telemetry/relays/data", event) == RelayState(
        device_id=device_id, layout=B, relay=relay, state=state, problems=()
    )


@FAST
@given(base=bases, device_id=safe_ids, online=st.booleans())
def test_status_round_trip_for_both_layouts(base: str, device_id: str, *, online: bool) -> None:
    protocol = AutoCoreProtocol(base)
    payload = orjson.dumps({"status": "online" if online else "offline"})
    for topic, layout in (
        (f"{base}/{device_id}/status", A),
        (f"{base}/devices/{device_id}/status", B),
    ):
        assert protocol.parse(topic, payload) == DeviceStatus(
            device_id=device_id, layout=layout, online=online, problems=()
        )


# --- (c) id safety --------------------------------------------------------------------


def reference_is_safe_id(value: object) -> bool:
    """The contract: one non-empty level of printable UTF-8 text without + # /, not a path
    trick (`.`, `..`) and not one of the broker's `$` topics.
    """
    return (
        isinstance(value, str)
        and 1 <= len(value) <= MAX_ID_LENGTH
        and value not in (".", "..")
        and value[:1] != "$"
        and not any(
            char in "+#/"
            or unicodedata.category(char) in UNPRINTABLE_CATEGORIES
            or (unicodedata.category(char) == "Zs" and char != " ")
            for char in value
        )
    )


ids_to_judge = st.one_of(
    st.text(
        alphabet=st.characters(),
        max_size=12,
    ),
    st.text(alphabet="ab+#/ \x00\x01\x1f\x7f\t\n-_.$", max_size=8),
    st.sampled_from([".", "..", "...", "$", "$SYS", "$x", "x$", ".$", " $x"]),
    st.text(alphabet="ab", min_size=MAX_ID_LENGTH - 2, max_size=MAX_ID_LENGTH + 2),
    st.none(),
    st.integers(),
    st.binary(max_size=4),
    st.lists(st.text(max_size=2), max_size=2),
)


@FAST
@given(value=ids_to_judge)
def test_is_safe_id_agrees_with_the_reference(value: object) -> None:
    assert is_safe_id(value) is reference_is_safe_id(value)


@FAST
@given(
    base=bases,
    device_id=safe_ids,
    relay=st.integers(min_value=1, max_value=MAX_RELAY),
    command=st.sampled_from(list(DeviceCommand)),
)
def test_safe_ids_stay_exactly_one_topic_level(
    base: str, device_id: str, relay: int, command: DeviceCommand
) -> None:
    base_levels = base.split("/")
    protocol = AutoCoreProtocol(base)
    custom = AutoCoreProtocol(base, "{base}/x{device_id}y/{relay}")
    expectations = [
        (
            protocol.relay_command(device_id, A, relay, True),
            [*base_levels, device_id, "relay", str(relay), "set"],
        ),
        (
            protocol.relay_command(device_id, B, relay, False),
            [*base_levels, "devices", device_id, "relays", "set"],
        ),
        (
            protocol.device_command(device_id, command),
            [*base_levels, "devices", device_id, "commands", command.value],
        ),
        (
            custom.relay_command(device_id, A, relay, True),
            [*base_levels, f"x{device_id}y", str(relay)],
        ),
    ]
    for message, levels in expectations:
        assert message.topic.split("/") == levels
        assert not any(char in message.topic for char in "+#\x00")
        assert len(message.topic.encode("utf-8")) <= 65535


@FAST
@given(device_id=st.text(max_size=MAX_ID_LENGTH + 4).filter(lambda value: not is_safe_id(value)))
def test_unsafe_ids_never_produce_a_topic(device_id: str) -> None:
    with pytest.raises(UnsafeIdError):
        PROTOCOL.relay_command(device_id, A, 0, True)
    with pytest.raises(UnsafeIdError):
        PROTOCOL.relay_command(device_id, B, 1, True)
    with pytest.raises(UnsafeIdError):
        PROTOCOL.device_command(device_id, DeviceCommand.STATUS)


# --- (d) telemetry --------------------------------------------------------------------

# Any finite float: not uptime or free memory, which are whole numbers (as in the status).
telemetry_keys = st.one_of(
    st.sampled_from(sorted(set(KNOWN_TELEMETRY) - {"uptime", "memory_free", "free_memory"})),
    st.from_regex(r"[A-Za-z0-9_.\-]{1,64}", fullmatch=True).filter(
        lambda key: key not in {"device_id", "uuid", "timestamp"}
    ),
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)


@FAST
@given(
    device_id=safe_ids,
    readings=st.dictionaries(telemetry_keys, finite_floats, max_size=12),
    pretty=st.booleans(),
)
def test_telemetry_of_finite_floats_parses_exactly(
    device_id: str, readings: dict[str, float], *, pretty: bool
) -> None:
    payload = orjson.dumps(
        {"device_id": device_id, **readings, "timestamp": 1738060215000},
        option=orjson.OPT_INDENT_2 if pretty else None,
    )
    message = PROTOCOL.parse(f"autocore/{device_id}/telemetry", payload)
    assert isinstance(message, Telemetry)
    assert message.device_id == device_id
    assert message.problems == ()
    expected_values: dict[str, float] = {}
    expected_extra: dict[str, float] = {}
    for key, value in readings.items():
        if key in KNOWN_TELEMETRY:
            expected_values[KNOWN_TELEMETRY[key]] = value
        else:
            expected_extra[key] = value
    # float.hex is exact and tells -0.0 from 0.0.
    assert {k: v.hex() for k, v in message.values.items()} == {
        k: v.hex() for k, v in expected_values.items()
    }
    assert {k: v.hex() for k, v in message.extra.items()} == {
        k: v.hex() for k, v in expected_extra.items()
    }
