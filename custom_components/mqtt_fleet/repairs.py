"""Repair issues: what the user must fix on the device side, and stale devices to remove."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

if TYPE_CHECKING:
    from .hub import FleetConfigEntry, FleetDevice

# Issue kinds (translation keys): the issue id is `{kind}.{entry_id}.{device_id}`.
JANUS_WRONG_PATH: Final = "janus_wrong_path"
STATUS_NOT_RETAINED: Final = "status_not_retained"
STALE_DEVICE: Final = "stale_device"


def issue_id(kind: str, device: FleetDevice) -> str:
    """Return the id of a device's issue of `kind`."""
    return f"{kind}.{device.hub.entry.entry_id}.{device.device_id}"


@callback
def async_raise(hass: HomeAssistant, kind: str, device: FleetDevice, **placeholders: str) -> None:
    """Create (or refresh) a device's issue."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, device),
        is_fixable=kind == STALE_DEVICE,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=kind,
        translation_placeholders={
            "device": device.device_id,
            "entry": device.hub.entry.title,
            "base_topic": device.hub.base,
            **placeholders,
        },
        data={"entry_id": device.hub.entry.entry_id, "device_id": device.device_id},
    )


@callback
def async_clear(hass: HomeAssistant, kind: str, device: FleetDevice) -> None:
    """Delete a device's issue of `kind`, if there is one."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, device))


@callback
def async_clear_device(hass: HomeAssistant, device: FleetDevice) -> None:
    """Delete every issue of a device (it was removed)."""
    for kind in (JANUS_WRONG_PATH, STATUS_NOT_RETAINED, STALE_DEVICE):
        async_clear(hass, kind, device)


class StaleDeviceRepairFlow(RepairsFlow):
    """Remove a device that has not been heard from for the entry's stale time."""

    def __init__(self, entry_id: str, device_id: str) -> None:
        """Remember which device of which entry."""
        self._entry_id = entry_id
        self._device_id = device_id

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        """Start with the confirmation."""
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Remove the device once the user confirms."""
        if user_input is not None:
            entry: FleetConfigEntry | None = self.hass.config_entries.async_get_entry(
                self._entry_id
            )
            if (
                entry is None
                or entry.state is not ConfigEntryState.LOADED
                or not entry.runtime_data.upkeep.async_remove_stale_device(self._device_id)
            ):  # it spoke while the dialog was open, or its entry went away
                return self.async_abort(
                    reason="not_stale", description_placeholders={"device": self._device_id}
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
