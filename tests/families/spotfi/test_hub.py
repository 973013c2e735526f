"""SpotFi hub: status and heartbeat, metrics as readings, bad input, restore."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
)

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
from custom_components.mqtt_fleet.families.spotfi.hub import (
    BOARD_READS_AT_ONCE,
    MODEL,
    RPC_TIMEOUT,
    SpotFiHub,
)

from ...clock import advance, settle
from ...common import device_by_identifier, entry_id_for
from .helpers import (
    ACTIVE_USERS,
    BASE,
    CONNECTIVITY,
    CPU,
    DISCONNECT_REASON,
    FREE_MEMORY,
    LAST_HEARTBEAT,
    LAST_RESTART,
    MEMORY_USED,
    METRICS,
    METRICS_GARBAGE_CPU,
    ROUTER,
    START,
    TOTAL_MEMORY,
    FakeRouter,
    action,
    fire,
    metrics,
    registry_device,
)

UID = f"{entry_id_for(f'spotfi:{BASE}')}/{ROUTER}"

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


# An empty payload is a cleared retained message, ignored before the family sees it.
@pytest.mark.parametrize("payload", ["UP", '{"status": 1}', "[]", "{}", b"\xff"])
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
async def test_nil_cpu_load_is_unknown_and_said_once(
    hass: HomeAssistant,
    spotfi: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bridge's `%!f(<nil>)` is no reading: unknown, one warning until it recovers."""
    hub: SpotFiHub = spotfi.runtime_data
    await fire(hass, ROUTER, "metrics", METRICS)
    assert hass.states.get(LAST_HEARTBEAT).state == START
    for _ in range(3):
        await advance(hass, freezer, 30)
        await fire(hass, ROUTER, "metrics", METRICS_GARBAGE_CPU)
    assert hub.invalid_messages == 0
    assert not hub.dead_letters
    assert hass.states.get(CPU).state == STATE_UNKNOWN
    assert hass.states.get(ACTIVE_USERS).state == "9"
    assert hass.states.get(MEMORY_USED).state == "80.0"
    assert float(hass.states.get(FREE_MEMORY).state) == 50
    # Still a heartbeat: connected, and the local receive time is shown.
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert dt_util.parse_datetime(hass.states.get(LAST_HEARTBEAT).state) == (
        dt_util.parse_datetime(START) + timedelta(seconds=90)
    )
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and ROUTER in r.message]
    assert len(warnings) == 1
    assert "cpuLoad" in warnings[0].message

    await fire(hass, ROUTER, "metrics", METRICS)
    assert hass.states.get(CPU).state == "12.5"
    assert f"Router {ROUTER} reports all its metrics again" in caplog.text
    await fire(hass, ROUTER, "metrics", METRICS_GARBAGE_CPU)  # failing again: said again
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and ROUTER in r.message]
    assert len(warnings) == 2


async def test_failed_system_info_values_are_unknown(
    hass: HomeAssistant, spotfi: MockConfigEntry
) -> None:
    """A failed ubus `system info` sends a nil uptime and zeros: no readings, not invalid."""
    hub: SpotFiHub = spotfi.runtime_data
    await fire(hass, ROUTER, "metrics", METRICS)
    restarted = hass.states.get(LAST_RESTART).state
    await fire(
        hass,
        ROUTER,
        "metrics",
        metrics(uptime="%!d(<nil>)", cpuLoad=0, totalMemory=0, freeMemory=0, activeUsers=3),
    )
    assert hub.invalid_messages == 0
    for entity_id in (CPU, MEMORY_USED, FREE_MEMORY, TOTAL_MEMORY):
        assert hass.states.get(entity_id).state == STATE_UNKNOWN
    assert hass.states.get(ACTIVE_USERS).state == "3"
    assert hass.states.get(LAST_RESTART).state == restarted  # the boot did not move


async def test_last_restart_is_a_timestamp_that_moves_only_on_a_reboot(
    hass: HomeAssistant, spotfi: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await fire(hass, ROUTER, "metrics", metrics(uptime="86400"))
    booted = dt_util.parse_datetime(START) - timedelta(days=1)
    state = hass.states.get(LAST_RESTART)
    assert state.attributes["device_class"] == "uptime"
    assert dt_util.parse_datetime(state.state) == booted
    written = state.last_updated
    # 30 s later the uptime says 31 s more (the message took a second): the same boot.
    await advance(hass, freezer, 30)
    await fire(hass, ROUTER, "metrics", metrics(uptime="86431"))
    assert hass.states.get(LAST_RESTART).last_updated == written
    # A reboot: uptime starts again.
    await advance(hass, freezer, 60)
    await fire(hass, ROUTER, "metrics", metrics(uptime="20"))
    assert dt_util.parse_datetime(hass.states.get(LAST_RESTART).state) == (
        dt_util.parse_datetime(START) + timedelta(seconds=70)
    )
    assert er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{UID}/uptime") is None


async def test_a_replayed_heartbeat_dates_no_restart(
    hass: HomeAssistant, spotfi: MockConfigEntry
) -> None:
    """A retained heartbeat may be old: its uptime does not date the last restart."""
    async_fire_mqtt_message(hass, f"{BASE}/{ROUTER}/metrics", metrics(uptime="86400"), retain=True)
    await hass.async_block_till_done()
    assert hass.states.get(ACTIVE_USERS) is not None  # the readings are shown
    assert hass.states.get(LAST_RESTART) is None


async def test_offline_reason_is_shown_while_offline(
    hass: HomeAssistant, router: MockConfigEntry
) -> None:
    """A JSON status may say why the router went offline (its Last Will, say)."""
    assert hass.states.get(DISCONNECT_REASON) is None  # no reason yet: no entity
    await fire(hass, ROUTER, "status", '{"status": "offline", "reason": "unexpected_disconnect"}')
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    reason = hass.states.get(DISCONNECT_REASON)
    assert reason.state == "unexpected_disconnect"
    entry = er.async_get(hass).async_get(DISCONNECT_REASON)
    assert entry.entity_category is er.EntityCategory.DIAGNOSTIC
    # Back online the last reason stays: it says why it was away.
    await fire(hass, ROUTER, "status", '{"status": "online", "reason": "reconnected"}')
    await fire(hass, ROUTER, "metrics", METRICS)
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(DISCONNECT_REASON).state == "unexpected_disconnect"
    assert router.runtime_data.invalid_messages == 0


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


# --- the router's board in the device registry ------------------------------------------


async def test_board_fills_the_registry_each_time_the_router_comes_online(
    hass: HomeAssistant, spotfi: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    fake = FakeRouter(hass, mqtt_mock)
    fake.attach()
    await fire(hass, ROUTER, "status", "ONLINE")
    assert fake.rpc_requests == []  # a status alone: not known to be there
    assert registry_device(hass).model == MODEL

    await fire(hass, ROUTER, "metrics", METRICS)
    await settle(hass)
    assert fake.rpc_requests == [("system", "board")]
    device = registry_device(hass)
    assert device.manufacturer == "SpotFi"
    assert device.model == "Xiaomi Mi Router 4A Gigabit Edition"
    assert device.model_id == "xiaomi,mi-router-4a-gigabit"
    assert device.sw_version == "OpenWrt 23.05.3"

    await advance(hass, freezer, 30)
    await fire(hass, ROUTER, "metrics", metrics(uptime="86430"))
    await settle(hass)
    assert len(fake.rpc_requests) == 1  # once while it stays online

    # Offline and back: asked again (an upgrade may have come with the restart).
    await fire(hass, ROUTER, "status", "OFFLINE")
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", metrics(uptime="86440"))
    await settle(hass)
    assert len(fake.rpc_requests) == 2

    # A reboot too quick to be seen offline: the uptime tells, and it is asked again.
    await advance(hass, freezer, 30)
    await fire(hass, ROUTER, "metrics", metrics(uptime="5"))
    await settle(hass)
    assert len(fake.rpc_requests) == 3
    assert spotfi.runtime_data.invalid_messages == 0


async def test_board_failure_is_logged_at_debug_and_retried_at_next_online(
    hass: HomeAssistant,
    spotfi: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeRouter(hass, mqtt_mock)
    fake.attach()
    fake.answer_rpc = False
    caplog.set_level(logging.DEBUG, "custom_components.mqtt_fleet")
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    await settle(hass)
    assert fake.rpc_requests == [("system", "board")]
    # Messages go on being handled while the request waits.
    await fire(hass, ROUTER, "metrics", metrics(cpuLoad=2.5))
    assert hass.states.get(CPU).state == "2.5"
    await advance(hass, freezer, RPC_TIMEOUT + 1)
    assert f"Could not read the board of router {ROUTER}" in caplog.text
    assert not [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components")
    ]
    assert registry_device(hass).model == MODEL
    assert len(spotfi.runtime_data.pending) == 0

    fake.answer_rpc = True
    await fire(hass, ROUTER, "status", "OFFLINE")
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    await settle(hass)
    assert len(fake.rpc_requests) == 2
    assert registry_device(hass).model == "Xiaomi Mi Router 4A Gigabit Edition"


async def test_boards_are_read_a_few_at_a_time_when_a_fleet_comes_online(
    hass: HomeAssistant, spotfi: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A fleet online at once is not asked all together: unanswered requests wait their turn."""
    fake = FakeRouter(hass, mqtt_mock)
    fake.attach()
    fake.answer_rpc = False
    routers = [f"rtr-{number:02d}" for number in range(BOARD_READS_AT_ONCE + 3)]
    for router in routers:
        await fire(hass, router, "status", "ONLINE")
        await fire(hass, router, "metrics", METRICS)
    await settle(hass)
    assert len(fake.rpc_requests) == BOARD_READS_AT_ONCE

    await advance(hass, freezer, RPC_TIMEOUT + 1)
    await settle(hass)
    assert len(fake.rpc_requests) == len(routers)


@pytest.mark.parametrize("spotfi_options", [{"rpc_allow_list": ["system.info"]}])
async def test_board_is_not_asked_when_the_allow_list_forbids_it(
    hass: HomeAssistant, spotfi: MockConfigEntry, mqtt_mock: Any
) -> None:
    fake = FakeRouter(hass, mqtt_mock)
    fake.attach()
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    await settle(hass)
    assert fake.rpc_requests == []
    assert registry_device(hass).model == MODEL


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize("spotfi_options", [{"terminal_enabled": True}])
async def test_allow_list_and_terminal_apply_without_a_reload(
    hass: HomeAssistant, router: MockConfigEntry, mqtt_mock: Any
) -> None:
    """Saving the options changes no entity state; the next actions obey the new ones."""
    hub: SpotFiHub = router.runtime_data
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)

    hass.config_entries.async_update_entry(
        router,
        options={**router.options, "rpc_allow_list": ["rc.list"], "terminal_enabled": False},
    )
    await hass.async_block_till_done()
    assert router.runtime_data is hub  # not reloaded
    assert [event.data["entity_id"] for event in changes if event.data["old_state"]] == []

    with pytest.raises(ServiceValidationError) as err:
        await action(
            hass, SERVICE_RPC_CALL, {"router": ROUTER, "path": "system", "method": "board"}
        )
    assert err.value.translation_key == "rpc_not_allowed"
    with pytest.raises(ServiceValidationError) as err:
        await action(hass, SERVICE_TERMINAL_EXEC, {"router": ROUTER, "command": "uptime"})
    assert err.value.translation_key == "terminal_disabled"
    mqtt_mock.async_publish.assert_not_called()
