"""AutoCore messages as boards send them, and registry look-ups, shared by the HA tests."""

from __future__ import annotations

import json
import re
from typing import Any

from homeassistant.helpers import device_registry as dr

from custom_components.mqtt_fleet.config_flow import entry_title as spec_entry_title
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES

BASE = "autocore"
BOARD_A = "ESP32_001"
BOARD_B = "board-b1"


def entry_id_for(unique_id: str) -> str:
    """A fixed, readable entry id for a test entry (HA makes a random one).

    Registry identifiers start with the entry id, so tests can name devices by it.
    """
    return "entry_" + re.sub(r"[^a-z0-9]+", "_", unique_id)


def default_options(family: str) -> dict[str, Any]:
    """The options a new entry of `family` starts with (a copy to extend)."""
    return dict(FAMILIES[family].default_options)


def entry_title(family: str, base: str) -> str:
    """The title the config flow gives an entry of `family` under `base`."""
    return spec_entry_title(FAMILIES[family], base)


def device_by_identifier(registry: dr.DeviceRegistry, identifier: str) -> dr.DeviceEntry | None:
    """Our registry device with this identifier, if any (each is held by one entry only)."""
    found = registry.async_get_devices(identifiers={(DOMAIN, identifier)})
    assert len(found) <= 1, found
    return found[0] if found else None


def publishes(mqtt_mock: Any) -> list[tuple[Any, ...]]:
    """(topic, payload, qos, retain) of each publish through HA's mocked MQTT client.

    HA adds keyword arguments to the client's publish over time; these four are the contract.
    """
    return [tuple(call.args[:4]) for call in mqtt_mock.async_publish.call_args_list]


def dumps(payload: dict[str, Any]) -> str:
    """Encode a payload the way the boards do."""
    return json.dumps(payload)


def status_a(status: str = "online", **extra: Any) -> str:
    """Layout A status, as in seed 001."""
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
    """Layout A telemetry, as in seed 001, with overrides."""
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
