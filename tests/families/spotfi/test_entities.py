"""SpotFi entities: the heartbeat's sensors, their classes, units and categories."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from ...clock import advance
from .helpers import (
    ACTIVE_USERS,
    CPU,
    FREE_MEMORY,
    LAST_HEARTBEAT,
    MEMORY_USED,
    METRICS,
    ROUTER,
    TOTAL_MEMORY,
    UPTIME,
    fire,
)


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
