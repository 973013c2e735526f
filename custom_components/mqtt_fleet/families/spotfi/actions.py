"""SpotFi actions: allow-listed ubus `rpc_call`, and `terminal_exec` through the tunnel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, cast

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv
import probatio as vol

from ...actions import ATTR_TIMEOUT, TEXT, json_args, number, resolve_device, validate
from ...const import DOMAIN
from .hub import RPC_TIMEOUT, TERMINAL_TIMEOUT, SpotFiHub

if TYPE_CHECKING:
    from homeassistant.util.json import JsonValueType

SERVICE_RPC_CALL: Final = "rpc_call"
SERVICE_TERMINAL_EXEC: Final = "terminal_exec"
ATTR_ROUTER: Final = "router"
ATTR_PATH: Final = "path"
ATTR_METHOD: Final = "method"
ATTR_ARGS: Final = "args"
ATTR_COMMAND: Final = "command"
ATTR_IDLE: Final = "idle"
ATTR_RAW: Final = "raw"

RPC_CALL_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_ROUTER): TEXT,
        vol.Required(ATTR_PATH): TEXT,
        vol.Required(ATTR_METHOD): TEXT,
        vol.Optional(ATTR_ARGS, default=dict): vol.All(dict, json_args),
        vol.Optional(ATTR_TIMEOUT, default=RPC_TIMEOUT): number(float, 0.5, 120),
    }
)
TERMINAL_EXEC_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_ROUTER): TEXT,
        vol.Required(ATTR_COMMAND): vol.All(TEXT, vol.Length(min=1, max=4096)),
        vol.Optional(ATTR_TIMEOUT, default=TERMINAL_TIMEOUT): number(float, 0.5, 300),
        vol.Optional(ATTR_IDLE): number(float, 0.1, 60),
        vol.Optional(ATTR_RAW, default=False): cv.boolean,
    }
)


@callback
def async_register_actions(hass: HomeAssistant) -> None:
    """Register the SpotFi actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_RPC_CALL, _async_rpc_call, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(
        DOMAIN, SERVICE_TERMINAL_EXEC, _async_terminal_exec, supports_response=SupportsResponse.ONLY
    )


async def _async_rpc_call(call: ServiceCall) -> ServiceResponse:
    """Run an allow-listed ubus call on a SpotFi router."""
    data = validate(RPC_CALL_SCHEMA, call)
    hub, device = resolve_device(call.hass, SpotFiHub, data[ATTR_ROUTER])
    result = await hub.async_rpc_call(
        device, data[ATTR_PATH], data[ATTR_METHOD], data[ATTR_ARGS], data[ATTR_TIMEOUT]
    )
    # Results are decoded JSON; ubus answers objects, anything else is wrapped.
    return result if isinstance(result, dict) else {"result": cast("JsonValueType", result)}


async def _async_terminal_exec(call: ServiceCall) -> ServiceResponse:
    """Run one shell command on a SpotFi router through the terminal tunnel."""
    data = validate(TERMINAL_EXEC_SCHEMA, call)
    hub, device = resolve_device(call.hass, SpotFiHub, data[ATTR_ROUTER])
    return await hub.async_terminal_exec(
        device, data[ATTR_COMMAND], data[ATTR_TIMEOUT], data.get(ATTR_IDLE), raw=data[ATTR_RAW]
    )
