"""SpotFi entities: the heartbeat's sensors, their classes, units and categories."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from ...clock import advance
from .helpers import (
    ACTIVE_USERS,
    CPU,
    FREE_MEMORY,
    LAST_HEARTBEAT,
    LAST_RESTART,
    MEMORY_USED,
    METRICS,
    ROUTER,
    START,
    TOTAL_MEMORY,
    fire,
)

ROUTER_ENTITIES = {  # what a router that sent its status and a heartbeat has
    "binary_sensor": {"connectivity"},
    "sensor": {
        "cpu_load",
        "memory_used",
        "free_memory",
        "total_memory",
        "active_users",
        "last_restart",
        "last_seen",  # shown as Last heartbeat
    },
}


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

    # Free and total memory in one unit, MiB, to 0.1 MiB.
    entity_registry = er.async_get(hass)
    for entity_id, mib in ((FREE_MEMORY, 100), (TOTAL_MEMORY, 250)):
        state = hass.states.get(entity_id)
        assert state.attributes["device_class"] == "data_size"
        assert state.attributes["unit_of_measurement"] == "MiB"
        assert float(state.state) == mib
        assert entity_registry.async_get(entity_id).options["sensor"] == {
            "suggested_display_precision": 1
        }

    users = hass.states.get(ACTIVE_USERS)
    assert users.state == "7"
    assert users.attributes["state_class"] == "measurement"
    assert "unit_of_measurement" not in users.attributes

    # Uptime shows as the time of the last restart, not as a growing duration.
    restarted = hass.states.get(LAST_RESTART)
    assert dt_util.parse_datetime(restarted.state) == (
        dt_util.parse_datetime(START) - timedelta(days=1)
    )
    assert "unit_of_measurement" not in restarted.attributes
    assert entity_registry.async_get(LAST_RESTART).entity_category is er.EntityCategory.DIAGNOSTIC

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


async def test_a_router_has_eight_entities_none_repeating_device_info(
    hass: HomeAssistant, router: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Uptime became the last restart; model and release are device info, not sensors."""
    prefix = f"{router.entry_id}/{ROUTER}/"
    entities = [
        entry
        for entry in er.async_entries_for_config_entry(entity_registry, router.entry_id)
        if entry.unique_id.startswith(prefix)
    ]
    assert {
        domain: {e.unique_id.removeprefix(prefix) for e in entities if e.domain == domain}
        for domain in ROUTER_ENTITIES
    } == ROUTER_ENTITIES
    assert len(entities) == 8


async def test_free_memory_of_a_router_made_before_moves_to_mib(
    hass: HomeAssistant, router: MockConfigEntry, entity_registry: er.EntityRegistry
) -> None:
    """Free memory used to be suggested in KiB; a reload shows it in MiB like the total."""
    entity_registry.async_update_entity_options(
        FREE_MEMORY, "sensor.private", {"suggested_unit_of_measurement": "KiB"}
    )
    assert await hass.config_entries.async_reload(router.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(FREE_MEMORY).attributes["unit_of_measurement"] == "MiB"
    assert float(hass.states.get(FREE_MEMORY).state) == 100
