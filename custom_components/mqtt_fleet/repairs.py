"""Repair flows: remove a stale device, or accept waiting ones; other issues only explain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import SelectSelector, SelectSelectorConfig
import probatio as vol

from .const import DOMAIN
from .issues import DEVICES_WAITING, STALE_DEVICE

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .hub import FleetConfigEntry


# The waiting ids a form lists at once; the rest are listed once these are decided.
WAITING_LISTED: Final = 100
CONF_DEVICES: Final = "devices"


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> FleetConfigEntry | None:
    return next(
        (
            entry
            for entry in hass.config_entries.async_loaded_entries(DOMAIN)
            if entry.entry_id == entry_id
        ),
        None,
    )


class StaleDeviceRepairFlow(RepairsFlow):
    """Remove a device that has not been heard from for the entry's stale time."""

    def __init__(self, entry_id: str, wire_id: str) -> None:
        """Remember which device of which entry."""
        self._entry_id = entry_id
        self._wire_id = wire_id

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Start with the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Remove the device once the user confirms."""
        if user_input is not None:
            entry = _loaded_entry(self.hass, self._entry_id)
            if entry is None or not entry.runtime_data.upkeep.async_remove_stale_device(
                self._wire_id
            ):  # it spoke while the dialog was open, or its entry went away
                return self.async_abort(
                    reason="not_stale", description_placeholders={"device": self._wire_id}
                )
            return self.async_create_entry(data={})
        issue = ir.async_get(self.hass).async_get_issue(DOMAIN, self.issue_id)
        return self.async_show_form(
            step_id="confirm",
            description_placeholders=issue.translation_placeholders if issue else None,
        )


class WaitingDevicesRepairFlow(RepairsFlow):
    """Admit new devices of an entry that admits known devices only, as the user picks."""

    def __init__(self, entry_id: str) -> None:
        """Remember which entry."""
        self._entry_id = entry_id

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> RepairsFlowResult:
        """List the waiting devices; admit the ones picked."""
        if (entry := _loaded_entry(self.hass, self._entry_id)) is None:
            return self.async_abort(reason="entry_not_loaded")
        hub = entry.runtime_data
        if user_input is not None and CONF_DEVICES in user_input:  # not the opening call
            accepted = hub.async_accept(user_input[CONF_DEVICES])
            return self.async_create_entry(data={"accepted": accepted})
        waiting = list(hub.admission.held)
        if not waiting:
            return self.async_abort(reason="none_waiting")
        return self.async_show_form(
            step_id="init",
            data_schema=vol.Schema(
                {
                    vol.Optional(CONF_DEVICES, default=[]): SelectSelector(
                        SelectSelectorConfig(options=waiting[:WAITING_LISTED], multiple=True)
                    )
                }
            ),
            description_placeholders={
                "entry": entry.title,
                "waiting": str(len(waiting)),
                "listed": str(min(len(waiting), WAITING_LISTED)),
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Offer removal for a stale device, admission for waiting ones; others only explain."""
    if issue_id.startswith(f"{STALE_DEVICE}.") and data:
        return StaleDeviceRepairFlow(str(data["entry_id"]), str(data["device_id"]))
    if issue_id.startswith(f"{DEVICES_WAITING}.") and data:
        return WaitingDevicesRepairFlow(str(data["entry_id"]))
    return ConfirmRepairFlow()
