"""Janus entities: every sensor of a polled server, and its last seen time."""

from __future__ import annotations

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from syrupy.assertion import SnapshotAssertion

from .helpers import SERVER, advance, first_poll, status


@pytest.mark.parametrize("platforms", [[Platform.SENSOR]])
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_snapshot(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    await status(hass, SERVER, '{"online": true}')
    await first_poll(hass, freezer, mqtt_mock, sessions=[1, 2, 3], version="1.3.1")
    await advance(hass, freezer, 10)  # the hub's sensors refresh (and the next poll goes out)
    await snapshot_platform(hass, entity_registry, snapshot, janus.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_seen_is_the_local_receive_time(
    hass: HomeAssistant, janus: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    received = dt_util.utcnow().replace(microsecond=0)  # the clock is frozen
    await status(hass, SERVER, "online")
    assert hass.states.get(f"sensor.{SERVER}_last_seen").state == received.isoformat()
