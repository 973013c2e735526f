"""Admission: which new device ids a hub takes on, so that no publisher can grow it unbounded.

Any client of the broker can publish under a base topic, and every new id would become a
registry device with its entities. Each entry therefore caps its devices and the rate at
which new ones are admitted (a token bucket: a fleet's first start admits a minute's worth
at once, then the rate); a family may cap more (AutoCore: extra sensors per board). In
"known devices only" mode no new id is admitted at all: it waits for the user to accept it.

A refused id's latest message per topic is held, within a bound, so that admitting it
later (when the rate allows, or when the user accepts it) loses nothing, not even a
retained status that the broker sends only once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .const import CONF_KNOWN_DEVICES_ONLY, CONF_MAX_DEVICES, CONF_NEW_DEVICES_PER_MINUTE
from .throttle import Throttle

# Defaults of the entry options, and why:
# - Home Assistant sets up at most 10,000 enabled entities per config entry, and a device
#   enables up to about eight (an AutoCore board with telemetry, a router), so 1,250 devices
#   is what one entry can show anyway.
DEFAULT_MAX_DEVICES: Final = 1250
# - Admitting a device writes the device registry and adds its entities: about 2-4 ms of
#   the event loop each here. 600 a minute (10 a second) keeps admission under ~4 % of the
#   loop while a publisher floods, and admits a full entry in about two minutes.
DEFAULT_NEW_DEVICES_PER_MINUTE: Final = 600
MAX_DEVICES_LIMIT: Final = 50_000
MAX_NEW_DEVICES_PER_MINUTE_LIMIT: Final = 60_000

# What is held for ids not admitted yet: the ids offered to the user, and the bytes.
HELD_DEVICES: Final = 5000
HELD_BYTES: Final = 8 * 1024 * 1024


class Refusal(StrEnum):
    """Why something new was not admitted; also the entry option that decides it."""

    MAX_DEVICES = CONF_MAX_DEVICES
    NEW_DEVICES_PER_MINUTE = CONF_NEW_DEVICES_PER_MINUTE
    KNOWN_DEVICES_ONLY = CONF_KNOWN_DEVICES_ONLY
    MAX_EXTRA_SENSORS = "max_extra_sensors"  # AutoCore's option


# Held messages are replayed for these refusals once the id is admitted.
HELD_FOR: Final = frozenset({Refusal.NEW_DEVICES_PER_MINUTE, Refusal.KNOWN_DEVICES_ONLY})


class DeviceRefused(Exception):
    """A message from a device id the hub does not admit (now, or at all)."""

    def __init__(self, refusal: Refusal, wire_id: str) -> None:
        """Say which id and why."""
        super().__init__(f"{refusal}: {wire_id}")
        self.refusal = refusal
        self.wire_id = wire_id


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """The latest message on one topic from an id that is not admitted yet."""

    topic: str
    payload: bytes
    retained: bool


class Admission:
    """The caps of one entry, the token bucket, and the messages of ids not admitted yet."""

    def __init__(
        self,
        *,
        max_devices: int,
        new_devices_per_minute: int,
        known_devices_only: bool,
        now: float,
    ) -> None:
        """Start with a full bucket: a minute's worth of new devices at once."""
        self.max_devices = max_devices
        self.new_devices_per_minute = new_devices_per_minute
        self.known_devices_only = known_devices_only
        self.bucket = Throttle(new_devices_per_minute, 60 / new_devices_per_minute, now)
        self.refused: Counter[Refusal] = Counter()
        self.held: dict[str, dict[str, HeldMessage]] = {}
        self.held_bytes = 0

    def check(self, wire_id: str, devices: int, now: float) -> Refusal | None:
        """Return why a new id cannot be admitted now, or None (and spend a token).

        A new id queues behind the ids already waiting: they are admitted first, in turn.
        """
        if self.known_devices_only:
            return Refusal.KNOWN_DEVICES_ONLY
        if devices >= self.max_devices:
            return Refusal.MAX_DEVICES
        if (self.held and wire_id not in self.held) or not self.bucket.allow(now):
            return Refusal.NEW_DEVICES_PER_MINUTE
        return None

    def hold(self, wire_id: str, topic: str, payload: bytes, *, retained: bool) -> bool:
        """Keep the latest message per topic of an id that waits; False when full.

        When the bound is reached the newest are not kept: the ids already waiting are the
        next to be admitted. One that is not kept is admitted when it speaks again.
        """
        messages = self.held.get(wire_id)
        if messages is None:
            if len(self.held) >= HELD_DEVICES:
                return False
            messages = self.held[wire_id] = {}
        previous = messages.get(topic)
        grown = len(payload) - (0 if previous is None else len(previous.payload))
        if self.held_bytes + grown > HELD_BYTES:
            if not messages:
                del self.held[wire_id]
            return False
        messages[topic] = HeldMessage(topic, payload, retained)
        self.held_bytes += grown
        return True

    def release(self, wire_id: str) -> list[HeldMessage]:
        """Return and forget what an id's messages held (none if it held nothing)."""
        messages = list(self.held.pop(wire_id, {}).values())
        self.held_bytes -= sum(len(message.payload) for message in messages)
        return messages
