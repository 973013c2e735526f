"""Topic safety: ids that become topic levels, base topics and the messages we publish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeGuard

from .payload import InvalidMessage

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_TOPIC_BYTES",
    "BaseTopic",
    "OutgoingMessage",
    "UnsafeIdError",
    "base_topic_problem",
    "is_safe_id",
    "require_safe_id",
]

MAX_ID_LENGTH: Final = 128
MAX_TOPIC_BYTES: Final = 65535
_PATH_TRICKS: Final = frozenset({".", ".."})


class UnsafeIdError(ValueError):
    """An id that must not be placed in a topic we publish."""


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to publish: everything a transport needs, nothing more."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


def is_safe_id(value: object) -> TypeGuard[str]:
    """Return True for a non-empty id that is one topic level without wildcards.

    NUL and every other unprintable character (controls, lone surrogates, odd spaces) and
    over-long ids are refused too: ids come from the network and end up in topics,
    device names and entity ids. So are `.` and `..`, path tricks wherever an id becomes
    part of a path, and ids starting with `$`, which MQTT reserves for the broker (`$SYS`).
    """
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_ID_LENGTH
        and value.isprintable()
        and "/" not in value
        and "+" not in value
        and "#" not in value
        and not value.startswith("$")
        and value not in _PATH_TRICKS
    )


def require_safe_id(value: str) -> str:
    """Return `value` if it is a safe id, else raise UnsafeIdError."""
    if not is_safe_id(value):
        raise UnsafeIdError(
            f"unsafe id {value!r}: it must be one topic level of printable characters"
            " without + # /, not . or .. and not starting with $"
        )
    return value


def base_topic_problem(base: str) -> str | None:
    """Return a code for what makes a base topic unusable, or None when it is fine.

    Codes: empty, edge_slash, empty_level, wildcard, control_character, too_long.
    """
    if not base:
        return "empty"
    if base.startswith("/") or base.endswith("/"):
        return "edge_slash"
    if "//" in base:
        return "empty_level"
    if "+" in base or "#" in base:
        return "wildcard"
    if not base.isprintable():
        return "control_character"
    if len(base.encode("utf-8")) > MAX_TOPIC_BYTES // 2:
        return "too_long"
    return None


class BaseTopic:
    """A family's base topic, checked once, and the levels of the topics under it."""

    __slots__ = ("_prefix", "base")

    def __init__(self, base: str) -> None:
        """Refuse a base topic that is not usable."""
        if (problem := base_topic_problem(base)) is not None:
            raise ValueError(f"invalid base topic {base!r}: {problem}")
        self.base = base
        self._prefix = f"{base}/"

    def levels(self, topic: str) -> list[str]:
        """Return the levels of `topic` below the base, or raise InvalidMessage."""
        if not topic.startswith(self._prefix):
            raise InvalidMessage("topic is outside the base topic")
        return topic[len(self._prefix) :].split("/")
