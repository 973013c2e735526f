"""One hub per config entry: subscriptions, routing, device index, freshness and counters.

A family's hub (in `families/<family>/`) says which topics to subscribe to and how a parsed
message changes a device; everything else a message goes through lives here.

Registry identifiers are made of the entry id and the device's own id, never of the base
topic: moving an entry to another base topic keeps every device, entity and its history.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import batched
import time
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import slugify

from . import issues
from .admission import (
    DEFAULT_MAX_DEVICES,
    DEFAULT_NEW_DEVICES_PER_MINUTE,
    HELD_FOR,
    Admission,
    DeviceRefused,
    Refusal,
)
from .const import (
    ATTR_DEVICE_ID,
    ATTR_WIRE_ID,
    CONF_BASE_TOPIC,
    CONF_KNOWN_DEVICES_ONLY,
    CONF_MAX_DEVICES,
    CONF_NEW_DEVICES_PER_MINUTE,
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
from .throttle import Throttle
from .upkeep import DeviceUpkeep

if TYPE_CHECKING:
    from homeassistant.components.mqtt import ReceiveMessage
    from homeassistant.helpers.entity import Entity
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .protocol.topics import OutgoingMessage

type FleetConfigEntry = ConfigEntry[FleetHub[Any]]
type EntityFactory = Callable[[FleetDevice, str], Entity | None]

# Options every family has, which a running hub applies without a reload.
LIVE_OPTIONS: Final = frozenset(
    {
        CONF_OFFLINE_TIMEOUT,
        CONF_STALE_DEVICE_DAYS,
        CONF_MAX_DEVICES,
        CONF_NEW_DEVICES_PER_MINUTE,
        CONF_KNOWN_DEVICES_ONLY,
    }
)

# Entity ids are `{domain}.{device name} {entity name}` slugified, at most 255 characters.
MAX_NAME_SLUG: Final = 150
# Restored entities handed to Home Assistant at once: about 60 ms of adding them here.
ENTITY_BATCH: Final = 500
# Log lines a publisher could multiply: a burst, then one per period, with what was held back.
DISCOVERED_LOG_BURST: Final = 10
DISCOVERED_LOG_PERIOD: Final = 6.0
CONNECTIVITY_LOG_BURST: Final = 20
CONNECTIVITY_LOG_PERIOD: Final = 3.0
ADMIT_RETRY_MIN: Final = 0.05  # seconds: the soonest the held ids are looked at again


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
        self.data = dict(entry.data)  # as the hub started: other data needs a reload
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
        now = self.loop.time()
        self.admission = Admission(
            max_devices=int(self.options.get(CONF_MAX_DEVICES, DEFAULT_MAX_DEVICES)),
            new_devices_per_minute=int(
                self.options.get(CONF_NEW_DEVICES_PER_MINUTE, DEFAULT_NEW_DEVICES_PER_MINUTE)
            ),
            known_devices_only=self.options.get(CONF_KNOWN_DEVICES_ONLY) is True,
            now=now,
        )
        self._admitted: set[str] = set()  # ids admitted out of turn: replayed or accepted
        self._admit_timer: asyncio.TimerHandle | None = None
        self._issues_raised: set[str] = set()  # entry issues raised since the hub started
        self._invalid_log = Throttle(1, INVALID_LOG_INTERVAL, now)
        self._refusal_log = Throttle(1, INVALID_LOG_INTERVAL, now)
        self._discovered_log = Throttle(DISCOVERED_LOG_BURST, DISCOVERED_LOG_PERIOD, now)
        self._connectivity_log = Throttle(CONNECTIVITY_LOG_BURST, CONNECTIVITY_LOG_PERIOD, now)
        self._factories: list[tuple[EntityFactory, AddConfigEntryEntitiesCallback]] = []
        # Disabled entities HA would not add: enabling one reloads the entry, which re-reads.
        self._disabled_at_setup: set[str] = set()
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
            request_statuses=self.statuses_requested,
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

    def statuses_requested(self, devices: list[FleetDevice]) -> Coroutine[Any, Any, None] | None:
        """Return the work that asks `devices` for their status, or None if nothing can.

        Upkeep runs it and judges the statuses a grace after it ends. Only families whose
        protocol can ask (AutoCore v2) or that poll (Janus) override this.
        """
        return None

    async def async_prepare_unload(self) -> None:  # noqa: B027 - an optional hook
        """Finish work that must not be lost (e.g. flush batches) before unloading."""

    @callback
    def async_apply_family_options(
        self, options: Mapping[str, Any], changed: frozenset[str]
    ) -> bool:
        """Apply the family's own `changed` options in place; False: reload the entry.

        Called with the keys beyond those every family shares (LIVE_OPTIONS) that changed.
        A family that can take some of them live overrides this, and returns False for
        the rest; by default any of them reloads the entry.
        """
        return False

    @callback
    def async_apply_options(self, options: Mapping[str, Any]) -> bool:
        """Apply saved options without reloading; return False when a reload is needed.

        Reloading makes every entity go unavailable and come back, which the logbook and
        history show as changes; the options every family shares are applied in place.
        """
        changed = frozenset(
            key
            for key in options.keys() | self.options.keys()
            if options.get(key) != self.options.get(key)
        )
        if (own := changed - LIVE_OPTIONS) and not self.async_apply_family_options(options, own):
            return False
        self.options = dict(options)
        self.offline_timeout = float(
            options.get(CONF_OFFLINE_TIMEOUT, self.default_offline_timeout)
        )
        if self.offline_timeout != self.device_hooks.offline_timeout:
            # Timers armed for the old timeout look at the new one when they fire.
            self.device_hooks = replace(self.device_hooks, offline_timeout=self.offline_timeout)
            for device in self.devices.values():
                device.hooks = self.device_hooks
        self.upkeep.stale_after = (
            int(options.get(CONF_STALE_DEVICE_DAYS, DEFAULT_STALE_DEVICE_DAYS)) * 86400
        )
        self._async_set_admission_caps(options)
        return True

    @callback
    def _async_set_admission_caps(self, options: Mapping[str, Any]) -> None:
        """Take new caps; the ids waiting are looked at again under them."""
        admission = self.admission
        admission.max_devices = int(options.get(CONF_MAX_DEVICES, DEFAULT_MAX_DEVICES))
        admission.known_devices_only = options.get(CONF_KNOWN_DEVICES_ONLY) is True
        rate = int(options.get(CONF_NEW_DEVICES_PER_MINUTE, DEFAULT_NEW_DEVICES_PER_MINUTE))
        if rate != admission.new_devices_per_minute:
            admission.new_devices_per_minute = rate
            admission.bucket = Throttle(rate, 60 / rate, self.loop.time())
        if not admission.known_devices_only:
            self.async_clear_issue(issues.DEVICES_WAITING)
            if admission.held:
                self._async_schedule_admission()

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
            # A device, not a "service": HA lists an entry's hub as a hub and its devices as
            # devices, and a service type would add a third word for the same thing. Set
            # explicitly so that hubs registered as services before become devices.
            entry_type=None,
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
                if entity.disabled_by is not None:
                    self._disabled_at_setup.add(entity.unique_id)

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
        """Unsubscribe and stop every timer (entry unload); drop the entry's issues."""
        while self._unsubscribes:
            self._unsubscribes.pop()()
        if self._admit_timer is not None:
            self._admit_timer.cancel()
            self._admit_timer = None
        for kind in self._issues_raised:
            issues.async_clear_entry(self.hass, kind, self.entry.entry_id)
        self.upkeep.async_stop()
        for device in self.devices.values():
            device.async_shutdown()

    # Entities -----------------------------------------------------------------------

    async def async_add_entity_factory(
        self, factory: EntityFactory, async_add_entities: AddConfigEntryEntitiesCallback
    ) -> None:
        """Register a platform: it gets the known keys now and new keys as they appear.

        Known entities are handed over ENTITY_BATCH at a time, letting the event loop run
        between batches: Home Assistant adds a batch without yielding, so thousands at once
        would hold everything else up for seconds. Entities the user disabled are not made
        at all: Home Assistant would only look them up in the registry to drop them.
        """
        self._factories.append((factory, async_add_entities))
        device_registry = dr.async_get(self.hass)
        entities = [
            entity
            for device in self.devices.values()
            if (device_entry := device_registry.async_get(device.registry_id)) is not None
            for key in sorted(device.known_keys)
            if device.entity_unique_id(key) not in self._disabled_at_setup
            and (entity := self._device_entity(factory, device, key, device_entry)) is not None
        ]
        for batch in batched(entities, ENTITY_BATCH, strict=False):
            async_add_entities(list(batch))
            await asyncio.sleep(0)

    @callback
    def async_create_entity(self, device: FleetDevice, key: str) -> None:
        """Offer a new key to the platforms; the one that knows it adds an entity."""
        if (device_entry := dr.async_get(self.hass).async_get(device.registry_id)) is None:
            return
        for factory, async_add_entities in self._factories:
            if (entity := self._device_entity(factory, device, key, device_entry)) is not None:
                async_add_entities([entity])
                return

    @staticmethod
    def _device_entity(
        factory: EntityFactory, device: FleetDevice, key: str, device_entry: dr.AnyDeviceEntry
    ) -> Entity | None:
        """Make an entity attached to its registry device.

        The device is in the registry already (the hub made it): attaching its entry spares
        Home Assistant a registry lookup by identifiers for every entity it adds, which is
        a fifth of a restart with thousands of devices.
        """
        if (entity := factory(device, key)) is not None:
            entity.device_entry = device_entry
        return entity

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
        """Count one message and process it."""
        self.messages_received += 1
        payload = msg.payload  # bytes: subscribed with encoding=None, except that
        if type(payload) is not bytes:  # HA shares one decoded copy per topic filter
            payload = payload.encode() if isinstance(payload, str) else bytes(payload)
        if not payload:  # a retained message being cleared, as the README advises
            LOGGER.debug("Ignored an empty message on %s (a cleared retained one)", msg.topic)
            return
        self._async_process(msg.topic, payload, msg.timestamp, retained=msg.retain)

    @callback
    def _async_process(
        self, topic: str, payload: bytes, monotonic: float, *, retained: bool
    ) -> None:
        """Parse and route one message; never raise into HA's MQTT loop."""
        wall = time.time()
        self.last_message_at = wall
        try:
            problems = self.handle(topic, payload, monotonic, wall, live=not retained)
        except DeviceRefused as refused:
            self._async_device_refused(refused, topic, payload, retained=retained)
        except InvalidMessage as err:
            self._reject(topic, payload, err.reason, wall)
        except Exception:  # a bug must never break HA's MQTT loop
            LOGGER.exception("Unexpected error handling a message on %s", topic)
            self._reject(topic, payload, "internal error", wall)
        else:
            if problems:
                self._reject(topic, payload, "; ".join(problems), wall)

    def _dead_letter(self, topic: str, payload: bytes, reason: str, wall: float) -> None:
        self.dead_letters.append(
            DeadLetter(
                received=datetime.fromtimestamp(wall, UTC),
                topic=topic,
                reason=reason,
                payload=payload[:DEAD_LETTER_PAYLOAD_BYTES].decode("utf-8", "replace"),
            )
        )

    def _reject(self, topic: str, payload: bytes, reason: str, wall: float) -> None:
        """Count an invalid message, keep it as a dead letter and log it, rate-limited."""
        self.invalid_messages += 1
        self._dead_letter(topic, payload, reason, wall)
        if not self._invalid_log.allow(self.loop.time()):
            LOGGER.debug("Ignored invalid message on %s: %s", topic, reason)
            return
        LOGGER.warning(
            "Ignored invalid message on %s: %s%s",
            topic,
            reason,
            _more(self._invalid_log.take_suppressed(), "invalid messages"),
        )

    # Admission ----------------------------------------------------------------------

    @callback
    def async_refuse(
        self, refusal: Refusal, limit: int, topic: str, payload: bytes, reason: str
    ) -> None:
        """Count a message an admission cap refused, keep it as a dead letter, say so once.

        One repair issue per cap and entry tells the user how to raise it; a log line at
        most once a minute says what was refused, and how much since the last one.
        """
        self.admission.refused[refusal] += 1
        self._dead_letter(topic, payload, reason, time.time())
        self.async_raise_issue(
            issues.DEVICES_WAITING
            if refusal is Refusal.KNOWN_DEVICES_ONLY
            else f"{issues.ADMISSION_PREFIX}{refusal}",
            limit=str(limit),
        )
        if self._refusal_log.allow(self.loop.time()):
            LOGGER.warning(
                "%s: %s%s",
                self.entry.title,
                reason,
                _more(self._refusal_log.take_suppressed(), "refused or held messages"),
            )

    @callback
    def async_raise_issue(self, kind: str, **placeholders: str) -> None:
        """Raise an issue about the entry, once while the hub runs."""
        if kind not in self._issues_raised:
            self._issues_raised.add(kind)
            issues.async_raise_entry(
                self.hass,
                kind,
                self.entry.entry_id,
                {"entry": self.entry.title, "base_topic": self.base, **placeholders},
            )

    @callback
    def async_clear_issue(self, kind: str) -> None:
        """Withdraw an issue about the entry (a new one can be raised again)."""
        if kind in self._issues_raised:
            self._issues_raised.discard(kind)
            issues.async_clear_entry(self.hass, kind, self.entry.entry_id)

    def _async_device_refused(
        self, refused: DeviceRefused, topic: str, payload: bytes, *, retained: bool
    ) -> None:
        """Hold the message of an id that may be admitted later; count the refusal."""
        refusal, wire_id, admission = refused.refusal, refused.wire_id, self.admission
        held = refusal in HELD_FOR and admission.hold(wire_id, topic, payload, retained=retained)
        fate = "held" if held else "refused"
        match refusal:
            case Refusal.MAX_DEVICES:
                limit = admission.max_devices
                why = f"the hub has {limit} devices, its limit"
            case Refusal.NEW_DEVICES_PER_MINUTE:
                limit = admission.new_devices_per_minute
                why = f"over {limit} new devices a minute; admitted as the rate allows"
                self._async_schedule_admission()
            case _:
                limit = 0
                why = "the hub admits known devices only; accept it under Repairs"
        reason = f"new device {wire_id} {fate}: {why}"
        self.async_refuse(refusal, limit, topic, payload, reason)

    def _async_schedule_admission(self) -> None:
        """Look at the held ids again when the bucket has a token."""
        if self._admit_timer is None:
            delay = self.admission.bucket.wait(self.loop.time())
            self._admit_timer = self.loop.call_later(
                max(delay, ADMIT_RETRY_MIN), self._async_admit_held
            )

    @callback
    def _async_admit_held(self) -> None:
        """Admit the held ids in turn, as the rate allows, replaying their messages."""
        self._admit_timer = None
        admission = self.admission
        while admission.held:
            if len(self.devices) >= admission.max_devices:
                for wire_id in list(admission.held):
                    admission.release(wire_id)
                    admission.refused[Refusal.MAX_DEVICES] += 1
                self.async_raise_issue(
                    f"{issues.ADMISSION_PREFIX}{Refusal.MAX_DEVICES}",
                    limit=str(admission.max_devices),
                )
                break
            if not admission.bucket.allow(self.loop.time()):
                self._async_schedule_admission()
                return
            self._async_replay(next(iter(admission.held)))
        self.async_clear_issue(f"{issues.ADMISSION_PREFIX}{Refusal.NEW_DEVICES_PER_MINUTE}")

    def _async_replay(self, wire_id: str) -> None:
        """Admit an id out of turn and apply the messages it held."""
        self._admitted.add(wire_id)
        try:
            for held in self.admission.release(wire_id):
                self._async_process(
                    held.topic, held.payload, self.loop.time(), retained=held.retained
                )
        finally:
            self._admitted.discard(wire_id)

    @callback
    def async_accept(self, wire_ids: Iterable[str]) -> int:
        """Admit ids the user accepted (known-devices-only mode); return how many."""
        accepted = 0
        for wire_id in wire_ids:
            if wire_id in self.admission.held:
                self._async_replay(wire_id)
                accepted += wire_id in self.devices
        # The fix flow ends with HA deleting the issue: ids left are offered when they speak.
        self.async_clear_issue(issues.DEVICES_WAITING)
        return accepted

    @callback
    def async_device_for(
        self, wire_id: str, model: str | None = None, name: str | None = None
    ) -> DeviceT:
        """Return the device for a valid message, discovering it on first sight."""
        if (device := self.devices.get(wire_id)) is not None:
            return device
        if wire_id not in self._admitted and (
            refusal := self.admission.check(wire_id, len(self.devices), self.loop.time())
        ):
            raise DeviceRefused(refusal, wire_id)
        device = self.async_add_device(wire_id, model, name)
        if wire_id in self.admission.held:  # what it sent while it waited comes first
            self._async_replay(wire_id)
        return device

    @callback
    def async_add_device(
        self, wire_id: str, model: str | None = None, name: str | None = None
    ) -> DeviceT:
        """Make a registry device and its hub device (admitted, or configured by the user)."""
        registry_entry = dr.async_get(self.hass).async_get_or_create(
            config_entry_id=self.entry.entry_id,
            identifiers={(DOMAIN, self.device_identifier(wire_id))},
            name=device_name(name or wire_id),
            manufacturer=self.manufacturer,
            model=model,
            via_device_id=self.hub_registry_id,
        )
        device = self.new_device(wire_id, registry_entry.id, restored=False)
        if self._discovered_log.allow(self.loop.time()):
            LOGGER.info(
                "Discovered %s device %s under %s%s",
                self.manufacturer,
                wire_id,
                self.base,
                _more(self._discovered_log.take_suppressed(), "devices discovered"),
            )
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
        """Log an edge and fire online/offline events (not on first knowledge).

        A flapping device's edges are already paced by the device; the log lines of many
        devices changing at once (a broker outage) are paced here.
        """
        if connected is False:
            self._log_connectivity(device, "is unavailable")
            if previous is True or (previous is None and device.restored):
                self.async_fire_device_event(EVENT_DEVICE_OFFLINE, device)
        elif connected is True and previous is False:
            self._log_connectivity(device, "is available again")
            self.async_fire_device_event(EVENT_DEVICE_ONLINE, device)

    def _log_connectivity(self, device: FleetDevice, change: str) -> None:
        if self._connectivity_log.allow(self.loop.time()):
            LOGGER.info(
                "%s device %s %s%s%s",
                self.manufacturer,
                device.wire_id,
                change,
                _more(device.take_held_back_changes(), "changes of this device held back"),
                _more(self._connectivity_log.take_suppressed(), "availability changes"),
            )

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
            "admission": {
                "max_devices": self.admission.max_devices,
                "new_devices_per_minute": self.admission.new_devices_per_minute,
                "known_devices_only": self.admission.known_devices_only,
                "refused": dict(self.admission.refused),
                "waiting_devices": len(self.admission.held),
                "waiting_bytes": self.admission.held_bytes,
            },
        }


@callback
def async_remove_retired_entities(
    hass: HomeAssistant, entry: FleetConfigEntry, retired_keys: frozenset[str]
) -> None:
    """Delete the entry's registry entities whose key the family no longer offers.

    Unique ids are `<entry_id>/<wire_id>/<key>`: one pass over the entry's entities.
    """
    if not retired_keys:
        return
    registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity.unique_id.rpartition("/")[2] in retired_keys:
            registry.async_remove(entity.entity_id)


@callback
def async_rename_hub_device(hass: HomeAssistant, entry: FleetConfigEntry, name: str) -> None:
    """Name the entry's hub device `name`; entity ids made from the old name follow.

    An entity id the user changed, or one made from a name the user gave the device,
    is left as it is.
    """
    device_registry = dr.async_get(hass)
    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    if device is None or device.name == name:
        return
    entity_registry = er.async_get(hass)
    generated = [
        entity.entity_id
        for entity in er.async_entries_for_device(
            entity_registry, device.id, include_disabled_entities=True
        )
        if entity.config_entry_id == entry.entry_id
        and entity_registry.async_regenerate_entity_id(entity) == entity.entity_id
    ]
    device_registry.async_update_device(device.id, name=name)
    for entity_id in generated:
        if (entity := entity_registry.async_get(entity_id)) is None:
            continue
        new_entity_id = entity_registry.async_regenerate_entity_id(entity)
        if new_entity_id != entity_id:
            entity_registry.async_update_entity(entity_id, new_entity_id=new_entity_id)


def device_name(name: str) -> str:
    """Shorten a name from the wire so the entity ids made from it stay valid.

    HA cuts a longer entity id at 255 characters, which can leave an invalid trailing
    underscore; one character can slugify to many (an Arabic ligature to 17).
    """
    while len(slug := slugify(name)) > MAX_NAME_SLUG:
        name = name[: len(name) * MAX_NAME_SLUG // len(slug)]
    return name


def _more(count: int, what: str) -> str:
    """Return the tail of a log line that stands for `count` lines held back, if any."""
    return f" ({count} more {what} since the last report)" if count else ""
