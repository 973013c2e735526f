"""Entry setup, unload and device removal (an AutoCore entry stands for every family).

Restore after a restart and reconnects: tests/families/<family>/test_hub.py.
"""

from __future__ import annotations

from dataclasses import replace
import gc
import logging
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED, EVENT_STATE_CHANGED
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.mqtt_fleet import async_remove_config_entry_device
from custom_components.mqtt_fleet.const import (
    CONF_MAX_DEVICES,
    CONF_NEW_DEVICES_PER_MINUTE,
    CONF_OFFLINE_TIMEOUT,
    CONF_STALE_DEVICE_DAYS,
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
)
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.autocore.hub import AutoCoreHub

from .common import Fire, device_by_identifier
from .families.autocore.helpers import BOARD_A, relay_a, status_a


async def test_a_hub_registered_as_a_service_becomes_a_device(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """Hubs were once registered as services: HA then spoke of "services" beside hubs."""
    config_entry.add_to_hass(hass)
    registry = dr.async_get(hass)
    registry.async_get_or_create(
        config_entry_id=config_entry.entry_id,
        identifiers={(DOMAIN, config_entry.entry_id)},
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    hub_device = device_by_identifier(registry, config_entry.entry_id)
    assert hub_device is not None
    assert hub_device.entry_type is None


async def test_setup_and_unload(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The hub subscribes to both layouts, owns a hub device and stops on unload."""
    assert setup_entry.state is ConfigEntryState.LOADED
    hub = setup_entry.runtime_data
    assert isinstance(hub, AutoCoreHub)
    assert set(hub.protocol.subscriptions) == {
        "autocore/+/status",
        "autocore/+/telemetry",
        "autocore/+/relay/+/status",
        "autocore/+/display/interaction",
        "autocore/+/system/+",
        "autocore/devices/+/status",
        "autocore/devices/+/relays/state",
        "autocore/telemetry/relays/data",
        "autocore/errors/+/+",
    }
    hub_device = device_by_identifier(dr.async_get(hass), "entry_autocore_autocore")
    assert hub_device is not None
    assert hub_device.entry_type is None  # a device: HA would call a service a third name
    # Named like the entry: the family alone under its default base, so the hub's entity
    # ids do not repeat it (`sensor.autocore_devices_online`).
    assert setup_entry.title == hub_device.name == "AutoCore"
    hub_entities = er.async_entries_for_device(er.async_get(hass), hub_device.id)
    assert hub_entities
    for entity in hub_entities:
        assert entity.entity_id.split(".")[1].startswith("autocore_")
        assert "autocore_autocore" not in entity.entity_id

    await fire("autocore/ESP32_001/status", status_a())
    assert hub.messages_received == 1

    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    assert setup_entry.state is ConfigEntryState.NOT_LOADED
    await fire("autocore/ESP32_001/status", status_a())
    assert hub.messages_received == 1


async def test_objects_are_frozen_while_home_assistant_starts(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """A restart's hubs set up with the loaded objects frozen; started, they are thawed."""
    gc.unfreeze()
    hass.set_state(CoreState.starting)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert gc.get_freeze_count() > 0

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done()
    assert gc.get_freeze_count() == 0


async def test_a_hub_set_up_later_leaves_nothing_frozen(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """Set up while Home Assistant runs (added, reloaded), nothing stays frozen."""
    gc.unfreeze()
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert gc.get_freeze_count() == 0


async def test_an_unload_before_the_start_thaws(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """A hub unloaded before Home Assistant finished starting leaves nothing frozen."""
    gc.unfreeze()
    hass.set_state(CoreState.starting)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    assert gc.get_freeze_count() > 0

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert gc.get_freeze_count() == 0
    hass.set_state(CoreState.running)


async def test_a_disabled_entity_is_added_once_enabled(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """A disabled entity is left out at setup; enabling it (HA reloads the hub) adds it."""
    await fire("autocore/ESP32_001/status", status_a())
    registry = er.async_get(hass)
    entity_id = next(
        entry.entity_id
        for entry in er.async_entries_for_config_entry(registry, setup_entry.entry_id)
        if entry.unique_id.endswith("ESP32_001/ip_address")
    )
    registry.async_update_entity(entity_id, disabled_by=er.RegistryEntryDisabler.USER)
    assert await hass.config_entries.async_reload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) is None

    registry.async_update_entity(entity_id, disabled_by=None)
    assert await hass.config_entries.async_reload(setup_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(entity_id) is not None


async def test_not_ready_without_mqtt(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    """Without HA's MQTT integration the entry retries later."""
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_not_ready_when_subscribe_fails(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """A subscribe refused by HA's MQTT layer retries later and leaves nothing behind."""
    config_entry.add_to_hass(hass)
    with patch(
        "homeassistant.components.mqtt.async_subscribe",
        side_effect=HomeAssistantError("MQTT is not enabled"),
    ):
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_remove_device(hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire) -> None:
    """A board can be deleted and is rediscovered when it speaks; the hub cannot."""
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)
    await fire("autocore/ESP32_001/status", status_a())
    registry = dr.async_get(hass)
    hub = setup_entry.runtime_data
    board = device_by_identifier(registry, "entry_autocore_autocore/ESP32_001")
    hub_device = device_by_identifier(registry, "entry_autocore_autocore")
    assert board is not None
    assert hub_device is not None
    assert board.via_device_id == hub_device.id

    assert not await async_remove_config_entry_device(hass, setup_entry, hub_device)
    assert await async_remove_config_entry_device(hass, setup_entry, board)
    assert BOARD_A not in hub.devices

    await fire("autocore/ESP32_001/status", status_a())
    assert BOARD_A in hub.devices
    assert [event.data["device"] for event in discovered] == [BOARD_A, BOARD_A]


async def test_retired_keys_leave_the_registry_at_setup(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> None:
    """Entities of a key the family no longer offers are deleted; the others stay."""
    config_entry.add_to_hass(hass)
    registry = er.async_get(hass)
    prefix = f"{config_entry.entry_id}/{BOARD_A}"
    for key in ("temperature", "old_key"):
        registry.async_get_or_create("sensor", DOMAIN, f"{prefix}/{key}", config_entry=config_entry)
    spec = replace(FAMILIES["autocore"], retired_keys=frozenset({"old_key"}))
    with patch.dict(FAMILIES, {"autocore": spec}):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    assert registry.async_get_entity_id("sensor", DOMAIN, f"{prefix}/temperature")
    assert registry.async_get_entity_id("sensor", DOMAIN, f"{prefix}/old_key") is None


async def test_an_empty_message_clears_a_retained_one_quietly(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Clearing a retained topic (an empty payload) is neither invalid nor a warning."""
    hub = setup_entry.runtime_data
    await fire(f"autocore/{BOARD_A}/status", status_a())
    await fire(f"autocore/{BOARD_A}/status", b"")
    await fire(f"autocore/{BOARD_A}/telemetry", "")
    assert hub.invalid_messages == 0
    assert not hub.dead_letters
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert hub.devices[BOARD_A].connected is True


async def test_saving_options_changes_no_entity(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """Options every family shares apply in place: no reload, no state change to log."""
    await fire(f"autocore/{BOARD_A}/status", status_a())
    await fire(f"autocore/{BOARD_A}/relay/0/status", relay_a(0, state=False))
    hub = setup_entry.runtime_data
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    result = await hass.config_entries.options.async_init(setup_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **setup_entry.options,
            CONF_OFFLINE_TIMEOUT: 300,
            CONF_STALE_DEVICE_DAYS: 7,
            CONF_MAX_DEVICES: 40,
            CONF_NEW_DEVICES_PER_MINUTE: 5,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert setup_entry.runtime_data is hub  # not reloaded
    assert changes == []
    assert hub.offline_timeout == 300
    assert hub.upkeep.stale_after == 7 * 86400
    assert (hub.admission.max_devices, hub.admission.new_devices_per_minute) == (40, 5)


async def test_a_family_option_the_hub_cannot_take_reloads(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    hub = setup_entry.runtime_data
    with patch.object(type(hub), "async_apply_family_options", return_value=False):
        hass.config_entries.async_update_entry(
            setup_entry,
            options={**setup_entry.options, "relay_command_topic": "x/{device_id}/{relay}"},
        )
        await hass.async_block_till_done()
    assert setup_entry.state is ConfigEntryState.LOADED
    assert setup_entry.runtime_data is not hub
