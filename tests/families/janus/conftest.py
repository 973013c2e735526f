"""Janus fixtures: the entry, set up at a frozen time with the platforms a test asks for."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .helpers import START, FakeGateways, advance, janus_entry, replies_subscribed

MQTT_START = 10  # seconds: more than HA's MQTT start-up cooldowns


@pytest.fixture
def janus_options() -> dict[str, Any]:
    """Options on top of the defaults."""
    return {}


@pytest.fixture
def entry(janus_options: dict[str, Any]) -> MockConfigEntry:
    """The Janus entry under `janus`."""
    return janus_entry(**janus_options)


@pytest.fixture
def platforms() -> list[Platform]:
    """The platforms to load."""
    return [Platform.BINARY_SENSOR, Platform.SENSOR]


@pytest.fixture
async def janus(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    platforms: list[Platform],
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the Janus entry at a frozen time; nothing is published yet.

    The clock moves on (about a second) until HA subscribed to the admin replies.

    MQTT comes first: its modules cannot be imported while the clock is frozen.

    Only `platforms` load, for this entry and any other the test sets up or reloads.
    """
    # HA's MQTT client ends its start (discovery subscriptions, cooldowns) first: the hub's
    # own subscriptions then take one short cooldown, the same in every run.
    freezer.move_to(datetime.fromisoformat(START) - timedelta(seconds=MQTT_START))
    await advance(hass, freezer, MQTT_START)
    entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        await replies_subscribed(hass, freezer)
        mqtt_mock.async_publish.reset_mock()
        yield entry


@pytest.fixture
def gateways(hass: HomeAssistant, mqtt_mock: Any, mqtt_client_mock: Any) -> FakeGateways:
    """Janus servers on the mocked broker; none runs until the test starts one."""
    return FakeGateways(hass, mqtt_mock, mqtt_client_mock)
