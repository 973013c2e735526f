"""Payload decoding shared by every family: size, UTF-8, strict JSON, typed fields, display text."""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import json
import math
import re
from typing import Final

import orjson

__all__ = [
    "MAX_INTEGER",
    "MAX_PAYLOAD_BYTES",
    "FieldReader",
    "InvalidMessage",
    "JsonObject",
    "decode_json",
    "decode_json_object",
    "decode_text",
    "display_text",
    "json_type",
    "looks_numeric",
]

MAX_PAYLOAD_BYTES: Final = 64 * 1024
# The largest whole number read (int64, what the devices' encoders send): larger ones
# (1e308 is whole) would become states longer than Home Assistant allows.
MAX_INTEGER: Final = 2**63 - 1

type JsonObject = Mapping[str, object]

# What a terminal or a text renderer acts on instead of showing: ANSI escape sequences
# (CSI `ESC [ ... final`; OSC and the other control strings up to BEL or ST, or the end;
# the short `ESC x` sequences), then every other control (Cc) and format (Cf) character of
# Unicode 16 but whitespace, which becomes a space. The characters are listed because
# finding them with unicodedata takes 0.2 s at import; a test holds the list to it.
_HIDDEN: Final = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[P\]X^_][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
    r"|[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891"
    r"\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    r"\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0001\U000e0020-\U000e007f]"
)
_WHITESPACE_RUN: Final = re.compile(r"\s+")


class InvalidMessage(Exception):
    """A received message that breaks the wire contract; `reason` says how."""

    def __init__(self, reason: str) -> None:
        """Keep the reason for counters, logs and dead letters."""
        super().__init__(reason)
        self.reason = reason


def _check_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidMessage(f"payload of {len(payload)} bytes exceeds 64 KiB")


def decode_text(payload: bytes) -> str:
    """Decode a plain-text UTF-8 payload of at most 64 KiB."""
    _check_size(payload)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidMessage("payload is not valid UTF-8") from None


def decode_json(payload: bytes) -> object:
    """Decode a UTF-8 JSON payload of at most 64 KiB; NaN and Infinity are refused."""
    _check_size(payload)
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as err:
        if "allocat" in str(err):
            return _decode_by_orjson_rules(payload)
        raise InvalidMessage(_json_failure_reason(payload, str(err))) from None


def _decode_by_orjson_rules(payload: bytes) -> object:
    """Decode with Python's parser what orjson refused for want of memory, by orjson's rules.

    orjson 3.11 and later fails to allocate for some valid documents of a few KiB that hold
    several deeply nested values; such a payload is still a valid message. The rules are
    orjson's: no NaN or Infinity, no lone surrogate, whole numbers beyond 64 bits as floats.
    """
    try:
        value = json.loads(
            payload.decode("utf-8"),  # as a str: bytes would let a byte order mark pass
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_orjson_int,
        )
    except (ValueError, RecursionError) as err:
        raise InvalidMessage(_json_failure_reason(payload, str(err))) from None
    if _holds_lone_surrogate(value):
        raise InvalidMessage("invalid JSON (lone surrogate)")
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    if math.isinf(number := float(text)):
        raise ValueError("number is infinity when parsed as double")
    return number


def _orjson_int(text: str) -> int | float:
    number = int(text)
    return number if -(2**63) <= number < 2**64 else float(number)


def _holds_lone_surrogate(value: object) -> bool:
    """Walk without recursion: the value may be nested about a thousand levels deep."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
    return False


def decode_json_object(payload: bytes) -> JsonObject:
    """Decode a payload that must be a JSON object."""
    value = decode_json(payload)
    if not isinstance(value, dict):
        raise InvalidMessage(f"expected a JSON object, got {json_type(value)}")
    return value


def _json_failure_reason(payload: bytes, detail: str) -> str:
    """Name the failure in terms a user can act on."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "payload is not valid UTF-8"
    # Python's own parser reads NaN and Infinity as constants; orjson names 1e400 itself.
    constants: list[str] = []
    if "NaN" in text or "Infinity" in text:  # parse a second time only when it can tell
        with contextlib.suppress(ValueError, RecursionError):
            json.loads(text, parse_constant=constants.append)
    if constants or "infinity" in detail:
        return "payload contains NaN or Infinity"
    return f"invalid JSON ({detail.split(':', 1)[0]})"


def display_text(value: str) -> str | None:
    """Return a device's text as it may be shown as a name or version, None if nothing shows.

    Escape sequences and invisible controls are dropped (a board id could otherwise recolour
    a terminal, break a log line or reverse a name), whitespace runs become one space.
    """
    return _WHITESPACE_RUN.sub(" ", _HIDDEN.sub("", value)).strip() or None


def json_type(value: object) -> str:
    """Name a decoded JSON value's type the way JSON does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def looks_numeric(text: str) -> bool:
    """Return True for a string that Python would read as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


class FieldReader:
    """Typed reads from a JSON object; a wrong type is recorded as a problem, never raised.

    A missing key or a JSON null reads as None without a problem: the sender did not
    report that value, so the last good one stays.
    """

    __slots__ = ("data", "problems")

    def __init__(self, data: JsonObject) -> None:
        """Read from `data`, collecting problems."""
        self.data = data
        self.problems: list[str] = []

    def wrong_type(self, key: str, value: object, expected: str) -> None:
        """Record that `key` held `value` where `expected` was due."""
        if expected == "a number" and isinstance(value, str) and looks_numeric(value):
            self.problems.append(f"{key}: number sent as a string")
        else:
            self.problems.append(f"{key}: expected {expected}, got {json_type(value)}")

    def require[T](self, key: str, value: T | None) -> T:
        """Return a value the message cannot do without, or raise InvalidMessage."""
        if value is None:
            last = self.problems[-1] if self.problems else ""
            raise InvalidMessage(last if last.startswith(f"{key}:") else f"{key}: missing")
        return value

    def number(self, key: str) -> float | None:
        """Read a finite JSON number (never a boolean or a numeric string)."""
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) is int or type(value) is float:
            return value
        self.wrong_type(key, value, "a number")
        return None

    def integer(self, key: str, minimum: int = 0, maximum: int = MAX_INTEGER) -> int | None:
        """Read a whole JSON number from `minimum` to `maximum`."""
        value = self.number(key)
        if value is None:
            return None
        if value != int(value) or value < minimum:
            self.problems.append(f"{key}: expected a whole number >= {minimum}")
            return None
        if value > maximum:
            self.problems.append(f"{key}: expected a whole number <= {maximum}")
            return None
        return int(value)

    def string(self, key: str) -> str | None:
        """Read a JSON string."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        self.wrong_type(key, value, "a string")
        return None

    def display_string(self, key: str) -> str | None:
        """Read a JSON string shown as a name or version: cleaned by `display_text`."""
        value = self.string(key)
        return None if value is None else display_text(value)

    def boolean(self, key: str) -> bool | None:
        """Read a JSON boolean."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        self.wrong_type(key, value, "a boolean")
        return None

    def obj(self, key: str) -> JsonObject | None:
        """Read a nested JSON object."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, dict):
            return value
        self.wrong_type(key, value, "an object")
        return None
