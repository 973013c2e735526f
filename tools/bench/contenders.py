"""The four contenders, each showing the same workload in the same Home Assistant.

(a) MQTT Fleet: one config entry per family, entities created as devices report.
(b) What a user writes otherwise: HA's MQTT platform, one discovery config per entity with a
    value_template, availability from the status topic and expire_after equal to (a)'s
    offline timeout (published retained, so they come back after a restart).
(c) A no-op @callback subscriber on the same topic filters: the MQTT layer's limit.
(d) The floor for the same visible result: one subscriber that parses with orjson and calls
    hass.states.async_set for every value.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
import time
from typing import TYPE_CHECKING, Any, ClassVar, Final

from homeassistant.components import mqtt
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import orjson
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.mqtt_fleet.config_flow import MqttFleetConfigFlow
from custom_components.mqtt_fleet.const import (
    CONF_ADMIN_SECRET,
    CONF_BASE_TOPIC,
    CONF_FAMILY,
    CONF_OFFLINE_TIMEOUT,
    DOMAIN,
)
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.janus.hub import CONF_POLL_INTERVAL, MAX_POLL_INTERVAL

from .harness import BenchError, publish, setup_mqtt, subscriptions_live
from .workload import (
    AUTOCORE_BASE,
    JANUS_BASE,
    KEYS,
    OFFLINE_TIMEOUT,
    SPOTFI_BASE,
    Device,
    Workload,
    discovery_config,
    discovery_unique_id,
    platform_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.components.mqtt.models import ReceiveMessage

# The topic filters (c) and (d) listen to: every topic the workload publishes on.
FILTERS: Final = (
    f"{AUTOCORE_BASE}/+/telemetry",
    f"{AUTOCORE_BASE}/+/relay/+/status",
    f"{AUTOCORE_BASE}/+/status",
    f"{SPOTFI_BASE}/+/metrics",
    f"{SPOTFI_BASE}/+/status",
    f"{JANUS_BASE}/+/status",
)
JANUS_SECRET: Final = "bench"  # noqa: S105 - nobody answers the admin API in the benchmark
MAX_SETUP_SECONDS: Final = 600.0
ENTRY_IDS: Final = {
    "autocore": "bench_autocore",
    "spotfi": "bench_spotfi",
    "janus": "bench_janus",
}
BASES: Final = {
    "autocore": AUTOCORE_BASE,
    "spotfi": SPOTFI_BASE,
    "janus": JANUS_BASE,
}


def setup_limit(workload: Workload) -> float:
    """Return how long a setup may take: longer for more entities, never over 10 minutes."""
    return min(MAX_SETUP_SECONDS, 60 + workload.entity_count / 10)


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
        """Return one entry per family, with fixed ids so a restart finds its devices."""
        entries = []
        for family, entry_id in ENTRY_IDS.items():
            base = BASES[family]
            options = dict(FAMILIES[family].default_options) | {
                CONF_OFFLINE_TIMEOUT: OFFLINE_TIMEOUT
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
                    entry_id=entry_id,
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
        unique_id = f"{ENTRY_IDS[device.family]}/{device.device_id}/{key}"
        return er.async_get(self.hass).async_get_entity_id(platform_of(key), DOMAIN, unique_id)

    def counters(self) -> dict[str, int]:
        """Return the hubs' received and invalid message counts."""
        hubs = [entry.runtime_data for entry in self.hass.config_entries.async_entries(DOMAIN)]
        return {
            "received": sum(hub.messages_received for hub in hubs),
            "invalid": sum(hub.invalid_messages for hub in hubs),
        }

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
        for topic in FILTERS:
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


type Targets = tuple[tuple[str, str, dict[str, Any]], ...]  # (field, entity id, attributes)


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
        fields = {
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
                ("firmware_version", "firmware_version"),
                ("uptime", "uptime"),
            ),
            "metrics": (
                ("uptime", "uptime"),
                ("cpuLoad", "cpu_load"),
                ("memory_used", "memory_used"),
                ("totalMemory", "total_memory"),
                ("freeMemory", "free_memory"),
                ("activeUsers", "active_users"),
            ),
            "connectivity": (("status", "connectivity"),),
        }

        def targets(device: Device, kind: str) -> Targets:
            return tuple(
                (field, self._entity_id(device, key), _attributes(device, key))
                for field, key in fields[kind]
            )

        for device in workload.devices:
            device_id = device.device_id
            if device.family == "autocore":
                root = f"{AUTOCORE_BASE}/{device_id}"
                self._routes[f"{root}/telemetry"] = (self._numbers, targets(device, "telemetry"))
                self._routes[f"{root}/relay/0/status"] = (self._relay, targets(device, "relay"))
                self._routes[f"{root}/status"] = (
                    self._autocore_status,
                    targets(device, "autocore_status"),
                )
            elif device.family == "spotfi":
                root = f"{SPOTFI_BASE}/{device_id}"
                self._routes[f"{root}/metrics"] = (self._metrics, targets(device, "metrics"))
                self._routes[f"{root}/status"] = (
                    self._spotfi_status,
                    targets(device, "connectivity"),
                )
            else:
                self._routes[f"{JANUS_BASE}/{device_id}/status"] = (
                    self._janus_status,
                    targets(device, "connectivity"),
                )

    @staticmethod
    def _entity_id(device: Device, key: str) -> str:
        return f"{platform_of(key)}.d_{device.slug}_{key}"

    def entity_id(self, device: Device, key: str) -> str | None:
        """Return the entity id this contender writes."""
        return self._entity_id(device, key)

    async def async_setup(self, port: int) -> None:
        """Subscribe to the workload's topic filters."""
        for topic in FILTERS:
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

    def _numbers(self, payload: bytes, targets: Targets) -> None:
        data = orjson.loads(payload)
        for field, entity_id, attributes in targets:
            self._set(entity_id, str(data[field]), attributes)

    def _relay(self, payload: bytes, targets: Targets) -> None:
        _field, entity_id, attributes = targets[0]
        self._set(entity_id, "on" if orjson.loads(payload)["state"] else "off", attributes)

    def _autocore_status(self, payload: bytes, targets: Targets) -> None:
        data = orjson.loads(payload)
        data["status"] = "on" if data["status"] == "online" else "off"
        for field, entity_id, attributes in targets:
            self._set(entity_id, str(data[field]), attributes)

    def _metrics(self, payload: bytes, targets: Targets) -> None:
        metrics = orjson.loads(payload)["metrics"]
        metrics["uptime"] = int(metrics["uptime"])
        total = metrics["totalMemory"]
        metrics["memory_used"] = round(100 * (total - metrics["freeMemory"]) / total, 1)
        for field, entity_id, attributes in targets:
            self._set(entity_id, str(metrics[field]), attributes)

    def _spotfi_status(self, payload: bytes, targets: Targets) -> None:
        _field, entity_id, attributes = targets[0]
        self._set(entity_id, "on" if payload.strip() == b"ONLINE" else "off", attributes)

    def _janus_status(self, payload: bytes, targets: Targets) -> None:
        _field, entity_id, attributes = targets[0]
        self._set(entity_id, "on" if orjson.loads(payload)["online"] else "off", attributes)


CONTENDERS: Final[dict[str, type[Contender]]] = {
    cls.key: cls for cls in (Fleet, Discovery, NoOp, Floor)
}
