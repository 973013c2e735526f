"""The package's shape: families described by specs, no import cycles, frozen entity keys."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from homeassistant.const import Platform
import pytest

from custom_components.mqtt_fleet.entities.sensor import HUB_SENSORS
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.autocore import keys as autocore_keys
from custom_components.mqtt_fleet.families.autocore.entities import SENSORS as AUTOCORE_SENSORS
from custom_components.mqtt_fleet.families.autocore.hub import STATUS_VALUES
from custom_components.mqtt_fleet.families.container_logs import keys as log_keys
from custom_components.mqtt_fleet.families.container_logs.entities import SENSORS as LOG_SENSORS
from custom_components.mqtt_fleet.families.janus.entities import SENSORS as JANUS_SENSORS
from custom_components.mqtt_fleet.families.spotfi.entities import SENSORS as SPOTFI_SENSORS
from custom_components.mqtt_fleet.families.spotfi.hub import METRIC_VALUES
from custom_components.mqtt_fleet.protocol.autocore import KNOWN_TELEMETRY, Layout

PACKAGE = Path(__file__).parents[1] / "custom_components" / "mqtt_fleet"
NAME = "custom_components.mqtt_fleet"
MANIFEST = json.loads((PACKAGE / "manifest.json").read_text("utf-8"))
TRANSLATIONS = json.loads((PACKAGE / "translations" / "en.json").read_text("utf-8"))

# Entity keys end every entity's unique id: changing one re-keys entities and orphans their
# history. They are frozen here, apart from the protocol's field names that feed them.
FROZEN_KEYS = {
    "autocore": {
        "temperature",
        "humidity",
        "voltage",
        "free_memory",
        "last_restart",
        "wifi_signal",
        "ip_address",
        "disconnect_reason",
        "telemetry_pressure",
        "last_seen",
    },
    "janus": {"sessions", "admin_state", "last_seen"},
    "spotfi": {
        "cpu_load",
        "memory_used",
        "free_memory",
        "total_memory",
        "active_users",
        "last_restart",
        "disconnect_reason",
        "last_seen",
    },
    "container_logs": {"debug_logs", "info_logs", "warn_logs", "error_logs"},
}
FROZEN_HUB_KEYS = {"messages_received", "invalid_messages", "message_rate", "devices_online"}


def module_name(path: Path) -> str:
    """Dotted module name of a file of the package."""
    parts = path.relative_to(PACKAGE.parents[1]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(name: str, path: Path) -> set[str]:
    """Package modules a module imports anywhere: at the top, in functions, for typing."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # a submodule itself, else the module the name is in
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while (member := stack.pop()) != node:
                group.append(member)
            group.append(node)
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_anywhere_in_the_package() -> None:
    """Counting imports for type checking and inside functions too."""
    assert cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {**GRAPH, f"{NAME}.hub": GRAPH[f"{NAME}.hub"] | {f"{NAME}.families"}}
    assert [f"{NAME}.families", f"{NAME}.hub"] == [
        module
        for module in sorted({m for group in cycles(graph) for m in group})
        if module in (f"{NAME}.families", f"{NAME}.hub")
    ]


def test_the_device_knows_nothing_of_the_hub() -> None:
    assert f"{NAME}.hub" not in GRAPH[f"{NAME}.device"]
    assert not any(module.startswith(f"{NAME}.families") for module in GRAPH[f"{NAME}.hub"])


@pytest.mark.parametrize("module", ["hub", "device", "upkeep", "issues", "family", "entities.base"])
def test_shared_modules_name_no_family(module: str) -> None:
    """What every family shares imports no family."""
    assert not any(target.startswith(f"{NAME}.families") for target in GRAPH[f"{NAME}.{module}"])


def test_every_family_folder_is_a_registered_spec() -> None:
    folders = {path.parent.name for path in (PACKAGE / "families").glob("*/__init__.py")}
    assert folders == set(FAMILIES)
    for key, spec in FAMILIES.items():
        assert spec.key == key
        assert spec.title
        assert key in TRANSLATIONS["config"]["step"]  # the menu's step for the family
        assert key in TRANSLATIONS["config"]["step"]["user"]["menu_options"]


def test_manifest_discovery_topics_are_the_specs() -> None:
    topics = [topic for spec in FAMILIES.values() for topic in spec.discovery_topics]
    assert sorted(MANIFEST["mqtt"]) == sorted(topics)
    assert len(set(topics)) == len(topics)
    for spec in FAMILIES.values():
        assert all(topic.startswith(f"{spec.default_base}/") for topic in spec.discovery_topics)


def test_entity_keys_are_frozen() -> None:
    catalogues = {
        "autocore": AUTOCORE_SENSORS,
        "janus": JANUS_SENSORS,
        "spotfi": SPOTFI_SENSORS,
        "container_logs": LOG_SENSORS,
    }
    assert {family: set(sensors) for family, sensors in catalogues.items()} == FROZEN_KEYS
    assert {description.key for description in HUB_SENSORS} == FROZEN_HUB_KEYS
    assert autocore_keys.relay_key(Layout.MONITOR, 3) == "relay_3"
    assert autocore_keys.relay_key(Layout.FIRMWARE_V2, 3) == "channel_3"
    assert autocore_keys.extra_telemetry_key("lux") == "telemetry_lux"
    assert autocore_keys.DISPLAY == "display"
    assert log_keys.PROBLEM == "problem"


def test_retired_keys_are_no_live_keys() -> None:
    """Setup deletes the entities of a retired key: a live key among them would lose its own."""
    live = {family: set(keys) for family, keys in FROZEN_KEYS.items()}
    live["autocore"].add(autocore_keys.DISPLAY)
    live["container_logs"].add(log_keys.PROBLEM)
    for family, spec in FAMILIES.items():
        assert not spec.retired_keys & live[family], family


def test_protocol_names_map_to_frozen_keys() -> None:
    """Every value the protocol reports has a key of its own, independent of its name.

    Renaming a protocol field breaks the typed readers (mypy); renaming one of the protocol's
    telemetry names makes this fail instead of quietly re-keying the sensor.
    """
    assert set(autocore_keys.TELEMETRY) == set(KNOWN_TELEMETRY.values())
    assert set(autocore_keys.TELEMETRY.values()) <= FROZEN_KEYS["autocore"]
    assert {key for key, _read in STATUS_VALUES} <= FROZEN_KEYS["autocore"]
    assert {key for key, _read, _fields in METRIC_VALUES} <= FROZEN_KEYS["spotfi"]


@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.SWITCH, Platform.EVENT])
def test_platform_modules_only_wire_the_specs(platform: Platform) -> None:
    """A family's entities live in its folder; the platform module names no family."""
    module = f"{NAME}.{platform.value}"
    assert not any(target.startswith(f"{NAME}.families.") for target in GRAPH[module])
