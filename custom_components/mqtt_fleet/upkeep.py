"""Device upkeep: stale devices offered for removal, statuses that are not retained.

Last-seen times are kept in a store per entry so that a device silent across restarts still
ages. Only messages a device sent while we listened count: a retained message the broker
replays (at every start and reconnect) says nothing about the device being alive.

The checks run only while the broker is connected, and never within a grace after it
(re)connects, so that devices get the chance to speak first: after an outage or a long
downtime, a live device is not offered for removal. They run a grace after the first
connection, then hourly: O(devices) per hour, never per message.

Statuses that did not come with the subscription are judged together: a few missing mean
those devices do not retain theirs; many mean the broker dropped them (mosquitto's default
`max_queued_messages 1000` drops most of a big fleet's retained burst), which one entry
issue says instead of one false issue per device. Devices that can be asked for their
status (AutoCore firmware v2) are asked first, paced, and judged after they had time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.storage import Store

from . import issues
from .const import DOMAIN

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping
    from datetime import datetime

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant

    from .device import FleetDevice

STORE_VERSION: Final = 1
STALE_CHECK_INTERVAL: Final = timedelta(hours=1)
SAVE_DELAY: Final = 300  # seconds: last-seen times are written at most this often
# A retained status arrives as soon as the subscription is live; this is ample for that.
RETAINED_STATUS_GRACE: Final = 30
# More missing statuses than this point at the broker, not at the devices.
MANY_MISSING_STATUSES: Final = 20


def store_key(entry_id: str) -> str:
    """Return the storage key of an entry's last-seen times."""
    return f"{DOMAIN}.{entry_id}.last_seen"


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an entry's last-seen times (the entry was deleted)."""
    await Store[dict[str, float]](hass, STORE_VERSION, store_key(entry_id)).async_remove()


class DeviceUpkeep:
    """Track when devices were last heard, and raise or clear their repair issues."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        devices: Mapping[str, FleetDevice],
        *,
        stale_days: int,
        check_statuses: bool,
        issue_placeholders: Mapping[str, str],
        remove_device: Callable[[str], None],
        request_statuses: Callable[[list[FleetDevice]], Coroutine[Any, Any, None] | None],
    ) -> None:
        """Watch `devices` (the hub's own mapping); `remove_device` forgets one.

        `request_statuses` returns the work that asks devices for their status (None: it
        cannot ask them); the statuses are judged a grace after that work ends.
        """
        self._hass = hass
        self._entry = entry
        self._entry_id = entry.entry_id
        self._devices = devices
        self.stale_after = stale_days * 86400
        self._check_statuses_once = check_statuses  # families whose devices report status
        self._placeholders = issue_placeholders
        self._remove_device = remove_device
        self._request_statuses = request_statuses
        self.connected = False
        self._store: Store[dict[str, float]] = Store(hass, STORE_VERSION, store_key(entry.entry_id))
        self._last_seen: dict[str, float] = {}
        self._grace: CALLBACK_TYPE | None = None  # the check a grace after a (re)connect
        self._statuses_checked = False
        self.statuses_judged = False  # the missing statuses were judged (once per start)
        self._unsubscribes: list[CALLBACK_TYPE] = []

    async def async_start(self, connected: bool) -> None:
        """Load the last-seen times, then check a grace after the broker connects."""
        self._last_seen = await self._store.async_load() or {}
        self._unsubscribes.extend(
            (
                async_track_time_interval(
                    self._hass,
                    self._async_hourly_check,
                    STALE_CHECK_INTERVAL,
                    name=f"{DOMAIN} stale devices",
                ),
                self._hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._async_save_at_stop),
            )
        )
        self.async_connection_changed(connected)

    @callback
    def async_stop(self) -> None:
        """Stop the checks and drop the issues (the next start checks again)."""
        while self._unsubscribes:
            self._unsubscribes.pop()()
        self._cancel_grace()
        for wire_id in self._devices:
            issues.async_clear_device(self._hass, self._entry_id, wire_id)
        issues.async_clear_entry(self._hass, issues.RETAINED_DROPPED, self._entry_id)

    async def async_save(self) -> None:
        """Write the last-seen times now (the entry unloads; its next start reads them)."""
        await self._store.async_save(self._snapshot())

    @callback
    def _async_save_at_stop(self, _event: Event) -> None:
        """Have Home Assistant's final write include the times heard since the last save."""
        self._store.async_delay_save(self._snapshot)

    def _snapshot(self) -> dict[str, float]:
        """Return every device's last-seen time: heard since start, else as stored."""
        return {
            wire_id: seen
            for wire_id, device in self._devices.items()
            if (seen := device.last_live or self._last_seen.get(wire_id)) is not None
        }

    @callback
    def async_connection_changed(self, connected: bool) -> None:
        """Check a grace after the broker (re)connects; no checks while it is away."""
        self.connected = connected
        self._cancel_grace()
        if connected:
            self._grace = async_call_later(
                self._hass, RETAINED_STATUS_GRACE, self._async_check_after_grace
            )

    def _cancel_grace(self) -> None:
        if self._grace is not None:
            self._grace()
            self._grace = None

    @callback
    def _async_check_after_grace(self, _now: datetime) -> None:
        """Check staleness; after the first connection also whether statuses are retained."""
        self._grace = None
        self.async_check_stale()
        if self._check_statuses_once and not self._statuses_checked:
            self._statuses_checked = True
            self._async_check_statuses()

    @callback
    def _async_hourly_check(self, _now: datetime) -> None:
        if self.connected and self._grace is None:
            self.async_check_stale()

    @callback
    def async_check_stale(self) -> None:
        """Offer removal of devices silent for the stale time; withdraw it for those back."""
        now = time.time()
        days = str(self.stale_after // 86400)
        for wire_id, device in self._devices.items():
            seen = device.last_live or self._last_seen.setdefault(wire_id, now)
            if now - seen >= self.stale_after:
                if not device.stale_reported:
                    device.stale_reported = True
                    self.async_raise(issues.STALE_DEVICE, device, days=days)
            elif device.stale_reported:  # the clock went back
                self.async_device_back(device)
        self._store.async_delay_save(self._snapshot, SAVE_DELAY)

    @callback
    def async_device_back(self, device: FleetDevice) -> None:
        """Withdraw the removal offer of a stale device that spoke again."""
        device.stale_reported = False
        issues.async_clear(self._hass, issues.STALE_DEVICE, self._entry_id, device.wire_id)

    @callback
    def async_raise(self, kind: str, device: FleetDevice, **placeholders: str) -> None:
        """Raise a device's repair issue, naming its entry and base topic."""
        issues.async_raise(
            self._hass,
            kind,
            self._entry_id,
            device.wire_id,
            {**self._placeholders, **placeholders},
        )

    @callback
    def async_clear(self, kind: str, device: FleetDevice) -> None:
        """Withdraw a device's repair issue of `kind`."""
        issues.async_clear(self._hass, kind, self._entry_id, device.wire_id)

    @callback
    def _async_check_statuses(self) -> None:
        """Ask the restored devices whose status did not come for it, then judge them."""
        missing = self._missing_statuses()
        if not missing or (asking := self._request_statuses(missing)) is None:
            self._async_judge_statuses(missing)
            return
        self._entry.async_create_background_task(
            self._hass, self._async_judge_after(asking), f"{DOMAIN} status check"
        )

    async def _async_judge_after(self, asking: Coroutine[Any, Any, None]) -> None:
        """Ask, then give the answers a grace before judging (unloading cancels this)."""
        await asking
        await asyncio.sleep(RETAINED_STATUS_GRACE)
        self._async_judge_statuses(self._missing_statuses())

    def _missing_statuses(self) -> list[FleetDevice]:
        return [d for d in self._devices.values() if d.restored and d.online is None]

    @callback
    def _async_judge_statuses(self, missing: list[FleetDevice]) -> None:
        """Blame a few missing statuses on the devices, many on the broker (once)."""
        self.statuses_judged = True
        if len(missing) > MANY_MISSING_STATUSES:
            restored = sum(1 for device in self._devices.values() if device.restored)
            issues.async_raise_entry(
                self._hass,
                issues.RETAINED_DROPPED,
                self._entry_id,
                {**self._placeholders, "missing": str(len(missing)), "known": str(restored)},
            )
            return
        for device in missing:
            self.async_raise(issues.STATUS_NOT_RETAINED, device)

    @callback
    def async_remove_stale_device(self, wire_id: str) -> bool:
        """Remove a device that is still stale (the user confirmed); False if it is not."""
        if (device := self._devices.get(wire_id)) is None or not device.stale_reported:
            return False
        dr.async_get(self._hass).async_remove_device(device.registry_id)
        self._remove_device(wire_id)
        return True

    @callback
    def async_forget(self, device: FleetDevice) -> None:
        """Drop a removed device's issues and last-seen time."""
        issues.async_clear_device(self._hass, self._entry_id, device.wire_id)
        self._last_seen.pop(device.wire_id, None)
        self._store.async_delay_save(self._snapshot, SAVE_DELAY)
