"""Repair flows: remove a stale device once the user confirms; other issues only explain."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .issues import STALE_DEVICE

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .hub import FleetConfigEntry


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
            entry: FleetConfigEntry | None = next(
                (
                    entry
                    for entry in self.hass.config_entries.async_loaded_entries(DOMAIN)
                    if entry.entry_id == self._entry_id
                ),
                None,
            )
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


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Offer removal for a stale device; other issues only explain."""
    if issue_id.startswith(f"{STALE_DEVICE}.") and data:
        return StaleDeviceRepairFlow(str(data["entry_id"]), str(data["device_id"]))
    return ConfirmRepairFlow()
