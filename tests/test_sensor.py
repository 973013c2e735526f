"""Sensors: AutoCore telemetry and information, and the hub's health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from .common import status_a, status_b, telemetry_a
from .conftest import Fire


@pytest.fixture
def platforms() -> list[Platform]:
    """Load only the sensor platform."""
    return [Platform.SENSOR]


@pytest.fixture
async def sensor_entry(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry, platforms: list[Platform]
) -> MockConfigEntry:
    """Set up the AutoCore entry with the sensor platform only."""
    config_entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    return config_entry


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_sensors_snapshot(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Every sensor of both layouts and of the hub, with classes, units and categories."""
    freezer.move_to("2026-01-02T03:04:05+00:00")
    async_fire_time_changed(hass)  # starts the message rate window at this time
    await hass.async_block_till_done()
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/ESP32_001/telemetry", telemetry_a(pressure=1013.2, lux=420))
    await fire("autocore/devices/board-b1/status", status_b())
    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, sensor_entry.entry_id)


async def test_values_update_and_unchanged_values_write_nothing(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """A changed value is written; a repeated one does not touch the state at all."""
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    first = hass.states.get("sensor.esp32_001_temperature")
    assert first.state == "25.6"
    humidity = hass.states.get("sensor.esp32_001_humidity")

    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=26.1))
    assert hass.states.get("sensor.esp32_001_temperature").state == "26.1"
    assert hass.states.get("sensor.esp32_001_humidity").last_reported == humidity.last_reported

    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=26.1))
    assert hass.states.get("sensor.esp32_001_temperature").last_reported == (
        hass.states.get("sensor.esp32_001_temperature").last_updated
    )


async def test_new_telemetry_key_adds_a_sensor_later(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """An unknown numeric key seen later becomes a generic sensor without a restart."""
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get("sensor.esp32_001_co2") is None
    await fire("autocore/ESP32_001/telemetry", telemetry_a(co2=612))
    state = hass.states.get("sensor.esp32_001_co2")
    assert state.state == "612"
    assert state.attributes["state_class"] == "measurement"
    assert "unit_of_measurement" not in state.attributes


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_stale_device_goes_unavailable_and_back(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Freshness is timer-driven: no message for 90 s makes values unavailable."""
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    freezer.tick(timedelta(seconds=60))
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    freezer.tick(timedelta(seconds=60))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.esp32_001_temperature").state == "25.6"

    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.esp32_001_temperature").state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.esp32_001_last_seen").state != STATE_UNAVAILABLE

    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get("sensor.esp32_001_temperature").state == "25.6"


async def test_offline_status_makes_values_unavailable(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """A status saying offline (e.g. the firmware's Last Will) wins over freshness."""
    await fire("autocore/devices/board-b1/status", status_b())
    assert hass.states.get("sensor.relay_board_1_wi_fi_signal").state == "-61"
    await fire(
        "autocore/devices/board-b1/status",
        status_b(status="offline", reason="unexpected_disconnect"),
    )
    assert hass.states.get("sensor.relay_board_1_wi_fi_signal").state == STATE_UNAVAILABLE
    await fire("autocore/devices/board-b1/status", status_b(wifi_signal=-70))
    assert hass.states.get("sensor.relay_board_1_wi_fi_signal").state == "-70"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_seen_is_written_at_most_every_30_seconds(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Last seen uses the local receive time and is not rewritten per message."""
    freezer.move_to("2026-01-02T03:04:05+00:00")
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get("sensor.esp32_001_last_seen").state == "2026-01-02T03:04:05+00:00"
    freezer.tick(timedelta(seconds=10))
    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=20))
    assert hass.states.get("sensor.esp32_001_last_seen").state == "2026-01-02T03:04:05+00:00"
    freezer.tick(timedelta(seconds=25))
    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=21))
    assert hass.states.get("sensor.esp32_001_last_seen").state == "2026-01-02T03:04:40+00:00"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_hub_sensors(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Counters, rate and devices online refresh on the hub's 10 s timer."""
    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    await fire("autocore/devices/board-b1/status", status_b(status="offline"))
    await fire("autocore/ESP32_001/telemetry", "not json")

    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.autocore_autocore_messages_received").state == "4"
    assert hass.states.get("sensor.autocore_autocore_invalid_messages").state == "1"
    assert hass.states.get("sensor.autocore_autocore_devices_online").state == "1"
    assert hass.states.get("sensor.autocore_autocore_message_rate").state == "24.0"

    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.autocore_autocore_message_rate").state == "0.0"
