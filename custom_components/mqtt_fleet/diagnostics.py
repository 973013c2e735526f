"""Diagnostics: the hub's counters, its devices and the dead letters, redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data

from .const import CONF_ADMIN_SECRET

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.device_registry import DeviceEntry

    from .hub import FleetConfigEntry, FleetHub

# The Janus admin secret is a credential; addresses identify a user's network.
TO_REDACT = {CONF_ADMIN_SECRET, "ip_address"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: FleetConfigEntry
) -> dict[str, Any]:
    """Return the entry's hub, devices and the last rejected messages."""
    hub = entry.runtime_data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "hub": hub.as_diagnostics(),
            "devices": [device.as_diagnostics() for device in hub.devices.values()],
            "dead_letters": _dead_letters(hub),
        },
        TO_REDACT,
    )


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: FleetConfigEntry, device: DeviceEntry
) -> dict[str, Any]:
    """Return one device's state, or the hub's for the hub device."""
    hub = entry.runtime_data
    wire_id = hub.wire_id_from_identifiers(device.identifiers)
    if wire_id is not None and (fleet_device := hub.devices.get(wire_id)) is not None:
        return async_redact_data(fleet_device.as_diagnostics(), TO_REDACT)
    return {"hub": hub.as_diagnostics(), "dead_letters": _dead_letters(hub)}


def _dead_letters(hub: FleetHub[Any]) -> list[dict[str, Any]]:
    return [
        {**asdict(letter), "received": letter.received.isoformat()} for letter in hub.dead_letters
    ]
