"""Device triggers: what a device's family adds (AutoCore's display, say).

A device's connectivity has its own entity, whose state triggers HA offers: triggers of
our own for online and offline would duplicate them. Automations made when they were
offered keep working: the types still attach, they are just not listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import (
    CONF_DEVICE_ID,
    CONF_DOMAIN,
    CONF_EVENT_DATA,
    CONF_PLATFORM,
    CONF_TYPE,
)
from homeassistant.helpers import device_registry as dr
import probatio as vol

from .const import ATTR_DEVICE_ID, CONF_FAMILY, DOMAIN, EVENT_DEVICE_OFFLINE, EVENT_DEVICE_ONLINE
from .families import FAMILIES

if TYPE_CHECKING:
    from homeassistant.core import CALLBACK_TYPE, HomeAssistant
    from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
    from homeassistant.helpers.typing import ConfigType

    from .family import FamilySpec

# No longer offered; still attached for the automations that use them.
CONNECTIVITY_TRIGGERS: Final = {"online": EVENT_DEVICE_ONLINE, "offline": EVENT_DEVICE_OFFLINE}
TRIGGER_EVENTS: Final = {
    **CONNECTIVITY_TRIGGERS,
    **{kind: event for spec in FAMILIES.values() for kind, event in spec.trigger_events.items()},
}
TRIGGER_SCHEMA: Final = DEVICE_TRIGGER_BASE_SCHEMA.extend(
    {vol.Required(CONF_TYPE): vol.In(TRIGGER_EVENTS)}
)


def device_triggers(spec: FamilySpec, model: str | None) -> list[str]:
    """Return the trigger types a device of the family and registry model offers."""
    if spec.triggers_for_model is None:
        return list(spec.trigger_events)
    allowed = set(spec.triggers_for_model(model))
    return [kind for kind in spec.trigger_events if kind in allowed]


def _trigger_types(hass: HomeAssistant, device_id: str) -> list[str]:
    """Return the trigger types a registry device offers (none for a hub)."""
    if (device := dr.async_get(hass).async_get(device_id)) is None:
        return []
    entry = hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is None or entry.domain != DOMAIN:
        return []
    prefix = f"{entry.entry_id}/"
    if not any(
        domain == DOMAIN and ident.startswith(prefix) for domain, ident in device.identifiers
    ):
        return []  # the entry's hub device
    model = device.model if isinstance(device, dr.DeviceEntry) else None
    return device_triggers(FAMILIES[entry.data[CONF_FAMILY]], model)


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """List the device's triggers."""
    return [
        {CONF_PLATFORM: "device", CONF_DOMAIN: DOMAIN, CONF_DEVICE_ID: device_id, CONF_TYPE: kind}
        for kind in _trigger_types(hass, device_id)
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the device's event of the trigger's type."""
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: TRIGGER_EVENTS[config[CONF_TYPE]],
            CONF_EVENT_DATA: {ATTR_DEVICE_ID: config[CONF_DEVICE_ID]},
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
