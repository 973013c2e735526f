"""Janus actions: `list_sessions`, asked live over the admin API."""

from __future__ import annotations

from typing import Final

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
import probatio as vol

from ...actions import ATTR_TIMEOUT, TEXT, number, resolve_device, validate
from ...const import DOMAIN
from .hub import ADMIN_REPLY_TIMEOUT, JanusHub

SERVICE_LIST_SESSIONS: Final = "list_sessions"
ATTR_SERVER: Final = "server"

LIST_SESSIONS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_SERVER): TEXT,
        vol.Optional(ATTR_TIMEOUT, default=ADMIN_REPLY_TIMEOUT): number(float, 0.5, 60),
    }
)


@callback
def async_register_actions(hass: HomeAssistant) -> None:
    """Register the Janus actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_LIST_SESSIONS, _async_list_sessions, supports_response=SupportsResponse.ONLY
    )


async def _async_list_sessions(call: ServiceCall) -> ServiceResponse:
    """Ask a Janus server for its sessions, live."""
    data = validate(LIST_SESSIONS_SCHEMA, call)
    hub, device = resolve_device(call.hass, JanusHub, data[ATTR_SERVER])
    return await hub.async_list_sessions(device, data[ATTR_TIMEOUT])
