"""A fleet device: its values, freshness and the entities showing them.

The device knows nothing of its hub. What it must report (a new entity key, a
connectivity edge, a stale device heard again) goes through the `DeviceHooks` it is
built with; whether a message is live or a retained replay is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.exceptions import HomeAssistantError

from .const import DOMAIN, LAST_SEEN_WRITE_INTERVAL
from .keys import LAST_SEEN
from .protocol.correlation import retrieve_failure
from .throttle import Throttle

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

_MISSING: Any = object()
_ALL_WELL: Final = (True, True, True)  # connected, available, fresh: nothing to refresh
# A flapping device: a burst of availability changes is shown at once, then one every
# period with the latest state, so that a status sent 50 times a second writes its
# entities and fires its events a handful of times, not thousands.
FLAP_BURST: Final = 4
FLAP_PERIOD: Final = 10.0


@dataclass(frozen=True, slots=True)
class DeviceHooks:
    """What a hub gives each of its devices: one shared object, however many devices."""

    loop: asyncio.AbstractEventLoop
    offline_timeout: float
    new_key: Callable[[FleetDevice, str], None]  # offer the key to the platforms
    connectivity_changed: Callable[[FleetDevice, bool | None, bool | None], None]
    heard_again: Callable[[FleetDevice], None]  # a device offered for removal spoke live


class FleetDevice:
    """A device seen on the wire, under its own id (`wire_id`) and its registry id."""

    def __init__(
        self, hooks: DeviceHooks, wire_id: str, identifier: str, registry_id: str, *, restored: bool
    ) -> None:
        """Start fresh; a restored device gets one offline timeout to speak up."""
        self.hooks = hooks
        self.wire_id = wire_id
        self.identifier = identifier
        self.registry_id = registry_id
        self.restored = restored
        self.values: dict[str, Any] = {}
        self.online: bool | None = None
        self.fresh = True
        self.heard = False
        self.last_seen: float | None = None
        self.last_live: float | None = None  # last message it sent while we listened
        self.stale_reported = False  # a repair offers its removal
        self.known_keys: set[str] = set()
        self._last_message = hooks.loop.time()
        self._last_seen_notified = 0.0
        self._listeners: dict[str, CALLBACK_TYPE] = {}
        self._waiters: dict[str, list[tuple[Any, asyncio.Future[None]]]] = {}
        self._stale_timer: asyncio.TimerHandle | None = None
        self._flaps: Throttle | None = None  # made at the first change: most never flap
        self._paced_write: asyncio.TimerHandle | None = None
        self._shown = self._availability()
        self._arm_stale_timer(hooks.offline_timeout)

    def entity_unique_id(self, key: str) -> str:
        """Return the unique id of the device's entity for `key`."""
        return f"{self.identifier}/{key}"

    @property
    def available(self) -> bool:
        """Entities show values while the status does not say offline and data is fresh."""
        return self.fresh and self.online is not False

    @property
    def connected(self) -> bool | None:
        """Online and fresh; None for a restored device not heard from since start."""
        if not self.available:
            return False
        return True if self.heard else None

    @callback
    def async_add_listener(self, key: str, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener` when the value under `key` or the availability changes."""
        self._listeners[key] = listener
        self.known_keys.add(key)
        return partial(self._async_remove_listener, key, listener)

    @callback
    def _async_remove_listener(self, key: str, listener: CALLBACK_TYPE) -> None:
        if self._listeners.get(key) is listener:
            del self._listeners[key]

    @callback
    def async_set_value(self, key: str, value: Any) -> None:
        """Store a value; write its entity only when it changed, create it when new."""
        if self._waiters and key in self._waiters:
            self._resolve_waiters(key, value)
        values = self.values
        if values.get(key, _MISSING) == value:
            return
        values[key] = value
        if (listener := self._listeners.get(key)) is not None:
            listener()  # the hot path: one call less than through async_notify
        else:
            self.async_notify(key)

    @callback
    def async_push(self, key: str, value: Any) -> None:
        """Store and announce a value even when equal to the last one (events)."""
        self.values[key] = value
        self.async_notify(key)

    @callback
    def async_notify(self, key: str) -> None:
        """Tell the entity under `key` to write its state, creating it on first sight."""
        if (listener := self._listeners.get(key)) is not None:
            listener()
        elif key not in self.known_keys:
            self.known_keys.add(key)
            self.hooks.new_key(self, key)

    async def async_request(
        self, key: str, value: Any, send: Callable[[], Awaitable[None]]
    ) -> None:
        """Send a command, then wait until the device reports `value` under `key`.

        The caller bounds the wait with asyncio.timeout.
        """
        future: asyncio.Future[None] = self.hooks.loop.create_future()
        waiter = (value, future)
        self._waiters.setdefault(key, []).append(waiter)
        try:
            await send()
            await future
        finally:
            waiters = self._waiters[key]
            waiters.remove(waiter)
            if not waiters:
                del self._waiters[key]
            retrieve_failure(future)

    def _resolve_waiters(self, key: str, value: Any) -> None:
        for wanted, future in self._waiters[key]:
            if wanted == value and not future.done():
                future.set_result(None)

    @callback
    def async_mark_seen(self, monotonic: float, wall: float, *, live: bool) -> None:
        """Record a message that proves freshness: O(1), the stale timer re-arms lazily."""
        self._last_message = monotonic
        if not self.fresh:
            self.fresh = True
            self._arm_stale_timer(self.hooks.offline_timeout)
        self.async_mark_heard(wall, live=live)

    @callback
    def async_mark_heard(self, wall: float, *, live: bool) -> None:
        """Record that the device spoke (last seen), whether or not that proves freshness.

        A retained message the broker replays (`live` False) says nothing of the device
        being alive now: it does not count against staleness.
        """
        self.last_seen = wall
        self.heard = True
        if live:
            self.last_live = wall
            if self.stale_reported:
                self.hooks.heard_again(self)
        if wall - self._last_seen_notified >= LAST_SEEN_WRITE_INTERVAL:
            self._last_seen_notified = wall
            self.async_notify(LAST_SEEN)
        if self._shown != _ALL_WELL:
            self.async_refresh_availability()

    @callback
    def async_set_online(self, online: bool | None) -> None:
        """Apply the status the device reported."""
        if online is not None and online != self.online:
            self.online = online
            self.async_refresh_availability()

    def _availability(self) -> tuple[bool | None, bool, bool]:
        return self.connected, self.available, self.fresh

    @callback
    def async_refresh_availability(self) -> None:
        """Write every entity when availability changed; report connectivity edges.

        Changes beyond the flap burst wait for a paced write, which shows the latest state.
        """
        shown, previous = self._availability(), self._shown
        if shown == previous:
            return
        now = self.hooks.loop.time()
        if self._flaps is None:
            self._flaps = Throttle(FLAP_BURST, FLAP_PERIOD, now)
        if self._paced_write is not None:
            self._flaps.suppressed += 1
            return
        if not self._flaps.allow(now):
            self._paced_write = self.hooks.loop.call_later(
                self._flaps.wait(now), self._async_write_paced
            )
            return
        self._shown = shown
        if shown[0] != previous[0]:
            self.hooks.connectivity_changed(self, previous[0], shown[0])
        for listener in list(self._listeners.values()):
            listener()

    @callback
    def _async_write_paced(self) -> None:
        self._paced_write = None
        self.async_refresh_availability()

    def take_held_back_changes(self) -> int:
        """Return the availability changes held back since the last call (flapping)."""
        return 0 if self._flaps is None else self._flaps.take_suppressed()

    def _arm_stale_timer(self, delay: float) -> None:
        self._stale_timer = self.hooks.loop.call_later(delay, self._async_check_stale)

    @callback
    def _async_check_stale(self) -> None:
        """Go stale once no message came for the offline timeout."""
        self._stale_timer = None
        hooks = self.hooks
        remaining = self._last_message + hooks.offline_timeout - hooks.loop.time()
        if remaining > 0:
            self._arm_stale_timer(remaining)
            return
        self.fresh = False
        self.async_refresh_availability()

    @callback
    def async_shutdown(self) -> None:
        """Stop the stale timer and fail any pending waits."""
        if self._stale_timer is not None:
            self._stale_timer.cancel()
            self._stale_timer = None
        if self._paced_write is not None:
            self._paced_write.cancel()
            self._paced_write = None
        for waiters in self._waiters.values():
            for _value, future in waiters:
                if not future.done():
                    future.set_exception(unloaded_error(self.wire_id))

    def as_diagnostics(self) -> dict[str, Any]:
        """Describe the device for diagnostics."""
        return {
            "device_id": self.wire_id,
            "online": self.online,
            "fresh": self.fresh,
            "connected": self.connected,
            "restored": self.restored,
            "last_seen": iso_time(self.last_seen),
            "values": dict(self.values),
        }


def unloaded_error(waiting_for: str) -> HomeAssistantError:
    """Return the error for a request cut short by the entry unloading."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="unloaded_while_waiting",
        translation_placeholders={"device": waiting_for},
    )


def iso_time(timestamp: float | None) -> str | None:
    """Return a wall-clock time as ISO 8601 in UTC, None for never."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()
