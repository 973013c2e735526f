"""Logbook lines for MQTT Fleet's bus events: the common ones, and each family's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.logbook import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr

from .const import (
    ATTR_DEVICE_ID,
    ATTR_WIRE_ID,
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
)
from .families import FAMILIES

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from homeassistant.core import Event, HomeAssistant

    from .family import LogbookMessage

# Online and offline are not described: the connectivity entity's state change already
# makes a logbook entry, and a second one per edge would say the same.
MESSAGES: Final[dict[str, LogbookMessage]] = {
    EVENT_DEVICE_DISCOVERED: lambda data: f"was discovered ({data.get('family', 'unknown')})",
    **{event: say for spec in FAMILIES.values() for event, say in spec.logbook_messages.items()},
}


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe our events: named after the device, as the user named it."""

    @callback
    def describe(event: Event) -> dict[str, str]:
        data: Mapping[str, Any] = event.data
        device = dr.async_get(hass).async_get(data.get(ATTR_DEVICE_ID, ""))
        name = (device.name_by_user or device.name) if device else None
        return {
            LOGBOOK_ENTRY_NAME: name or str(data.get(ATTR_WIRE_ID, "MQTT Fleet")),
            LOGBOOK_ENTRY_MESSAGE: MESSAGES[str(event.event_type)](data),
        }

    for event_type in MESSAGES:
        async_describe_event(DOMAIN, event_type, describe)
