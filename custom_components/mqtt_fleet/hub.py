"""One hub per config entry: subscriptions, routing, device index, freshness and counters.

A family's hub (in `families/<family>/`) says which topics to subscribe to and how a parsed
message changes a device; everything else a message goes through lives here.

Registry identifiers are made of the entry id and the device's own id, never of the base
topic: moving an entry to another base topic keeps every device, entity and its history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import time
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceEntryType
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import slugify

from .const import (
    ATTR_DEVICE_ID,
    ATTR_WIRE_ID,
    CONF_BASE_TOPIC,
    CONF_OFFLINE_TIMEOUT,
    CONF_STALE_DEVICE_DAYS,
    DEAD_LETTER_CAPACITY,
    DEAD_LETTER_PAYLOAD_BYTES,
    DEFAULT_STALE_DEVICE_DAYS,
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
    HUB_SENSOR_REFRESH_SECONDS,
    INVALID_LOG_INTERVAL,
    LOGGER,
)
from .device import DeviceHooks, FleetDevice, iso_time
from .keys import CONNECTIVITY
from .protocol.payload import InvalidMessage
from .upkeep import DeviceUpkeep

if TYPE_CHECKING:
    from homeassistant.components.mqtt import ReceiveMessage
    from homeassistant.helpers.entity import Entity
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .protocol.topics import OutgoingMessage

type FleetConfigEntry = ConfigEntry[FleetHub[Any]]
type EntityFactory = Callable[[FleetDevice, str], Entity | None]

# Entity ids are `{domain}.{device name} {entity name}` slugified, at most 255 characters.
MAX_NAME_SLUG: Final = 150


class WireProtocol(Protocol):
    """What the hub needs of a family's protocol: the topic filters to subscribe to."""

    @property
    def subscriptions(self) -> Iterable[str]:
        """Return the topic filters under the entry's base topic."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A rejected message, kept so a user can see why data was ignored."""

    received: datetime
    topic: str
    reason: str
    payload: str


class FleetHub[DeviceT: FleetDevice](ABC):
    """Subscribe to one family's topics under one base and route messages to devices."""

    family: ClassVar[str]  # the family's key: config entry data, menu step, translations
    title: ClassVar[str]
    manufacturer: ClassVar[str]
    default_offline_timeout: ClassVar[int] = 90
    has_connectivity: ClassVar[bool] = True  # log sources are neither online nor offline
    device_type: type[DeviceT]  # the family's device class
    protocol: WireProtocol  # the family's protocol, for the entry's base topic

    def __init__(self, hass: HomeAssistant, entry: FleetConfigEntry) -> None:
        """Read the entry; nothing is subscribed until async_start."""
        self.hass = hass
        self.loop = hass.loop
        self.entry = entry
        self.base: str = entry.data[CONF_BASE_TOPIC]
        self.options = dict(entry.options)
        self.offline_timeout = float(
            entry.options.get(CONF_OFFLINE_TIMEOUT, self.default_offline_timeout)
        )
        self.devices: dict[str, DeviceT] = {}
        self.messages_received: int = 0
        self.messages_sent: int = 0
        self.message_rate: float = 0.0
        self._rate_since = self.loop.time()
        self._rate_count = 0
        self.invalid_messages: int = 0
        self.last_message_at: float | None = None
        self.dead_letters: deque[DeadLetter] = deque(maxlen=DEAD_LETTER_CAPACITY)
        self.mqtt_connected = False
        self._log_after = 0.0
        self._suppressed_logs = 0
        self._factories: list[tuple[EntityFactory, AddConfigEntryEntitiesCallback]] = []
        self._hub_listeners: list[CALLBACK_TYPE] = []
        self._unsubscribes: list[CALLBACK_TYPE] = []
        self.upkeep = DeviceUpkeep(
            hass,
            entry,
            self.devices,
            stale_days=int(self.options.get(CONF_STALE_DEVICE_DAYS, DEFAULT_STALE_DEVICE_DAYS)),
            check_statuses=self.has_connectivity,
            issue_placeholders={"entry": entry.title, "base_topic": self.base},
            remove_device=self.async_remove_device,
        )
        self.device_hooks = DeviceHooks(
            loop=self.loop,
            offline_timeout=self.offline_timeout,
            new_key=self.async_create_entity,
            connectivity_changed=self.async_connectivity_changed,
            heard_again=self.upkeep.async_device_back,
        )
        self.hub_registry_id = ""  # the hub's own registry device, made by async_restore

    # Family hooks -------------------------------------------------------------------

    @abstractmethod
    def handle(
        self, topic: str, payload: bytes, monotonic: float, wall: float, *, live: bool
    ) -> tuple[str, ...]:
        """Apply one message; return the problems of a partly invalid one, or raise.

        `live` is False for a retained message the broker replays on subscribing.
        """

    @callback  # noqa: B027 - an optional hook
    def async_mqtt_reconnected(self) -> None:
        """React to the broker coming back (HA's MQTT layer resubscribes by itself)."""

    @callback  # noqa: B027 - an optional hook
    def async_tick(self) -> None:
        """Do the family's periodic work, before the hub entities refresh."""

    async def async_prepare_unload(self) -> None:  # noqa: B027 - an optional hook
        """Finish work that must not be lost (e.g. flush batches) before unloading."""

    # Identifiers --------------------------------------------------------------------

    def device_identifier(self, wire_id: str) -> str:
        """Return the registry identifier of a device: the entry id and its own id."""
        return f"{self.entry.entry_id}/{wire_id}"

    def wire_id_from_identifiers(self, identifiers: Iterable[tuple[str, str]]) -> str | None:
        """Return the device's own id in a registry entry's identifiers (None: the hub)."""
        prefix = f"{self.entry.entry_id}/"
        for domain, identifier in identifiers:
            if domain == DOMAIN and identifier.startswith(prefix):
                return identifier[len(prefix) :]
        return None

    def new_device(self, wire_id: str, registry_id: str, *, restored: bool) -> DeviceT:
        """Make a device of the family's type and index it."""
        device = self.device_type(
            self.device_hooks,
            wire_id,
            self.device_identifier(wire_id),
            registry_id,
            restored=restored,
        )
        self.devices[wire_id] = device
        return device

    # Lifecycle ----------------------------------------------------------------------

    @callback
    def async_restore(self) -> None:
        """Recreate known devices and their entity keys from the registries."""
        entry_id = self.entry.entry_id
        device_registry = dr.async_get(self.hass)
        self.hub_registry_id = device_registry.async_get_or_create(
            config_entry_id=entry_id,
            identifiers={(DOMAIN, entry_id)},
            name=self.entry.title,
            manufacturer="MQTT Fleet",
            model=f"{self.title} hub",
            entry_type=DeviceEntryType.SERVICE,
        ).id
        for entry in dr.async_entries_for_config_entry(device_registry, entry_id):
            if (wire_id := self.wire_id_from_identifiers(entry.identifiers)) is not None:
                self.new_device(wire_id, entry.id, restored=True)
        prefix = f"{entry_id}/"
        entity_registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(entity_registry, entry_id):
            wire_id, _, key = entity.unique_id.removeprefix(prefix).rpartition("/")
            if (known := self.devices.get(wire_id)) is not None:
                known.known_keys.add(key)

    async def async_start(self) -> None:
        """Subscribe through HA's MQTT integration and start the hub timers."""
        self.mqtt_connected = mqtt.is_connected(self.hass)
        for topic in self.protocol.subscriptions:
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
        await self.upkeep.async_start(self.mqtt_connected)

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
        """Update the message rate over the last interval, then refresh hub entities.

        A timer of the hub's own, not a DataUpdateCoordinator: a coordinator refreshes only
        while an entity listens, and the family's tick (log counters) must run regardless.
        """
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
        try:
            problems = self.handle(msg.topic, payload, msg.timestamp, wall, live=not msg.retain)
        except InvalidMessage as err:
            self._reject(msg.topic, payload, err.reason, wall)
        except Exception:  # a bug must never break HA's MQTT loop
            LOGGER.exception("Unexpected error handling a message on %s", msg.topic)
            self._reject(msg.topic, payload, "internal error", wall)
        else:
            if problems:
                self._reject(msg.topic, payload, "; ".join(problems), wall)

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
    def async_device_for(
        self, wire_id: str, model: str | None = None, name: str | None = None
    ) -> DeviceT:
        """Return the device for a valid message, discovering it on first sight."""
        if (device := self.devices.get(wire_id)) is not None:
            return device
        registry_entry = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.device_identifier(wire_id))},
            name=device_name(name or wire_id),
            manufacturer=self.manufacturer,
            model=model,
            via_device_id=self.hub_registry_id,
        )
        device = self.new_device(wire_id, registry_entry.id, restored=False)
        LOGGER.info("Discovered %s device %s under %s", self.manufacturer, wire_id, self.base)
        self.async_fire_device_event(EVENT_DEVICE_DISCOVERED, device)
        if self.has_connectivity:
            device.async_notify(CONNECTIVITY)
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

    @callback
    def async_remove_device(self, wire_id: str) -> None:
        """Forget a device the user deleted; it comes back if it speaks again."""
        if (device := self.devices.pop(wire_id, None)) is not None:
            device.async_shutdown()
            self.upkeep.async_forget(device)

    @callback
    def async_fire_device_event(
        self, event_type: str, device: FleetDevice, data: dict[str, Any] | None = None
    ) -> None:
        """Fire a bus event about a device: its registry id and its own id."""
        self.hass.bus.async_fire(
            event_type,
            {
                **(data or {}),
                ATTR_DEVICE_ID: device.registry_id,
                ATTR_WIRE_ID: device.wire_id,
                "family": self.family,
            },
        )

    @callback
    def async_connectivity_changed(
        self, device: FleetDevice, previous: bool | None, connected: bool | None
    ) -> None:
        """Log once per edge and fire online/offline events (not on first knowledge)."""
        if connected is False:
            LOGGER.info("%s device %s is unavailable", self.manufacturer, device.wire_id)
            if previous is True or (previous is None and device.restored):
                self.async_fire_device_event(EVENT_DEVICE_OFFLINE, device)
        elif connected is True and previous is False:
            LOGGER.info("%s device %s is available again", self.manufacturer, device.wire_id)
            self.async_fire_device_event(EVENT_DEVICE_ONLINE, device)

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
            "family": self.family,
            "base_topic": self.base,
            "mqtt_connected": self.mqtt_connected,
            "messages_received": self.messages_received,
            "invalid_messages": self.invalid_messages,
            "messages_sent": self.messages_sent,
            "message_rate_per_minute": self.message_rate,
            "last_message": iso_time(self.last_message_at),
            "devices": len(self.devices),
            "devices_online": self.devices_online,
            "subscriptions": list(self.protocol.subscriptions),
        }


def device_name(name: str) -> str:
    """Shorten a name from the wire so the entity ids made from it stay valid.

    HA cuts a longer entity id at 255 characters, which can leave an invalid trailing
    underscore; one character can slugify to many (an Arabic ligature to 17).
    """
    while len(slug := slugify(name)) > MAX_NAME_SLUG:
        name = name[: len(name) * MAX_NAME_SLUG // len(slug)]
    return name
