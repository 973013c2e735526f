"""AutoCore ESP32 boards: layout A (the MQTT Monitor contract) and layout B (firmware v2.x).

Both layouts may share one base topic; each message is told apart by its topic shape. The
topics and payloads are described in docs/protocols.md, section "AutoCore".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
import ipaddress
import re
import string
from typing import TYPE_CHECKING, Final

import orjson

from .payload import (
    FieldReader,
    InvalidMessage,
    JsonObject,
    decode_json,
    decode_json_object,
    looks_numeric,
)
from .topics import BaseTopic, OutgoingMessage, base_topic_problem, is_safe_id, require_safe_id

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "COMMAND_SOURCE",
    "DEFAULT_RELAY_COMMAND_TOPIC",
    "FIRMWARE_PROTOCOL_VERSION",
    "KNOWN_TELEMETRY",
    "MAX_RELAY",
    "WHOLE_TELEMETRY",
    "AutoCoreMessage",
    "AutoCoreProtocol",
    "DeviceCommand",
    "DeviceStatus",
    "DisplayInteraction",
    "Layout",
    "RelayState",
    "RelayStates",
    "SafetyShutoff",
    "SystemMessage",
    "Telemetry",
    "relay_topic_template_problem",
]

DEFAULT_RELAY_COMMAND_TOPIC: Final = "{base}/{device_id}/relay/{relay}/set"
FIRMWARE_PROTOCOL_VERSION: Final = "2.2"
COMMAND_SOURCE: Final = "home_assistant"
MAX_RELAY: Final = 255

# Telemetry keys with a fixed meaning, mapped to one name across both layouts.
KNOWN_TELEMETRY: Final[Mapping[str, str]] = {
    "temperature": "temperature",
    "humidity": "humidity",
    "voltage": "voltage",
    "memory_free": "free_memory",
    "free_memory": "free_memory",
    "wifi_signal": "wifi_signal",
    "uptime": "uptime",
}
WHOLE_TELEMETRY: Final = frozenset({"free_memory", "uptime"})
_NOT_TELEMETRY: Final = frozenset({"device_id", "uuid", "timestamp"})
_EXTRA_TELEMETRY_KEY: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_TEMPLATE_FIELDS: Final = frozenset({"base", "device_id", "relay"})


class Layout(StrEnum):
    """Which AutoCore contract a board speaks."""

    MONITOR = "monitor"  # layout A: {base}/{device_id}/..., the MQTT Monitor Service
    FIRMWARE_V2 = "firmware_v2"  # layout B: {base}/devices/{uuid}/..., firmware v2.x


class DeviceCommand(StrEnum):
    """Commands the v2 firmware accepts on {base}/devices/{uuid}/commands/{command}."""

    STATUS = "status"
    REBOOT = "reboot"
    RESET = "reset"


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoCoreMessage:
    """Something a board told us; `problems` lists the fields that were refused."""

    device_id: str
    layout: Layout
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStatus(AutoCoreMessage):
    """Availability plus device information.

    `board_id` and `firmware_version` are display text: they become the board's name and
    firmware. `ip_address` is None when absent or when it names no host (`0.0.0.0`);
    `reason` is why the board went away, sent in the firmware v2 Last Will.
    """

    online: bool | None
    ip_address: str | None = None
    firmware_version: str | None = None
    uptime: int | None = None
    wifi_signal: float | None = None
    free_memory: int | None = None
    board_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Telemetry(AutoCoreMessage):
    """Sensor readings: `values` under their common names, `extra` as sent."""

    values: Mapping[str, float]
    extra: Mapping[str, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayState(AutoCoreMessage):
    """One relay's confirmed state (layout A index, layout B channel)."""

    relay: int
    state: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayStates(AutoCoreMessage):
    """Every channel's state of a layout B board."""

    relays: Mapping[int, bool]


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyShutoff(AutoCoreMessage):
    """The firmware switched a channel off by itself (e.g. heartbeat timeout)."""

    relay: int
    reason: str | None
    payload: JsonObject


@dataclass(frozen=True, slots=True, kw_only=True)
class DisplayInteraction(AutoCoreMessage):
    """A user touched the board's display."""

    data: JsonObject


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemMessage(AutoCoreMessage):
    """A system message (boot, ota, ...) or, for layout B, an error report."""

    kind: str
    payload: object
    error_type: str | None = None


def relay_topic_template_problem(template: str) -> str | None:
    """Return a code for what is wrong with a layout A relay command topic template, or None.

    Codes: unbalanced_braces, unknown_placeholder, placeholder_format, missing_placeholder,
    and the base topic codes for the topic it produces.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return "unbalanced_braces"
    names: set[str] = set()
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in _TEMPLATE_FIELDS:
            return "unknown_placeholder"
        if spec or conversion:
            return "placeholder_format"
        names.add(field)
    if not {"device_id", "relay"} <= names:
        return "missing_placeholder"
    return base_topic_problem(template.format(base="base", device_id="device", relay=0))


def _relay_number(text: str, minimum: int) -> int | None:
    """Read a canonical decimal relay number from a topic level or channel key."""
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0"):
        return None
    if len(text) > len(str(MAX_RELAY)):  # int() refuses over 4300 digits: never try
        return None
    number = int(text)
    return number if minimum <= number <= MAX_RELAY else None


def _board_id(fields: FieldReader) -> str | None:
    """Read board_id, documented both as a number and as text: a whole number becomes text.

    It names the device, so text is read as display text.
    """
    value = fields.data.get("board_id")
    if type(value) is int:
        return str(value)
    return fields.display_string("board_id")


def _ip_address(fields: FieldReader) -> str | None:
    """Read the board's address; an empty or unspecified one (`0.0.0.0`) is unknown.

    Firmware v2 hard-codes `0.0.0.0` in its status: that names no host.
    """
    address = (fields.string("ip_address") or "").strip()
    try:
        unspecified = ipaddress.ip_address(address).is_unspecified
    except ValueError:  # a host name, or what a firmware sent: shown as sent
        unspecified = False
    return None if not address or unspecified else address


def _online(fields: FieldReader) -> bool | None:
    status = fields.string("status")
    if status is None:
        if "status" not in fields.data:
            fields.problems.append("status: missing")
        return None
    lowered = status.lower()
    if lowered == "online":
        return True
    if lowered == "offline":
        return False
    fields.problems.append(f"status: unknown value {status[:32]!r}")
    return None


class AutoCoreProtocol:
    """Parse and build AutoCore messages under one base topic."""

    __slots__ = ("_relay_topic_template", "_topics", "base", "subscriptions")

    def __init__(self, base: str, relay_topic_template: str = DEFAULT_RELAY_COMMAND_TOPIC) -> None:
        """Check the base topic and template once, so parsing and building can trust them."""
        self._topics = BaseTopic(base)
        if (problem := relay_topic_template_problem(relay_topic_template)) is not None:
            raise ValueError(f"invalid relay command topic {relay_topic_template!r}: {problem}")
        self.base = base
        self._relay_topic_template = relay_topic_template
        self.subscriptions: tuple[str, ...] = (
            f"{base}/+/status",
            f"{base}/+/telemetry",
            f"{base}/+/relay/+/status",
            f"{base}/+/display/interaction",
            f"{base}/+/system/+",
            f"{base}/devices/+/status",
            f"{base}/devices/+/relays/state",
            f"{base}/telemetry/relays/data",
            f"{base}/errors/+/+",
        )

    def parse(self, topic: str, payload: bytes) -> AutoCoreMessage:
        """Turn one received message into a typed message, or raise InvalidMessage."""
        match self._topics.levels(topic):
            # Layout B first: its fixed words sit where layout A has a device id.
            case ["devices", device_id, "status"]:
                return self._status(_topic_level(device_id), Layout.FIRMWARE_V2, payload)
            case ["devices", device_id, "relays", "state"]:
                return self._relay_states(_topic_level(device_id), payload)
            case ["telemetry", "relays", "data"]:
                return self._relay_event(payload)
            case ["errors", device_id, error_type]:
                return SystemMessage(
                    device_id=_topic_level(device_id),
                    layout=Layout.FIRMWARE_V2,
                    kind="error",
                    error_type=_topic_level(error_type),
                    payload=decode_json(payload),
                )
            case [device_id, "status"]:
                return self._status(_topic_level(device_id), Layout.MONITOR, payload)
            case [device_id, "telemetry"]:
                return self._telemetry(_topic_level(device_id), payload)
            case [device_id, "relay", index, "status"]:
                return self._relay_state(_topic_level(device_id), index, payload)
            case [device_id, "display", "interaction"]:
                return DisplayInteraction(
                    device_id=_topic_level(device_id),
                    layout=Layout.MONITOR,
                    data=decode_json_object(payload),
                )
            case [device_id, "system", kind]:
                return SystemMessage(
                    device_id=_topic_level(device_id),
                    layout=Layout.MONITOR,
                    kind=_topic_level(kind),
                    payload=decode_json(payload),
                )
        raise InvalidMessage("not an AutoCore topic")

    def _status(self, device_id: str, layout: Layout, payload: bytes) -> DeviceStatus:
        # Both layouts are read with every field: a missing one simply reads as None.
        fields = FieldReader(decode_json_object(payload))
        return DeviceStatus(
            device_id=device_id,
            layout=layout,
            online=_online(fields),
            ip_address=_ip_address(fields),
            firmware_version=fields.display_string("firmware_version"),
            uptime=fields.integer("uptime"),
            wifi_signal=fields.number("wifi_signal"),
            free_memory=fields.integer("free_memory"),
            board_id=_board_id(fields),
            reason=fields.display_string("reason"),
            problems=tuple(fields.problems),
        )

    def _telemetry(self, device_id: str, payload: bytes) -> Telemetry:
        fields = FieldReader(decode_json_object(payload))
        values: dict[str, float] = {}
        extra: dict[str, float] = {}
        for key, value in fields.data.items():
            if key in _NOT_TELEMETRY:
                continue
            if (name := KNOWN_TELEMETRY.get(key)) is not None:
                number: float | None
                if name in WHOLE_TELEMETRY:  # bytes and seconds, as in the status
                    number = fields.integer(key)
                elif type(value) is float or type(value) is int:  # the usual case, inline
                    number = value
                else:
                    number = fields.number(key)  # records the problem
                if number is not None:
                    values[name] = number
            elif type(value) is int or type(value) is float:
                if _EXTRA_TELEMETRY_KEY.fullmatch(key):
                    extra[key] = value
                else:
                    fields.problems.append(f"{key[:64]!r}: unsupported telemetry key")
            elif isinstance(value, str) and looks_numeric(value):
                fields.wrong_type(key[:64], value, "a number")
        return Telemetry(
            device_id=device_id,
            layout=Layout.MONITOR,
            values=values,
            extra=extra,
            problems=tuple(fields.problems),
        )

    def _relay_state(self, device_id: str, index: str, payload: bytes) -> RelayState:
        relay = _relay_number(index, minimum=0)
        if relay is None:
            raise InvalidMessage(
                f"relay index {index[:16]!r} is not a number from 0 to {MAX_RELAY}"
            )
        fields = FieldReader(decode_json_object(payload))
        state = fields.require("state", fields.boolean("state"))
        return RelayState(
            device_id=device_id,
            layout=Layout.MONITOR,
            relay=relay,
            state=state,
            problems=tuple(fields.problems),
        )

    def _relay_states(self, device_id: str, payload: bytes) -> RelayStates:
        fields = FieldReader(decode_json_object(payload))
        channels = fields.require("channels", fields.obj("channels"))
        relays: dict[int, bool] = {}
        for key, state in channels.items():
            channel = _relay_number(key, minimum=1)
            if channel is None:
                fields.problems.append(f"channels: {key[:16]!r} is not a channel number")
            elif isinstance(state, bool):
                relays[channel] = state
            elif state is not None:
                fields.wrong_type(f"channels.{channel}", state, "a boolean")
        return RelayStates(
            device_id=device_id,
            layout=Layout.FIRMWARE_V2,
            relays=relays,
            problems=tuple(fields.problems),
        )

    def _relay_event(self, payload: bytes) -> RelayState | SafetyShutoff:
        fields = FieldReader(decode_json_object(payload))
        device_id = fields.string("uuid")
        if not is_safe_id(device_id):
            raise InvalidMessage("uuid: missing or not a safe device id")
        channel = fields.integer("channel", minimum=1)
        if channel is None or channel > MAX_RELAY:
            raise InvalidMessage(f"channel: expected a number from 1 to {MAX_RELAY}")
        match fields.require("event", fields.string("event")):
            case "relay_change":
                state = fields.require("state", fields.boolean("state"))
                return RelayState(
                    device_id=device_id,
                    layout=Layout.FIRMWARE_V2,
                    relay=channel,
                    state=state,
                    problems=tuple(fields.problems),
                )
            case "safety_shutoff":
                return SafetyShutoff(
                    device_id=device_id,
                    layout=Layout.FIRMWARE_V2,
                    relay=channel,
                    reason=fields.string("reason"),
                    payload=fields.data,
                    problems=tuple(fields.problems),
                )
            case event:
                raise InvalidMessage(f"event: unknown relay event {event[:32]!r}")

    def relay_command(
        self, device_id: str, layout: Layout, relay: int, state: bool
    ) -> OutgoingMessage:
        """Build the command that switches one relay, in the board's own layout."""
        require_safe_id(device_id)
        minimum = 0 if layout is Layout.MONITOR else 1
        if type(relay) is not int or not minimum <= relay <= MAX_RELAY:
            raise ValueError(f"relay {relay} is outside {minimum}..{MAX_RELAY}")
        if layout is Layout.MONITOR:
            topic = self._relay_topic_template.format(
                base=self.base, device_id=device_id, relay=relay
            )
            body: dict[str, object] = {"state": state, "source": COMMAND_SOURCE}
        else:
            topic = f"{self.base}/devices/{device_id}/relays/set"
            body = {
                "protocol_version": FIRMWARE_PROTOCOL_VERSION,
                "channel": relay,
                "command": "on" if state else "off",
                "source": COMMAND_SOURCE,
            }
        return OutgoingMessage(topic, orjson.dumps(body))

    def device_command(self, device_id: str, command: DeviceCommand) -> OutgoingMessage:
        """Build a firmware v2 device command (layout A defines none)."""
        require_safe_id(device_id)
        body = {"protocol_version": FIRMWARE_PROTOCOL_VERSION, "command": command.value}
        return OutgoingMessage(
            f"{self.base}/devices/{device_id}/commands/{command.value}", orjson.dumps(body)
        )


def _topic_level(level: str) -> str:
    """Return a topic level used as an id or kind, refusing an empty or odd one."""
    if not is_safe_id(level):
        raise InvalidMessage(f"topic level {level[:32]!r} is empty or unsafe")
    return level
