"""AutoCore fixtures: the entry with the sensor platform only."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry


@pytest.fixture
def platforms() -> list[Platform]:
    """Load only the sensor platform."""
    return [Platform.SENSOR]


@pytest.fixture
async def sensor_entry(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry, platforms: list[Platform]
) -> MockConfigEntry:
    """Set up the AutoCore entry with the sensor platform only."""
    config_entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
    return config_entry
