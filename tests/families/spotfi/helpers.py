"""SpotFi test helpers: the entry, the bridge's messages, and what HA published.

spotfi-bridge-go's topics and payloads: docs/protocols.md, section "SpotFi".
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.mqtt_fleet.const import DOMAIN

from ...clock import settle
from ...common import default_options, device_by_identifier, entry_id_for

BASE = "spotfi/router"
ROUTER = "rtr-1a2b3c4d"
START = "2026-01-02T03:04:05+00:00"
HEX24 = re.compile(r"[0-9a-f]{24}")

PREFIX = f"sensor.{ROUTER.replace('-', '_')}"
CONNECTIVITY = f"binary_sensor.{ROUTER.replace('-', '_')}_connectivity"
CPU = f"{PREFIX}_cpu_load"
MEMORY_USED = f"{PREFIX}_memory_used"
FREE_MEMORY = f"{PREFIX}_free_memory"
TOTAL_MEMORY = f"{PREFIX}_total_memory"
ACTIVE_USERS = f"{PREFIX}_active_users"
UPTIME = f"{PREFIX}_uptime"
LAST_HEARTBEAT = f"{PREFIX}_last_heartbeat"
INVALID = "sensor.spotfi_spotfi_router_invalid_messages"

# The bridge's heartbeat exactly as Go's encoding/json marshals it: keys sorted, no spaces,
# whole numbers without a decimal point, uptime as a string of seconds.
METRICS = (
    '{"metrics":{"activeUsers":7,"cpuLoad":12.5,"freeMemory":104857600,'
    '"totalMemory":262144000,"uptime":"86400"},"type":"metrics"}'
)
METRICS_GARBAGE_CPU = (
    '{"metrics":{"activeUsers":9,"cpuLoad":"%!f(<nil>)","freeMemory":52428800,'
    '"totalMemory":262144000,"uptime":"86430"},"type":"metrics"}'
)


def spotfi_entry(base: str = BASE, **options: Any) -> MockConfigEntry:
    """A SpotFi entry under `base` with the family's default options and `options`."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"SpotFi ({base})",
        unique_id=f"spotfi:{base}",
        entry_id=entry_id_for(f"spotfi:{base}"),
        data={"family": "spotfi", "base_topic": base},
        options=default_options("spotfi") | options,
        version=2,
        minor_version=1,
    )


def metrics(**values: Any) -> str:
    """A heartbeat in Go's form with some values replaced."""
    fields: dict[str, Any] = {
        "activeUsers": 7,
        "cpuLoad": 12.5,
        "freeMemory": 104857600,
        "totalMemory": 262144000,
        "uptime": "86400",
    }
    fields.update(values)
    return json.dumps({"metrics": fields, "type": "metrics"}, sort_keys=True, separators=(",", ":"))


async def fire(hass: HomeAssistant, router: str, leaf: str, payload: str | bytes) -> None:
    """Deliver a router's message under `spotfi/router/<router>/<leaf>`."""
    async_fire_mqtt_message(hass, f"{BASE}/{router}/{leaf}", payload)
    await settle(hass)


def publishes(mqtt_mock: Any, leaf: str, router: str = ROUTER) -> list[Any]:
    """Return the publish calls on `spotfi/router/<router>/<leaf>` so far."""
    topic = f"{BASE}/{router}/{leaf}"
    return [call for call in mqtt_mock.async_publish.call_args_list if call.args[0] == topic]


def bodies(mqtt_mock: Any, leaf: str, router: str = ROUTER) -> list[dict[str, Any]]:
    return [json.loads(call.args[1]) for call in publishes(mqtt_mock, leaf, router)]


def action(hass: HomeAssistant, service: str, data: dict[str, Any]) -> asyncio.Task[Any]:
    """Start an action call (a plain task: block_till_done does not wait for it)."""
    return asyncio.create_task(
        hass.services.async_call(DOMAIN, service, data, blocking=True, return_response=True)
    )


def rpc_reply(request_id: str, status: str = "success", **fields: Any) -> str:
    body = {"id": request_id, "status": status, "type": "rpc-result", **fields}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def tunnel(kind: str, session: str | None = None, **fields: Any) -> str:
    body: dict[str, Any] = {"type": kind, **fields}
    if session is not None:
        body["sessionId"] = session
    return json.dumps(body)


def output(text: str, session: str | None = None) -> str:
    return tunnel("x-data", session, data=base64.b64encode(text.encode()).decode())


def registry_device(hass: HomeAssistant, router: str = ROUTER) -> dr.DeviceEntry:
    device = device_by_identifier(dr.async_get(hass), f"{entry_id_for(f'spotfi:{BASE}')}/{router}")
    assert device is not None
    return device
