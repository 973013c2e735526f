"""The fixed mixed workload: which devices there are, what they send and what HA should show.

Both sides build it from the same arguments (N and the family mix), so the HA side knows
which device and value each published message carries without reading it off the wire.

Per round every device sends (docs/protocols.md: AutoCore, Janus, SpotFi; payloads as the
simulator sends them):

    stream   (flat out and fixed rate): AutoCore relay 0 status then telemetry with four
             changing values; SpotFi metrics
    warmup   (first round, creates every entity): AutoCore status, relay, telemetry;
             SpotFi status (ONLINE), metrics; Janus status
    natural  (every 30 s per device): AutoCore status and telemetry; SpotFi metrics

A Janus server sends nothing after its status: Janus publishes its status when it connects
(and its Last Will when it goes), not periodically, and MQTT Fleet answers a status that
says online by asking the server's admin API for its sessions at once.

Every value but the constant ones changes from one round to the next, so each AutoCore
telemetry, relay status and SpotFi metrics message writes state. The last message of every round
is an AutoCore telemetry, whose temperature marks the round as fully processed. Uptimes
advance by one natural period per natural round only: flat-out rounds follow each other in
milliseconds, so a device's uptime does not move between them.

Devices are split into shards of SHARD_DEVICES consecutive devices, each shard on its own
base topics (``autocore``, ``autocore-2``, ...): Home Assistant sets up at most 10,000
enabled entities per config entry, so a fleet this size is split over hubs, one per family
and shard, as README advises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
import json
import math
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

type FamilyName = Literal["autocore", "spotfi", "janus"]
type Mode = Literal["stream", "warmup", "natural"]

FAMILIES: Final[tuple[FamilyName, ...]] = ("autocore", "spotfi", "janus")
DEFAULT_MIX: Final = (6, 3, 1)  # AutoCore : SpotFi : Janus devices
AUTOCORE_BASE: Final = "autocore"
SPOTFI_BASE: Final = "spotfi/router"
JANUS_BASE: Final = "janus"
BASES: Final[dict[FamilyName, str]] = {
    "autocore": AUTOCORE_BASE,
    "spotfi": SPOTFI_BASE,
    "janus": JANUS_BASE,
}
# Devices per shard: 600 AutoCore boards of 8 enabled entities (the largest hub) stay well
# under Home Assistant's 10,000 enabled entities per config entry.
SHARD_DEVICES: Final = 1000
DISCOVERY_PREFIX: Final = "homeassistant"
NATURAL_PERIOD: Final = 30.0  # seconds: firmware STATUS_INTERVAL_MS, telemetry and heartbeat
TOTAL_MEMORY: Final = 268_435_456  # bytes, a constant of the router model
# (a)'s offline timeout and (b)'s expire_after: long enough that no device goes stale
# between phases, while every message still restarts the timer.
OFFLINE_TIMEOUT: Final = 3600
FIRMWARE: Final = "1.2.0"

# The entities one device has, under the keys the four contenders share.
KEYS: Final[dict[FamilyName, tuple[str, ...]]] = {
    "autocore": (
        "temperature",
        "humidity",
        "voltage",
        "free_memory",
        "relay_0",
        "connectivity",
        "last_restart",
        "ip_address",
    ),
    "spotfi": (
        "last_restart",
        "cpu_load",
        "memory_used",
        "total_memory",
        "free_memory",
        "active_users",
        "connectivity",
    ),
    "janus": ("connectivity",),
}
# The one value each state-changing message kind always changes: latency is measured on it.
PROBE_KEY: Final = {"telemetry": "temperature", "relay": "relay_0", "metrics": "cpu_load"}
KINDS: Final[dict[Mode, dict[FamilyName, tuple[str, ...]]]] = {
    "stream": {"autocore": ("relay", "telemetry"), "spotfi": ("metrics",), "janus": ()},
    "warmup": {
        "autocore": ("status", "relay", "telemetry"),
        "spotfi": ("status", "metrics"),
        "janus": ("status",),
    },
    "natural": {"autocore": ("status", "telemetry"), "spotfi": ("metrics",), "janus": ()},
}
PLATFORM: Final = {"relay_0": "switch", "connectivity": "binary_sensor"}  # else sensor


def platform_of(key: str) -> str:
    """Return the entity platform of a key."""
    return PLATFORM.get(key, "sensor")


def shard_base(family: FamilyName, shard: int) -> str:
    """Return the base topic of one family in one shard."""
    return BASES[family] if shard == 0 else f"{BASES[family]}-{shard + 1}"


@dataclass(frozen=True, slots=True)
class Device:
    """One simulated device."""

    index: int
    family: FamilyName
    device_id: str

    @property
    def shard(self) -> int:
        """Return the shard (group of base topics, one hub per family) of the device."""
        return self.index // SHARD_DEVICES

    @property
    def root(self) -> str:
        """Return the topic prefix of the device: its shard's base and its id."""
        return f"{shard_base(self.family, self.shard)}/{self.device_id}"

    @property
    def slug(self) -> str:
        """Return the device id as an entity id part (lower case, `_` only)."""
        return self.device_id.lower().replace("-", "_")


@dataclass(frozen=True, slots=True)
class Message:
    """One message of the workload."""

    topic: str
    payload: bytes
    device: Device
    kind: str
    round: int

    @property
    def probe(self) -> tuple[str, str] | None:
        """Return (key, expected state) of the value this message changes, if any."""
        key = PROBE_KEY.get(self.kind)
        if key is None:
            return None
        return key, expected_state(self.device, key, self.round)


# Values: a pure function of (round, device index); each changes between rounds.


def temperature(rnd: int, index: int) -> float:
    """°C, 20.0 to 29.9."""
    return round(20.0 + (rnd + index) % 100 / 10, 1)


def humidity(rnd: int, index: int) -> float:
    """%, 40.0 to 59.9."""
    return round(40.0 + (3 * rnd + index) % 200 / 10, 1)


def voltage(rnd: int, index: int) -> float:
    """V, 3.20 to 3.35."""
    return round(3.2 + (rnd + index) % 16 / 100, 2)


def memory_free(rnd: int, index: int) -> int:
    """Bytes of heap on a board."""
    return 40_000 + (7919 * rnd + index) % 10_000


def relay_on(rnd: int, index: int) -> bool:
    """Relay 0 toggles every round."""
    return (rnd + index) % 2 == 0


def uptime(natural_round: int) -> int:
    """Seconds: one natural period per natural round."""
    return 1000 + int(NATURAL_PERIOD) * natural_round


def cpu_load(rnd: int, index: int) -> float:
    """% on a router."""
    return round((7 * rnd + index) % 1000 / 10, 1)


def router_free_memory(rnd: int, index: int) -> int:
    """Bytes free on a router."""
    return 100_000_000 + 1024 * ((7919 * rnd + index) % 100_000)


def active_users(rnd: int, index: int) -> int:
    """Hotspot clients on a router."""
    return (rnd + index) % 50


def expected_state(device: Device, key: str, rnd: int) -> str:
    """Return the state HA shows for a probe key after `device`'s messages of round `rnd`."""
    if key == "temperature":
        return str(temperature(rnd, device.index))
    if key == "relay_0":
        return "on" if relay_on(rnd, device.index) else "off"
    if key == "cpu_load":
        return str(cpu_load(rnd, device.index))
    if key == "connectivity":
        return "on"
    raise ValueError(f"{key} is not a probe key")


def states_match(shown: str, expected: str) -> bool:
    """Compare a state with an expected one; numbers by value ("21" equals "21.0")."""
    if shown == expected:
        return True
    try:
        return math.isclose(float(shown), float(expected), rel_tol=1e-9)
    except ValueError:
        return False


def _go_number(value: float) -> float | int:
    """Go's encoding/json writes a whole float without a decimal point."""
    return int(value) if value.is_integer() else value


def _compact(value: object, *, sort_keys: bool = False) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys).encode()


class Workload:
    """N devices of the three families, interleaved by the mix; the last is an AutoCore."""

    def __init__(self, n: int, mix: Sequence[int] = DEFAULT_MIX) -> None:
        """Assign families with a smooth weighted round robin, so the stream is mixed."""
        if n < 1 or len(mix) != len(FAMILIES) or min(mix) < 0 or mix[0] < 1:
            raise ValueError("need n >= 1 and a mix of three counts with AutoCore >= 1")
        self.n = n
        self.mix = tuple(mix)
        total = sum(mix)
        credit = dict.fromkeys(FAMILIES, 0)
        families: list[FamilyName] = []
        for _ in range(n):
            for family, weight in zip(FAMILIES, mix, strict=True):
                credit[family] += weight
            chosen = max(FAMILIES, key=credit.__getitem__)
            credit[chosen] -= total
            families.append(chosen)
        if families[-1] != "autocore":  # the round must end on a telemetry (its marker)
            last_autocore = max(i for i, family in enumerate(families) if family == "autocore")
            families[-1], families[last_autocore] = families[last_autocore], families[-1]
        self.devices = [
            Device(i, family, _device_id(family, i)) for i, family in enumerate(families)
        ]
        self.timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def families(self) -> list[FamilyName]:
        """Return the families with at least one device (each has a hub per shard)."""
        return [family for family in FAMILIES if any(d.family == family for d in self.devices)]

    @property
    def shards(self) -> int:
        """Return how many shards (base topics per family) the devices span."""
        return (self.n - 1) // SHARD_DEVICES + 1

    def of(self, family: FamilyName) -> list[Device]:
        """Return the devices of one family."""
        return [device for device in self.devices if device.family == family]

    @property
    def entity_count(self) -> int:
        """Return how many device entities the workload shows."""
        return sum(len(KEYS[device.family]) for device in self.devices)

    def messages_per_round(self, mode: Mode) -> int:
        """Return how many messages one round of `mode` has."""
        return sum(len(KINDS[mode][device.family]) for device in self.devices)

    def round(self, mode: Mode, rnd: int) -> list[Message]:
        """Return one round's messages in publish order."""
        kinds = KINDS[mode]
        return [
            self.message(device, kind, rnd)
            for device in self.devices
            for kind in kinds[device.family]
        ]

    def stream(self, mode: Mode, first_round: int, count: int) -> Iterator[Message]:
        """Yield `count` messages of consecutive rounds from `first_round` on."""
        rnd = first_round
        while count > 0:
            messages = self.round(mode, rnd)[:count]
            yield from messages
            count -= len(messages)
            rnd += 1

    def natural_schedule(
        self, first_round: int, seconds: float, period: float = NATURAL_PERIOD
    ) -> list[tuple[float, Message]]:
        """Return (offset in s, message) for each device reporting every `period`, staggered."""
        schedule: list[tuple[float, Message]] = []
        kinds = KINDS["natural"]
        for device in self.devices:
            phase = period * device.index / self.n
            cycle = 0
            while (at := phase + cycle * period) < seconds:
                schedule.extend(
                    (at, self.message(device, kind, first_round + cycle, uptime_round=cycle))
                    for kind in kinds[device.family]
                )
                cycle += 1
        schedule.sort(key=lambda item: item[0])
        return schedule

    def message(self, device: Device, kind: str, rnd: int, uptime_round: int = 0) -> Message:
        """Build one message exactly as the device would send it.

        `uptime_round` counts natural periods since the warm-up: only natural rounds are
        spaced in real time.
        """
        i, device_id, root = device.index, device.device_id, device.root
        match device.family, kind:
            case "autocore", "telemetry":
                topic = f"{root}/telemetry"
                body = {
                    "device_id": device_id,
                    "temperature": temperature(rnd, i),
                    "humidity": humidity(rnd, i),
                    "voltage": voltage(rnd, i),
                    "memory_free": memory_free(rnd, i),
                    "timestamp": self.timestamp,
                }
                payload = json.dumps(body).encode()
            case "autocore", "relay":
                topic = f"{root}/relay/0/status"
                body = {
                    "device_id": device_id,
                    "relay_index": 0,
                    "state": relay_on(rnd, i),
                    "triggered_by": "manual",
                    "timestamp": self.timestamp,
                }
                payload = json.dumps(body).encode()
            case "autocore", "status":
                topic = f"{root}/status"
                body = {
                    "device_id": device_id,
                    "status": "online",
                    "ip_address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                    "firmware_version": FIRMWARE,
                    "uptime": uptime(uptime_round),
                    "timestamp": self.timestamp,
                }
                payload = json.dumps(body).encode()
            case "spotfi", "metrics":
                topic = f"{root}/metrics"
                metrics = {
                    "uptime": str(uptime(uptime_round)),
                    "cpuLoad": _go_number(cpu_load(rnd, i)),
                    "totalMemory": TOTAL_MEMORY,
                    "freeMemory": router_free_memory(rnd, i),
                    "activeUsers": active_users(rnd, i),
                }
                payload = _compact({"type": "metrics", "metrics": metrics}, sort_keys=True)
            case "spotfi", "status":
                topic, payload = f"{root}/status", b"ONLINE"
            case "janus", "status":
                topic, payload = f"{root}/status", b'{"online": true}'
            case _:
                raise ValueError(f"{device.family} sends no {kind}")
        return Message(topic, payload, device, kind, rnd)

    def discovery(self) -> list[tuple[str, bytes]]:
        """Return contender (b)'s MQTT discovery configs: one per entity, as a user writes them."""
        configs: list[tuple[str, bytes]] = []
        for device in self.devices:
            for key in KEYS[device.family]:
                config = discovery_config(device, key)
                topic = f"{DISCOVERY_PREFIX}/{platform_of(key)}/{device.slug}/{key}/config"
                configs.append((topic, _compact(config)))
        return configs


def _device_id(family: FamilyName, index: int) -> str:
    if family == "autocore":
        return f"ESP32_{index:05d}"
    if family == "spotfi":
        return f"rtr-{index:05d}"
    return f"janus-{index:05d}"


def discovery_unique_id(device: Device, key: str) -> str:
    """Return the unique_id contender (b) gives an entity."""
    return f"bench_b_{device.slug}_{key}"


_AUTOCORE_SENSORS: Final[dict[str, dict[str, str]]] = {
    "temperature": {
        "value_template": "{{ value_json.temperature }}",
        "device_class": "temperature",
        "unit_of_measurement": "°C",
        "state_class": "measurement",
    },
    "humidity": {
        "value_template": "{{ value_json.humidity }}",
        "device_class": "humidity",
        "unit_of_measurement": "%",
        "state_class": "measurement",
    },
    "voltage": {
        "value_template": "{{ value_json.voltage }}",
        "device_class": "voltage",
        "unit_of_measurement": "V",
        "state_class": "measurement",
    },
    "free_memory": {
        "value_template": "{{ value_json.memory_free }}",
        "device_class": "data_size",
        "unit_of_measurement": "B",
        "state_class": "measurement",
        "entity_category": "diagnostic",
    },
    "last_restart": {
        "value_template": "{{ now() - timedelta(seconds=value_json.uptime) }}",
        "device_class": "timestamp",
        "entity_category": "diagnostic",
    },
    "ip_address": {
        "value_template": "{{ value_json.ip_address }}",
        "entity_category": "diagnostic",
    },
}
_AUTOCORE_TOPIC: Final = {
    "temperature": "telemetry",
    "humidity": "telemetry",
    "voltage": "telemetry",
    "free_memory": "telemetry",
    "last_restart": "status",
    "ip_address": "status",
}
_SPOTFI_SENSORS: Final[dict[str, dict[str, str]]] = {
    "last_restart": {
        "value_template": "{{ now() - timedelta(seconds=value_json.metrics.uptime | int) }}",
        "device_class": "timestamp",
        "entity_category": "diagnostic",
    },
    "cpu_load": {
        "value_template": "{{ value_json.metrics.cpuLoad }}",
        "unit_of_measurement": "%",
        "state_class": "measurement",
    },
    "memory_used": {
        "value_template": (
            "{{ (100 * (value_json.metrics.totalMemory - value_json.metrics.freeMemory)"
            " / value_json.metrics.totalMemory) | round(1) }}"
        ),
        "unit_of_measurement": "%",
        "state_class": "measurement",
    },
    "total_memory": {
        "value_template": "{{ value_json.metrics.totalMemory }}",
        "device_class": "data_size",
        "unit_of_measurement": "B",
        "state_class": "measurement",
        "entity_category": "diagnostic",
    },
    "free_memory": {
        "value_template": "{{ value_json.metrics.freeMemory }}",
        "device_class": "data_size",
        "unit_of_measurement": "B",
        "state_class": "measurement",
    },
    "active_users": {
        "value_template": "{{ value_json.metrics.activeUsers }}",
        "state_class": "measurement",
    },
}


def discovery_config(device: Device, key: str) -> dict[str, object]:
    """Return the discovery config of one (b) entity: the equivalent of ours, by hand.

    Like (a)'s, the entity is unavailable while the device's status says offline, and a
    sensor or binary sensor expires when the device is silent for the offline timeout.
    """
    device_id = device.device_id
    config: dict[str, object] = {
        "name": key.replace("_", " ").capitalize(),
        "unique_id": discovery_unique_id(device, key),
        "device": {"identifiers": [f"bench_b_{device.slug}"], "name": device_id},
    }
    if platform_of(key) != "switch":
        config["expire_after"] = OFFLINE_TIMEOUT
    if device.family == "autocore":
        root = device.root
        config |= {
            "availability_topic": f"{root}/status",
            "availability_template": "{{ value_json.status }}",
        }
        if key == "relay_0":
            config |= {
                "state_topic": f"{root}/relay/0/status",
                "value_template": "{{ 'ON' if value_json.state else 'OFF' }}",
                "command_topic": f"{root}/relay/0/set",
                "payload_on": '{"state": true, "source": "home_assistant"}',
                "payload_off": '{"state": false, "source": "home_assistant"}',
                "state_on": "ON",
                "state_off": "OFF",
            }
        elif key == "connectivity":
            config |= {
                "state_topic": f"{root}/status",
                "value_template": "{{ 'ON' if value_json.status == 'online' else 'OFF' }}",
                "device_class": "connectivity",
            }
        else:
            config |= {"state_topic": f"{root}/{_AUTOCORE_TOPIC[key]}", **_AUTOCORE_SENSORS[key]}
    elif device.family == "spotfi":
        root = device.root
        if key == "connectivity":
            config |= {
                "state_topic": f"{root}/status",
                "payload_on": "ONLINE",
                "payload_off": "OFFLINE",
                "device_class": "connectivity",
            }
        else:
            config |= {
                "state_topic": f"{root}/metrics",
                "availability_topic": f"{root}/status",
                "payload_available": "ONLINE",
                "payload_not_available": "OFFLINE",
                **_SPOTFI_SENSORS[key],
            }
    else:
        config |= {
            "state_topic": f"{device.root}/status",
            "value_template": "{{ 'ON' if value_json.online else 'OFF' }}",
            "device_class": "connectivity",
        }
    return config
