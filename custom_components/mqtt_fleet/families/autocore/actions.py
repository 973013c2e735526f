"""AutoCore actions: `send_command` to a firmware v2 board."""

from __future__ import annotations

from typing import Final

from homeassistant.core import HomeAssistant, ServiceCall, callback
import probatio as vol

from ...actions import TEXT, resolve_device, validate
from ...const import DOMAIN
from ...protocol.autocore import DeviceCommand
from .hub import AutoCoreHub

SERVICE_SEND_COMMAND: Final = "send_command"
ATTR_DEVICE_ID: Final = "device_id"  # a registry device id, or the board's own id
ATTR_COMMAND: Final = "command"

SEND_COMMAND_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): TEXT,
        vol.Required(ATTR_COMMAND): vol.In([command.value for command in DeviceCommand]),
    }
)


@callback
def async_register_actions(hass: HomeAssistant) -> None:
    """Register the AutoCore actions."""
    hass.services.async_register(DOMAIN, SERVICE_SEND_COMMAND, _async_send_command)


async def _async_send_command(call: ServiceCall) -> None:
    """Send a device command (AutoCore firmware v2: status, reboot, reset)."""
    data = validate(SEND_COMMAND_SCHEMA, call)
    hub, device = resolve_device(call.hass, AutoCoreHub, data[ATTR_DEVICE_ID])
    await hub.async_send_command(device, DeviceCommand(data[ATTR_COMMAND]))
