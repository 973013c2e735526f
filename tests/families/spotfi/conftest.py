"""SpotFi fixtures: the entry, set up at a frozen time, and a router that reported in."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ...clock import settle
from .helpers import METRICS, ROUTER, START, FakeRouter, fire, spotfi_entry


@pytest.fixture
def spotfi_options() -> dict[str, Any]:
    """Options on top of the defaults."""
    return {}


@pytest.fixture
def platforms() -> list[Platform]:
    """The platforms to load."""
    return [Platform.BINARY_SENSOR, Platform.SENSOR]


@pytest.fixture
async def spotfi(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    spotfi_options: dict[str, Any],
    platforms: list[Platform],
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the SpotFi entry at a frozen time (MQTT first: it cannot load frozen)."""
    freezer.move_to(START)
    entry = spotfi_entry(**spotfi_options)
    entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        mqtt_mock.async_publish.reset_mock()
        yield entry


@pytest.fixture
async def fake_router(hass: HomeAssistant, spotfi: MockConfigEntry, mqtt_mock: Any) -> FakeRouter:
    """The simulator's router behind the MQTT mock, answering RPC and terminal input."""
    fake = FakeRouter(hass, mqtt_mock)
    fake.attach()
    return fake


@pytest.fixture
async def router(hass: HomeAssistant, spotfi: MockConfigEntry, mqtt_mock: Any) -> MockConfigEntry:
    """The entry with one router that reported ONLINE and a heartbeat.

    Coming online, HA asks the router's `system board`: a fake router answers it, then the
    test starts with nothing published.
    """
    fake = FakeRouter(hass, mqtt_mock)
    fake.attach()
    await fire(hass, ROUTER, "status", "ONLINE")
    await fire(hass, ROUTER, "metrics", METRICS)
    await settle(hass)
    fake.detach()
    mqtt_mock.async_publish.reset_mock()
    return spotfi
