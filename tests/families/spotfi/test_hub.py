"""SpotFi hub: status and heartbeat, metrics as readings, bad input, restore."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
)

from custom_components.mqtt_fleet.const import (
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)
from custom_components.mqtt_fleet.families.spotfi.hub import SpotFiHub

from ...clock import advance, settle
from ...common import device_by_identifier
from .helpers import (
    ACTIVE_USERS,
    BASE,
    CONNECTIVITY,
    CPU,
    FREE_MEMORY,
    LAST_HEARTBEAT,
    MEMORY_USED,
    METRICS,
    METRICS_GARBAGE_CPU,
    ROUTER,
    START,
    TOTAL_MEMORY,
    fire,
    metrics,
    registry_device,
)

# --- status and heartbeat ---------------------------------------------------------------


async def test_status_creates_the_router_heartbeat_makes_it_connected(
    hass: HomeAssistant, spotfi: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    hub: SpotFiHub = spotfi.runtime_data
    assert set(hub.protocol.subscriptions) == {
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
