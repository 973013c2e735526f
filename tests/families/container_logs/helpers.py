"""Container logs test helpers: the entry, logs and batches as the manager sends them.

MqttLogBackend's topics and payloads: docs/protocols.md, section "Container logs".
"""

from __future__ import annotations

from datetime import datetime
import json
from typing import Any

from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.mqtt_fleet.const import DOMAIN

from ...clock import settle
from ...common import default_options, device_by_identifier, entry_id_for

BASE = "container-manager/logs"
KEY = entry_id_for(f"container_logs:{BASE}")
START = "2026-01-02T03:04:05+00:00"
START_MS = int(datetime.fromisoformat(START).timestamp() * 1000)
WEB = "1:web"
HUB_INVALID = "sensor.container_logs_invalid_messages"


def logs_entry(base: str = BASE, **options: Any) -> MockConfigEntry:
    """A Container logs entry under `base` with the default options and `options`."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Container logs ({base})",
        unique_id=f"container_logs:{base}",
        entry_id=entry_id_for(f"container_logs:{base}"),
        data={"family": "container_logs", "base_topic": base},
        options=default_options("container_logs") | options,
        version=2,
        minor_version=1,
    )


def log(
    message: str = "Server started",
    level: str = "info",
    *,
    timestamp: int | None = START_MS,
    **fields: Any,
) -> dict[str, Any]:
    """A LogMessage as the container manager's MqttLogBackend serialises it (JSON.stringify)."""
    body: dict[str, Any] = {"message": message}
    if timestamp is not None:
        body["timestamp"] = timestamp
    body["level"] = level
    body["source"] = {"type": "container", "name": "web"}
    body |= {"serviceId": 1001, "serviceName": "web", "containerId": "c0ffee", "isStdErr": False}
    body.update(fields)
    return body


def batch(*logs: dict[str, Any], count: int | None = None) -> str:
    """A `/batch` payload: {count, logs}."""
    return json.dumps({"count": len(logs) if count is None else count, "logs": list(logs)})


async def fire(hass: HomeAssistant, leaf: str, payload: str | bytes | dict[str, Any]) -> None:
    """Deliver a message on `{BASE}/{leaf}`."""
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    async_fire_mqtt_message(hass, f"{BASE}/{leaf}", payload)
    await settle(hass)


def entity_id(
    hass: HomeAssistant, source: str, key: str, *, hub_key: str = KEY, platform: str = "sensor"
) -> str | None:
    """Return the entity id of a source's sensor, None when it was never created."""
    return er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{hub_key}/{source}/{key}")


def state(hass: HomeAssistant, source: str, key: str) -> Any:
    """Return the state object of a source's sensor (it must exist)."""
    entity = entity_id(hass, source, key)
    assert entity is not None, (source, key)
    return hass.states.get(entity)


def problem_entity(hass: HomeAssistant, source: str) -> str:
    """Return the entity id of a source's "Warning or error" event entity (it must exist)."""
    entity = entity_id(hass, source, "problem", platform="event")
    assert entity is not None, source
    return entity


def problem(hass: HomeAssistant, source: str) -> Any:
    """Return the state object of a source's "Warning or error" event entity."""
    return hass.states.get(problem_entity(hass, source))


def registry_device(hass: HomeAssistant, source: str, hub_key: str = KEY) -> dr.DeviceEntry:
    device = device_by_identifier(dr.async_get(hass), f"{hub_key}/{source}")
    assert device is not None, source
    return device


def changes(events: list[Event], entity: str) -> list[str]:
    """The states an entity changed to (state_changed events)."""
    return [
        event.data["new_state"].state
        for event in events
        if event.data["entity_id"] == entity and event.data["new_state"] is not None
    ]
