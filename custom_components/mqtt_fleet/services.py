"""Actions: registered once in async_setup, resolved to a hub and a device per call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import voluptuous as vol

from .const import ATTR_COMMAND, ATTR_DEVICE_ID, DOMAIN, SERVICE_SEND_COMMAND
from .families.autocore import AutoCoreHub
from .protocol.autocore import DeviceCommand

if TYPE_CHECKING:
    from .hub import FleetConfigEntry, FleetDevice, FleetHub

SEND_COMMAND_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Required(ATTR_COMMAND): vol.In([command.value for command in DeviceCommand]),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_SEND_COMMAND, _async_send_command)


def _validate(schema: vol.Schema, call: ServiceCall) -> dict[str, Any]:
    """Validate action data, raising a translated ServiceValidationError on bad input."""
    try:
        return schema(dict(call.data))  # type: ignore[no-any-return]
    except vol.Invalid as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_action_data",
            translation_placeholders={"action": call.service, "error": str(err)},
        ) from err


def _resolve_device(hass: HomeAssistant, device_id: str) -> tuple[FleetHub[Any], FleetDevice]:
    """Find the loaded hub and the fleet device behind a device registry id."""
    if (device_entry := dr.async_get(hass).async_get(device_id)) is not None:
        for entry_id in device_entry.config_entries:
            entry: FleetConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
            if (
                entry is None
                or entry.domain != DOMAIN
                or entry.state is not ConfigEntryState.LOADED
            ):
                continue
            hub = entry.runtime_data
            fleet_id = hub.device_id_from_identifiers(device_entry.identifiers)
            if fleet_id is not None and (device := hub.devices.get(fleet_id)) is not None:
                return hub, device
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="device_not_found",
        translation_placeholders={"device_id": device_id},
    )


async def _async_send_command(call: ServiceCall) -> None:
    """Send a device command (AutoCore firmware v2: status, reboot, reset)."""
    data = _validate(SEND_COMMAND_SCHEMA, call)
    hub, device = _resolve_device(call.hass, data[ATTR_DEVICE_ID])
    command = DeviceCommand(data[ATTR_COMMAND])
    if not isinstance(hub, AutoCoreHub):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="command_not_supported",
            translation_placeholders={"device": device.device_id, "command": command},
        )
    await hub.async_send_command(device.device_id, command)
