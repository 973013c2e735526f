"""Tests for protocol/autocore.py: both AutoCore layouts, parsing and building.

Payloads follow docs/protocols.md, section "AutoCore": layout A from the MQTT Monitor
Service, layout B from the AutoCore esp32-relay firmware v2.x.
"""

from __future__ import annotations

import dataclasses
import re

import orjson
import pytest

from custom_components.mqtt_fleet.protocol.autocore import (
    COMMAND_SOURCE,
    DEFAULT_RELAY_COMMAND_TOPIC,
    FIRMWARE_PROTOCOL_VERSION,
    MAX_RELAY,
    AutoCoreMessage,
    AutoCoreProtocol,
    DeviceCommand,
    DeviceStatus,
    DisplayInteraction,
    Layout,
    RelayState,
    RelayStates,
    SafetyShutoff,
    SystemMessage,
    Telemetry,
    relay_topic_template_problem,
)
from custom_components.mqtt_fleet.protocol.payload import MAX_PAYLOAD_BYTES, InvalidMessage
from custom_components.mqtt_fleet.protocol.topics import OutgoingMessage, UnsafeIdError

A = Layout.MONITOR
B = Layout.FIRMWARE_V2
DEVICE = "ESP32_001"
UUID = "esp32-504d34313221267d"
PROTOCOL = AutoCoreProtocol("autocore")


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Match an MQTT topic filter (+ and #) against a topic name."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or level not in ("+", topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


def dumps(value: object) -> bytes:
    return orjson.dumps(value)


# --- realistic payloads ---------------------------------------------------------------

# Layout A ("MQTT Monitor Service"), exactly as its documentation shows it.
MONITOR_STATUS = b"""{
    "device_id": "ESP32_001",
    "status": "online",
    "ip_address": "192.168.1.100",
    "firmware_version": "1.2.0",
    "uptime": 3600,
    "timestamp": "2025-01-28T10:30:00Z"
}"""
MONITOR_TELEMETRY = b"""{
    "device_id": "ESP32_001",
    "temperature": 25.6,
    "humidity": 45.2,
    "voltage": 3.28,
    "memory_free": 45120,
    "timestamp": "2025-01-28T10:30:15Z"
}"""
MONITOR_RELAY = b"""{
    "device_id": "ESP32_001",
    "relay_index": 0,
    "state": true,
    "triggered_by": "manual",
    "timestamp": "2025-01-28T10:30:30Z"
}"""

# Layout B, firmware v2.x. Pretty-printed by the firmware; hard-coded 2.0.0 and 0.0.0.0.
FIRMWARE_STATUS = b"""{
  "protocol_version": "2.2.0",
  "uuid": "esp32-504d34313221267d",
  "timestamp": "2025-08-11T17:30:00Z",
  "status": "online",
  "firmware_version": "2.0.0",
  "ip_address": "0.0.0.0",
  "wifi_signal": -45,
  "free_memory": 200000,
  "uptime": 3600,
  "board_id": "relay-board-1",
  "type": "esp32_relay",
  "channels": 16
}"""
# The LWT is built once at connect, before the clock synced: 1970, and timestamp twice.
FIRMWARE_LWT = b"""{
  "protocol_version": "2.2.0",
  "uuid": "esp32-504d34313221267d",
  "timestamp": "1970-01-01T00:00:07Z",
  "status": "offline",
  "reason": "unexpected_disconnect",
  "last_seen": "1970-01-01T00:00:07Z",
  "timestamp": "1970-01-01T00:00:08Z"
}"""
FIRMWARE_RELAYS_STATE = b"""{
  "uuid": "esp32-504d34313221267d",
  "board_id": "relay-board-1",
  "timestamp": "2025-08-11T17:30:00Z",
  "channels": {
    "1": false, "2": false, "3": true, "4": false, "5": false, "6": false, "7": false,
    "8": false, "9": false, "10": false, "11": false, "12": false, "13": false,
    "14": false, "15": false, "16": true
  }
}"""
FIRMWARE_RELAY_CHANGE = (
    b'{"protocol_version":"2.2.0","uuid":"esp32-504d34313221267d","board_id":"relay-board-1",'
    b'"timestamp":"2025-08-11T17:30:00Z","event":"relay_change","channel":3,"state":true,'
    b'"trigger":"mqtt","source":"api"}'
)
FIRMWARE_SAFETY_SHUTOFF = b"""{
  "uuid": "esp32-504d34313221267d",
  "timestamp": "1970-01-01T00:00:01Z",
  "event": "safety_shutoff",
  "channel": 3,
  "reason": "heartbeat_timeout",
  "timeout": 1.0,
  "timestamp": "2025-08-11T17:30:00Z"
}"""
FIRMWARE_ERROR = (
    b'{"protocol_version":"2.2.0","uuid":"esp32-504d34313221267d",'
    b'"timestamp":"2025-08-11T17:30:00Z","error_code":"ERR_001","error_type":"command",'
    b'"error_message":"Relay command failed"}'
)


# --- 1. every message type parses -----------------------------------------------------


def test_monitor_status_parses_every_field() -> None:
    assert PROTOCOL.parse("autocore/ESP32_001/status", MONITOR_STATUS) == DeviceStatus(
        device_id=DEVICE,
        layout=A,
        online=True,
        ip_address="192.168.1.100",
        firmware_version="1.2.0",
        uptime=3600,
        wifi_signal=None,
        free_memory=None,
        board_id=None,
        problems=(),
    )


def test_monitor_offline_status_parses() -> None:
    payload = dumps({"device_id": DEVICE, "status": "offline", "timestamp": 1738060200000})
    assert PROTOCOL.parse("autocore/ESP32_001/status", payload) == DeviceStatus(
        device_id=DEVICE, layout=A, online=False
    )


def test_monitor_telemetry_parses_every_field() -> None:
    message = PROTOCOL.parse("autocore/ESP32_001/telemetry", MONITOR_TELEMETRY)
    assert message == Telemetry(
        device_id=DEVICE,
        layout=A,
        values={"temperature": 25.6, "humidity": 45.2, "voltage": 3.28, "free_memory": 45120},
        extra={},
        problems=(),
    )


def test_telemetry_with_every_known_key_and_extra_sensors() -> None:
    payload = dumps(
        {
            "device_id": DEVICE,
            "uuid": "ignored",
            "timestamp": 1738060215000,
            "temperature": -4.5,
            "humidity": 0,
            "voltage": 12.1,
            "free_memory": 180000,
            "wifi_signal": -61,
            "uptime": 7200,
            "pressure": 1013.25,
            "co2_ppm": 412,
            "sensor.1-a_B": -0.5,
            "label": "kitchen",
            "flag": True,
            "nested": {"a": 1},
            "list": [1, 2],
            "none": None,
        }
    )
    assert PROTOCOL.parse("autocore/ESP32_001/telemetry", payload) == Telemetry(
        device_id=DEVICE,
        layout=A,
        values={
            "temperature": -4.5,
            "humidity": 0,
            "voltage": 12.1,
            "free_memory": 180000,
            "wifi_signal": -61,
            "uptime": 7200,
        },
        extra={"pressure": 1013.25, "co2_ppm": 412, "sensor.1-a_B": -0.5},
        problems=(),
    )


def test_monitor_relay_status_parses_every_field() -> None:
    assert PROTOCOL.parse("autocore/ESP32_001/relay/0/status", MONITOR_RELAY) == RelayState(
        device_id=DEVICE, layout=A, relay=0, state=True, problems=()
    )


def test_relay_index_comes_from_the_topic_not_the_payload() -> None:
    payload = dumps({"device_id": DEVICE, "relay_index": 0, "state": False})
    assert PROTOCOL.parse("autocore/ESP32_001/relay/255/status", payload) == RelayState(
        device_id=DEVICE, layout=A, relay=255, state=False
    )


def test_display_interaction_keeps_the_free_form_object() -> None:
    data = {"screen": "main", "element": "relay_1", "action": "press", "value": [1, None]}
    message = PROTOCOL.parse("autocore/ESP32_001/display/interaction", dumps(data))
    assert message == DisplayInteraction(device_id=DEVICE, layout=A, data=data, problems=())


@pytest.mark.parametrize(
    ("kind", "payload", "expected"),
    [
        (
            "boot",
            b'{"reason": "power_on", "version": "1.2.0"}',
            {"reason": "power_on", "version": "1.2.0"},
        ),
        ("ota", b'"downloading"', "downloading"),
        ("error", b"[1, 2]", [1, 2]),
        ("heartbeat", b"42", 42),
        ("empty", b"null", None),
    ],
)
def test_system_message_keeps_any_json(kind: str, payload: bytes, expected: object) -> None:
    message = PROTOCOL.parse(f"autocore/ESP32_001/system/{kind}", payload)
    assert message == SystemMessage(
        device_id=DEVICE, layout=A, kind=kind, payload=expected, error_type=None, problems=()
    )


def test_firmware_status_parses_every_field() -> None:
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/status", FIRMWARE_STATUS)
    assert message == DeviceStatus(
        device_id=UUID,
        layout=B,
        online=True,
        ip_address=None,  # the firmware's hard-coded 0.0.0.0 names no host
        firmware_version="2.0.0",
        uptime=3600,
        wifi_signal=-45,
        free_memory=200000,
        board_id="relay-board-1",
        problems=(),
    )


@pytest.mark.parametrize("address", ["0.0.0.0", "", "  ", "::", " 0.0.0.0 "])
def test_status_address_that_names_no_host_is_unknown(address: str) -> None:
    payload = dumps({"status": "online", "ip_address": address})
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/status", payload)
    assert isinstance(message, DeviceStatus)
    assert message.ip_address is None
    assert message.problems == ()


@pytest.mark.parametrize("address", ["10.0.0.7", "fe80::1", "board.local"])
def test_status_address_is_shown_as_sent(address: str) -> None:
    payload = dumps({"status": "online", "ip_address": address})
    message = PROTOCOL.parse(f"autocore/{DEVICE}/status", payload)
    assert isinstance(message, DeviceStatus)
    assert message.ip_address == address


@pytest.mark.parametrize(("layout", "topic"), [(A, f"autocore/{DEVICE}/status"), (B, None)])
def test_status_texts_that_name_the_board_are_read_as_display_text(
    layout: Layout, topic: str | None
) -> None:
    payload = dumps(
        {
            "status": "online",
            "board_id": "board\x1b[31m 7\x1b[0m\nX",
            "firmware_version": "\u202e2.0.0\x1b]0;pwned\x07\u200b\r\n",
            "ip_address": "10.0.0.1",
        }
    )
    device = DEVICE if layout is A else UUID
    message = PROTOCOL.parse(topic or f"autocore/devices/{UUID}/status", payload)
    assert message == DeviceStatus(
        device_id=device,
        layout=layout,
        online=True,
        ip_address="10.0.0.1",
        firmware_version="2.0.0",
        board_id="board 7 X",
        problems=(),
    )


def test_status_texts_with_nothing_to_show_read_as_not_reported() -> None:
    payload = dumps({"status": "online", "board_id": "\x1b[0m\u202e", "firmware_version": " \n"})
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/status", payload)
    assert message == DeviceStatus(device_id=UUID, layout=B, online=True, problems=())


def test_status_board_id_number_stays_its_digits() -> None:
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/status", dumps({"board_id": 3}))
    assert isinstance(message, DeviceStatus)
    assert message.board_id == "3"


def test_firmware_lwt_with_repeated_timestamp_parses() -> None:
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/status", FIRMWARE_LWT)
    assert message == DeviceStatus(
        device_id=UUID,
        layout=B,
        online=False,
        ip_address=None,
        firmware_version=None,
        uptime=None,
        wifi_signal=None,
        free_memory=None,
        board_id=None,
        reason="unexpected_disconnect",
        problems=(),
    )


def test_firmware_relays_state_parses_every_channel() -> None:
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/relays/state", FIRMWARE_RELAYS_STATE)
    expected = dict.fromkeys(range(1, 17), False) | {3: True, 16: True}
    assert message == RelayStates(device_id=UUID, layout=B, relays=expected, problems=())


def test_firmware_relay_change_parses_every_field() -> None:
    message = PROTOCOL.parse("autocore/telemetry/relays/data", FIRMWARE_RELAY_CHANGE)
    assert message == RelayState(device_id=UUID, layout=B, relay=3, state=True, problems=())


def test_firmware_safety_shutoff_parses_and_keeps_the_last_timestamp() -> None:
    message = PROTOCOL.parse("autocore/telemetry/relays/data", FIRMWARE_SAFETY_SHUTOFF)
    assert message == SafetyShutoff(
        device_id=UUID,
        layout=B,
        relay=3,
        reason="heartbeat_timeout",
        payload={
            "uuid": UUID,
            "timestamp": "2025-08-11T17:30:00Z",
            "event": "safety_shutoff",
            "channel": 3,
            "reason": "heartbeat_timeout",
            "timeout": 1.0,
        },
        problems=(),
    )
    assert isinstance(message, SafetyShutoff)
    assert message.payload["timestamp"] == "2025-08-11T17:30:00Z"


def test_firmware_error_report_parses() -> None:
    message = PROTOCOL.parse(f"autocore/errors/{UUID}/command", FIRMWARE_ERROR)
    assert message == SystemMessage(
        device_id=UUID,
        layout=B,
        kind="error",
        error_type="command",
        payload=orjson.loads(FIRMWARE_ERROR),
        problems=(),
    )


def test_parsed_messages_are_frozen() -> None:
    message = PROTOCOL.parse("autocore/ESP32_001/status", MONITOR_STATUS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.device_id = "other"  # type: ignore[misc]


# --- 2. layout detection --------------------------------------------------------------

RELAY_TRUE = b'{"state": true}'
STATUS_ONLINE = b'{"status": "online"}'
OBJECT = b'{"a": 1}'


@pytest.mark.parametrize(
    ("topic", "payload", "cls", "layout", "device_id"),
    [
        ("autocore/dev1/status", STATUS_ONLINE, DeviceStatus, A, "dev1"),
        ("autocore/dev1/telemetry", OBJECT, Telemetry, A, "dev1"),
        ("autocore/dev1/relay/3/status", RELAY_TRUE, RelayState, A, "dev1"),
        ("autocore/dev1/display/interaction", OBJECT, DisplayInteraction, A, "dev1"),
        ("autocore/dev1/system/boot", OBJECT, SystemMessage, A, "dev1"),
        ("autocore/devices/u1/status", STATUS_ONLINE, DeviceStatus, B, "u1"),
        ("autocore/devices/u1/relays/state", b'{"channels": {}}', RelayStates, B, "u1"),
        (
            "autocore/telemetry/relays/data",
            b'{"uuid": "u1", "event": "relay_change", "channel": 1, "state": true}',
            RelayState,
            B,
            "u1",
        ),
        ("autocore/errors/u1/timeout", OBJECT, SystemMessage, B, "u1"),
        # Layout A boards whose id is one of layout B's fixed words.
        ("autocore/devices/status", STATUS_ONLINE, DeviceStatus, A, "devices"),
        ("autocore/devices/telemetry", OBJECT, Telemetry, A, "devices"),
        ("autocore/devices/relay/0/status", RELAY_TRUE, RelayState, A, "devices"),
        ("autocore/telemetry/telemetry", OBJECT, Telemetry, A, "telemetry"),
        ("autocore/telemetry/status", STATUS_ONLINE, DeviceStatus, A, "telemetry"),
        ("autocore/errors/status", STATUS_ONLINE, DeviceStatus, A, "errors"),
        ("autocore/status/status", STATUS_ONLINE, DeviceStatus, A, "status"),
        # Layout B boards whose uuid is one of layout A's fixed words.
        ("autocore/devices/status/status", STATUS_ONLINE, DeviceStatus, B, "status"),
        ("autocore/devices/relay/relays/state", b'{"channels": {}}', RelayStates, B, "relay"),
    ],
)
def test_layout_is_told_apart_per_message(
    topic: str, payload: bytes, cls: type[AutoCoreMessage], layout: Layout, device_id: str
) -> None:
    message = PROTOCOL.parse(topic, payload)
    assert type(message) is cls
    assert message.layout is layout
    assert message.device_id == device_id
    assert message.problems == ()


def test_both_layouts_share_one_base() -> None:
    a = PROTOCOL.parse("autocore/ESP32_001/status", MONITOR_STATUS)
    b = PROTOCOL.parse(f"autocore/devices/{UUID}/status", FIRMWARE_STATUS)
    assert (a.layout, a.device_id) == (A, DEVICE)
    assert (b.layout, b.device_id) == (B, UUID)


def test_layout_b_shapes_win_where_the_two_layouts_collide() -> None:
    # A layout A board named "devices" sending system/status looks exactly like a layout B
    # status of a board named "system"; the parser documents that layout B goes first.
    message = PROTOCOL.parse("autocore/devices/system/status", STATUS_ONLINE)
    assert (type(message), message.layout, message.device_id) == (DeviceStatus, B, "system")
    message = PROTOCOL.parse("autocore/errors/system/boot", OBJECT)
    assert isinstance(message, SystemMessage)
    assert (message.layout, message.device_id, message.kind, message.error_type) == (
        B,
        "system",
        "error",
        "boot",
    )


def test_multi_level_base() -> None:
    protocol = AutoCoreProtocol("site-a/autocore")
    assert protocol.base == "site-a/autocore"
    assert protocol.parse("site-a/autocore/ESP32_001/status", MONITOR_STATUS) == (
        PROTOCOL.parse("autocore/ESP32_001/status", MONITOR_STATUS)
    )
    assert protocol.parse("site-a/autocore/ESP32_001/relay/0/status", MONITOR_RELAY) == RelayState(
        device_id=DEVICE, layout=A, relay=0, state=True
    )
    message = protocol.parse("site-a/autocore/telemetry/relays/data", FIRMWARE_RELAY_CHANGE)
    assert (message.layout, message.device_id) == (B, UUID)
    message = protocol.parse(f"site-a/autocore/devices/{UUID}/relays/state", FIRMWARE_RELAYS_STATE)
    assert (type(message), message.device_id) == (RelayStates, UUID)
    with pytest.raises(InvalidMessage, match="outside the base topic"):
        protocol.parse("autocore/ESP32_001/status", MONITOR_STATUS)
    with pytest.raises(InvalidMessage, match="outside the base topic"):
        protocol.parse("site-b/autocore/ESP32_001/status", MONITOR_STATUS)


def test_base_whose_last_level_is_a_layout_word() -> None:
    protocol = AutoCoreProtocol("plant/devices")
    message = protocol.parse("plant/devices/devices/u1/status", STATUS_ONLINE)
    assert (message.layout, message.device_id) == (B, "u1")
    message = protocol.parse("plant/devices/u1/status", STATUS_ONLINE)
    assert (message.layout, message.device_id) == (A, "u1")


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "autocore",
        "autocorex/dev/status",
        "autocore-2/dev/status",
        "other/dev/status",
        "/autocore/dev/status",
        "site-a/autocore/dev/status",
        "AUTOCORE/dev/status",
    ],
)
def test_topics_outside_the_base_are_refused(topic: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(topic, STATUS_ONLINE)
    assert err.value.reason == "topic is outside the base topic"


@pytest.mark.parametrize(
    "topic",
    [
        "autocore/",
        "autocore/dev",
        "autocore/dev/unknown",
        "autocore/dev/status/extra",
        "autocore/dev/relay/0/set",  # our own layout A command
        "autocore/dev/relay/0",
        "autocore/dev/relay/0/status/x",
        "autocore/dev/relays/0/status",
        "autocore/dev/display/touch",
        "autocore/dev/system",
        "autocore/dev/system/a/b",
        "autocore/devices/u1/relays/set",  # our own layout B command
        "autocore/devices/u1/commands/status",
        "autocore/devices/u1/relays",
        "autocore/devices/u1/telemetry/x",
        "autocore/telemetry/relays",
        "autocore/telemetry/relays/data/x",
        "autocore/errors/u1",
        "autocore/errors/u1/a/b",
        "autocore/discovery/announce/x/y",
    ],
)
def test_unknown_shapes_are_refused(topic: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(topic, OBJECT)
    assert err.value.reason == "not an AutoCore topic"


@pytest.mark.parametrize(
    "topic",
    [
        "autocore//status",
        "autocore//telemetry",
        "autocore//relay/0/status",
        "autocore//display/interaction",
        "autocore//system/boot",
        "autocore/dev/system/",
        "autocore/devices//status",
        "autocore/devices//relays/state",
        "autocore/errors//command",
        "autocore/errors/u1/",
    ],
)
def test_empty_topic_levels_are_refused(topic: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(topic, OBJECT)
    assert err.value.reason == "topic level '' is empty or unsafe"


@pytest.mark.parametrize(
    ("topic", "level"),
    [
        ("autocore/+/status", "+"),
        ("autocore/#/telemetry", "#"),
        ("autocore/a\x00b/status", "a\x00b"),
        ("autocore/devices/a\nb/status", "a\nb"),
        ("autocore/dev/system/\x7f", "\x7f"),
        ("autocore/errors/u1/\x01", "\x01"),
        # Path tricks and the broker's `$` topics, in every place an id or kind sits.
        ("autocore/./status", "."),
        ("autocore/../telemetry", ".."),
        ("autocore/$SYS/status", "$SYS"),
        ("autocore/$x/relay/0/status", "$x"),
        ("autocore/./display/interaction", "."),
        ("autocore/dev/system/$SYS", "$SYS"),
        ("autocore/dev/system/..", ".."),
        ("autocore/devices/./status", "."),
        ("autocore/devices/$SYS/relays/state", "$SYS"),
        ("autocore/errors/$x/command", "$x"),
        ("autocore/errors/u1/..", ".."),
    ],
)
def test_unsafe_topic_levels_are_refused(topic: str, level: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(topic, STATUS_ONLINE)
    assert err.value.reason == f"topic level {level!r} is empty or unsafe"


def test_overlong_topic_level_is_refused_and_the_reason_is_truncated() -> None:
    level = "x" * 129
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(f"autocore/{level}/status", STATUS_ONLINE)
    assert err.value.reason == f"topic level {'x' * 32!r} is empty or unsafe"


def test_subscriptions_cover_exactly_the_known_shapes() -> None:
    protocol = AutoCoreProtocol("site-a/autocore")
    assert protocol.subscriptions == (
        "site-a/autocore/+/status",
        "site-a/autocore/+/telemetry",
        "site-a/autocore/+/relay/+/status",
        "site-a/autocore/+/display/interaction",
        "site-a/autocore/+/system/+",
        "site-a/autocore/devices/+/status",
        "site-a/autocore/devices/+/relays/state",
        "site-a/autocore/telemetry/relays/data",
        "site-a/autocore/errors/+/+",
    )


@pytest.mark.parametrize(
    "topic",
    [
        "autocore/dev1/status",
        "autocore/dev1/telemetry",
        "autocore/dev1/relay/3/status",
        "autocore/dev1/display/interaction",
        "autocore/dev1/system/boot",
        "autocore/devices/u1/status",
        "autocore/devices/u1/relays/state",
        "autocore/telemetry/relays/data",
        "autocore/errors/u1/timeout",
    ],
)
def test_every_parsed_shape_is_subscribed(topic: str) -> None:
    assert any(topic_matches(sub, topic) for sub in PROTOCOL.subscriptions)


def test_commands_we_publish_are_not_subscribed() -> None:
    for message in (
        PROTOCOL.relay_command(DEVICE, A, 0, True),
        PROTOCOL.relay_command(UUID, B, 1, True),
        PROTOCOL.device_command(UUID, DeviceCommand.STATUS),
    ):
        assert not any(topic_matches(sub, message.topic) for sub in PROTOCOL.subscriptions)


# --- 3. bad payloads ------------------------------------------------------------------

STATUS_TOPICS = ["autocore/ESP32_001/status", f"autocore/devices/{UUID}/status"]
ALL_TOPICS = [
    "autocore/ESP32_001/status",
    "autocore/ESP32_001/telemetry",
    "autocore/ESP32_001/relay/0/status",
    "autocore/ESP32_001/display/interaction",
    "autocore/ESP32_001/system/boot",
    f"autocore/devices/{UUID}/status",
    f"autocore/devices/{UUID}/relays/state",
    "autocore/telemetry/relays/data",
    f"autocore/errors/{UUID}/command",
]
OBJECT_TOPICS = [t for t in ALL_TOPICS if "/system/" not in t and "/errors/" not in t]


@pytest.mark.parametrize("topic", ALL_TOPICS)
@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "invalid JSON ("),
        (b"{", "invalid JSON ("),
        (b"online", "invalid JSON ("),
        (b'{"status": "online",}', "invalid JSON ("),
        (b'{"temperature": NaN}', "payload contains NaN or Infinity"),
        (b'{"temperature": Infinity}', "payload contains NaN or Infinity"),
        (b'{"temperature": -Infinity}', "payload contains NaN or Infinity"),
        (b'{"temperature": 1e400}', "payload contains NaN or Infinity"),
        (b'{"status": "\xff"}', "payload is not valid UTF-8"),
        (b"\xc3\x28", "payload is not valid UTF-8"),
    ],
)
def test_undecodable_payloads_raise_on_every_topic(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(topic, payload)
    assert err.value.reason.startswith(reason)


@pytest.mark.parametrize("topic", ALL_TOPICS)
def test_oversized_payloads_raise_on_every_topic(topic: str) -> None:
    payload = b'{"status": "online", "pad": "' + b"x" * MAX_PAYLOAD_BYTES + b'"}'
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(topic, payload)
    assert err.value.reason == f"payload of {len(payload)} bytes exceeds 64 KiB"


@pytest.mark.parametrize("topic", STATUS_TOPICS)
def test_payload_of_exactly_64_kib_is_parsed(topic: str) -> None:
    head = b'{"status": "online", "pad": "'
    payload = head + b"x" * (MAX_PAYLOAD_BYTES - len(head) - 2) + b'"}'
    assert len(payload) == MAX_PAYLOAD_BYTES
    message = PROTOCOL.parse(topic, payload)
    assert isinstance(message, DeviceStatus)
    assert message.online is True


@pytest.mark.parametrize("topic", OBJECT_TOPICS)
@pytest.mark.parametrize(
    ("payload", "kind"),
    [(b"[]", "array"), (b'"online"', "string"), (b"1", "number"), (b"true", "boolean")],
)
def test_non_object_payloads_raise_where_an_object_is_due(
    topic: str, payload: bytes, kind: str
) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(topic, payload)
    assert err.value.reason == f"expected a JSON object, got {kind}"


# Status: a bad field is named in problems, every good field is kept.

GOOD_STATUS = {
    "status": "online",
    "ip_address": "10.0.10.130",
    "firmware_version": "2.0.0",
    "uptime": 3600,
    "wifi_signal": -45,
    "free_memory": 200000,
    "board_id": "b1",
    "type": "esp32_relay",
    "channels": 16,
    "reason": "boot",
}
GOOD_STATUS_FIELDS = {
    "online": True,
    "ip_address": "10.0.10.130",
    "firmware_version": "2.0.0",
    "uptime": 3600,
    "wifi_signal": -45,
    "free_memory": 200000,
    "board_id": "b1",
    "reason": "boot",
}


@pytest.mark.parametrize("topic", STATUS_TOPICS)
@pytest.mark.parametrize(
    ("key", "value", "attribute", "problem"),
    [
        ("uptime", "3600", "uptime", "uptime: number sent as a string"),
        ("uptime", True, "uptime", "uptime: expected a number, got boolean"),
        ("uptime", -1, "uptime", "uptime: expected a whole number >= 0"),
        ("uptime", 36.5, "uptime", "uptime: expected a whole number >= 0"),
        ("wifi_signal", "-45", "wifi_signal", "wifi_signal: number sent as a string"),
        ("wifi_signal", False, "wifi_signal", "wifi_signal: expected a number, got boolean"),
        ("wifi_signal", "%!f(<nil>)", "wifi_signal", "wifi_signal: expected a number, got string"),
        ("free_memory", [1], "free_memory", "free_memory: expected a number, got array"),
        ("free_memory", 1.5, "free_memory", "free_memory: expected a whole number >= 0"),
        ("ip_address", 192, "ip_address", "ip_address: expected a string, got number"),
        ("reason", 7, "reason", "reason: expected a string, got number"),
        (
            "firmware_version",
            {"v": 2},
            "firmware_version",
            "firmware_version: expected a string, got object",
        ),
        ("status", "rebooting", "online", "status: unknown value 'rebooting'"),
        ("status", True, "online", "status: expected a string, got boolean"),
        ("status", 1, "online", "status: expected a string, got number"),
        ("status", "x" * 40, "online", f"status: unknown value {'x' * 32!r}"),
    ],
)
def test_status_bad_field_is_named_and_the_rest_kept(
    topic: str, key: str, value: object, attribute: str, problem: str
) -> None:
    message = PROTOCOL.parse(topic, dumps(GOOD_STATUS | {key: value}))
    assert isinstance(message, DeviceStatus)
    assert message.problems == (problem,)
    assert getattr(message, attribute) is None
    for name, good in GOOD_STATUS_FIELDS.items():
        if name != attribute:
            assert getattr(message, name) == good


@pytest.mark.parametrize("topic", STATUS_TOPICS)
@pytest.mark.parametrize("key", ["type", "channels", "last_seen", "protocol_version"])
@pytest.mark.parametrize("value", [False, "16", 0, -1.5, ["x"], {"a": 1}, "x" * 5000])
def test_status_fields_not_read_take_any_json(topic: str, key: str, value: object) -> None:
    message = PROTOCOL.parse(topic, dumps(GOOD_STATUS | {key: value}))
    assert isinstance(message, DeviceStatus)
    assert message.problems == ()
    for name, good in GOOD_STATUS_FIELDS.items():
        assert getattr(message, name) == good


@pytest.mark.parametrize("topic", STATUS_TOPICS)
def test_status_null_fields_read_as_not_reported(topic: str) -> None:
    payload = dumps(dict.fromkeys(GOOD_STATUS))
    message = PROTOCOL.parse(topic, payload)
    assert isinstance(message, DeviceStatus)
    assert message.problems == ()
    for name in GOOD_STATUS_FIELDS:
        assert getattr(message, name) is None


@pytest.mark.parametrize("topic", STATUS_TOPICS)
def test_status_without_status_key_is_a_problem(topic: str) -> None:
    message = PROTOCOL.parse(topic, b'{"ip_address": "10.0.0.2"}')
    assert isinstance(message, DeviceStatus)
    assert message.online is None
    assert message.ip_address == "10.0.0.2"
    assert message.problems == ("status: missing",)


@pytest.mark.parametrize(
    ("value", "online"),
    [("online", True), ("ONLINE", True), ("Offline", False), ("offline", False)],
)
def test_status_value_is_case_insensitive(value: str, *, online: bool) -> None:
    message = PROTOCOL.parse("autocore/d/status", dumps({"status": value}))
    assert isinstance(message, DeviceStatus)
    assert message.online is online
    assert message.problems == ()


def test_status_collects_every_bad_field() -> None:
    payload = dumps({"status": "up", "uptime": "1", "free_memory": -3, "ip_address": None})
    message = PROTOCOL.parse("autocore/d/status", payload)
    assert isinstance(message, DeviceStatus)
    assert message.problems == (
        "status: unknown value 'up'",
        "uptime: number sent as a string",
        "free_memory: expected a whole number >= 0",
    )


def test_status_reads_whole_floats_and_numbers_up_to_64_bits() -> None:
    payload = b'{"status": "online", "uptime": 3600.0, "free_memory": 9223372036854775807}'
    message = PROTOCOL.parse("autocore/d/status", payload)
    assert isinstance(message, DeviceStatus)
    assert message.uptime == 3600
    assert type(message.uptime) is int
    assert message.free_memory == 2**63 - 1
    assert message.problems == ()


def test_status_refuses_whole_numbers_beyond_64_bits() -> None:
    # Found by the fuzz tier: uptime 1e308 is whole, and its state (in days) had 309
    # characters, which Home Assistant refuses (it logged an error, the state went unknown).
    payload = b'{"status": "online", "uptime": 1e308, "free_memory": 18446744073709551616}'
    message = PROTOCOL.parse("autocore/d/status", payload)
    assert isinstance(message, DeviceStatus)
    assert (message.uptime, message.free_memory) == (None, None)
    assert message.problems == (
        f"uptime: expected a whole number <= {2**63 - 1}",
        f"free_memory: expected a whole number <= {2**63 - 1}",
    )


# Telemetry.


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("temperature", "25.6", "temperature: number sent as a string"),
        ("temperature", True, "temperature: expected a number, got boolean"),
        ("humidity", "high", "humidity: expected a number, got string"),
        ("voltage", [3.3], "voltage: expected a number, got array"),
        ("memory_free", {"kb": 44}, "memory_free: expected a number, got object"),
        ("pressure", "1013.25", "pressure: number sent as a string"),
        ("room temp", 21.5, "'room temp': unsupported telemetry key"),
        ("temp/1", 21.5, "'temp/1': unsupported telemetry key"),
        ("", 1, "'': unsupported telemetry key"),
        ("x" * 65, 1, f"{'x' * 64!r}: unsupported telemetry key"),
        # Bytes and seconds are whole numbers, as in the status (found by the fuzz tier:
        # an uptime of 1e300 made a state Home Assistant refused).
        ("uptime", 36.5, "uptime: expected a whole number >= 0"),
        ("uptime", 1e300, f"uptime: expected a whole number <= {2**63 - 1}"),
        ("memory_free", -1, "memory_free: expected a whole number >= 0"),
    ],
)
def test_telemetry_bad_field_is_named_and_the_rest_kept(
    key: str, value: object, problem: str
) -> None:
    payload = dumps({"temperature": 20.5, "humidity": 40, "co2": 500} | {key: value})
    message = PROTOCOL.parse("autocore/ESP32_001/telemetry", payload)
    assert isinstance(message, Telemetry)
    assert message.problems == (problem,)
    expected_values = {"temperature": 20.5, "humidity": 40}
    expected_values.pop(key, None)
    assert message.values == expected_values
    assert message.extra == {"co2": 500}


def test_telemetry_nulls_are_not_reported_without_problem() -> None:
    payload = b'{"temperature": null, "humidity": 40.5, "co2": null}'
    message = PROTOCOL.parse("autocore/ESP32_001/telemetry", payload)
    assert message == Telemetry(
        device_id=DEVICE, layout=A, values={"humidity": 40.5}, extra={}, problems=()
    )


def test_telemetry_extra_key_of_64_characters_is_kept() -> None:
    key = "k" * 64
    message = PROTOCOL.parse("autocore/d/telemetry", dumps({key: 1.5}))
    assert isinstance(message, Telemetry)
    assert message.extra == {key: 1.5}
    assert message.problems == ()


def test_empty_telemetry_is_valid() -> None:
    assert PROTOCOL.parse("autocore/d/telemetry", b"{}") == Telemetry(
        device_id="d", layout=A, values={}, extra={}
    )


# Layout A relay status.


@pytest.mark.parametrize(
    "index", ["01", "00", "-1", "256", "1000", "\u0661", "²", "1.0", " 1", "+1", "x"]
)
def test_relay_index_must_be_a_canonical_decimal(index: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse(f"autocore/ESP32_001/relay/{index}/status", MONITOR_RELAY)
    assert err.value.reason == f"relay index {index!r} is not a number from 0 to 255"


def test_relay_numbers_of_thousands_of_digits_are_refused() -> None:
    # Found by the fuzz tier: int() refuses over 4300 digits, which was an internal error.
    digits = "9" * 5000
    with pytest.raises(InvalidMessage, match="relay index '9999999999999999' is not a number"):
        PROTOCOL.parse(f"autocore/ESP32_001/relay/{digits}/status", MONITOR_RELAY)
    payload = dumps({"channels": {"1": True, digits: True}})
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/relays/state", payload)
    assert isinstance(message, RelayStates)
    assert message.relays == {1: True}
    assert message.problems == (f"channels: {'9' * 16!r} is not a channel number",)


def test_empty_relay_index_is_refused() -> None:
    with pytest.raises(InvalidMessage, match="relay index '' is not a number"):
        PROTOCOL.parse("autocore/ESP32_001/relay//status", MONITOR_RELAY)


@pytest.mark.parametrize("index", ["0", "1", "9", "10", "99", "200", "255"])
def test_relay_index_accepts_0_to_255(index: str) -> None:
    message = PROTOCOL.parse(f"autocore/ESP32_001/relay/{index}/status", MONITOR_RELAY)
    assert isinstance(message, RelayState)
    assert message.relay == int(index)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{}", "state: missing"),
        (b'{"state": null}', "state: missing"),
        (b'{"state": "on"}', "state: expected a boolean, got string"),
        (b'{"state": "true"}', "state: expected a boolean, got string"),
        (b'{"state": 1}', "state: expected a boolean, got number"),
        (b'{"state": 0}', "state: expected a boolean, got number"),
        (b'{"state": [true]}', "state: expected a boolean, got array"),
    ],
)
def test_relay_status_without_a_boolean_state_raises(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse("autocore/ESP32_001/relay/0/status", payload)
    assert err.value.reason == reason


@pytest.mark.parametrize("trigger", [5, None, [1], {"by": "x"}, "x" * 5000])
def test_relay_status_trigger_is_not_read(trigger: object) -> None:
    payload = dumps({"state": False, "triggered_by": trigger, "relay_index": "x"})
    assert PROTOCOL.parse("autocore/ESP32_001/relay/2/status", payload) == RelayState(
        device_id=DEVICE, layout=A, relay=2, state=False, problems=()
    )


# Layout B relays/state.


@pytest.mark.parametrize("key", ["0", "01", "-1", "256", "\u0661", "all", "1.0", " 1", "", "+2"])
def test_relays_state_bad_channel_key_is_named_and_the_rest_kept(key: str) -> None:
    payload = dumps({"channels": {"1": True, key: True, "2": False}})
    message = PROTOCOL.parse(f"autocore/devices/{UUID}/relays/state", payload)
    assert message == RelayStates(
        device_id=UUID,
        layout=B,
        relays={1: True, 2: False},
        problems=(f"channels: {key!r} is not a channel number",),
    )


def test_relays_state_long_channel_key_is_truncated_in_the_problem() -> None:
    key = "9" * 40
    message = PROTOCOL.parse("autocore/devices/u/relays/state", dumps({"channels": {key: True}}))
    assert isinstance(message, RelayStates)
    assert message.relays == {}
    assert message.problems == (f"channels: {'9' * 16!r} is not a channel number",)


def test_relays_state_accepts_channels_1_to_255() -> None:
    payload = dumps({"channels": {"1": True, "255": False}})
    message = PROTOCOL.parse("autocore/devices/u/relays/state", payload)
    assert isinstance(message, RelayStates)
    assert message.relays == {1: True, 255: False}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("on", "channels.2: expected a boolean, got string"),
        (1, "channels.2: expected a boolean, got number"),
        (0, "channels.2: expected a boolean, got number"),
        ({"state": True}, "channels.2: expected a boolean, got object"),
    ],
)
def test_relays_state_bad_channel_value_is_named_and_the_rest_kept(
    value: object, problem: str
) -> None:
    payload = dumps({"channels": {"1": True, "2": value, "3": False}})
    message = PROTOCOL.parse("autocore/devices/u/relays/state", payload)
    assert message == RelayStates(
        device_id="u", layout=B, relays={1: True, 3: False}, problems=(problem,)
    )


def test_relays_state_null_channel_is_not_reported_without_problem() -> None:
    payload = b'{"channels": {"1": true, "2": null}}'
    message = PROTOCOL.parse("autocore/devices/u/relays/state", payload)
    assert message == RelayStates(device_id="u", layout=B, relays={1: True}, problems=())


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{}", "channels: missing"),
        (b'{"channels": null}', "channels: missing"),
        (b'{"channels": [true, false]}', "channels: expected an object, got array"),
        (b'{"channels": "1,0"}', "channels: expected an object, got string"),
    ],
)
def test_relays_state_without_a_channels_object_raises(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse("autocore/devices/u/relays/state", payload)
    assert err.value.reason == reason


def test_relays_state_with_no_channels_is_empty() -> None:
    message = PROTOCOL.parse("autocore/devices/u/relays/state", b'{"channels": {}}')
    assert message == RelayStates(device_id="u", layout=B, relays={}, problems=())


# Layout B telemetry/relays/data.

RELAY_CHANGE = {"uuid": UUID, "event": "relay_change", "channel": 3, "state": True}


@pytest.mark.parametrize(
    "uuid", ["+", "#", "a/b", "a\x00b", "", "x+", "#y", ".", "..", "$SYS", "$x", 5, None, ["u"]]
)
def test_relay_event_unsafe_uuid_raises(uuid: object) -> None:
    payload = dumps(RELAY_CHANGE | {"uuid": uuid})
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse("autocore/telemetry/relays/data", payload)
    assert err.value.reason == "uuid: missing or not a safe device id"


def test_relay_event_missing_uuid_raises() -> None:
    payload = dumps({k: v for k, v in RELAY_CHANGE.items() if k != "uuid"})
    with pytest.raises(InvalidMessage, match="uuid: missing or not a safe device id"):
        PROTOCOL.parse("autocore/telemetry/relays/data", payload)


@pytest.mark.parametrize("channel", [0, -1, 256, 1.5, "3", True, "all", None, [3]])
def test_relay_event_bad_channel_raises(channel: object) -> None:
    payload = dumps(RELAY_CHANGE | {"channel": channel})
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse("autocore/telemetry/relays/data", payload)
    assert err.value.reason == "channel: expected a number from 1 to 255"


@pytest.mark.parametrize(("channel", "relay"), [(1, 1), (255, 255), (16.0, 16)])
def test_relay_event_channel_range(channel: float, relay: int) -> None:
    message = PROTOCOL.parse(
        "autocore/telemetry/relays/data", dumps(RELAY_CHANGE | {"channel": channel})
    )
    assert isinstance(message, RelayState)
    assert message.relay == relay


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event": None}, "event: missing"),
        ({"event": 5}, "event: expected a string, got number"),
        ({"event": "relay_toggle"}, "event: unknown relay event 'relay_toggle'"),
        ({"event": "e" * 40}, f"event: unknown relay event {'e' * 32!r}"),
        ({"state": None}, "state: missing"),
        ({"state": "on"}, "state: expected a boolean, got string"),
        ({"state": 1}, "state: expected a boolean, got number"),
    ],
)
def test_relay_event_bad_event_or_state_raises(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidMessage) as err:
        PROTOCOL.parse("autocore/telemetry/relays/data", dumps(RELAY_CHANGE | changes))
    assert err.value.reason == reason


@pytest.mark.parametrize("trigger", [7, None, [1], {"by": "x"}, "x" * 5000])
def test_relay_event_trigger_is_not_read(trigger: object) -> None:
    payload = dumps(RELAY_CHANGE | {"trigger": trigger, "state": False})
    assert PROTOCOL.parse("autocore/telemetry/relays/data", payload) == RelayState(
        device_id=UUID, layout=B, relay=3, state=False, problems=()
    )


def test_safety_shutoff_bad_reason_is_named_and_the_rest_kept() -> None:
    data = {"uuid": UUID, "event": "safety_shutoff", "channel": 4, "reason": 5}
    assert PROTOCOL.parse("autocore/telemetry/relays/data", dumps(data)) == SafetyShutoff(
        device_id=UUID,
        layout=B,
        relay=4,
        reason=None,
        payload=data,
        problems=("reason: expected a string, got number",),
    )


def test_safety_shutoff_needs_no_state() -> None:
    data = {"uuid": UUID, "event": "safety_shutoff", "channel": 1}
    message = PROTOCOL.parse("autocore/telemetry/relays/data", dumps(data))
    assert message == SafetyShutoff(
        device_id=UUID, layout=B, relay=1, reason=None, payload=data, problems=()
    )


# --- 4. builders ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relay", "state", "topic", "payload"),
    [
        (0, True, "autocore/ESP32_001/relay/0/set", b'{"state":true,"source":"home_assistant"}'),
        (7, False, "autocore/ESP32_001/relay/7/set", b'{"state":false,"source":"home_assistant"}'),
        (
            255,
            True,
            "autocore/ESP32_001/relay/255/set",
            b'{"state":true,"source":"home_assistant"}',
        ),
    ],
)
def test_layout_a_relay_command_default_template(
    relay: int, topic: str, payload: bytes, *, state: bool
) -> None:
    assert PROTOCOL.relay_command(DEVICE, A, relay, state) == OutgoingMessage(
        topic=topic, payload=payload, qos=1, retain=False
    )


def test_layout_a_relay_command_payload_is_the_documented_json() -> None:
    message = PROTOCOL.relay_command(DEVICE, A, 1, True)
    assert orjson.loads(message.payload) == {"state": True, "source": COMMAND_SOURCE}
    assert COMMAND_SOURCE == "home_assistant"
    assert DEFAULT_RELAY_COMMAND_TOPIC == "{base}/{device_id}/relay/{relay}/set"


def test_layout_a_relay_command_under_a_multi_level_base() -> None:
    protocol = AutoCoreProtocol("site-a/autocore")
    assert protocol.relay_command(DEVICE, A, 2, False) == OutgoingMessage(
        "site-a/autocore/ESP32_001/relay/2/set", b'{"state":false,"source":"home_assistant"}'
    )


@pytest.mark.parametrize(
    ("template", "topic"),
    [
        ("{base}/cmd/{device_id}/{relay}", "autocore/cmd/ESP32_001/3"),
        ("home/{device_id}/switch{relay}/set", "home/ESP32_001/switch3/set"),
        ("{relay}/{device_id}", "3/ESP32_001"),
        ("{base}/{{literal}}/{device_id}/{relay}", "autocore/{literal}/ESP32_001/3"),
        ("{base}/{device_id}/{relay}/{base}", "autocore/ESP32_001/3/autocore"),
    ],
)
def test_layout_a_relay_command_custom_template(template: str, topic: str) -> None:
    protocol = AutoCoreProtocol("autocore", template)
    assert protocol.relay_command(DEVICE, A, 3, True) == OutgoingMessage(
        topic, b'{"state":true,"source":"home_assistant"}', qos=1, retain=False
    )


def test_device_id_with_braces_is_not_formatted_twice() -> None:
    message = PROTOCOL.relay_command("{base}", A, 1, True)
    assert message.topic == "autocore/{base}/relay/1/set"


@pytest.mark.parametrize(
    ("relay", "state", "payload"),
    [
        (
            1,
            True,
            b'{"protocol_version":"2.2","channel":1,"command":"on","source":"home_assistant"}',
        ),
        (
            16,
            False,
            b'{"protocol_version":"2.2","channel":16,"command":"off","source":"home_assistant"}',
        ),
        (
            255,
            True,
            b'{"protocol_version":"2.2","channel":255,"command":"on","source":"home_assistant"}',
        ),
    ],
)
def test_layout_b_relay_command(relay: int, payload: bytes, *, state: bool) -> None:
    assert PROTOCOL.relay_command(UUID, B, relay, state) == OutgoingMessage(
        topic=f"autocore/devices/{UUID}/relays/set", payload=payload, qos=1, retain=False
    )


def test_layout_b_relay_command_ignores_the_layout_a_template() -> None:
    protocol = AutoCoreProtocol("site-a/autocore", "x/{device_id}/{relay}")
    message = protocol.relay_command(UUID, B, 2, True)
    assert message.topic == f"site-a/autocore/devices/{UUID}/relays/set"


def test_layout_b_commands_carry_a_protocol_version_the_firmware_accepts() -> None:
    # The firmware rejects a command whose protocol_version does not start with "2.".
    assert FIRMWARE_PROTOCOL_VERSION.startswith("2.")
    for message in (
        PROTOCOL.relay_command(UUID, B, 1, True),
        PROTOCOL.device_command(UUID, DeviceCommand.REBOOT),
    ):
        assert orjson.loads(message.payload)["protocol_version"].startswith("2.")


@pytest.mark.parametrize(
    ("command", "topic", "payload"),
    [
        (
            DeviceCommand.STATUS,
            f"autocore/devices/{UUID}/commands/status",
            b'{"protocol_version":"2.2","command":"status"}',
        ),
        (
            DeviceCommand.REBOOT,
            f"autocore/devices/{UUID}/commands/reboot",
            b'{"protocol_version":"2.2","command":"reboot"}',
        ),
        (
            DeviceCommand.RESET,
            f"autocore/devices/{UUID}/commands/reset",
            b'{"protocol_version":"2.2","command":"reset"}',
        ),
    ],
)
def test_device_command(command: DeviceCommand, topic: str, payload: bytes) -> None:
    assert PROTOCOL.device_command(UUID, command) == OutgoingMessage(
        topic=topic, payload=payload, qos=1, retain=False
    )


def test_device_command_under_a_multi_level_base() -> None:
    protocol = AutoCoreProtocol("site-a/autocore")
    message = protocol.device_command("u1", DeviceCommand.STATUS)
    assert message.topic == "site-a/autocore/devices/u1/commands/status"


def test_device_commands_are_the_documented_ones() -> None:
    assert {c.value for c in DeviceCommand} == {"status", "reboot", "reset"}
    assert {layout.value for layout in Layout} == {"monitor", "firmware_v2"}


UNSAFE_IDS = [
    "",
    "+",
    "#",
    "/",
    "a/b",
    "a+b",
    "dev#",
    "a\x00b",
    "\x00",
    "x" * 129,
    "a\nb",
    ".",
    "..",
    "$SYS",
    "$x",
]


@pytest.mark.parametrize("device_id", UNSAFE_IDS)
@pytest.mark.parametrize("layout", [A, B])
def test_relay_command_refuses_unsafe_ids(device_id: str, layout: Layout) -> None:
    with pytest.raises(UnsafeIdError):
        PROTOCOL.relay_command(device_id, layout, 1, True)


@pytest.mark.parametrize("device_id", UNSAFE_IDS)
def test_relay_command_with_custom_template_refuses_unsafe_ids(device_id: str) -> None:
    protocol = AutoCoreProtocol("autocore", "home/{device_id}/switch{relay}/set")
    with pytest.raises(ValueError, match="unsafe id"):
        protocol.relay_command(device_id, A, 1, True)


@pytest.mark.parametrize("device_id", UNSAFE_IDS)
@pytest.mark.parametrize("command", list(DeviceCommand))
def test_device_command_refuses_unsafe_ids(device_id: str, command: DeviceCommand) -> None:
    with pytest.raises(UnsafeIdError):
        PROTOCOL.device_command(device_id, command)


@pytest.mark.parametrize(
    ("layout", "relay", "message"),
    [
        (A, -1, "relay -1 is outside 0..255"),
        (A, 256, "relay 256 is outside 0..255"),
        (B, 0, "relay 0 is outside 1..255"),
        (B, -1, "relay -1 is outside 1..255"),
        (B, 256, "relay 256 is outside 1..255"),
    ],
)
def test_relay_command_refuses_out_of_range_relays(
    layout: Layout, relay: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as err:
        PROTOCOL.relay_command(DEVICE, layout, relay, True)
    assert not isinstance(err.value, UnsafeIdError)
    assert MAX_RELAY == 255


@pytest.mark.parametrize("layout", [A, B])
def test_relay_command_refuses_a_boolean_relay(layout: Layout) -> None:
    with pytest.raises((TypeError, ValueError)):
        PROTOCOL.relay_command(DEVICE, layout, True, True)  # type: ignore[arg-type]


# relay_topic_template_problem and the constructor.


@pytest.mark.parametrize(
    "template",
    [
        DEFAULT_RELAY_COMMAND_TOPIC,
        "{base}/{device_id}/relay/{relay}/set",
        "{device_id}/{relay}",
        "{relay}/{device_id}",
        "{base}/cmd/{device_id}/{relay}",
        "home/{device_id}/switch{relay}/set",
        "{base}/{{literal}}/{device_id}/{relay}",
    ],
)
def test_good_templates_have_no_problem(template: str) -> None:
    assert relay_topic_template_problem(template) is None
    assert AutoCoreProtocol("autocore", template).subscriptions == PROTOCOL.subscriptions


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{base}/{id}/{relay}", "unknown_placeholder"),
        ("{base}/{device}/{relay}", "unknown_placeholder"),
        ("{base}/{device_id}/{relay}/{state}", "unknown_placeholder"),
        ("{base}/{}/{relay}", "unknown_placeholder"),
        ("{base}/{0}/{1}", "unknown_placeholder"),
        ("{base}/{device_id.upper}/{relay}", "unknown_placeholder"),
        ("{base}/{device_id[0]}/{relay}", "unknown_placeholder"),
        ("{base}/{device_id}/{relay:02d}", "placeholder_format"),
        ("{base}/{device_id:>10}/{relay}", "placeholder_format"),
        ("{base!r}/{device_id}/{relay}", "placeholder_format"),
        ("{base}/{device_id!s}/{relay}", "placeholder_format"),
        ("{base}/{device_id}/set", "missing_placeholder"),
        ("{base}/relay/{relay}/set", "missing_placeholder"),
        ("{base}/set", "missing_placeholder"),
        ("", "missing_placeholder"),
        ("{base}/{{device_id}}/{relay}", "missing_placeholder"),
        ("{base}/+/{device_id}/{relay}", "wildcard"),
        ("{base}/{device_id}/{relay}/#", "wildcard"),
        ("{base}/{device_id}+{relay}", "wildcard"),
        ("{base/{device_id}/{relay}", "unbalanced_braces"),
        ("{base}/{device_id}/{relay}}", "unbalanced_braces"),
        ("{base}/{device_id}/{relay", "unbalanced_braces"),
        ("{base}/}{device_id}/{relay}", "unbalanced_braces"),
        ("{base}//{device_id}/{relay}", "empty_level"),
        ("{base}/{device_id}//{relay}", "empty_level"),
        ("/{base}/{device_id}/{relay}", "edge_slash"),
        ("{base}/{device_id}/{relay}/", "edge_slash"),
        ("{base}/{device_id}/{relay}\n", "control_character"),
        ("{base}/{device_id}\x00/{relay}", "control_character"),
    ],
)
def test_bad_templates_are_named(template: str, problem: str) -> None:
    assert relay_topic_template_problem(template) == problem
    expected = f"invalid relay command topic {template!r}: {problem}"
    with pytest.raises(ValueError, match=re.escape(expected)) as err:
        AutoCoreProtocol("autocore", template)
    assert str(err.value) == expected


@pytest.mark.parametrize(
    ("base", "problem"),
    [
        ("", "empty"),
        ("autocore/", "edge_slash"),
        ("/autocore", "edge_slash"),
        ("site-a//autocore", "empty_level"),
        ("autocore/+", "wildcard"),
        ("autocore/#", "wildcard"),
        ("auto\x00core", "control_character"),
    ],
)
def test_bad_base_is_refused(base: str, problem: str) -> None:
    expected = f"invalid base topic {base!r}: {problem}"
    with pytest.raises(ValueError, match=re.escape(expected)) as err:
        AutoCoreProtocol(base)
    assert str(err.value) == expected


def test_base_is_checked_before_the_template() -> None:
    with pytest.raises(ValueError, match=r"^invalid base topic '': empty$"):
        AutoCoreProtocol("", "{bad}")
