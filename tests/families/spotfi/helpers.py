"""SpotFi test helpers: the entry, the bridge's messages, and what HA published.

spotfi-bridge-go's topics and payloads: docs/protocols.md, section "SpotFi".
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.mqtt_fleet.const import DOMAIN
from tools.simulator.openwrt import LOGIN, PROMPT, ROUTER_MODELS, OpenWrt, UbusError

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
LAST_RESTART = f"{PREFIX}_last_restart"
DISCONNECT_REASON = f"{PREFIX}_last_disconnect_reason"
LAST_HEARTBEAT = f"{PREFIX}_last_heartbeat"
INVALID = "sensor.spotfi_invalid_messages"

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


class FakeRouter:
    """spotfi-bridge-go on the simulator's OpenWrt (tools/simulator), behind the MQTT mock.

    It answers what HA publishes to the router: ubus RPC from the simulated system, and a
    terminal that greets with the OpenWrt banner and prompt, echoes what is typed and ends
    lines with CR LF, in 64-byte chunks, as ash through a PTY does. `answer_rpc` False
    leaves requests unanswered.
    """

    def __init__(self, hass: HomeAssistant, mqtt_mock: Any, router: str = ROUTER) -> None:
        """Put the router behind the mock's publish; `attach` starts answering."""
        self.hass = hass
        self.mqtt_mock = mqtt_mock
        self.router = router
        self.system = OpenWrt(random.Random(7), on_reboot=lambda: None)  # noqa: S311
        self.system.model = next(m for m in ROUTER_MODELS if m.model.startswith("Xiaomi"))
        self.rpc_requests: list[tuple[str, str]] = []
        self.answer_rpc = True
        self.typed = ""  # what the terminal got since its last complete line

    def attach(self) -> None:
        """Answer from now on what HA publishes to the router."""
        real_publish = self.mqtt_mock.async_publish._mock_wraps

        async def publish(
            topic: str, payload: bytes, qos: int, retain: bool, **kwargs: Any
        ) -> None:
            await real_publish(topic, payload, qos, retain, **kwargs)
            self.hass.loop.call_soon(self._receive, topic, payload)

        self.mqtt_mock.async_publish.side_effect = publish

    def detach(self) -> None:
        """Stop answering."""
        self.mqtt_mock.async_publish.side_effect = None

    def _send(self, leaf: str, payload: str) -> None:
        async_fire_mqtt_message(self.hass, f"{BASE}/{self.router}/{leaf}", payload)

    def _receive(self, topic: str, payload: bytes) -> None:
        body = json.loads(payload)
        if topic.endswith("/rpc/request"):
            self.rpc_requests.append((body["path"], body["method"]))
            if not self.answer_rpc:
                return
            try:
                result = self.system.ubus(body["path"], body["method"], body["args"])
            except UbusError as err:  # the bridge passes ubus's stderr on, newline and all
                reply = rpc_reply(
                    body["id"], "error", error=err.error, stderr=f"Command failed: {err.status}\n"
                )
            else:
                reply = rpc_reply(body["id"], result=result)
            self._send("rpc/response", reply)
        elif topic.endswith("/x/in") and body["type"] == "x-start":
            self._send("x/out", tunnel("x-started", status="ready"))
            self._terminal(LOGIN + PROMPT)
        elif topic.endswith("/x/in") and body["type"] == "x-data":
            self._terminal(self._type(base64.b64decode(body["data"]).decode()))

    def _type(self, keys: str) -> bytes:
        echo = ""
        for char in keys:
            if char != "\n":
                self.typed += char
                echo += char
                continue
            echo += "\r\n"
            if self.system.incomplete(self.typed):
                self.typed += "\n"
                echo += "> "
                continue
            result = self.system.run(self.typed)
            self.typed = ""
            echo += (result or "").replace("\n", "\r\n") + PROMPT.decode()
        return echo.encode()

    def _terminal(self, data: bytes) -> None:
        for start in range(0, len(data), 64):
            self._send("x/out", output_bytes(data[start : start + 64]))


def output_bytes(data: bytes) -> str:
    return tunnel("x-data", data=base64.b64encode(data).decode())
