"""SpotFi routers: status and heartbeat, sensors, and the rpc_call / terminal_exec actions."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
from datetime import timedelta
import json
import re
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.mqtt_fleet.const import (
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)
from custom_components.mqtt_fleet.families.spotfi.actions import (
    SERVICE_RPC_CALL,
    SERVICE_TERMINAL_EXEC,
)
from custom_components.mqtt_fleet.families.spotfi.hub import SpotFiHub
from tests.common import default_options, entry_id_for

from .clock import advance, settle, until as _until
from .common import device_by_identifier

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


# --- helpers ----------------------------------------------------------------------------


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


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def spotfi_options() -> dict[str, Any]:
    """Options on top of the defaults."""
    return {}


@pytest.fixture
def platforms() -> list[Platform]:
    """The platforms to load."""
    return [Platform.BINARY_SENSOR, Platform.SENSOR]


@pytest.fixture
async def spotfi(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    spotfi_options: dict[str, Any],
    platforms: list[Platform],
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the SpotFi entry at a frozen time (MQTT first: it cannot load frozen)."""
    freezer.move_to(START)
    entry = spotfi_entry(**spotfi_options)
    entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        mqtt_mock.async_publish.reset_mock()
        yield entry


@pytest.fixture
async def router(hass: HomeAssistant, spotfi: MockConfigEntry) -> MockConfigEntry:
    """The entry with one router that reported ONLINE and a heartbeat."""
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    return spotfi


# --- status and heartbeat ---------------------------------------------------------------


async def test_status_creates_the_router_heartbeat_makes_it_connected(
    hass: HomeAssistant, spotfi: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    hub: SpotFiHub = spotfi.runtime_data
    assert set(hub.subscriptions) == {
        f"{BASE}/+/status",
        f"{BASE}/+/metrics",
        f"{BASE}/+/rpc/response",
        f"{BASE}/+/x/out",
    }
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    back = async_capture_events(hass, EVENT_DEVICE_ONLINE)

    async_fire_mqtt_message(hass, f"{BASE}/{ROUTER}/status", "ONLINE", retain=True)
    await settle(hass)
    device = registry_device(hass)
    hub_device = device_by_identifier(dr.async_get(hass), "entry_spotfi_spotfi_router")
    assert device.model == "OpenWrt router (SpotFi bridge)"
    assert device.manufacturer == "SpotFi"
    assert device.name == ROUTER
    assert device.via_device_id == hub_device.id
    assert [event.data for event in discovered] == [
        {"device_id": device.id, "device": ROUTER, "family": "spotfi"}
    ]
    # A retained ONLINE alone does not prove the router is there now.
    assert hass.states.get(CONNECTIVITY).state == "unknown"

    await advance(hass, freezer, 20)
    await fire(hass, ROUTER, "metrics", METRICS)
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(CPU).state == "12.5"

    # Heartbeats every 30 s keep it connected.
    await advance(hass, freezer, 30)
    await fire(hass, ROUTER, "metrics", METRICS)
    await advance(hass, freezer, 59)
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert offline == []

    # No heartbeat for 60 s: off, though the retained status still says ONLINE.
    await advance(hass, freezer, 1.5)
    assert hub.devices[ROUTER].online is True
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert hass.states.get(CPU).state == STATE_UNAVAILABLE
    assert [event.data["device"] for event in offline] == [ROUTER]
    await fire(hass, ROUTER, "status", "ONLINE")
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF

    await fire(hass, ROUTER, "metrics", METRICS)
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(CPU).state == "12.5"
    assert [event.data["device"] for event in back] == [ROUTER]

    # OFFLINE (also the Last Will) turns it off at once.
    await fire(hass, ROUTER, "status", "OFFLINE")
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert hass.states.get(CPU).state == STATE_UNAVAILABLE
    assert len(offline) == 2
    assert len(discovered) == 1
    assert hub.invalid_messages == 0


async def test_router_never_heard_goes_off_after_the_timeout(
    hass: HomeAssistant, spotfi: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    await fire(hass, ROUTER, "status", "ONLINE")
    await advance(hass, freezer, 59)
    assert hass.states.get(CONNECTIVITY).state == "unknown"
    await advance(hass, freezer, 1.5)
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert offline == []  # it was never known to be connected


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        ("OFFLINE", STATE_OFF),
        ("online", STATE_ON),
        ('"ONLINE"', STATE_ON),
        ('{"status": "online"}', STATE_ON),
        ('{"status": "OFFLINE"}', STATE_OFF),
        (" ONLINE\n", STATE_ON),
    ],
)
async def test_status_forms(
    hass: HomeAssistant, spotfi: MockConfigEntry, payload: str, state: str
) -> None:
    await fire(hass, ROUTER, "metrics", METRICS)
    await fire(hass, ROUTER, "status", payload)
    assert hass.states.get(CONNECTIVITY).state == state
    assert spotfi.runtime_data.invalid_messages == 0


@pytest.mark.parametrize("payload", ["UP", "", '{"status": 1}', "[]", "{}", b"\xff"])
async def test_invalid_status_is_counted(
    hass: HomeAssistant, spotfi: MockConfigEntry, payload: str | bytes
) -> None:
    hub: SpotFiHub = spotfi.runtime_data
    await fire(hass, ROUTER, "status", payload)
    assert hub.invalid_messages == 1
    assert ROUTER not in hub.devices


async def test_metrics_sensors(hass: HomeAssistant, spotfi: MockConfigEntry) -> None:
    await fire(hass, ROUTER, "metrics", METRICS)
    assert spotfi.runtime_data.invalid_messages == 0

    cpu = hass.states.get(CPU)
    assert cpu.state == "12.5"
    assert cpu.attributes["unit_of_measurement"] == "%"
    assert cpu.attributes["state_class"] == "measurement"

    used = hass.states.get(MEMORY_USED)
    assert used.state == "60.0"  # (262144000 - 104857600) / 262144000
    assert used.attributes["unit_of_measurement"] == "%"

    free = hass.states.get(FREE_MEMORY)
    assert free.attributes["device_class"] == "data_size"
    assert free.attributes["unit_of_measurement"] == "KiB"
    assert float(free.state) == 104857600 / 1024

    total = hass.states.get(TOTAL_MEMORY)
    assert total.attributes["device_class"] == "data_size"
    assert total.attributes["unit_of_measurement"] == "MiB"
    assert float(total.state) == 250

    users = hass.states.get(ACTIVE_USERS)
    assert users.state == "7"
    assert users.attributes["state_class"] == "measurement"
    assert "unit_of_measurement" not in users.attributes

    uptime = hass.states.get(UPTIME)
    assert uptime.attributes["device_class"] == "duration"
    assert uptime.attributes["state_class"] == "total_increasing"
    entity_registry = er.async_get(hass)
    uptime_entry = entity_registry.async_get(UPTIME)
    assert uptime_entry.unit_of_measurement == uptime.attributes["unit_of_measurement"]
    assert uptime_entry.entity_category is er.EntityCategory.DIAGNOSTIC
    seconds = {"s": 1, "min": 60, "h": 3600, "d": 86400}[uptime.attributes["unit_of_measurement"]]
    assert float(uptime.state) * seconds == 86400

    # Last heartbeat is a diagnostic sensor, off by default.
    heartbeat = entity_registry.async_get(LAST_HEARTBEAT)
    assert heartbeat.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert heartbeat.entity_category is er.EntityCategory.DIAGNOSTIC
    assert hass.states.get(LAST_HEARTBEAT) is None


async def test_whole_number_cpu_load(hass: HomeAssistant, spotfi: MockConfigEntry) -> None:
    """Go writes 3.0 as 3."""
    await fire(hass, ROUTER, "metrics", metrics(cpuLoad=3, uptime=12))
    assert hass.states.get(CPU).state == "3"
    assert spotfi.runtime_data.invalid_messages == 0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_garbage_cpu_load_keeps_the_last_value(
    hass: HomeAssistant, spotfi: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    hub: SpotFiHub = spotfi.runtime_data
    await fire(hass, ROUTER, "metrics", METRICS)
    assert hass.states.get(LAST_HEARTBEAT).state == START
    await advance(hass, freezer, 30)

    await fire(hass, ROUTER, "metrics", METRICS_GARBAGE_CPU)
    assert hub.invalid_messages == 1
    assert "cpuLoad" in hub.dead_letters[-1].reason
    assert hass.states.get(CPU).state == "12.5"
    assert hass.states.get(ACTIVE_USERS).state == "9"
    assert hass.states.get(MEMORY_USED).state == "80.0"
    assert float(hass.states.get(FREE_MEMORY).state) == 52428800 / 1024
    # Still a heartbeat: connected, and the local receive time is shown.
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert dt_util.parse_datetime(hass.states.get(LAST_HEARTBEAT).state) == (
        dt_util.parse_datetime(START) + timedelta(seconds=30)
    )


async def test_failed_system_info_values_are_not_readings(
    hass: HomeAssistant, spotfi: MockConfigEntry
) -> None:
    """A failed ubus `system info` sends a garbage uptime and zeros: they are no readings."""
    hub: SpotFiHub = spotfi.runtime_data
    await fire(hass, ROUTER, "metrics", METRICS)
    await fire(
        hass,
        ROUTER,
        "metrics",
        metrics(uptime="%!d(<nil>)", cpuLoad=0, totalMemory=0, freeMemory=0, activeUsers=3),
    )
    assert hub.invalid_messages == 1
    assert hass.states.get(CPU).state == "12.5"
    assert hass.states.get(MEMORY_USED).state == "60.0"
    assert hass.states.get(ACTIVE_USERS).state == "3"


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        '{"type":"metrics"}',
        '{"type":"status","metrics":{}}',
        '{"metrics":{"cpuLoad":NaN},"type":"metrics"}',
        "[]",
    ],
)
async def test_invalid_metrics_are_counted_and_keep_values(
    hass: HomeAssistant, spotfi: MockConfigEntry, payload: str
) -> None:
    await fire(hass, ROUTER, "metrics", METRICS)
    await fire(hass, ROUTER, "metrics", payload)
    assert spotfi.runtime_data.invalid_messages == 1
    assert hass.states.get(CPU).state == "12.5"
    assert hass.states.get(ACTIVE_USERS).state == "7"


@pytest.mark.parametrize("platforms", [[Platform.SENSOR]])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_snapshot(
    hass: HomeAssistant,
    spotfi: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    await advance(hass, freezer, 10)  # the hub sensors refresh
    await snapshot_platform(hass, entity_registry, snapshot, spotfi.entry_id)


async def test_restore_after_reload(
    hass: HomeAssistant, router: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Values and connectivity come back; without a heartbeat the router goes off once."""
    assert await hass.config_entries.async_reload(router.entry_id)
    await hass.async_block_till_done()
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    hub: SpotFiHub = router.runtime_data
    assert hub.devices[ROUTER].restored
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(CPU).state == "12.5"
    assert hass.states.get(ACTIVE_USERS).state == "7"
    assert float(hass.states.get(TOTAL_MEMORY).state) == 250

    await advance(hass, freezer, 61)
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert hass.states.get(CPU).state == STATE_UNAVAILABLE
    assert [event.data["device"] for event in offline] == [ROUTER]
    await fire(hass, ROUTER, "metrics", metrics(cpuLoad=1.5))
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(CPU).state == "1.5"


# --- rpc_call ---------------------------------------------------------------------------


async def test_rpc_call_allowed(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    (published,) = publishes(mqtt_mock, "rpc/request")
    request_id = json.loads(published.args[1])["id"]
    assert HEX24.fullmatch(request_id)
    assert published.args == (
        f"{BASE}/{ROUTER}/rpc/request",
        (
            f'{{"type":"rpc","id":"{request_id}","path":"system","method":"board","args":{{}}}}'
        ).encode(),
        1,
        False,
    )
    result = {"board_name": "tplink,archer-c7-v5", "release": {"version": "23.05.3"}}
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, result=result))
    assert await call == result
    assert len(router.runtime_data.pending) == 0
    assert router.runtime_data.invalid_messages == 0


@pytest.mark.parametrize(
    ("service", "data"),
    [
        (SERVICE_RPC_CALL, {"path": "system", "method": "board"}),
        (SERVICE_TERMINAL_EXEC, {"command": "uptime"}),
    ],
)
@pytest.mark.parametrize("spotfi_options", [{"terminal_enabled": True}])
async def test_actions_for_an_offline_router_fail_at_once(
    hass: HomeAssistant,
    router: MockConfigEntry,
    mqtt_mock: Any,
    service: str,
    data: dict[str, Any],
) -> None:
    """OFFLINE (the Last Will) means nobody answers: nothing is sent, the action says why."""
    await fire(hass, ROUTER, "status", "OFFLINE")
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(HomeAssistantError) as err:
        await action(hass, service, {"router": ROUTER, **data})
    assert err.value.translation_key == "device_offline"
    assert err.value.translation_placeholders == {"device": ROUTER}
    mqtt_mock.async_publish.assert_not_called()


async def test_rpc_call_by_device_id_with_args_and_wildcard(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(
        hass,
        SERVICE_RPC_CALL,
        {
            "router": registry_device(hass).id,
            "path": "network.interface.wan",
            "method": "status",
            "args": {"verbose": True, "n": [1, "x"]},
        },
    )
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    body = bodies(mqtt_mock, "rpc/request")[0]
    assert body == {
        "type": "rpc",
        "id": body["id"],
        "path": "network.interface.wan",
        "method": "status",
        "args": {"verbose": True, "n": [1, "x"]},
    }
    await fire(hass, ROUTER, "rpc/response", rpc_reply(body["id"], result={"up": True}))
    assert await call == {"up": True}


@pytest.mark.parametrize(
    ("result", "response"),
    [
        ([1, 2], {"result": [1, 2]}),
        ("ok", {"result": "ok"}),
        (0, {"result": 0}),
        (None, {"result": None}),
    ],
)
async def test_rpc_call_non_object_result_is_wrapped(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, result: Any, response: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "info"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    extra = {} if result is None else {"result": result}
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, **extra))
    assert await call == response


async def test_rpc_call_error_reply(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await fire(
        hass,
        ROUTER,
        "rpc/response",
        rpc_reply(request_id, "error", error="exit status 4", stderr="Command failed: Not found"),
    )
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert type(err.value) is HomeAssistantError
    assert err.value.translation_key == "rpc_failed"
    assert err.value.translation_placeholders == {
        "router": ROUTER,
        "name": "system.board",
        "error": "exit status 4",
        "stderr": "Command failed: Not found",
    }
    assert len(router.runtime_data.pending) == 0


async def test_rpc_call_error_reply_without_details(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, "error"))
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_placeholders["error"] == ""
    assert err.value.translation_placeholders["stderr"] == ""


async def test_rpc_call_timeout(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await advance(hass, freezer, 9)
    assert not call.done()
    await advance(hass, freezer, 1)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "rpc_no_reply"
    assert err.value.translation_placeholders == {"router": ROUTER, "timeout": "10"}
    assert len(router.runtime_data.pending) == 0
    # A late result finds nobody: ignored, not invalid.
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, result={}))
    assert router.runtime_data.invalid_messages == 0

    call = action(
        hass,
        SERVICE_RPC_CALL,
        {"router": ROUTER, "path": "system", "method": "board", "timeout": 0.5},
    )
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 2)
    await advance(hass, freezer, 0.5)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_placeholders == {"router": ROUTER, "timeout": "0.5"}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("file", "exec"),
        ("system", "reboot"),
        ("rc", "init"),
        ("system", "*"),
        ("*", "board"),
        ("network.interface.a.b", "status"),
        ("network.interface", "status"),
        ("network.interface.wan", "up"),
        ("system board", "info"),
        ("system", "bo ard"),
        ("system.", "board"),
        ("system..board", "info"),
        (".system", "board"),
        ("", "board"),
        ("system", ""),
        ("system/x", "board"),
        ("system", "board\n"),
        ("uspot", "client_remove"),
    ],
)
async def test_rpc_call_not_allowed(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, path: str, method: str
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": path, "method": method})
    assert err.value.translation_key == "rpc_not_allowed"
    assert err.value.translation_placeholders == {"name": f"{path}.{method}"}
    mqtt_mock.async_publish.assert_not_called()
    assert len(router.runtime_data.pending) == 0


@pytest.mark.parametrize("spotfi_options", [{"rpc_allow_list": ["rc.list"]}])
async def test_rpc_call_custom_allow_list(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    for path, method in (("system", "board"), ("rc", "init"), ("rc", "lis"), ("rc", "listx")):
        with pytest.raises(ServiceValidationError) as err:
            await action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": path, "method": method})
        assert err.value.translation_key == "rpc_not_allowed"
    mqtt_mock.async_publish.assert_not_called()

    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "rc", "method": "list"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    body = bodies(mqtt_mock, "rpc/request")[0]
    assert (body["path"], body["method"]) == ("rc", "list")
    await fire(hass, ROUTER, "rpc/response", rpc_reply(body["id"], result={"dnsmasq": {}}))
    assert await call == {"dnsmasq": {}}


async def test_rpc_call_concurrent_calls_get_their_own_results(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    hub: SpotFiHub = router.runtime_data
    calls = [
        action(
            hass,
            SERVICE_RPC_CALL,
            {"router": ROUTER, "path": "system", "method": "info", "args": {"n": index}},
        )
        for index in range(50)
    ]
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 50)
    sent = bodies(mqtt_mock, "rpc/request")
    assert len({body["id"] for body in sent}) == 50
    assert len(hub.pending) == 50
    for body in reversed(sent):
        async_fire_mqtt_message(
            hass,
            f"{BASE}/{ROUTER}/rpc/response",
            rpc_reply(body["id"], result={"n": body["args"]["n"]}),
        )
    results = await asyncio.gather(*calls)
    assert results == [{"n": index} for index in range(50)]
    assert len(hub.pending) == 0
    assert hub.invalid_messages == 0


async def test_rpc_result_with_unknown_id_is_ignored(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    hub: SpotFiHub = router.runtime_data
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    request_id = bodies(mqtt_mock, "rpc/request")[0]["id"]
    await fire(hass, ROUTER, "rpc/response", rpc_reply("f" * 24, result={"wrong": True}))
    await fire(hass, ROUTER, "rpc/response", rpc_reply("12", result={"wrong": True}))
    assert hub.invalid_messages == 0
    assert not call.done()
    assert len(hub.pending) == 1
    await fire(hass, ROUTER, "rpc/response", rpc_reply(request_id, result={"right": True}))
    assert await call == {"right": True}


@pytest.mark.parametrize(
    "payload",
    [
        '{"status":"success","type":"rpc-result"}',
        '{"id":"","status":"success"}',
        '{"id":"abc","status":"maybe"}',
        '{"id":"abc"}',
        "nope",
    ],
)
async def test_invalid_rpc_results_are_counted(
    hass: HomeAssistant, router: MockConfigEntry, payload: str
) -> None:
    await fire(hass, ROUTER, "rpc/response", payload)
    assert router.runtime_data.invalid_messages == 1


async def test_unload_while_rpc_call_waits(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    hub: SpotFiHub = router.runtime_data
    call = action(hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"})
    await _until(lambda: len(publishes(mqtt_mock, "rpc/request")) == 1)
    assert len(hub.pending) == 1
    assert await hass.config_entries.async_unload(router.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "unloaded_while_waiting"
    assert err.value.translation_placeholders == {"device": "SpotFi (spotfi/router)"}
    assert len(hub.pending) == 0


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"path": "system", "method": "board"}, id="missing-router"),
        pytest.param({"router": ROUTER, "method": "board"}, id="missing-path"),
        pytest.param({"router": ROUTER, "path": "system"}, id="missing-method"),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "args": [1]}, id="args-list"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "args": "{}"}, id="args-text"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "timeout": 0.4}, id="low"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "timeout": 121}, id="high"
        ),
        pytest.param(
            {"router": ROUTER, "path": "system", "method": "board", "timeout": "x"}, id="text"
        ),
    ],
)
async def test_rpc_call_bad_data(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, data: dict[str, Any]
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_RPC_CALL, data)
    assert err.value.translation_key == "invalid_action_data"
    assert err.value.translation_placeholders["action"] == SERVICE_RPC_CALL
    mqtt_mock.async_publish.assert_not_called()


@pytest.mark.parametrize("service", [SERVICE_RPC_CALL, SERVICE_TERMINAL_EXEC])
async def test_router_resolution(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, service: str
) -> None:
    data: dict[str, Any] = {"path": "system", "method": "board"}
    if service == SERVICE_TERMINAL_EXEC:
        data = {"command": "uptime"}
    hub_device = device_by_identifier(dr.async_get(hass), "entry_spotfi_spotfi_router")
    for reference in ("rtr-nope", hub_device.id, "0" * 32):
        with pytest.raises(ServiceValidationError) as err:
            await action(hass, service, {"router": reference, **data})
        assert err.value.translation_key == "device_not_found"
        assert err.value.translation_placeholders == {"device_id": reference}
    # By own id and by HA device id the router is found (terminal then says it is off).
    if service == SERVICE_TERMINAL_EXEC:
        for reference in (ROUTER, registry_device(hass).id):
            with pytest.raises(ServiceValidationError) as err:
                await action(hass, service, {"router": reference, **data})
            assert err.value.translation_key == "terminal_disabled"
    mqtt_mock.async_publish.assert_not_called()


async def test_router_of_a_janus_entry_is_not_found(
    hass: HomeAssistant, spotfi: MockConfigEntry, mqtt_mock: Any
) -> None:
    janus = MockConfigEntry(
        domain=DOMAIN,
        title="Janus (janus)",
        unique_id="janus:janus",
        entry_id=entry_id_for("janus:janus"),
        data={"family": "janus", "base_topic": "janus", "admin_secret": "s3cret"},
        options=default_options("janus") | {"servers": [ROUTER]},
    )
    janus.add_to_hass(hass)
    assert await hass.config_entries.async_setup(janus.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await action(
            hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"}
        )
    assert err.value.translation_key == "device_not_found"


async def test_router_in_two_entries_is_ambiguous(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    other = spotfi_entry("site-b/router")
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, f"site-b/router/{ROUTER}/status", "ONLINE")
    await settle(hass)
    with pytest.raises(ServiceValidationError) as err:
        await action(
            hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"}
        )
    assert err.value.translation_key == "device_ambiguous"
    mqtt_mock.async_publish.assert_not_called()


# --- terminal_exec ----------------------------------------------------------------------


TERMINAL_ON = {"terminal_enabled": True}


async def test_terminal_disabled_by_default(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    assert router.options["terminal_enabled"] is False
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "uptime"})
    assert err.value.translation_key == "terminal_disabled"
    mqtt_mock.async_publish.assert_not_called()
    assert not router.runtime_data.terminals


async def _start_terminal(
    hass: HomeAssistant, mqtt_mock: Any, data: dict[str, Any]
) -> tuple[asyncio.Task[Any], str]:
    """Start terminal_exec and wait for its x-start; return the call and the session id."""
    call = action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, **data})
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 1)
    return call, bodies(mqtt_mock, "x/in")[0]["sessionId"]


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_collects_output_until_idle(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    hub: SpotFiHub = router.runtime_data
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime; ls /tmp"})
    (start,) = publishes(mqtt_mock, "x/in")
    assert HEX24.fullmatch(session)
    assert start.args[0] == f"{BASE}/{ROUTER}/x/in"
    assert start.args[2:] == (1, False)
    assert json.loads(start.args[1]) == {
        "type": "x-start",
        "sessionId": session,
        "responseTopic": f"{BASE}/{ROUTER}/x/out",
        "timestamp": int(dt_util.parse_datetime(START).timestamp() * 1000),
    }
    assert list(hub.terminals) == [session]

    # The router's x-started names no session: it goes to the router's only session.
    await fire(hass, ROUTER, "x/out", tunnel("x-started", status="ready"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    data = bodies(mqtt_mock, "x/in")[1]
    assert data == {
        "type": "x-data",
        "sessionId": session,
        "data": base64.b64encode(b"uptime; ls /tmp\n").decode(),
    }

    await fire(hass, ROUTER, "x/out", output("uptime; ls /tmp\r\n", session))
    await advance(hass, freezer, 0.5)
    await fire(hass, ROUTER, "x/out", output(" 10:00:00 up 1 day\r\n"))
    await fire(hass, ROUTER, "x/out", output("other session\r\n", "f" * 24))  # not ours
    await advance(hass, freezer, 0.5)
    await fire(hass, ROUTER, "x/out", output("a.txt  b.txt\r\n", session))
    await advance(hass, freezer, 0.5)
    assert not call.done()
    await advance(hass, freezer, 0.5)
    assert await call == {
        "output": "uptime; ls /tmp\r\n 10:00:00 up 1 day\r\na.txt  b.txt\r\n",
        "reason": "idle",
    }
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[2:] == [{"type": "x-stop", "sessionId": session}]
    assert not hub.terminals
    assert hub.invalid_messages == 0


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_by_device_id_with_custom_idle(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call = action(
        hass,
        SERVICE_TERMINAL_EXEC,
        {"router": registry_device(hass).id, "command": "id", "idle": 0.5, "timeout": 5},
    )
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 1)
    session = bodies(mqtt_mock, "x/in")[0]["sessionId"]
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session, status="ready"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session))  # a repeat changes nothing
    await fire(hass, ROUTER, "x/out", output("uid=0(root)\n"))
    await advance(hass, freezer, 0.5)
    assert await call == {"output": "uid=0(root)\n", "reason": "idle"}
    assert len(publishes(mqtt_mock, "x/in")) == 3  # x-start, x-data, x-stop


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_continuous_output_times_out(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call, session = await _start_terminal(
        hass, mqtt_mock, {"command": "ping 10.0.0.1", "timeout": 3}
    )
    await fire(hass, ROUTER, "x/out", tunnel("x-started", session))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    lines = 0
    while not call.done():
        assert lines < 10
        await fire(hass, ROUTER, "x/out", output(f"line {lines}\n", session))
        lines += 1
        await advance(hass, freezer, 0.5)
    result = await call
    assert result["reason"] == "timeout"
    assert result["output"] == "".join(f"line {index}\n" for index in range(lines))
    assert 5 <= lines <= 7
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[-1] == {"type": "x-stop", "sessionId": session}
    assert not router.runtime_data.terminals


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_no_start(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime", "timeout": 2})
    # Another session's x-started does not start ours.
    await fire(hass, ROUTER, "x/out", tunnel("x-started", "0" * 24))
    await advance(hass, freezer, 2)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "terminal_no_start"
    assert err.value.translation_placeholders == {"router": ROUTER, "timeout": "2"}
    await settle(hass)
    assert [body["type"] for body in bodies(mqtt_mock, "x/in")] == ["x-start", "x-stop"]
    assert bodies(mqtt_mock, "x/in")[1]["sessionId"] == session
    assert not router.runtime_data.terminals


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_error_before_start(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    await fire(hass, ROUTER, "x/out", tunnel("x-error", session, error="shell unavailable"))
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "terminal_error"
    assert err.value.translation_placeholders == {"router": ROUTER, "error": "shell unavailable"}
    await settle(hass)
    assert [body["type"] for body in bodies(mqtt_mock, "x/in")] == ["x-start", "x-stop"]
    assert not router.runtime_data.terminals


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_error_while_collecting(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "cat /dev/zero"})
    await fire(hass, ROUTER, "x/out", tunnel("x-started"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    await advance(hass, freezer, 0.5)
    await fire(hass, ROUTER, "x/out", output("partial"))
    await fire(hass, ROUTER, "x/out", tunnel("x-error"))  # no text: a generic one
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "terminal_error"
    assert err.value.translation_placeholders == {"router": ROUTER, "error": "terminal error"}
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[-1] == {"type": "x-stop", "sessionId": session}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_exec_error_during_the_input_publish_is_not_lost(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    real_publish = mqtt_mock.async_publish._mock_wraps  # HA's MQTT client, mocked paho below

    async def publish(topic: str, payload: bytes, qos: int, retain: bool, **kwargs: Any) -> None:
        if json.loads(payload)["type"] == "x-data":
            # The router refuses the input before the broker's PUBACK reaches HA.
            async_fire_mqtt_message(
                hass, f"{BASE}/{ROUTER}/x/out", tunnel("x-error", error="shell died")
            )
        await real_publish(topic, payload, qos, retain, **kwargs)

    mqtt_mock.async_publish.side_effect = publish
    call, _session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    await fire(hass, ROUTER, "x/out", tunnel("x-started"))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) >= 2)
    await advance(hass, freezer, 1.5)
    assert call.done()
    error = call.exception()
    assert isinstance(error, HomeAssistantError), f"returned {call.result()!r}"
    assert error.translation_key == "terminal_error"
    assert error.translation_placeholders == {"router": ROUTER, "error": "shell died"}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_output_of_two_sessions_is_kept_apart(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    first = action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "one"})
    second = action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "two"})
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 2)
    one, two = (body["sessionId"] for body in bodies(mqtt_mock, "x/in"))
    assert one != two
    await fire(hass, ROUTER, "x/out", tunnel("x-started", one))
    await fire(hass, ROUTER, "x/out", tunnel("x-started", two))
    await _until(lambda: len(publishes(mqtt_mock, "x/in")) == 4)
    await fire(hass, ROUTER, "x/out", output("1\n", one))
    await fire(hass, ROUTER, "x/out", output("2\n", two))
    await fire(hass, ROUTER, "x/out", output("?\n"))  # two sessions open: nobody's
    await advance(hass, freezer, 1)
    assert await first == {"output": "1\n", "reason": "idle"}
    assert await second == {"output": "2\n", "reason": "idle"}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_terminal_output_with_no_session_open_is_ignored(
    hass: HomeAssistant, router: MockConfigEntry
) -> None:
    await fire(hass, ROUTER, "x/out", output("stray"))
    await fire(hass, ROUTER, "x/out", tunnel("x-started", "a" * 24))
    assert router.runtime_data.invalid_messages == 0


@pytest.mark.parametrize(
    "payload",
    ['{"type":"x-data","data":"not base64!"}', '{"type":"x-nope"}', '{"data":"aGk="}', "[]"],
)
async def test_invalid_tunnel_messages_are_counted(
    hass: HomeAssistant, router: MockConfigEntry, payload: str
) -> None:
    await fire(hass, ROUTER, "x/out", payload)
    assert router.runtime_data.invalid_messages == 1


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_unload_while_terminal_waits(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    """The call fails at once; x-stop is still sent and the session is forgotten."""
    hub: SpotFiHub = router.runtime_data
    call, session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    assert await hass.config_entries.async_unload(router.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "unloaded_while_waiting"
    assert not hub.terminals
    await settle(hass)
    assert bodies(mqtt_mock, "x/in")[-1] == {"type": "x-stop", "sessionId": session}


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
async def test_unload_while_terminal_waits_says_unloaded(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    call, _session = await _start_terminal(hass, mqtt_mock, {"command": "uptime"})
    assert await hass.config_entries.async_unload(router.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "unloaded_while_waiting"


@pytest.mark.parametrize("spotfi_options", [TERMINAL_ON])
@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"router": ROUTER}, id="missing-command"),
        pytest.param({"router": ROUTER, "command": ""}, id="empty-command"),
        pytest.param({"router": ROUTER, "command": "x" * 4097}, id="long-command"),
        pytest.param({"command": "uptime"}, id="missing-router"),
        pytest.param({"router": ROUTER, "command": "uptime", "timeout": 301}, id="timeout"),
        pytest.param({"router": ROUTER, "command": "uptime", "idle": 0.05}, id="idle"),
    ],
)
async def test_terminal_exec_bad_data(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any, data: dict[str, Any]
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_TERMINAL_EXEC, data)
    assert err.value.translation_key == "invalid_action_data"
    mqtt_mock.async_publish.assert_not_called()
