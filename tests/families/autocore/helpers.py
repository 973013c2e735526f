"""AutoCore test helpers: the entry, and messages as the boards send them.

Layout A is the MQTT Monitor firmware, layout B firmware v2 (docs/protocols.md, section
"AutoCore").
"""

from __future__ import annotations

from typing import Any

from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet.const import CONF_BASE_TOPIC, CONF_FAMILY, DOMAIN

from ...common import default_options, dumps, entry_id_for

BASE = "autocore"
BOARD_A = "ESP32_001"
BOARD_B = "board-b1"


def autocore_entry(base: str = BASE) -> MockConfigEntry:
    """An AutoCore entry under `base` with the family's default options."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"AutoCore ({base})",
        data={CONF_FAMILY: "autocore", CONF_BASE_TOPIC: base},
        options=default_options("autocore"),
        unique_id=f"autocore:{base}",
        entry_id=entry_id_for(f"autocore:{base}"),
        version=2,
        minor_version=1,
    )


def status_a(status: str = "online", **extra: Any) -> str:
    """Layout A status (an MQTT Monitor board)."""
    return dumps(
        {
            "device_id": BOARD_A,
            "status": status,
            "ip_address": "192.168.1.100",
            "firmware_version": "1.2.0",
            "uptime": 3600,
            "timestamp": "2025-01-28T10:30:00Z",
            **extra,
        }
    )


def telemetry_a(**values: Any) -> str:
    """Layout A telemetry (an MQTT Monitor board), with overrides."""
    payload: dict[str, Any] = {
        "device_id": BOARD_A,
        "temperature": 25.6,
        "humidity": 45.2,
        "voltage": 3.28,
        "memory_free": 45120,
        "timestamp": "2025-01-28T10:30:15Z",
    }
    payload.update(values)
    return dumps(payload)


def relay_a(index: int, state: bool) -> str:
    """Layout A relay status."""
    return dumps(
        {"device_id": BOARD_A, "relay_index": index, "state": state, "triggered_by": "manual"}
    )


def status_b(status: str = "online", **extra: Any) -> str:
    """Layout B (firmware v2) status."""
    return dumps(
        {
            "protocol_version": "2.2.0",
            "uuid": BOARD_B,
            "timestamp": "2025-01-28T10:30:00Z",
            "status": status,
            "firmware_version": "2.0.0",
            "ip_address": "0.0.0.0",
            "wifi_signal": -61,
            "free_memory": 180000,
            "uptime": 7200,
            "board_id": "relay_board_1",
            "type": "esp32_relay",
            "channels": 4,
            **extra,
        }
    )


def relays_b(**channels: bool) -> str:
    """Layout B relays/state; keys like ch1=True."""
    return dumps(
        {
            "uuid": BOARD_B,
            "board_id": "relay_board_1",
            "channels": {key.removeprefix("ch"): value for key, value in channels.items()},
        }
    )


def relay_event_b(channel: int, state: bool) -> str:
    """Layout B relay_change event (uuid only in the payload)."""
    return dumps(
        {
            "uuid": BOARD_B,
            "board_id": "relay_board_1",
            "event": "relay_change",
            "channel": channel,
            "state": state,
            "trigger": "mqtt",
            "source": "home_assistant",
        }
    )
