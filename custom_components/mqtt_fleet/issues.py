"""Repair issues: what the user must fix on a device or the broker, remove, raise or accept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

if TYPE_CHECKING:
    from collections.abc import Mapping

# Issue kinds (translation keys): the issue id is `{kind}.{entry_id}.{wire_id}`.
JANUS_WRONG_PATH: Final = "janus_wrong_path"
STATUS_NOT_RETAINED: Final = "status_not_retained"
STALE_DEVICE: Final = "stale_device"
ISSUE_KINDS: Final = (JANUS_WRONG_PATH, STATUS_NOT_RETAINED, STALE_DEVICE)

# Entry issues (translation keys): the issue id is `{kind}.{entry_id}`.
ADMISSION_PREFIX: Final = "admission_"  # + the Refusal: a cap was reached
DEVICES_WAITING: Final = "devices_waiting"  # known-devices-only: new ids to accept
RETAINED_DROPPED: Final = "retained_dropped"  # many retained statuses did not arrive


def issue_id(kind: str, entry_id: str, wire_id: str) -> str:
    """Return the id of a device's issue of `kind`."""
    return f"{kind}.{entry_id}.{wire_id}"


@callback
def async_raise(
    hass: HomeAssistant, kind: str, entry_id: str, wire_id: str, placeholders: Mapping[str, str]
) -> None:
    """Create (or refresh) a device's issue; only a stale device's can be fixed here."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id(kind, entry_id, wire_id),
        is_fixable=kind == STALE_DEVICE,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=kind,
        translation_placeholders={"device": wire_id, **placeholders},
        data={"entry_id": entry_id, "device_id": wire_id},
    )


@callback
def async_clear(hass: HomeAssistant, kind: str, entry_id: str, wire_id: str) -> None:
    """Delete a device's issue of `kind`, if there is one."""
    ir.async_delete_issue(hass, DOMAIN, issue_id(kind, entry_id, wire_id))


@callback
def async_clear_device(hass: HomeAssistant, entry_id: str, wire_id: str) -> None:
    """Delete every issue of a device (it was removed)."""
    for kind in ISSUE_KINDS:
        async_clear(hass, kind, entry_id, wire_id)


def entry_issue_id(kind: str, entry_id: str) -> str:
    """Return the id of an entry's issue of `kind`."""
    return f"{kind}.{entry_id}"


@callback
def async_raise_entry(
    hass: HomeAssistant, kind: str, entry_id: str, placeholders: Mapping[str, str]
) -> None:
    """Create (or refresh) an entry's issue; accepting waiting devices is a fix flow."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        entry_issue_id(kind, entry_id),
        is_fixable=kind == DEVICES_WAITING,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=kind,
        translation_placeholders=dict(placeholders),
        data={"entry_id": entry_id},
    )


@callback
def async_clear_entry(hass: HomeAssistant, kind: str, entry_id: str) -> None:
    """Delete an entry's issue of `kind`, if there is one."""
    ir.async_delete_issue(hass, DOMAIN, entry_issue_id(kind, entry_id))
