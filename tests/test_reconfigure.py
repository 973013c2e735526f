"""Reconfigure: move an entry to another base topic (devices and history move along)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES

from .common import Fire, device_by_identifier, entry_id_for
from .families.autocore.helpers import BOARD_A, status_a, telemetry_a
from .families.janus.helpers import janus_entry
from .flow_helpers import assert_abort_translated, assert_translated, fields

TEMPERATURE = f"entry_autocore_autocore/{BOARD_A}/temperature"


@pytest.fixture
def no_janus_check() -> Iterator[None]:
    """No Janus server answers in these tests: skip the secret check (tested by Janus)."""
    with patch.dict(FAMILIES, {"janus": replace(FAMILIES["janus"], validate_entry=None)}):
        yield


async def reconfigure(hass: HomeAssistant, entry: MockConfigEntry, **data: Any) -> dict[str, Any]:
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    assert_translated(result)
    return await hass.config_entries.flow.async_configure(result["flow_id"], data)


async def test_moving_the_base_keeps_devices_entities_and_history(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    await fire(f"autocore/{BOARD_A}/status", status_a())
    await fire(f"autocore/{BOARD_A}/telemetry", telemetry_a(temperature=21.5))
    entities = er.async_get(hass)
    entity_id = entities.async_get_entity_id("sensor", DOMAIN, TEMPERATURE)
    assert entity_id is not None
    device = device_by_identifier(dr.async_get(hass), f"entry_autocore_autocore/{BOARD_A}")
    assert device is not None
    before = len(er.async_entries_for_config_entry(entities, setup_entry.entry_id))
    assert entities.async_get("sensor.autocore_devices_online") is not None
    entities.async_update_entity("sensor.autocore_message_rate", new_entity_id="sensor.my_rate")

    result = await reconfigure(hass, setup_entry, base_topic=" site1/autocore ")
    assert result["reason"] == "reconfigure_successful"
    assert_abort_translated(result)
    await hass.async_block_till_done()

    assert setup_entry.state is ConfigEntryState.LOADED
    assert setup_entry.unique_id == "autocore:site1/autocore"
    assert setup_entry.title == "AutoCore (site1/autocore)"
    # The hub device and its generated entity ids follow the new title; the user's id stays.
    hub_device = device_by_identifier(dr.async_get(hass), setup_entry.entry_id)
    assert hub_device is not None
    assert hub_device.name == "AutoCore (site1/autocore)"
    assert entities.async_get("sensor.autocore_site1_autocore_devices_online") is not None
    assert entities.async_get("sensor.autocore_devices_online") is None
    assert entities.async_get("sensor.my_rate") is not None
    assert setup_entry.data["base_topic"] == "site1/autocore"
    moved = dr.async_get(hass).async_get(device.id)
    assert moved is not None
    # Registry ids hold the entry id, not the base topic: the move leaves them as they were.
    assert moved.identifiers == device.identifiers
    entry = entities.async_get(entity_id)
    assert entry is not None
    assert entry.unique_id == TEMPERATURE
    assert len(er.async_entries_for_config_entry(entities, setup_entry.entry_id)) == before
    hub = device_by_identifier(dr.async_get(hass), setup_entry.entry_id)
    assert hub is not None

    await fire(f"autocore/{BOARD_A}/telemetry", telemetry_a(temperature=30.0))
    await fire(f"site1/autocore/{BOARD_A}/telemetry", telemetry_a(temperature=22.5))
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == "22.5"


@pytest.mark.parametrize(
    ("base", "error"),
    [("auto#core", "base_topic_wildcard"), ("/autocore", "base_topic_edge_slash")],
)
async def test_bad_base_topics_are_refused(
    hass: HomeAssistant, setup_entry: MockConfigEntry, base: str, error: str
) -> None:
    result = await reconfigure(hass, setup_entry, base_topic=base)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base_topic": error}
    assert_translated(result)


async def test_another_entrys_base_is_refused_inline(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    """The form stays, naming the other entry; nothing moves."""
    other = MockConfigEntry(
        domain=DOMAIN,
        title="Site 2 boards",
        unique_id="autocore:site2",
        entry_id=entry_id_for("autocore:site2"),
        data={"family": "autocore", "base_topic": "site2"},
    )
    other.add_to_hass(hass)
    for base, error in (("site2/inner", "base_topic_overlaps"), ("site2", "base_topic_in_use")):
        result = await reconfigure(hass, setup_entry, base_topic=base)
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"base_topic": error}
        assert result["description_placeholders"]["other_entry"] == "Site 2 boards"
    assert setup_entry.data["base_topic"] == "autocore"


async def test_a_title_the_user_chose_stays(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(setup_entry, title="Workshop")
    result = await reconfigure(hass, setup_entry, base_topic="site1")
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert setup_entry.title == "Workshop"
    assert setup_entry.data["base_topic"] == "site1"


async def test_the_same_base_only_reloads(
    hass: HomeAssistant, setup_entry: MockConfigEntry
) -> None:
    result = await reconfigure(hass, setup_entry, base_topic="autocore")
    assert result["reason"] == "reconfigure_successful"
    assert setup_entry.unique_id == "autocore:autocore"


@pytest.mark.usefixtures("no_janus_check")
async def test_janus_secret_is_changed_or_kept(hass: HomeAssistant, mqtt_mock: Any) -> None:
    entry = janus_entry(secret="old")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    result = await entry.start_reconfigure_flow(hass)
    assert fields(result)[:2] == ["base_topic", "admin_secret"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus", "admin_secret": "new"}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["admin_secret"] == "new"
    result = await reconfigure(hass, entry, base_topic="janus")
    assert entry.data["admin_secret"] == "new"
    await hass.async_block_till_done()
