"""Device upkeep: stale devices offered for removal, statuses that are not retained.

Last-seen times are kept in a store per entry so that a device silent across restarts still
ages. Only messages a device sent while we listened count: a retained message the broker
replays (at every start and reconnect) says nothing about the device being alive.

The checks run only while the broker is connected, and never within a grace after it
(re)connects, so that devices get the chance to speak first: after an outage or a long
downtime, a live device is not offered for removal. They run a grace after the first
connection, then hourly: O(devices) per hour, never per message.
"""

from __future__ import annotations

from datetime import timedelta
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.event import async_call_later, async_track_time_interval
from homeassistant.helpers.storage import Store

from . import repairs
from .const import CONF_STALE_DEVICE_DAYS, DEFAULT_STALE_DEVICE_DAYS, DOMAIN

if TYPE_CHECKING:
    from datetime import datetime

    from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant

    from .hub import FleetDevice, FleetHub

STORE_VERSION: Final = 1
STALE_CHECK_INTERVAL: Final = timedelta(hours=1)
SAVE_DELAY: Final = 300  # seconds: last-seen times are written at most this often
# A retained status arrives as soon as the subscription is live; this is ample for that.
RETAINED_STATUS_GRACE: Final = 30


def store_key(entry_id: str) -> str:
    """Return the storage key of an entry's last-seen times."""
    return f"{DOMAIN}.{entry_id}.last_seen"


async def async_remove_store(hass: HomeAssistant, entry_id: str) -> None:
    """Delete an entry's last-seen times (the entry was deleted)."""
    await Store[dict[str, float]](hass, STORE_VERSION, store_key(entry_id)).async_remove()


class DeviceUpkeep:
    """Track when devices were last heard, and raise or clear their repair issues."""

    def __init__(self, hub: FleetHub[Any]) -> None:
        """Read the stale time from the entry's options."""
        self._hub = hub
        self._hass = hub.hass
        days = int(hub.options.get(CONF_STALE_DEVICE_DAYS, DEFAULT_STALE_DEVICE_DAYS))
        self.stale_after = days * 86400
        self._store: Store[dict[str, float]] = Store(
            hub.hass, STORE_VERSION, store_key(hub.entry.entry_id)
        )
        self._last_seen: dict[str, float] = {}
        self._grace: CALLBACK_TYPE | None = None  # the check a grace after a (re)connect
        self._statuses_checked = False
        self._unsubscribes: list[CALLBACK_TYPE] = []

    async def async_start(self) -> None:
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
        self.async_connection_changed(self._hub.mqtt_connected)

    @property
    def stale(self) -> set[str]:
        """Return the ids of the devices offered for removal."""
        return {id_ for id_, device in self._hub.devices.items() if device.stale_reported}

    @callback
    def async_stop(self) -> None:
        """Stop the checks and drop the issues (the next start checks again)."""
        while self._unsubscribes:
            self._unsubscribes.pop()()
        self._cancel_grace()
        for device in self._hub.devices.values():
            repairs.async_clear_device(self._hass, device)

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
            device_id: seen
            for device_id, device in self._hub.devices.items()
            if (seen := device.last_live or self._last_seen.get(device_id)) is not None
        }

    @callback
    def async_connection_changed(self, connected: bool) -> None:
        """Check a grace after the broker (re)connects; no checks while it is away."""
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
        if self._hub.has_connectivity and not self._statuses_checked:
            self._statuses_checked = True
            self._async_check_statuses()

    @callback
    def _async_hourly_check(self, _now: datetime) -> None:
        if self._hub.mqtt_connected and self._grace is None:
            self.async_check_stale()

    @callback
    def async_check_stale(self) -> None:
        """Offer removal of devices silent for the stale time; withdraw it for those back."""
        now = time.time()
        for device_id, device in self._hub.devices.items():
            seen = device.last_live or self._last_seen.setdefault(device_id, now)
            if now - seen >= self.stale_after:
                if not device.stale_reported:
                    device.stale_reported = True
                    repairs.async_raise(
                        self._hass,
                        repairs.STALE_DEVICE,
                        device,
                        days=str(self.stale_after // 86400),
                    )
            elif device.stale_reported:  # the clock went back
                self.async_device_back(device)
        self._store.async_delay_save(self._snapshot, SAVE_DELAY)

    @callback
    def async_device_back(self, device: FleetDevice) -> None:
        """Withdraw the removal offer of a stale device that spoke again."""
        device.stale_reported = False
        repairs.async_clear(self._hass, repairs.STALE_DEVICE, device)

    @callback
    def _async_check_statuses(self) -> None:
        """Restored devices whose status did not come with the subscription: not retained."""
        for device in self._hub.devices.values():
            if device.restored and device.online is None:
                repairs.async_raise(self._hass, repairs.STATUS_NOT_RETAINED, device)

    @callback
    def async_remove_stale_device(self, device_id: str) -> bool:
        """Remove a device that is still stale (the user confirmed); False if it is not."""
        if (device := self._hub.devices.get(device_id)) is None or not device.stale_reported:
            return False
        dr.async_get(self._hass).async_remove_device(device.registry_id)
        self._hub.async_remove_device(device_id)
        return True

    @callback
    def async_forget(self, device: FleetDevice) -> None:
        """Drop a removed device's issues and last-seen time."""
        repairs.async_clear_device(self._hass, device)
        self._last_seen.pop(device.device_id, None)
        self._store.async_delay_save(self._snapshot, SAVE_DELAY)
