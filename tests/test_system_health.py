"""System health: broker connection, totals and one line per family in use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, get_system_health_info

from custom_components.mqtt_fleet.const import DOMAIN

from .common import Fire, Loader, dumps
from .families.autocore.helpers import BOARD_A, status_a, telemetry_a
from .families.container_logs.helpers import BASE, log, logs_entry


async def test_no_entries(hass: HomeAssistant, mqtt_mock: Any) -> None:
    assert await async_setup_component(hass, "system_health", {})
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert await get_system_health_info(hass, DOMAIN) == {
        "broker_connected": True,
        "loaded_entries": "0 of 0",
        "devices_online": "0 of 0",
        "log_sources": 0,
        "messages_received": 0,
        "invalid_messages": 0,
        "last_message": "never",
    }


async def test_traffic_of_a_loaded_entry(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to("2026-01-02T03:04:05.678+00:00")
    assert await async_setup_component(hass, "system_health", {})
    await fire(f"autocore/{BOARD_A}/status", status_a())
    await fire(f"autocore/{BOARD_A}/telemetry", telemetry_a(temperature=21.5))
    await fire("autocore/ESP32_002/status", status_a("offline"))
    await fire(f"autocore/{BOARD_A}/telemetry", "not json")
    assert await get_system_health_info(hass, DOMAIN) == {
        "broker_connected": True,
        "loaded_entries": "1 of 1",
        "devices_online": "1 of 2",
        "log_sources": 0,
        "messages_received": 4,
        "invalid_messages": 1,
        # A datetime, which the page shows as a date: no microseconds.
        "last_message": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "autocore": "1 hub, 1 of 2 devices online, 4 messages, 1 invalid",
    }
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    info = await get_system_health_info(hass, DOMAIN)
    assert info["loaded_entries"] == "0 of 1"
    assert "autocore" not in info


async def test_log_sources_are_not_counted_as_devices_offline(
    hass: HomeAssistant, setup_entry: MockConfigEntry, loaded: Loader, fire: Fire
) -> None:
    """A log source has no connectivity: it counts as a log source, not a device."""
    assert await async_setup_component(hass, "system_health", {})
    await loaded(logs_entry())
    await fire(f"autocore/{BOARD_A}/status", status_a())
    await fire(f"{BASE}/manager/info", dumps(log(source={"type": "manager"})))
    info = await get_system_health_info(hass, DOMAIN)
    assert info["devices_online"] == "1 of 1"
    assert info["log_sources"] == 1
    assert info["container_logs"].startswith("1 hub, 1 log source, ")
