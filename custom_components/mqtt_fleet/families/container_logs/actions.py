"""Container-log actions: `forward_log` onto an entry's log scheme."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio as vol

from ...actions import QOS, TEXT, loaded_hubs, number, validate
from ...const import DOMAIN
from ...protocol.container_logs import Level, LogMessage, SourceType
from ...protocol.topics import MAX_ID_LENGTH, UnsafeIdError, is_safe_id
from .hub import DEFAULT_BASE, ContainerLogsHub

if TYPE_CHECKING:
    from typing import Any

SERVICE_FORWARD_LOG: Final = "forward_log"
ATTR_MESSAGE: Final = "message"
ATTR_LEVEL: Final = "level"
ATTR_SOURCE_TYPE: Final = "source_type"
ATTR_SOURCE_NAME: Final = "source_name"
ATTR_SERVICE_ID: Final = "service_id"
ATTR_SERVICE_NAME: Final = "service_name"
ATTR_CONTAINER_ID: Final = "container_id"
ATTR_QOS: Final = "qos"
ATTR_RETAIN: Final = "retain"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"
# Our own parser refuses payloads over 64 KiB: never forward what we could not read back.
MAX_LOG_LENGTH: Final = 32_768

FORWARD_LOG_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_MESSAGE): vol.All(TEXT, vol.Length(min=1, max=MAX_LOG_LENGTH)),
        vol.Optional(ATTR_LEVEL, default=Level.INFO.value): vol.In(
            [level.value for level in Level]
        ),
        vol.Optional(ATTR_SOURCE_TYPE, default=SourceType.OTHER.value): vol.In([*SourceType]),
        vol.Optional(ATTR_SOURCE_NAME): TEXT,
        vol.Optional(ATTR_SERVICE_ID): number(int, 0, 2**53),
        vol.Optional(ATTR_SERVICE_NAME): TEXT,
        vol.Optional(ATTR_CONTAINER_ID): TEXT,
        vol.Optional(ATTR_QOS, default=1): QOS,
        vol.Optional(ATTR_RETAIN, default=False): cv.boolean,
        vol.Optional(ATTR_CONFIG_ENTRY_ID): TEXT,
    }
)


@callback
def async_register_actions(hass: HomeAssistant) -> None:
    """Register the container-log actions."""
    hass.services.async_register(DOMAIN, SERVICE_FORWARD_LOG, _async_forward_log)


async def _async_forward_log(call: ServiceCall) -> None:
    """Publish one log on a container-log entry's scheme (batched if the entry batches)."""
    data = validate(FORWARD_LOG_SCHEMA, call)
    if (source_name := data.get(ATTR_SOURCE_NAME)) is not None and not is_safe_id(source_name):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unsafe_source_name",
            translation_placeholders={
                "source_name": source_name,
                "max_length": str(MAX_ID_LENGTH),
            },
        )
    hub = _forwarding_hub(call.hass, data)
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
    if not hub.protocol.fits(log):
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="log_too_large")
    try:
        await hub.forwarder.async_forward(log, data[ATTR_QOS], data[ATTR_RETAIN])
    except UnsafeIdError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unsafe_service_name",
            translation_placeholders={"service_name": str(data.get(ATTR_SERVICE_NAME))},
        ) from err


def _forwarding_hub(hass: HomeAssistant, data: dict[str, Any]) -> ContainerLogsHub:
    """Return the entry named, else the only one, else the one on the default base topic.

    The default base is where the container manager publishes: with a second entry for
    another manager, a call without an entry keeps going where it went before.
    """
    hubs = [hub for hub in loaded_hubs(hass) if isinstance(hub, ContainerLogsHub)]
    if entry_id := data.get(ATTR_CONFIG_ENTRY_ID):
        hubs = [hub for hub in hubs if hub.entry.entry_id == entry_id]
    elif len(hubs) > 1:
        hubs = [hub for hub in hubs if hub.base == DEFAULT_BASE] or hubs
    if not hubs:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="log_entry_not_found"
        )
    if len(hubs) > 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="log_entry_ambiguous",
            translation_placeholders={"base_topic": DEFAULT_BASE},
        )
    return hubs[0]
