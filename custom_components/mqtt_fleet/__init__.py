"""MQTT Fleet: fleets of MQTT devices in vendor topic schemes, through HA's MQTT integration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.core import callback
from homeassistant.exceptions import ConfigEntryNotReady, HomeAssistantError
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)

from . import heap
from .config_flow import entry_title, legacy_entry_title
from .const import CONF_ADMIN_SECRET, CONF_BASE_TOPIC, CONF_FAMILY, DOMAIN, LOGGER
from .families import FAMILIES
from .hub import async_remove_retired_entities, async_rename_hub_device
from .upkeep import async_remove_store

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.device_registry import DeviceEntry
    from homeassistant.helpers.typing import ConfigType

    from .hub import FleetConfigEntry

PLATFORMS = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR, Platform.SWITCH]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register every family's actions once, whatever entries exist."""
    for spec in FAMILIES.values():
        if spec.register_actions is not None:
            spec.register_actions(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: FleetConfigEntry) -> bool:
    """Restore known devices, subscribe, then set up the platforms.

    Keys seen before a platform is ready are kept; the platform adds them when it starts.
    """
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_available")
    spec = FAMILIES[entry.data[CONF_FAMILY]]
    async_remove_retired_entities(hass, entry, spec.retired_keys)
    heap.async_freeze_until_started(hass, entry)
    hub = spec.hub_type(hass, entry)
    hub.async_restore()
    entry.runtime_data = hub
    entry.async_on_unload(hub.async_shutdown)
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    try:
        await hub.async_start()
    except HomeAssistantError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="mqtt_not_available"
        ) from err
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_entry_updated(hass: HomeAssistant, entry: FleetConfigEntry) -> None:
    """Reload for new entry data (reconfigure); apply saved options in place if it can.

    The admin secret (reauth, reconfigure) needs no reload: the hub reads it per request.
    """
    hub = entry.runtime_data
    changed_data = {
        key
        for key in entry.data.keys() | hub.data.keys()
        if entry.data.get(key) != hub.data.get(key)
    }
    if changed_data - {CONF_ADMIN_SECRET} or (
        entry.options != hub.options and not hub.async_apply_options(entry.options)
    ):
        hass.config_entries.async_schedule_reload(entry.entry_id)


async def async_unload_entry(hass: HomeAssistant, entry: FleetConfigEntry) -> bool:
    """Finish the hub's pending work, then unload the platforms; the hub unsubscribes."""
    await entry.runtime_data.async_prepare_unload()
    await entry.runtime_data.upkeep.async_save()
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: FleetConfigEntry) -> None:
    """Delete what the entry stored besides the registries: its devices' last-seen times."""
    await async_remove_store(hass, entry.entry_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: FleetConfigEntry, device_entry: DeviceEntry
) -> bool:
    """Let the user delete a fleet device (it returns if it speaks again), not the hub."""
    hub = entry.runtime_data
    if (wire_id := hub.wire_id_from_identifiers(device_entry.identifiers)) is None:
        return False
    hub.async_remove_device(wire_id)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: FleetConfigEntry) -> bool:
    """Re-key version 1 registries: identifiers made of the base topic become entry ids.

    Version 1 keyed the hub device as `{family}:{base}` (the entry's unique id) and each
    device and entity under it; version 2 uses the entry id, which a move never changes.
    Entity ids, names, history and statistics stay with the re-keyed entries.
    """
    if entry.version > 2:
        return False  # a newer version of the integration wrote it
    if entry.version == 1:
        old = entry.unique_id or entry.entry_id
        await _async_rekey_registries(hass, entry, old, entry.entry_id)
        hass.config_entries.async_update_entry(entry, version=2, minor_version=1)
        LOGGER.debug("Migrated %s to version 2: registry ids no longer hold the base", old)
    if entry.minor_version < 2:
        _async_retitle(hass, entry)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True


@callback
def _async_retitle(hass: HomeAssistant, entry: FleetConfigEntry) -> None:
    """Give a generated title the family's name alone under its default base (2.2).

    `AutoCore (autocore)` named the hub device, and so its entities
    `sensor.autocore_autocore_devices_online`. A title, device name or entity id the
    user changed stays.
    """
    spec = FAMILIES[entry.data[CONF_FAMILY]]
    base = entry.data[CONF_BASE_TOPIC]
    if entry.title != legacy_entry_title(spec, base):
        return
    title = entry_title(spec, base)
    async_rename_hub_device(hass, entry, title)
    hass.config_entries.async_update_entry(entry, title=title)


async def _async_rekey_registries(
    hass: HomeAssistant, entry: FleetConfigEntry, old: str, new: str
) -> None:
    def rekeyed(key: str) -> str | None:
        if key == old:
            return new
        if key.startswith(f"{old}/"):
            return f"{new}/{key.removeprefix(f'{old}/')}"
        return None

    device_registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
        identifiers = {
            (domain, rekeyed(key) or key) if domain == DOMAIN else (domain, key)
            for domain, key in device.identifiers
        }
        if identifiers != device.identifiers:
            device_registry.async_update_device(device.id, new_identifiers=identifiers)

    @callback
    def rekey_entity(entity: er.RegistryEntry) -> dict[str, Any] | None:
        if (unique_id := rekeyed(entity.unique_id)) is None:
            return None
        return {"new_unique_id": unique_id}

    await er.async_migrate_entries(hass, entry.entry_id, rekey_entity)
