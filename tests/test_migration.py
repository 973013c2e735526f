"""Config entry version 1 to 2: registries written by 0.1.0 are re-keyed, nothing is lost.

`fixtures/registries_v1/` holds the registries MQTT Fleet 0.1.0 wrote for one entry of each
family after each family's devices had spoken: identifiers and unique ids still hold
`{family}:{base}`. Version 2 keys them by the entry id instead.
"""

from __future__ import annotations

from datetime import timedelta
import json
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    area_registry as ar,
    category_registry as cr,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    issue_registry as ir,
    label_registry as lr,
)
from homeassistant.util import dt as dt_util, slugify
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)

from custom_components.mqtt_fleet.config_flow import MqttFleetConfigFlow, entry_title
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES

from .common import default_options
from .families.autocore.helpers import status_a, telemetry_a

SNAPSHOT = Path(__file__).parent / "fixtures" / "registries_v1"
STORED = {
    key: json.loads((SNAPSHOT / f"{key}.json").read_text("utf-8"))
    for key in ("core.config_entries", "core.device_registry", "core.entity_registry")
}
V1_ENTRIES: list[dict[str, Any]] = STORED["core.config_entries"]["data"]["entries"]
V1_DEVICES: list[dict[str, Any]] = STORED["core.device_registry"]["data"]["devices"]
V1_ENTITIES: list[dict[str, Any]] = STORED["core.entity_registry"]["data"]["entities"]


def rekeyed(entry: dict[str, Any], key: str) -> str:
    """What version 2 makes of a version 1 identifier or unique id of `entry`."""
    old = entry["unique_id"]
    assert key == old or key.startswith(f"{old}/"), key  # every v1 id holds the base
    return entry["entry_id"] + key.removeprefix(old)


@pytest.fixture
async def v1_registries(hass: HomeAssistant, hass_storage: dict[str, Any]) -> None:
    """Load the 0.1.0 registries as Home Assistant loads them at start."""
    hass_storage.update(STORED)
    dr.async_setup(hass)
    for registry in (ar, cr, dr, er, fr, ir, lr):
        await registry.async_load(hass)


@pytest.mark.parametrize("load_registries", [False])
async def test_version_1_registries_are_rekeyed_and_keep_their_entities(
    hass: HomeAssistant, v1_registries: None, mqtt_mock: Any
) -> None:
    device_registry, entity_registry = dr.async_get(hass), er.async_get(hass)
    entries = {entry["entry_id"]: entry for entry in V1_ENTRIES}
    for stored in V1_ENTRIES:
        assert stored["version"] == 1
        MockConfigEntry(
            domain=DOMAIN,
            entry_id=stored["entry_id"],
            unique_id=stored["unique_id"],
            title=stored["title"],
            data=stored["data"],
            options=stored["options"],
            version=1,
            minor_version=stored["minor_version"],
        ).add_to_hass(hass)
    # Setting up the integration sets up (and first migrates) every entry of it.
    assert await hass.config_entries.async_setup(V1_ENTRIES[0]["entry_id"])
    await hass.async_block_till_done()

    for entry_id, stored in entries.items():
        entry = hass.config_entries.async_get_entry(entry_id)
        assert entry is not None
        assert entry.state is ConfigEntryState.LOADED
        assert (entry.version, entry.minor_version) == (
            MqttFleetConfigFlow.VERSION,
            MqttFleetConfigFlow.MINOR_VERSION,
        )
        assert entry.unique_id == stored["unique_id"]  # still one entry per family and base
    # The same registry devices (areas, automations and device pages refer to their ids).
    for stored in V1_DEVICES:
        device = device_registry.async_get(stored["id"])
        assert device is not None, stored["identifiers"]
        entry = entries[stored["primary_config_entry"]]
        assert device.identifiers == {
            (domain, rekeyed(entry, key)) for domain, key in stored["identifiers"]
        }
    # The same entities under the same entity ids (history and statistics follow them),
    # but for the hub's: their generated ids lose the repeated family (version 2.2).
    # Keys a family has retired since are deleted at setup.
    kept = [stored for stored in V1_ENTITIES if not retired(stored, entries)]
    for stored in kept:
        entity = entity_registry.async_get(new_entity_id(stored, entries))
        assert entity is not None, stored["entity_id"]
        assert entity.id == stored["id"]
        assert entity.unique_id == rekeyed(entries[stored["config_entry_id"]], stored["unique_id"])
        assert entity.device_id == stored["device_id"]
    ours = [e for e in entity_registry.entities.values() if e.platform == DOMAIN]
    # Nothing duplicated under a new id (only keys the families added since are new).
    kept_ids = {rekeyed(entries[e["config_entry_id"]], e["unique_id"]) for e in kept}
    v1_keys = {str(e["unique_id"]).rpartition("/")[2] for e in V1_ENTITIES}
    added = [e.unique_id for e in ours if e.unique_id not in kept_ids]
    assert [unique_id for unique_id in added if unique_id.rpartition("/")[2] in v1_keys] == []

    # A board speaking again updates its migrated entity, with no new entity beside it.
    async_fire_mqtt_message(hass, "autocore/ESP32_001/status", status_a())
    async_fire_mqtt_message(hass, "autocore/ESP32_001/telemetry", telemetry_a(temperature=19.5))
    await hass.async_block_till_done()
    state = hass.states.get("sensor.esp32_001_temperature")
    assert state is not None
    assert state.state == "19.5"
    ours = [e for e in entity_registry.entities.values() if e.platform == DOMAIN]
    added = [e.unique_id for e in ours if e.unique_id not in kept_ids]
    assert [unique_id for unique_id in added if unique_id.rpartition("/")[2] in v1_keys] == []
    # Deleting the retired entities started the device registry's delayed clean-up.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=dr.CLEANUP_DELAY + 1))
    await hass.async_block_till_done()


def retired(stored: dict[str, Any], entries: dict[str, dict[str, Any]]) -> bool:
    """Whether the stored entity's key is one its family no longer offers."""
    family = entries[stored["config_entry_id"]]["data"]["family"]
    return str(stored["unique_id"]).rpartition("/")[2] in FAMILIES[family].retired_keys


def new_entity_id(stored: dict[str, Any], entries: dict[str, dict[str, Any]]) -> str:
    """The id a stored entity has after migrating: a hub entity's follows the new title."""
    entry = entries[stored["config_entry_id"]]
    family = entry["data"]["family"]
    old_prefix = f".{slugify(entry['title'])}_"
    if old_prefix not in stored["entity_id"] or "/" in stored["unique_id"].removeprefix(
        f"{entry['unique_id']}/"
    ):
        return str(stored["entity_id"])
    new_title = entry_title(FAMILIES[family], entry["data"]["base_topic"])
    return str(stored["entity_id"]).replace(old_prefix, f".{slugify(new_title)}_", 1)


async def test_generated_titles_and_hub_entity_ids_lose_the_repeated_family(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    """2.1 to 2.2: `AutoCore (autocore)` becomes `AutoCore`; what the user named stays."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="AutoCore (autocore)",
        unique_id="autocore:autocore",
        data={"family": "autocore", "base_topic": "autocore"},
        options=default_options("autocore"),
        version=2,
        minor_version=2,  # set up as 2.1 did, without migrating
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entities = er.async_get(hass)
    assert entities.async_get("sensor.autocore_autocore_devices_online") is not None
    entities.async_update_entity(
        "sensor.autocore_autocore_message_rate", new_entity_id="sensor.fleet_rate"
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.config_entries.async_update_entry(entry, minor_version=1)

    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert (entry.minor_version, entry.title) == (2, "AutoCore")
    hub = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, entry.entry_id), entry.entry_id
    )
    assert hub is not None
    assert (hub.name, hub.name_by_user) == ("AutoCore", None)
    assert entities.async_get("sensor.autocore_devices_online") is not None
    assert entities.async_get("sensor.autocore_autocore_devices_online") is None
    assert entities.async_get("sensor.fleet_rate") is not None  # the user's id stays


async def test_a_title_the_user_chose_is_kept(hass: HomeAssistant, mqtt_mock: Any) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Workshop boards",
        unique_id="autocore:autocore",
        data={"family": "autocore", "base_topic": "autocore"},
        options=default_options("autocore"),
        version=2,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert (entry.minor_version, entry.title) == (2, "Workshop boards")
    assert er.async_get(hass).async_get("sensor.workshop_boards_devices_online") is not None


@pytest.mark.parametrize("load_registries", [False])
async def test_an_entry_from_a_newer_version_is_not_loaded(
    hass: HomeAssistant, v1_registries: None, mqtt_mock: Any
) -> None:
    stored = V1_ENTRIES[0]
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id=stored["entry_id"],
        unique_id=stored["unique_id"],
        data=stored["data"],
        options=stored["options"],
        version=MqttFleetConfigFlow.VERSION + 1,
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    device = device_registry_entry(hass, V1_DEVICES[0]["id"])
    assert device.identifiers == {tuple(pair) for pair in V1_DEVICES[0]["identifiers"]}


def device_registry_entry(hass: HomeAssistant, device_id: str) -> dr.DeviceEntry:
    device = dr.async_get(hass).async_get(device_id)
    assert device is not None
    return device
