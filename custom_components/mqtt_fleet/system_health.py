"""System health: the broker connection and each entry's traffic, under System information."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from homeassistant.components import mqtt, system_health
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN

if TYPE_CHECKING:
    from .hub import FleetConfigEntry


@callback
def async_register(hass: HomeAssistant, register: system_health.SystemHealthRegistration) -> None:
    """Register the info callback."""
    register.async_register_info(system_health_info, "/config/integrations/integration/mqtt_fleet")


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Totals over the loaded entries, then one line per entry."""
    entries = hass.config_entries.async_entries(DOMAIN)
    loaded: list[FleetConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    hubs = [entry.runtime_data for entry in loaded]
    last = max((hub.last_message_at for hub in hubs if hub.last_message_at), default=None)
    return {
        "broker_connected": mqtt.is_connected(hass),
        "loaded_entries": f"{len(hubs)} of {len(entries)}",
        "devices_online": f"{sum(h.devices_online for h in hubs)} of "
        f"{sum(len(h.devices) for h in hubs)}",
        "messages_received": sum(hub.messages_received for hub in hubs),
        "invalid_messages": sum(hub.invalid_messages for hub in hubs),
        "last_message": "never" if last is None else datetime.fromtimestamp(last, UTC).isoformat(),
        "entries": "; ".join(
            f"{hub.entry.title}: {hub.devices_online} of {len(hub.devices)} online,"
            f" {hub.messages_received} messages, {hub.invalid_messages} invalid"
            for hub in hubs
        )
        or "none",
    }
