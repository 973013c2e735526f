"""Actions: registered once in async_setup, resolved to a hub and a device per call."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Final, cast

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import orjson
import probatio as vol

from .const import (
    ADMIN_REPLY_TIMEOUT,
    ATTR_ARGS,
    ATTR_COMMAND,
    ATTR_CONFIG_ENTRY_ID,
    ATTR_CONTAINER_ID,
    ATTR_DEVICE_ID,
    ATTR_IDLE,
    ATTR_LEVEL,
    ATTR_MESSAGE,
    ATTR_METHOD,
    ATTR_PATH,
    ATTR_QOS,
    ATTR_RETAIN,
    ATTR_ROUTER,
    ATTR_SERVER,
    ATTR_SERVICE_ID,
    ATTR_SERVICE_NAME,
    ATTR_SOURCE_NAME,
    ATTR_SOURCE_TYPE,
    ATTR_TIMEOUT,
    DOMAIN,
    RPC_TIMEOUT,
    SERVICE_FORWARD_LOG,
    SERVICE_LIST_SESSIONS,
    SERVICE_RPC_CALL,
    SERVICE_SEND_COMMAND,
    SERVICE_TERMINAL_EXEC,
    TERMINAL_IDLE,
    TERMINAL_TIMEOUT,
)
from .families.autocore import AutoCoreHub
from .families.container_logs import ContainerLogsHub
from .families.janus import JanusHub
from .families.spotfi import SpotFiHub
from .protocol.autocore import DeviceCommand
from .protocol.container_logs import Level, LogMessage, SourceType
from .protocol.topics import UnsafeIdError, is_safe_id

if TYPE_CHECKING:
    from homeassistant.util.json import JsonValueType

    from .hub import FleetConfigEntry, FleetHub

# Our own parser refuses payloads over 64 KiB: never forward what we could not read back.
MAX_LOG_LENGTH: Final = 32_768


def _not_bool(value: Any) -> Any:
    """Refuse true/false where text or a number belongs (cv.string and Coerce take them)."""
    if isinstance(value, bool):
        raise vol.Invalid("expected text or a number, not true/false")
    return value


def _encodable(value: str) -> str:
    """Refuse text with no UTF-8 form (a lone surrogate): it could not be sent."""
    try:
        value.encode()
    except UnicodeEncodeError as err:
        raise vol.Invalid("text must be valid Unicode") from err
    return value


def _number(kind: type[float], minimum: float, maximum: float) -> vol.All[float]:
    """Accept a number (or its text, as templates render) in a range; never true/false."""
    return vol.All(_not_bool, vol.Coerce(kind), vol.Range(min=minimum, max=maximum))


def _json_args(value: dict[str, Any]) -> dict[str, Any]:
    """Accept RPC args the request carries as they are: plain JSON, no NaN or Infinity."""
    try:
        orjson.dumps(value)  # text keys, integers within 64 bits, at most 254 levels
        json.dumps(value, allow_nan=False)  # no NaN or Infinity (orjson writes null)
    except (TypeError, ValueError) as err:  # orjson.JSONEncodeError is a TypeError
        raise vol.Invalid(f"args are not plain JSON: {err}") from err
    return value


# Text and ids: numbers read as their text, as everywhere in HA (templates render them).
TEXT: Final = vol.All(_not_bool, cv.string, _encodable)

SEND_COMMAND_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): TEXT,
        vol.Required(ATTR_COMMAND): vol.In([command.value for command in DeviceCommand]),
    }
)
LIST_SESSIONS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_SERVER): TEXT,
        vol.Optional(ATTR_TIMEOUT, default=ADMIN_REPLY_TIMEOUT): _number(float, 0.5, 60),
    }
)
RPC_CALL_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_ROUTER): TEXT,
        vol.Required(ATTR_PATH): TEXT,
        vol.Required(ATTR_METHOD): TEXT,
        vol.Optional(ATTR_ARGS, default=dict): vol.All(dict, _json_args),
        vol.Optional(ATTR_TIMEOUT, default=RPC_TIMEOUT): _number(float, 0.5, 120),
    }
)
FORWARD_LOG_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_MESSAGE): vol.All(TEXT, vol.Length(min=1, max=MAX_LOG_LENGTH)),
        vol.Optional(ATTR_LEVEL, default=Level.INFO.value): vol.In(
            [level.value for level in Level]
        ),
        vol.Optional(ATTR_SOURCE_TYPE, default=SourceType.OTHER.value): vol.In([*SourceType]),
        vol.Optional(ATTR_SOURCE_NAME): TEXT,
        vol.Optional(ATTR_SERVICE_ID): _number(int, 0, 2**53),
        vol.Optional(ATTR_SERVICE_NAME): TEXT,
        vol.Optional(ATTR_CONTAINER_ID): TEXT,
        vol.Optional(ATTR_QOS, default=1): vol.All(_not_bool, vol.Coerce(int), vol.In([0, 1, 2])),
        vol.Optional(ATTR_RETAIN, default=False): cv.boolean,
        vol.Optional(ATTR_CONFIG_ENTRY_ID): TEXT,
    }
)
TERMINAL_EXEC_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_ROUTER): TEXT,
        vol.Required(ATTR_COMMAND): vol.All(TEXT, vol.Length(min=1, max=4096)),
        vol.Optional(ATTR_TIMEOUT, default=TERMINAL_TIMEOUT): _number(float, 0.5, 300),
        vol.Optional(ATTR_IDLE, default=TERMINAL_IDLE): _number(float, 0.1, 60),
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(DOMAIN, SERVICE_SEND_COMMAND, _async_send_command)
    hass.services.async_register(
        DOMAIN, SERVICE_LIST_SESSIONS, _async_list_sessions, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(
        DOMAIN, SERVICE_RPC_CALL, _async_rpc_call, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(
        DOMAIN, SERVICE_TERMINAL_EXEC, _async_terminal_exec, supports_response=SupportsResponse.ONLY
    )
    hass.services.async_register(DOMAIN, SERVICE_FORWARD_LOG, _async_forward_log)


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


def _loaded_hubs(hass: HomeAssistant) -> list[FleetHub[Any]]:
    entries: list[FleetConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    return [entry.runtime_data for entry in entries if entry.state is ConfigEntryState.LOADED]


def _resolve[HubT: FleetHub[Any]](
    hass: HomeAssistant, hub_type: type[HubT], reference: str
) -> tuple[HubT, Any]:
    """Find a device of a family by its HA device id, or by its own id (server, router).

    An own id present in several entries of the family is ambiguous. Only a device whose id
    can be a topic level is found (not a stray registry entry): the actions publish under it.
    """
    hubs = [hub for hub in _loaded_hubs(hass) if isinstance(hub, hub_type)]
    if (device_entry := dr.async_get(hass).async_get(reference)) is not None:
        for hub in hubs:
            if device_entry.config_entry_id == hub.entry.entry_id and (
                is_safe_id(device_id := hub.device_id_from_identifiers(device_entry.identifiers))
                and (device := hub.devices.get(device_id)) is not None
            ):
                return hub, device
    found = [
        (hub, hub.devices[reference])
        for hub in hubs
        if reference in hub.devices and is_safe_id(reference)
    ]
    if len(found) > 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_ambiguous",
            translation_placeholders={"device_id": reference},
        )
    if not found:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"device_id": reference},
        )
    return found[0]


async def _async_send_command(call: ServiceCall) -> None:
    """Send a device command (AutoCore firmware v2: status, reboot, reset)."""
    data = _validate(SEND_COMMAND_SCHEMA, call)
    hub, device = _resolve(call.hass, AutoCoreHub, data[ATTR_DEVICE_ID])
    await hub.async_send_command(device, DeviceCommand(data[ATTR_COMMAND]))


async def _async_list_sessions(call: ServiceCall) -> ServiceResponse:
    """Ask a Janus server for its sessions, live."""
    data = _validate(LIST_SESSIONS_SCHEMA, call)
    hub, device = _resolve(call.hass, JanusHub, data[ATTR_SERVER])
    return await hub.async_list_sessions(device, data[ATTR_TIMEOUT])


async def _async_rpc_call(call: ServiceCall) -> ServiceResponse:
    """Run an allow-listed ubus call on a SpotFi router."""
    data = _validate(RPC_CALL_SCHEMA, call)
    hub, device = _resolve(call.hass, SpotFiHub, data[ATTR_ROUTER])
    result = await hub.async_rpc_call(
        device, data[ATTR_PATH], data[ATTR_METHOD], data[ATTR_ARGS], data[ATTR_TIMEOUT]
    )
    # Results are decoded JSON; ubus answers objects, anything else is wrapped.
    return result if isinstance(result, dict) else {"result": cast("JsonValueType", result)}


async def _async_terminal_exec(call: ServiceCall) -> ServiceResponse:
    """Run one shell command on a SpotFi router through the terminal tunnel."""
    data = _validate(TERMINAL_EXEC_SCHEMA, call)
    hub, device = _resolve(call.hass, SpotFiHub, data[ATTR_ROUTER])
    return await hub.async_terminal_exec(
        device, data[ATTR_COMMAND], data[ATTR_TIMEOUT], data[ATTR_IDLE]
    )


async def _async_forward_log(call: ServiceCall) -> None:
    """Publish one log on a container-log entry's scheme (batched if the entry batches)."""
    data = _validate(FORWARD_LOG_SCHEMA, call)
    hubs = [hub for hub in _loaded_hubs(call.hass) if isinstance(hub, ContainerLogsHub)]
    if entry_id := data.get(ATTR_CONFIG_ENTRY_ID):
        hubs = [hub for hub in hubs if hub.entry.entry_id == entry_id]
    if len(hubs) != 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="log_entry_not_found" if not hubs else "log_entry_ambiguous",
        )
    log = LogMessage(
        message=data[ATTR_MESSAGE],
        level=Level(data[ATTR_LEVEL]),
        timestamp=int(time.time() * 1000),
        source_type=data[ATTR_SOURCE_TYPE],
        source_name=data.get(ATTR_SOURCE_NAME),
        service_id=data.get(ATTR_SERVICE_ID),
        service_name=data.get(ATTR_SERVICE_NAME),
        container_id=data.get(ATTR_CONTAINER_ID),
    )
    if not hubs[0].protocol.fits(log):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="log_too_large")
    try:
        await hubs[0].forwarder.async_forward(log, data[ATTR_QOS], data[ATTR_RETAIN])
    except UnsafeIdError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unsafe_service_name",
            translation_placeholders={"service_name": str(data.get(ATTR_SERVICE_NAME))},
        ) from err
