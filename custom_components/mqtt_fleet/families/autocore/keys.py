"""AutoCore entity keys: part of entity unique ids, so never derived from protocol names."""

from __future__ import annotations

from typing import Final

from ...keys import FREE_MEMORY, LAST_RESTART, UPTIME
from ...protocol.autocore import Layout

TEMPERATURE: Final = "temperature"
HUMIDITY: Final = "humidity"
VOLTAGE: Final = "voltage"
WIFI_SIGNAL: Final = "wifi_signal"
IP_ADDRESS: Final = "ip_address"
DISCONNECT_REASON: Final = "disconnect_reason"
DISPLAY: Final = "display"
EXTRA_TELEMETRY_PREFIX: Final = "telemetry_"
# The protocol's common telemetry names, each with the key of its sensor (uptime is shown
# as the time of the last restart).
TELEMETRY: Final = {
    "temperature": TEMPERATURE,
    "humidity": HUMIDITY,
    "voltage": VOLTAGE,
    "free_memory": FREE_MEMORY,
    "wifi_signal": WIFI_SIGNAL,
    "uptime": LAST_RESTART,
}
# Keys no longer offered: uptime became the last restart, and the firmware version is
# device information (shown once, on the device page), not a sensor of its own.
RETIRED: Final = frozenset({UPTIME, "firmware_version"})
# Relays keep the board's own numbering, and the key says the layout.
_RELAY_KEY_PREFIX: Final = {Layout.MONITOR: "relay_", Layout.FIRMWARE_V2: "channel_"}
# What the board's number of its first relay is: layout A counts from 0, layout B from 1.
_FIRST_RELAY: Final = {Layout.MONITOR: 0, Layout.FIRMWARE_V2: 1}


def extra_telemetry_key(name: str) -> str:
    """Return the key of a telemetry value the protocol does not name (sent as is)."""
    return f"{EXTRA_TELEMETRY_PREFIX}{name}"


PRESSURE: Final = extra_telemetry_key("pressure")


def relay_key(layout: Layout, relay: int) -> str:
    """Return the entity key of a relay."""
    return f"{_RELAY_KEY_PREFIX[layout]}{relay}"


def parse_relay_key(key: str) -> tuple[Layout, int] | None:
    """Return (layout, relay) for a relay entity key, else None."""
    for layout, prefix in _RELAY_KEY_PREFIX.items():
        if key.startswith(prefix) and (number := key[len(prefix) :]).isdecimal():
            return layout, int(number)
    return None


def relay_label(layout: Layout, relay: int) -> str:
    """Return the number a relay is shown with: from 01 on both layouts.

    Two digits, because Home Assistant sorts entity names as text ("Relay 10" before
    "Relay 2"); the firmware's boards have 16 channels.
    """
    return f"{relay - _FIRST_RELAY[layout] + 1:02d}"
