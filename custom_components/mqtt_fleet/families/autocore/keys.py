"""AutoCore entity keys: part of entity unique ids, so never derived from protocol names."""

from __future__ import annotations

from typing import Final

from ...keys import FREE_MEMORY, UPTIME
from ...protocol.autocore import Layout

TEMPERATURE: Final = "temperature"
HUMIDITY: Final = "humidity"
VOLTAGE: Final = "voltage"
WIFI_SIGNAL: Final = "wifi_signal"
IP_ADDRESS: Final = "ip_address"
FIRMWARE_VERSION: Final = "firmware_version"
DISPLAY: Final = "display"
EXTRA_TELEMETRY_PREFIX: Final = "telemetry_"
# The protocol's common telemetry names, each with the key of its sensor.
TELEMETRY: Final = {
    "temperature": TEMPERATURE,
    "humidity": HUMIDITY,
    "voltage": VOLTAGE,
    "free_memory": FREE_MEMORY,
    "wifi_signal": WIFI_SIGNAL,
    "uptime": UPTIME,
}
# Relays keep the board's own numbering, and the key says the layout.
_RELAY_KEY_PREFIX: Final = {Layout.MONITOR: "relay_", Layout.FIRMWARE_V2: "channel_"}


def extra_telemetry_key(name: str) -> str:
    """Return the key of a telemetry value the protocol does not name (sent as is)."""
    return f"{EXTRA_TELEMETRY_PREFIX}{name}"


def relay_key(layout: Layout, relay: int) -> str:
    """Return the entity key of a relay."""
    return f"{_RELAY_KEY_PREFIX[layout]}{relay}"


def parse_relay_key(key: str) -> tuple[Layout, int] | None:
    """Return (layout, relay) for a relay entity key, else None."""
    for layout, prefix in _RELAY_KEY_PREFIX.items():
        if key.startswith(prefix) and (number := key[len(prefix) :]).isdecimal():
            return layout, int(number)
    return None
