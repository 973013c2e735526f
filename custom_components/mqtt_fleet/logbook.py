"""Logbook lines for MQTT Fleet's bus events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr

from .const import (
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
    EVENT_DISPLAY_INTERACTION,
    EVENT_LOG,
    EVENT_SYSTEM_MESSAGE,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from homeassistant.core import Event, HomeAssistant

MAX_MESSAGE: Final = 200  # characters of a log line shown in the logbook


def _message(event_type: str, data: Mapping[str, Any]) -> str:
    """Say what happened, from the event's own fields."""
    match event_type:
        case "discovered":
            return f"was discovered ({data.get('family', 'unknown')})"
        case "online":
            return "came online"
        case "offline":
            return "went offline"
        case "display_interaction":
            details = ", ".join(
                f"{key} {data[key]}" for key in ("screen", "element", "action") if key in data
            )
            return f"display was used ({details})" if details else "display was used"
        case "system_message":
            reason = data.get("reason") or data.get("error_type")
            kind = str(data.get("kind", "system"))
            return f"reported {kind}" + (f": {reason}" if reason else "")
        case _:
            text = str(data.get("message", ""))
            if len(text) > MAX_MESSAGE:
                text = f"{text[: MAX_MESSAGE - 1]}…"
            return f"logged {data.get('level', 'a')} {text}".rstrip()


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe our events: named after the device, as the user named it."""
    kinds = {
        EVENT_DEVICE_DISCOVERED: "discovered",
        EVENT_DEVICE_ONLINE: "online",
        EVENT_DEVICE_OFFLINE: "offline",
        EVENT_DISPLAY_INTERACTION: "display_interaction",
        EVENT_SYSTEM_MESSAGE: "system_message",
        EVENT_LOG: "log",
    }

    @callback
    def describe(event: Event) -> dict[str, str]:
        device = dr.async_get(hass).async_get(event.data.get("device_id", ""))
        name = (device.name_by_user or device.name) if device else None
        return {
            LOGBOOK_ENTRY_NAME: name or str(event.data.get("device", "MQTT Fleet")),
            LOGBOOK_ENTRY_MESSAGE: _message(kinds[str(event.event_type)], event.data),
        }

    for event_type in kinds:
        async_describe_event(DOMAIN, event_type, describe)
