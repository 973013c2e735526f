"""System health: the broker connection, totals, and one line per family in use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt, system_health
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN
from .families import FAMILIES

if TYPE_CHECKING:
    from .hub import FleetConfigEntry, FleetHub


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Register the info callback."""
    register.async_register_info(system_health_info, "/config/integrations/integration/mqtt_fleet")


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Totals over the loaded entries, then one line per family (fixed, translated keys).

    Only devices with connectivity count as online or not: log sources are neither, and
    are counted on their own. The last message is a datetime, which the page shows as a
    date and time.
    """
    entries = hass.config_entries.async_entries(DOMAIN)
    loaded: list[FleetConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    hubs = [entry.runtime_data for entry in loaded]
    connected = [hub for hub in hubs if hub.has_connectivity]
    last = max((hub.last_message_at for hub in hubs if hub.last_message_at), default=None)
    return {
        "broker_connected": mqtt.is_connected(hass),
        "loaded_entries": f"{len(hubs)} of {len(entries)}",
        "devices_online": f"{sum(hub.devices_online for hub in connected)} of "
        f"{sum(len(hub.devices) for hub in connected)}",
        "log_sources": sum(len(hub.devices) for hub in hubs if not hub.has_connectivity),
        "messages_received": sum(hub.messages_received for hub in hubs),
        "invalid_messages": sum(hub.invalid_messages for hub in hubs),
        "last_message": "never"
        if last is None
        else datetime.fromtimestamp(last, UTC).replace(microsecond=0),
        **{
            family: _family_line(family_hubs)
            for family in FAMILIES
            if (family_hubs := [hub for hub in hubs if hub.family == family])
        },
    }


def _family_line(hubs: list[FleetHub[Any]]) -> str:
    """Summarise a family's loaded entries: devices, messages, invalid ones."""
    counted = f"{len(hubs)} {'hub' if len(hubs) == 1 else 'hubs'}"
    devices = sum(len(hub.devices) for hub in hubs)
    if hubs[0].has_connectivity:
        online = sum(hub.devices_online for hub in hubs)
        devices_text = f"{online} of {devices} devices online"
    else:
        devices_text = f"{devices} log {'source' if devices == 1 else 'sources'}"
    messages = sum(hub.messages_received for hub in hubs)
    invalid = sum(hub.invalid_messages for hub in hubs)
    return f"{counted}, {devices_text}, {messages} messages, {invalid} invalid"
