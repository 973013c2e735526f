"""Container logs fixtures: the entry, set up at a frozen time with the platforms asked for."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)

from ...clock import settle
from .helpers import START, logs_entry


@pytest.fixture
def logs_options() -> dict[str, Any]:
    """Options on top of the defaults."""
    return {}


@pytest.fixture
def platforms() -> list[Platform]:
    """The platforms to load."""
    return [Platform.EVENT, Platform.SENSOR]


@pytest.fixture
async def container_logs(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    logs_options: dict[str, Any],
    platforms: list[Platform],
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the Container logs entry at a frozen time (MQTT first: it cannot load frozen)."""
    freezer.move_to(START)
    entry = logs_entry(**logs_options)
    entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        # Let HA's MQTT subscribe cooldown run without moving the clock.
        async_fire_time_changed_exact(hass, dt_util.utcnow() + timedelta(seconds=1))
        await settle(hass)
        mqtt_mock.async_publish.reset_mock()
        yield entry
