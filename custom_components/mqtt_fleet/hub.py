"""One hub per config entry: subscriptions, routing, device index, freshness and counters.

Family hubs (in `families/`) say which topics to subscribe to and how a parsed message
changes a device; everything else a message goes through lives here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import slugify

from .const import (
    CONF_BASE_TOPIC,
    CONF_OFFLINE_TIMEOUT,
    DEAD_LETTER_CAPACITY,
    DEAD_LETTER_PAYLOAD_BYTES,
    DEFAULT_OFFLINE_TIMEOUT,
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
    FAMILY_TITLES,
    HUB_SENSOR_REFRESH_SECONDS,
    INVALID_LOG_INTERVAL,
    LAST_SEEN_WRITE_INTERVAL,
    LOGGER,
    Family,
)
from .pending import retrieve_failure
from .protocol.payload import InvalidMessage
from .upkeep import DeviceUpkeep

if TYPE_CHECKING:
    import asyncio

    from .protocol.topics import OutgoingMessage

if TYPE_CHECKING:
    from homeassistant.components.mqtt.models import ReceiveMessage
    from homeassistant.helpers.entity import Entity
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

type FleetConfigEntry = ConfigEntry[FleetHub[Any]]
type EntityFactory = Callable[[FleetDevice, str], Entity | None]

_MISSING: Any = object()
_ALL_WELL: Final = (True, True, True)  # connected, available, fresh: nothing to refresh
# Entity ids are `{domain}.{device name} {entity name}` slugified, at most 255 characters.
MAX_NAME_SLUG: Final = 150


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message, kept so a user can see why data was ignored."""

    received: datetime
    topic: str
    reason: str
    payload: str


class FleetDevice:
    """A device seen on the wire: its values, freshness and the entities showing them."""

    def __init__(
        self, hub: FleetHub[Any], device_id: str, registry_id: str, *, restored: bool
    ) -> None:
        """Start fresh; a restored device gets one offline timeout to speak up."""
        self.hub = hub
        self.device_id = device_id
        self.identifier = device_identifier(hub.key, device_id)
        # One for all the device's entities: thousands of devices make every object count.
        self.device_info = DeviceInfo(identifiers={(DOMAIN, self.identifier)})
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
        self._last_message = hub.loop.time()
        self._last_seen_notified = 0.0
        self._listeners: dict[str, CALLBACK_TYPE] = {}
        self._waiters: dict[str, list[tuple[Any, asyncio.Future[None]]]] = {}
        self._stale_timer: asyncio.TimerHandle | None = None
        self._shown = self._availability()
        self._arm_stale_timer(hub.offline_timeout)

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
        return partial(self._remove_listener, key, listener)

    @callback
    def _remove_listener(self, key: str, listener: CALLBACK_TYPE) -> None:
        if self._listeners.get(key) is listener:
            del self._listeners[key]

    @callback
    def set_value(self, key: str, value: Any) -> None:
        """Store a value; write its entity only when it changed, create it when new."""
        if self._waiters and key in self._waiters:
            self._resolve_waiters(key, value)
        values = self.values
        if values.get(key, _MISSING) == value:
            return
        values[key] = value
        if (listener := self._listeners.get(key)) is not None:
            listener()  # the hot path: one call less than through notify
        else:
            self.notify(key)

    @callback
    def push(self, key: str, value: Any) -> None:
        """Store and announce a value even when equal to the last one (events)."""
        self.values[key] = value
        self.notify(key)

    @callback
    def notify(self, key: str) -> None:
        """Tell the entity under `key` to write its state, creating it on first sight."""
        if (listener := self._listeners.get(key)) is not None:
            listener()
        elif key not in self.known_keys:
            self.known_keys.add(key)
            self.hub.async_create_entity(self, key)

    async def async_request(
        self, key: str, value: Any, send: Callable[[], Awaitable[None]]
    ) -> None:
        """Send a command, then wait until the device reports `value` under `key`.

        The caller bounds the wait with asyncio.timeout.
        """
        future: asyncio.Future[None] = self.hub.loop.create_future()
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
    def mark_seen(self, monotonic: float, wall: float) -> None:
        """Record a message that proves freshness: O(1), the stale timer re-arms lazily."""
        self._last_message = monotonic
        if not self.fresh:
            self.fresh = True
            self._arm_stale_timer(self.hub.offline_timeout)
        self.mark_heard(wall)

    @callback
    def mark_heard(self, wall: float) -> None:
        """Record that the device spoke (last seen), whether or not that proves freshness."""
        self.last_seen = wall
        self.heard = True
        if not self.hub.replaying:
            self.last_live = wall
            if self.stale_reported:
                self.hub.upkeep.async_device_back(self)
        if wall - self._last_seen_notified >= LAST_SEEN_WRITE_INTERVAL:
            self._last_seen_notified = wall
            self.notify("last_seen")
        if self._shown != _ALL_WELL:
            self.refresh_availability()

    @callback
    def set_online(self, online: bool | None) -> None:
        """Apply the status the device reported."""
        if online is not None and online != self.online:
            self.online = online
            self.refresh_availability()

    def _availability(self) -> tuple[bool | None, bool, bool]:
        return self.connected, self.available, self.fresh

    @callback
    def refresh_availability(self) -> None:
        """Write every entity when availability changed; log and fire events on edges."""
        shown, previous = self._availability(), self._shown
        if shown == previous:
            return
        self._shown = shown
        if shown[0] != previous[0]:
            self.hub.async_connectivity_changed(self, previous[0], shown[0])
        for listener in list(self._listeners.values()):
            listener()

    def _arm_stale_timer(self, delay: float) -> None:
        self._stale_timer = self.hub.loop.call_later(delay, self._check_stale)

    @callback
    def _check_stale(self) -> None:
        """Go stale once no message came for the offline timeout."""
        self._stale_timer = None
        remaining = self._last_message + self.hub.offline_timeout - self.hub.loop.time()
        if remaining > 0:
            self._arm_stale_timer(remaining)
            return
        self.fresh = False
        self.refresh_availability()

    @callback
    def async_shutdown(self) -> None:
        """Stop the stale timer and fail any pending waits."""
        if self._stale_timer is not None:
            self._stale_timer.cancel()
            self._stale_timer = None
        for waiters in self._waiters.values():
            for _value, future in waiters:
                if not future.done():
                    future.set_exception(unloaded_error(self.device_id))

    def as_diagnostics(self) -> dict[str, Any]:
        """Describe the device for diagnostics."""
        return {
            "device_id": self.device_id,
            "online": self.online,
            "fresh": self.fresh,
            "connected": self.connected,
            "restored": self.restored,
            "last_seen": _iso(self.last_seen),
            "values": dict(self.values),
        }


class FleetHub[DeviceT: FleetDevice](ABC):
    """Subscribe to one family's topics under one base and route messages to devices."""

    family: Family
    manufacturer: str
    has_connectivity = True  # log sources are neither online nor offline

    def __init__(self, hass: HomeAssistant, entry: FleetConfigEntry) -> None:
        """Read the entry; nothing is subscribed until async_start."""
        self.hass = hass
        self.loop = hass.loop
        self.entry = entry
        self.base: str = entry.data[CONF_BASE_TOPIC]
        self.key = entry.unique_id or entry.entry_id
        self.options = dict(entry.options)
        self.offline_timeout = float(
            entry.options.get(CONF_OFFLINE_TIMEOUT, DEFAULT_OFFLINE_TIMEOUT[self.family])
        )
        self.devices: dict[str, DeviceT] = {}
        self.messages_received = 0
        self.messages_sent = 0
        self.message_rate = 0.0
        self._rate_since = self.loop.time()
        self._rate_count = 0
        self.invalid_messages = 0
        self.last_message_at: float | None = None
        self.dead_letters: deque[DeadLetter] = deque(maxlen=DEAD_LETTER_CAPACITY)
        self.mqtt_connected = False
        self.replaying = False  # the message handled is a retained one the broker replays
        self._log_after = 0.0
        self._suppressed_logs = 0
        self._factories: list[tuple[EntityFactory, AddConfigEntryEntitiesCallback]] = []
        self._hub_listeners: list[CALLBACK_TYPE] = []
        self._unsubscribes: list[CALLBACK_TYPE] = []
        self.upkeep = DeviceUpkeep(self)
        self.hub_registry_id = ""  # the hub's own registry device, made by async_restore

    # Family hooks -------------------------------------------------------------------

    @property
    @abstractmethod
    def subscriptions(self) -> Iterable[str]:
        """Return the topic filters this hub listens to."""

    @abstractmethod
    def handle(self, topic: str, payload: bytes, monotonic: float, wall: float) -> tuple[str, ...]:
        """Apply one message; return the problems of a partly invalid one, or raise."""

    @abstractmethod
    def create_device(self, device_id: str, registry_id: str, *, restored: bool) -> DeviceT:
        """Make the family's device object."""

    @callback  # noqa: B027 - an optional hook
    def async_mqtt_reconnected(self) -> None:
        """React to the broker coming back (HA's MQTT layer resubscribes by itself)."""

    @callback  # noqa: B027 - an optional hook
    def async_tick(self) -> None:
        """Do the family's periodic work, before the hub entities refresh."""

    async def async_prepare_unload(self) -> None:  # noqa: B027 - an optional hook
        """Finish work that must not be lost (e.g. flush batches) before unloading."""

    # Lifecycle ----------------------------------------------------------------------

    @callback
    def async_restore(self) -> None:
        """Recreate known devices and their entity keys from the registries."""
        device_registry = dr.async_get(self.hass)
        self.hub_registry_id = device_registry.async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.key)},
            name=self.entry.title,
            manufacturer="MQTT Fleet",
            model=f"{FAMILY_TITLES[self.family]} hub",
            entry_type=DeviceEntryType.SERVICE,
        ).id
        for entry in dr.async_entries_for_config_entry(device_registry, self.entry.entry_id):
            if (device_id := self.device_id_from_identifiers(entry.identifiers)) is not None:
                self.devices[device_id] = self.create_device(device_id, entry.id, restored=True)
        prefix = f"{self.key}/"
        entity_registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(entity_registry, self.entry.entry_id):
            device_id, _, key = entity.unique_id.removeprefix(prefix).rpartition("/")
            if (known := self.devices.get(device_id)) is not None:
                known.known_keys.add(key)

    async def async_start(self) -> None:
        """Subscribe through HA's MQTT integration and start the hub timers."""
        self.mqtt_connected = mqtt.is_connected(self.hass)
        for topic in self.subscriptions:
            self._unsubscribes.append(
                await mqtt.async_subscribe(
                    self.hass, topic, self._async_on_message, qos=1, encoding=None
                )
            )
        self._unsubscribes.append(
            mqtt.async_subscribe_connection_status(self.hass, self._async_connection_changed)
        )
        self._unsubscribes.append(
            async_track_time_interval(
                self.hass,
                self._async_hub_tick,
                timedelta(seconds=HUB_SENSOR_REFRESH_SECONDS),
                name=f"{DOMAIN} hub sensors",
            )
        )
        await self.upkeep.async_start()

    @callback
    def async_shutdown(self) -> None:
        """Unsubscribe and stop every timer (entry unload)."""
        while self._unsubscribes:
            self._unsubscribes.pop()()
        self.upkeep.async_stop()
        for device in self.devices.values():
            device.async_shutdown()

    # Entities -----------------------------------------------------------------------

    @callback
    def async_add_entity_factory(
        self, factory: EntityFactory, async_add_entities: AddConfigEntryEntitiesCallback
    ) -> None:
        """Register a platform: it gets the known keys now and new keys as they appear."""
        self._factories.append((factory, async_add_entities))
        entities = [
            entity
            for device in self.devices.values()
            for key in sorted(device.known_keys)
            if (entity := factory(device, key)) is not None
        ]
        if entities:
            async_add_entities(entities)

    @callback
    def async_create_entity(self, device: FleetDevice, key: str) -> None:
        """Offer a new key to the platforms; the one that knows it adds an entity."""
        for factory, async_add_entities in self._factories:
            if (entity := factory(device, key)) is not None:
                async_add_entities([entity])
                return

    @callback
    def async_add_hub_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `listener` every refresh interval and when the broker connects or drops."""
        self._hub_listeners.append(listener)
        return lambda: self._hub_listeners.remove(listener)

    @callback
    def _async_refresh_hub_entities(self) -> None:
        for listener in list(self._hub_listeners):
            listener()

    @callback
    def _async_hub_tick(self, _now: datetime) -> None:
        """Update the message rate over the last interval, then refresh hub entities."""
        now = self.loop.time()
        elapsed = now - self._rate_since
        if elapsed > 0:
            received = self.messages_received - self._rate_count
            self.message_rate = round(received * 60 / elapsed, 1)
        self._rate_since, self._rate_count = now, self.messages_received
        self.async_tick()
        self._async_refresh_hub_entities()

    @property
    def devices_online(self) -> int:
        """Count devices that are online and fresh."""
        return sum(1 for device in self.devices.values() if device.connected)

    # Messages -----------------------------------------------------------------------

    async def async_publish(self, message: OutgoingMessage) -> None:
        """Publish through HA's MQTT integration."""
        await mqtt.async_publish(
            self.hass, message.topic, message.payload, message.qos, message.retain
        )
        self.messages_sent += 1

    @callback
    def _async_on_message(self, msg: ReceiveMessage) -> None:
        """Count, parse and route one message; never raise into HA's MQTT loop."""
        self.messages_received += 1
        wall = time.time()
        self.last_message_at = wall
        payload = msg.payload  # bytes: subscribed with encoding=None, except that
        if type(payload) is not bytes:  # HA shares one decoded copy per topic filter
            payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        self.replaying = msg.retain
        try:
            problems = self.handle(msg.topic, payload, msg.timestamp, wall)
        except InvalidMessage as err:
            self._reject(msg.topic, payload, err.reason, wall)
        except Exception:  # a bug must never break HA's MQTT loop
            LOGGER.exception("Unexpected error handling a message on %s", msg.topic)
            self._reject(msg.topic, payload, "internal error", wall)
        else:
            if problems:
                self._reject(msg.topic, payload, "; ".join(problems), wall)
        finally:
            self.replaying = False

    def _reject(self, topic: str, payload: bytes, reason: str, wall: float) -> None:
        """Count an invalid message, keep it as a dead letter and log it, rate-limited."""
        self.invalid_messages += 1
        self.dead_letters.append(
            DeadLetter(
                received=datetime.fromtimestamp(wall, UTC),
                topic=topic,
                reason=reason,
                payload=payload[:DEAD_LETTER_PAYLOAD_BYTES].decode("utf-8", "replace"),
            )
        )
        now = self.loop.time()
        if now < self._log_after:
            self._suppressed_logs += 1
            LOGGER.debug("Ignored invalid message on %s: %s", topic, reason)
            return
        suppressed, self._suppressed_logs = self._suppressed_logs, 0
        self._log_after = now + INVALID_LOG_INTERVAL
        LOGGER.warning(
            "Ignored invalid message on %s: %s%s",
            topic,
            reason,
            f" ({suppressed} more invalid messages since the last report)" if suppressed else "",
        )

    @callback
    def device_for(
        self, device_id: str, model: str | None = None, name: str | None = None
    ) -> DeviceT:
        """Return the device for a valid message, discovering it on first sight."""
        if (device := self.devices.get(device_id)) is not None:
            return device
        registry_entry = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, device_identifier(self.key, device_id))},
            name=device_name(name or device_id),
            manufacturer=self.manufacturer,
            model=model,
            via_device_id=self.hub_registry_id,
        )
        device = self.create_device(device_id, registry_entry.id, restored=False)
        self.devices[device_id] = device
        LOGGER.info("Discovered %s device %s under %s", self.manufacturer, device_id, self.base)
        self.fire_device_event(EVENT_DEVICE_DISCOVERED, device)
        if self.has_connectivity:
            device.notify("connectivity")
        return device

    @callback
    def async_update_device_registry(self, device: FleetDevice, **changes: Any) -> None:
        """Update the registry entry (firmware, model, ...) when something changed."""
        registry = dr.async_get(self.hass)
        entry = registry.async_get(device.registry_id)
        if "name" in changes:
            changes["name"] = device_name(changes["name"])
        if entry is not None and any(getattr(entry, k) != v for k, v in changes.items()):
            registry.async_update_device(device.registry_id, **changes)

    def device_id_from_identifiers(self, identifiers: Iterable[tuple[str, str]]) -> str | None:
        """Return the fleet device id in a device registry entry's identifiers, if any."""
        prefix = f"{self.key}/"
        for domain, identifier in identifiers:
            if domain == DOMAIN and identifier.startswith(prefix):
                return identifier[len(prefix) :]
        return None

    @callback
    def async_remove_device(self, device_id: str) -> None:
        """Forget a device the user deleted; it comes back if it speaks again."""
        if (device := self.devices.pop(device_id, None)) is not None:
            device.async_shutdown()
            self.upkeep.async_forget(device)

    @callback
    def fire_device_event(
        self, event_type: str, device: FleetDevice, data: dict[str, Any] | None = None
    ) -> None:
        """Fire a bus event about a device."""
        self.hass.bus.async_fire(
            event_type,
            {
                **(data or {}),
                "device_id": device.registry_id,
                "device": device.device_id,
                "family": self.family.value,
            },
        )

    @callback
    def async_connectivity_changed(
        self, device: FleetDevice, previous: bool | None, connected: bool | None
    ) -> None:
        """Log once per edge and fire online/offline events (not on first knowledge)."""
        if connected is False:
            LOGGER.info("%s device %s is unavailable", self.manufacturer, device.device_id)
            if previous is True or (previous is None and device.restored):
                self.fire_device_event(EVENT_DEVICE_OFFLINE, device)
        elif connected is True and previous is False:
            LOGGER.info("%s device %s is available again", self.manufacturer, device.device_id)
            self.fire_device_event(EVENT_DEVICE_ONLINE, device)

    @callback
    def _async_connection_changed(self, connected: bool) -> None:
        was_connected, self.mqtt_connected = self.mqtt_connected, connected
        self.upkeep.async_connection_changed(connected)
        if connected and not was_connected:
            self.async_mqtt_reconnected()
        self._async_refresh_hub_entities()

    def as_diagnostics(self) -> dict[str, Any]:
        """Describe the hub for diagnostics and system health."""
        return {
            "family": self.family.value,
            "base_topic": self.base,
            "mqtt_connected": self.mqtt_connected,
            "messages_received": self.messages_received,
            "invalid_messages": self.invalid_messages,
            "messages_sent": self.messages_sent,
            "message_rate_per_minute": self.message_rate,
            "last_message": _iso(self.last_message_at),
            "devices": len(self.devices),
            "devices_online": self.devices_online,
            "subscriptions": list(self.subscriptions),
        }


def unloaded_error(waiting_for: str) -> HomeAssistantError:
    """Return the error for a request cut short by the entry unloading."""
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="unloaded_while_waiting",
        translation_placeholders={"device": waiting_for},
    )


def device_name(name: str) -> str:
    """Shorten a name from the wire so the entity ids made from it stay valid.

    HA cuts a longer entity id at 255 characters, which can leave an invalid trailing
    underscore; one character can slugify to many (an Arabic ligature to 17).
    """
    while len(slug := slugify(name)) > MAX_NAME_SLUG:
        name = name[: len(name) * MAX_NAME_SLUG // len(slug)]
    return name


def device_identifier(hub_key: str, device_id: str) -> str:
    """Return the device registry identifier of a fleet device."""
    return f"{hub_key}/{device_id}"


def _iso(timestamp: float | None) -> str | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()
