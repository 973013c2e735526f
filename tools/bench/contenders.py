"""The five contenders, each showing the same workload in the same Home Assistant.

(a) MQTT Fleet: one config entry (hub) per family and shard of devices (each shard on its
    own base topics), entities created as devices report.
(b) What a user writes otherwise: HA's MQTT platform, one discovery config per entity with a
    value_template, availability from the status topic and expire_after equal to (a)'s
    offline timeout (published retained, so they come back after a restart).
(c) A no-op @callback subscriber on the same topic filters: the MQTT layer's limit.
(d) The floor for the same visible result: one subscriber that parses with orjson and calls
    hass.states.async_set for every value.
(e) The entity floor: (a)'s entities, with the same device classes, units and availability,
    as the simplest HA entities: a topic -> entities dict, orjson, _attr_native_value and
    async_write_ha_state() for a value that changed; none of (a)'s features (no validation,
    dead letters, counters, timers, events, devices or admission).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from datetime import datetime, timedelta
import logging
import time
from typing import TYPE_CHECKING, Any, ClassVar, Final

from homeassistant.components import mqtt
from homeassistant.components.binary_sensor import BinarySensorDeviceClass, BinarySensorEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorEntity, SensorStateClass
from homeassistant.components.switch import SwitchEntity
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfInformation
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import (
    MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY,
    EntityPlatform,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import orjson
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.mqtt_fleet.admission import MAX_NEW_DEVICES_PER_MINUTE_LIMIT
from custom_components.mqtt_fleet.config_flow import MqttFleetConfigFlow
from custom_components.mqtt_fleet.const import (
    CONF_ADMIN_SECRET,
    CONF_BASE_TOPIC,
    CONF_FAMILY,
    CONF_MAX_DEVICES,
    CONF_NEW_DEVICES_PER_MINUTE,
    CONF_OFFLINE_TIMEOUT,
    DOMAIN,
)
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.janus.hub import CONF_POLL_INTERVAL, MAX_POLL_INTERVAL

from .harness import BenchError, publish, setup_mqtt, subscriptions_live
from .workload import (
    FAMILIES as WORKLOAD_FAMILIES,
    KEYS,
    OFFLINE_TIMEOUT,
    SHARD_DEVICES,
    Device,
    Workload,
    discovery_config,
    discovery_unique_id,
    platform_of,
    shard_base,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.components.mqtt.models import ReceiveMessage
    from homeassistant.helpers.entity import Entity

# The topic filters (c), (d) and (e) listen to per base: every topic the workload publishes on.
FAMILY_FILTERS: Final = {
    "autocore": ("+/telemetry", "+/relay/+/status", "+/status"),
    "spotfi": ("+/metrics", "+/status"),
    "janus": ("+/status",),
}
JANUS_SECRET: Final = "bench"  # noqa: S105 - nobody answers the admin API in the benchmark
MAX_SETUP_SECONDS: Final = 900.0


def topic_filters(workload: Workload) -> list[str]:
    """Return the filters of every family in every shard of the workload."""
    return [
        f"{shard_base(family, shard)}/{topic}"
        for shard in range(workload.shards)
        for family in WORKLOAD_FAMILIES
        for topic in FAMILY_FILTERS[family]
    ]


def entry_id(family: str, shard: int) -> str:
    """Return the fixed id of (a)'s hub for one family and shard (a restart finds it)."""
    return f"bench_{family}_{shard}"


def setup_limit(workload: Workload) -> float:
    """Return how long a setup may take: longer for more entities, never over 15 minutes."""
    return min(MAX_SETUP_SECONDS, 60 + workload.entity_count / 10)


def unsupported(key: str, workload: Workload) -> str | None:
    """Return why contender `key` cannot show this workload, or None if it can."""
    if key == "b" and workload.entity_count > MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY:
        return (
            f"its one MQTT config entry would need {workload.entity_count:,} enabled entities;"
            f" Home Assistant sets up at most {MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY:,}"
            " per config entry, and the MQTT integration has only one"
        )
    return None


class Contender(ABC):
    """One way to show the workload in Home Assistant."""

    key: ClassVar[str]
    title: ClassVar[str]
    writes_state: ClassVar[bool] = True

    def __init__(self, hass: HomeAssistant, workload: Workload) -> None:
        """Bind to a running HA; nothing is set up before async_setup."""
        self.hass = hass
        self.workload = workload

    @abstractmethod
    async def async_setup(self, port: int) -> None:
        """Set the contender up, with its subscriptions live on the broker."""

    def entity_id(self, device: Device, key: str) -> str | None:
        """Return the entity id showing `key` of `device`, None if there is none (yet)."""
        return None

    def shown(self, device: Device, key: str) -> bool:
        """Tell whether the entity of `key` exists with a live state (not a restored stub)."""
        entity_id = self.entity_id(device, key)
        state = None if entity_id is None else self.hass.states.get(entity_id)
        return state is not None and not state.attributes.get("restored")

    async def async_wait_all_shown(self, limit: float, what: str, interval: float) -> None:
        """Wait until every device entity is shown; each poll checks only the missing ones."""
        pending = [(device, key) for device in self.workload.devices for key in KEYS[device.family]]
        deadline = time.monotonic() + limit
        while pending := [(device, key) for device, key in pending if not self.shown(device, key)]:
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {limit:g} s: {len(pending)} {what} missing")
            await asyncio.sleep(interval)

    def counters(self) -> dict[str, int]:
        """Return the contender's own message counters, for the report."""
        return {}

    async def async_restart_setup(self, port: int, limit: float) -> float | None:
        """In a fresh HA on the same config dir: seconds to set up with N devices restored."""
        return None


class Fleet(Contender):
    """(a) MQTT Fleet."""

    key = "a"
    title = "MQTT Fleet"

    def entries(self) -> list[MockConfigEntry]:
        """Return one hub per family and shard, with fixed ids so a restart finds its devices.

        Each admits its shard's devices at once: the benchmark measures a running fleet,
        not the pace at which a new one is admitted.
        """
        entries = []
        for shard in range(self.workload.shards):
            for family in self.workload.families:
                base = shard_base(family, shard)
                options = dict(FAMILIES[family].default_options) | {
                    CONF_OFFLINE_TIMEOUT: OFFLINE_TIMEOUT,
                    CONF_MAX_DEVICES: SHARD_DEVICES,
                    CONF_NEW_DEVICES_PER_MINUTE: MAX_NEW_DEVICES_PER_MINUTE_LIMIT,
                }
                data: dict[str, Any] = {CONF_FAMILY: family, CONF_BASE_TOPIC: base}
                if family == "janus":
                    data[CONF_ADMIN_SECRET] = JANUS_SECRET
                    options[CONF_POLL_INTERVAL] = MAX_POLL_INTERVAL  # no admin traffic
                entries.append(
                    MockConfigEntry(
                        domain=DOMAIN,
                        title=f"{family} ({base})",
                        data=data,
                        options=options,
                        unique_id=f"{family}:{base}",
                        entry_id=entry_id(family, shard),
                        version=MqttFleetConfigFlow.VERSION,
                        minor_version=MqttFleetConfigFlow.MINOR_VERSION,
                    )
                )
        return entries

    async def _async_setup_entries(self) -> None:
        for entry in self.entries():
            entry.add_to_hass(self.hass)
            if not await self.hass.config_entries.async_setup(entry.entry_id):
                raise BenchError(f"the {entry.title} entry did not set up")
        await self.hass.async_block_till_done()

    async def async_setup(self, port: int) -> None:
        """Add and set up the three entries."""
        await self._async_setup_entries()
        await subscriptions_live(self.hass)

    def entity_id(self, device: Device, key: str) -> str | None:
        """Look the entity up by its unique id."""
        unique_id = f"{entry_id(device.family, device.shard)}/{device.device_id}/{key}"
        return er.async_get(self.hass).async_get_entity_id(platform_of(key), DOMAIN, unique_id)

    def counters(self) -> dict[str, int]:
        """Return the hubs' received and invalid message counts."""
        hubs = [entry.runtime_data for entry in self.hass.config_entries.async_entries(DOMAIN)]
        return {
            "received": sum(hub.messages_received for hub in hubs),
            "invalid": sum(hub.invalid_messages for hub in hubs),
        }

    def statuses_received(self) -> int:
        """Return how many devices have had a status since the hubs started."""
        return sum(
            device.online is not None
            for entry in self.hass.config_entries.async_entries(DOMAIN)
            for device in entry.runtime_data.devices.values()
        )

    async def async_restart_setup(self, port: int, limit: float) -> float:
        """Time the three entries' setup, every known entity restored and added."""
        start = time.perf_counter()
        await self._async_setup_entries()
        elapsed = time.perf_counter() - start
        await self.async_wait_all_shown(0, "entities restored by (a)'s setup", 0)
        return elapsed


class Discovery(Contender):
    """(b) HA's MQTT entities from discovery configs with value_template."""

    key = "b"
    title = "MQTT discovery + value_template"

    async def async_setup(self, port: int) -> None:
        """Publish every discovery config; wait until each entity exists and subscribes."""
        workload = self.workload
        await publish(port, workload.n, workload.mix, "discovery")
        await self.async_wait_all_shown(setup_limit(workload), "entities discovered by (b)", 0.2)
        await self.hass.async_block_till_done()
        await subscriptions_live(self.hass)

    def entity_id(self, device: Device, key: str) -> str | None:
        """Look the entity up by its unique id."""
        registry = er.async_get(self.hass)
        return registry.async_get_entity_id(
            platform_of(key), mqtt.DOMAIN, discovery_unique_id(device, key)
        )

    async def async_restart_setup(self, port: int, limit: float) -> float:
        """Time the MQTT entry's setup until every retained discovery config made its entity.

        Polled every 20 ms, checking only the entities still missing: the poll costs little
        next to discovery, and the time is at most 20 ms late.
        """
        start = time.perf_counter()
        await setup_mqtt(self.hass, port)
        await self.async_wait_all_shown(limit, "entities rediscovered by (b)", 0.02)
        return time.perf_counter() - start


class NoOp(Contender):
    """(c) A @callback subscriber that only counts."""

    key = "c"
    title = "no-op subscriber"
    writes_state = False

    def __init__(self, hass: HomeAssistant, workload: Workload) -> None:
        """Start counting from zero."""
        super().__init__(hass, workload)
        self.count = 0
        self.target = -1
        self.reached = asyncio.Event()
        self.reached_at: float | None = None
        self.arrivals: list[float] | None = None  # set while latency is measured

    @callback
    def _on_message(self, msg: ReceiveMessage) -> None:
        self.count += 1
        if self.arrivals is not None:
            self.arrivals.append(time.monotonic())
        if self.count == self.target:
            self.reached_at = time.monotonic()
            self.reached.set()

    async def async_setup(self, port: int) -> None:
        """Subscribe to the workload's topic filters."""
        for topic in topic_filters(self.workload):
            await mqtt.async_subscribe(self.hass, topic, self._on_message, encoding=None)
        await subscriptions_live(self.hass)

    def expect(self, target: int) -> None:
        """Note the time when the count reaches `target` (and set `reached`)."""
        self.target = target
        self.reached.clear()
        self.reached_at = None
        if self.count >= target:
            self.reached_at = time.monotonic()
            self.reached.set()

    def counters(self) -> dict[str, int]:
        """Return the messages received."""
        return {"received": self.count}


def _attributes(device: Device, key: str) -> dict[str, Any]:
    """Return the state attributes (b)'s entity shows: name, unit, classes."""
    config = discovery_config(device, key)
    attributes: dict[str, Any] = {"friendly_name": f"{device.device_id} {config['name']}"}
    for name in ("unit_of_measurement", "device_class", "state_class"):
        if name in config:
            attributes[name] = config[name]
    return attributes


def restarted_at(uptime: float) -> datetime:
    """Return when a device with this uptime started, to the minute.

    To the minute, because a start time computed from the clock moves on every message;
    MQTT Fleet moves it only when it is over 60 s off, which writes about as often.
    """
    return (dt_util.utcnow() - timedelta(seconds=uptime)).replace(second=0, microsecond=0)


type Targets = tuple[tuple[str, str, dict[str, Any]], ...]  # (field, entity id, attributes)

# The payload field of each key, per message kind, for (d) and (e).
FIELDS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "telemetry": (
        ("temperature", "temperature"),
        ("humidity", "humidity"),
        ("voltage", "voltage"),
        ("memory_free", "free_memory"),
    ),
    "relay": (("state", "relay_0"),),
    "autocore_status": (
        ("status", "connectivity"),
        ("ip_address", "ip_address"),
        ("uptime", "last_restart"),
    ),
    "metrics": (
        ("uptime", "last_restart"),
        ("cpuLoad", "cpu_load"),
        ("memory_used", "memory_used"),
        ("totalMemory", "total_memory"),
        ("freeMemory", "free_memory"),
        ("activeUsers", "active_users"),
    ),
    "spotfi_status": (("status", "connectivity"),),
    "janus_status": (("status", "connectivity"),),
}
# Which kinds of message each family's topics carry, by the topic's last part.
TOPIC_KINDS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "autocore": (
        ("telemetry", "telemetry"),
        ("relay/0/status", "relay"),
        ("status", "autocore_status"),
    ),
    "spotfi": (("metrics", "metrics"), ("status", "spotfi_status")),
    "janus": (("status", "janus_status"),),
}


# A router's plain-text status as it arrives: HA's MQTT discovery subscribes to the same
# filter (MQTT Fleet's manifest names it) with UTF-8 decoding, and HA then hands every
# subscriber of that filter the decoded text.
ONLINE: Final = frozenset({b"ONLINE", "ONLINE"})


def _metrics(payload: bytes) -> dict[str, Any]:
    """Return a router's metrics with the values derived the way (a) shows them."""
    metrics: dict[str, Any] = orjson.loads(payload)["metrics"]
    metrics["uptime"] = int(metrics["uptime"])
    total = metrics["totalMemory"]
    metrics["memory_used"] = round(100 * (total - metrics["freeMemory"]) / total, 1)
    return metrics


class Floor(Contender):
    """(d) orjson.loads and hass.states.async_set per value, routed by exact topic."""

    key = "d"
    title = "floor: orjson + async_set"

    def __init__(self, hass: HomeAssistant, workload: Workload) -> None:
        """Build the routes: topic -> (handler, the values it sets)."""
        super().__init__(hass, workload)
        self.count = 0
        self._set = hass.states.async_set
        self._routes: dict[str, tuple[Callable[[bytes, Targets], None], Targets]] = {}
        handlers: dict[str, Callable[[bytes, Targets], None]] = {
            "telemetry": self._numbers,
            "relay": self._relay,
            "autocore_status": self._autocore_status,
            "metrics": self._metrics,
            "spotfi_status": self._spotfi_status,
            "janus_status": self._janus_status,
        }
        for device in workload.devices:
            for suffix, kind in TOPIC_KINDS[device.family]:
                handler = handlers[kind]
                targets = tuple(
                    (field, self._entity_id(device, key), _attributes(device, key))
                    for field, key in FIELDS[kind]
                )
                self._routes[f"{device.root}/{suffix}"] = (handler, targets)

    @staticmethod
    def _entity_id(device: Device, key: str) -> str:
        return f"{platform_of(key)}.d_{device.slug}_{key}"

    def entity_id(self, device: Device, key: str) -> str | None:
        """Return the entity id this contender writes."""
        return self._entity_id(device, key)

    async def async_setup(self, port: int) -> None:
        """Subscribe to the workload's topic filters."""
        for topic in topic_filters(self.workload):
            await mqtt.async_subscribe(self.hass, topic, self._on_message, encoding=None)
        await subscriptions_live(self.hass)

    def counters(self) -> dict[str, int]:
        """Return the messages received."""
        return {"received": self.count}

    @callback
    def _on_message(self, msg: ReceiveMessage) -> None:
        self.count += 1
        if (route := self._routes.get(msg.topic)) is not None:
            handler, targets = route
            handler(msg.payload, targets)  # type: ignore[arg-type]

    def _write(self, values: dict[str, Any], targets: Targets) -> None:
        for field, entity_id, attributes in targets:
            self._set(entity_id, str(values[field]), attributes)

    def _numbers(self, payload: bytes, targets: Targets) -> None:
        self._write(orjson.loads(payload), targets)

    def _relay(self, payload: bytes, targets: Targets) -> None:
        _field, entity_id, attributes = targets[0]
        self._set(entity_id, "on" if orjson.loads(payload)["state"] else "off", attributes)

    def _autocore_status(self, payload: bytes, targets: Targets) -> None:
        data = orjson.loads(payload)
        data["status"] = "on" if data["status"] == "online" else "off"
        data["uptime"] = restarted_at(data["uptime"]).isoformat()
        self._write(data, targets)

    def _metrics(self, payload: bytes, targets: Targets) -> None:
        metrics = _metrics(payload)
        metrics["uptime"] = restarted_at(metrics["uptime"]).isoformat()
        self._write(metrics, targets)

    def _spotfi_status(self, payload: bytes, targets: Targets) -> None:
        _field, entity_id, attributes = targets[0]
        self._set(entity_id, "on" if payload in ONLINE else "off", attributes)

    def _janus_status(self, payload: bytes, targets: Targets) -> None:
        _field, entity_id, attributes = targets[0]
        self._set(entity_id, "on" if orjson.loads(payload)["online"] else "off", attributes)


# (e)'s sensors: (a)'s device class, units, state class and category for each key.
_MEASUREMENT: Final = {"_attr_state_class": SensorStateClass.MEASUREMENT}
_DIAGNOSTIC: Final = {"_attr_entity_category": EntityCategory.DIAGNOSTIC}
_MEMORY: Final = {
    **_MEASUREMENT,
    "_attr_device_class": SensorDeviceClass.DATA_SIZE,
    "_attr_native_unit_of_measurement": UnitOfInformation.BYTES,
    "_attr_suggested_display_precision": 1,
}
SENSOR_ATTRIBUTES: Final[dict[tuple[str, str], dict[str, Any]]] = {
    ("autocore", "temperature"): {
        **_MEASUREMENT,
        "_attr_device_class": SensorDeviceClass.TEMPERATURE,
        "_attr_native_unit_of_measurement": "°C",
        "_attr_suggested_display_precision": 1,
    },
    ("autocore", "humidity"): {
        **_MEASUREMENT,
        "_attr_device_class": SensorDeviceClass.HUMIDITY,
        "_attr_native_unit_of_measurement": PERCENTAGE,
        "_attr_suggested_display_precision": 1,
    },
    ("autocore", "voltage"): {
        **_MEASUREMENT,
        "_attr_device_class": SensorDeviceClass.VOLTAGE,
        "_attr_native_unit_of_measurement": "V",
        "_attr_suggested_display_precision": 2,
    },
    ("autocore", "free_memory"): {
        **_MEMORY,
        **_DIAGNOSTIC,
        "_attr_suggested_unit_of_measurement": UnitOfInformation.KIBIBYTES,
    },
    ("autocore", "last_restart"): {"_attr_device_class": SensorDeviceClass.UPTIME, **_DIAGNOSTIC},
    ("autocore", "ip_address"): _DIAGNOSTIC,
    ("spotfi", "last_restart"): {"_attr_device_class": SensorDeviceClass.UPTIME, **_DIAGNOSTIC},
    ("spotfi", "cpu_load"): {
        **_MEASUREMENT,
        "_attr_native_unit_of_measurement": PERCENTAGE,
        "_attr_suggested_display_precision": 1,
    },
    ("spotfi", "memory_used"): {
        **_MEASUREMENT,
        "_attr_native_unit_of_measurement": PERCENTAGE,
        "_attr_suggested_display_precision": 1,
    },
    ("spotfi", "total_memory"): {
        **_MEMORY,
        **_DIAGNOSTIC,
        "_attr_suggested_unit_of_measurement": UnitOfInformation.MEBIBYTES,
    },
    ("spotfi", "free_memory"): {
        **_MEMORY,
        "_attr_suggested_unit_of_measurement": UnitOfInformation.MEBIBYTES,
    },
    ("spotfi", "active_users"): _MEASUREMENT,
}


class PlainSensor(SensorEntity):
    """A sensor that shows what it is given."""

    _attr_should_poll = False


class PlainBinarySensor(BinarySensorEntity):
    """A connectivity sensor that shows what it is given."""

    _attr_should_poll = False
    _attr_device_class = BinarySensorDeviceClass.CONNECTIVITY


class PlainSwitch(SwitchEntity):
    """A relay that shows the state its board reported."""

    _attr_should_poll = False


def _plain_entity(device: Device, key: str) -> Entity:
    """Return (e)'s entity for `key` of `device`: a fixed entity id, name and unique id."""
    platform = platform_of(key)
    entity: Entity
    if platform == "switch":
        entity = PlainSwitch()
    elif platform == "binary_sensor":
        entity = PlainBinarySensor()
    else:
        entity = PlainSensor()
        for name, value in SENSOR_ATTRIBUTES[device.family, key].items():
            setattr(entity, name, value)
    entity.entity_id = f"{platform}.e_{device.slug}_{key}"
    entity._attr_unique_id = f"{device.device_id}/{key}"  # noqa: SLF001 - set as HA's own do
    entity._attr_name = f"{device.device_id} {key.replace('_', ' ')}"  # noqa: SLF001
    return entity


class EntityFloor(Contender):
    """(e) The simplest HA entities for (a)'s entities, written on each change."""

    key = "e"
    title = "entity floor: plain HA entities"

    def __init__(self, hass: HomeAssistant, workload: Workload) -> None:
        """Make every entity and the routes: topic -> (kind, the device's entities by key)."""
        super().__init__(hass, workload)
        self.count = 0
        self._entities: dict[Device, dict[str, Entity]] = {
            device: {key: _plain_entity(device, key) for key in KEYS[device.family]}
            for device in workload.devices
        }
        self._routes: dict[str, tuple[str, dict[str, Entity]]] = {
            f"{device.root}/{suffix}": (kind, entities)
            for device, entities in self._entities.items()
            for suffix, kind in TOPIC_KINDS[device.family]
        }

    def entity_id(self, device: Device, key: str) -> str | None:
        """Return the entity id this contender writes."""
        return f"{platform_of(key)}.e_{device.slug}_{key}"

    async def async_setup(self, port: int) -> None:
        """Add every entity to a platform per domain, then subscribe."""
        await self._async_add_and_subscribe()
        await subscriptions_live(self.hass)

    async def async_restart_setup(self, port: int, limit: float) -> float:
        """Time adding every entity (registered by the first run) and subscribing.

        The floor for (a)'s restart: the same entities, none restoring a state, no devices.
        """
        start = time.perf_counter()
        await self._async_add_and_subscribe()
        return time.perf_counter() - start

    async def _async_add_and_subscribe(self) -> None:
        for domain in ("sensor", "binary_sensor", "switch"):
            await async_setup_component(self.hass, domain, {})
            platform = EntityPlatform(
                hass=self.hass,
                logger=logging.getLogger(__name__),
                domain=domain,
                platform_name="bench_floor",
                platform=None,
                scan_interval=timedelta(seconds=30),
                entity_namespace=None,
            )
            await platform.async_add_entities(
                entity
                for entities in self._entities.values()
                for key, entity in entities.items()
                if platform_of(key) == domain
            )
        for topic in topic_filters(self.workload):
            await mqtt.async_subscribe(self.hass, topic, self._on_message, encoding=None)

    def counters(self) -> dict[str, int]:
        """Return the messages received."""
        return {"received": self.count}

    @callback
    def _on_message(self, msg: ReceiveMessage) -> None:
        self.count += 1
        if (route := self._routes.get(msg.topic)) is None:
            return
        kind, entities = route
        payload: bytes = msg.payload  # type: ignore[assignment]
        if kind == "relay":
            self._show(entities["relay_0"], "_attr_is_on", orjson.loads(payload)["state"])
            return
        if kind == "spotfi_status":
            self._available(entities, payload in ONLINE)
            return
        if kind == "janus_status":
            self._available(entities, orjson.loads(payload)["online"])
            return
        values = _metrics(payload) if kind == "metrics" else orjson.loads(payload)
        if kind == "autocore_status":
            self._available(entities, values["status"] == "online")
        for field, key in FIELDS[kind]:
            if key == "connectivity":
                continue
            value = values[field]
            if key == "last_restart":
                value = restarted_at(value)
            self._show(entities[key], "_attr_native_value", value)

    @staticmethod
    def _show(entity: Entity, attribute: str, value: Any) -> None:
        if getattr(entity, attribute, None) != value:
            setattr(entity, attribute, value)
            entity.async_write_ha_state()

    @staticmethod
    def _available(entities: dict[str, Entity], online: bool) -> None:
        """Show connectivity; while offline every other entity of the device is unavailable."""
        connectivity = entities["connectivity"]
        if connectivity._attr_is_on == online:  # type: ignore[attr-defined]  # noqa: SLF001
            return
        connectivity._attr_is_on = online  # type: ignore[attr-defined]  # noqa: SLF001
        connectivity.async_write_ha_state()
        for key, entity in entities.items():
            if key != "connectivity" and entity.available != online:
                entity._attr_available = online  # noqa: SLF001
                entity.async_write_ha_state()


CONTENDERS: Final[dict[str, type[Contender]]] = {
    cls.key: cls for cls in (Fleet, Discovery, NoOp, Floor, EntityFloor)
}
