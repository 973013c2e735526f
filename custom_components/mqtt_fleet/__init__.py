"""MQTT Fleet: fleets of MQTT devices in vendor topic schemes, through HA's MQTT integration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components import mqtt
from homeassistant.const import Platform
from homeassistant.exceptions import ConfigEntryNotReady, HomeAssistantError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN
from .families import create_hub
from .services import async_setup_services
from .upkeep import async_remove_store

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.device_registry import DeviceEntry
    from homeassistant.helpers.typing import ConfigType

    from .hub import FleetConfigEntry

PLATFORMS = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR, Platform.SWITCH]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once, whatever entries exist."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: FleetConfigEntry) -> bool:
    """Restore known devices, subscribe, then set up the platforms.

    Keys seen before a platform is ready are kept; the platform adds them when it starts.
    """
    if not await mqtt.async_wait_for_mqtt_client(hass):
        raise ConfigEntryNotReady(translation_domain=DOMAIN, translation_key="mqtt_not_available")
    hub = create_hub(hass, entry)
    hub.async_restore()
    entry.runtime_data = hub
    entry.async_on_unload(hub.async_shutdown)
    try:
        await hub.async_start()
    except HomeAssistantError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN, translation_key="mqtt_not_available"
        ) from err
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


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
    if (device_id := hub.device_id_from_identifiers(device_entry.identifiers)) is None:
        return False
    hub.async_remove_device(device_id)
    return True
