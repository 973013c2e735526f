"""Diagnostics: entry and device, redacted, with the dead letters."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.json import json_dumps
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.mqtt_fleet.diagnostics import (
    async_get_config_entry_diagnostics,
    async_get_device_diagnostics,
)

from .common import Fire, device_by_identifier
from .families.autocore.helpers import status_a, status_b, telemetry_a


async def _traffic(fire: Fire, freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to("2026-01-02T03:04:05+00:00")
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/ESP32_001/telemetry", telemetry_a(pressure=1013.2))
    await fire("autocore/devices/board-b1/status", status_b())
    await fire("autocore/ESP32_001/telemetry", b'{"temperature": NaN}')


async def test_entry_diagnostics(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """The hub's counters, every device and the dead letters; IP addresses redacted."""
    await _traffic(fire, freezer)
    diagnostics = await async_get_config_entry_diagnostics(hass, setup_entry)
    assert diagnostics == snapshot
    assert "192.168.1.100" not in json_dumps(diagnostics)


async def test_device_diagnostics(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    """A board's own state, and the hub's for the hub device."""
    await _traffic(fire, freezer)
    registry = dr.async_get(hass)
    board = device_by_identifier(registry, "entry_autocore_autocore/ESP32_001")
    hub = device_by_identifier(registry, "entry_autocore_autocore")
    assert board is not None
    assert hub is not None
    board_diagnostics = await async_get_device_diagnostics(hass, setup_entry, board)
    assert board_diagnostics == snapshot(name="board")
    hub_diagnostics = await async_get_device_diagnostics(hass, setup_entry, hub)
    assert hub_diagnostics == snapshot(name="hub")
    json_dumps([board_diagnostics, hub_diagnostics])  # what the download serializes
