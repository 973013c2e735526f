"""The logbook shows one entry per display press, read back through the recorder."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import (
    MockHAClientWebSocket,
    RecorderInstanceContextManager,
    WebSocketGenerator,
)

from custom_components.mqtt_fleet.const import DOMAIN

from ...common import Fire, dumps
from .helpers import status_a

DISPLAY = "event.esp32_001_display"
INTERACTION = {"screen": "main", "element": "btn_1", "action": "press"}


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_test_recorder: RecorderInstanceContextManager) -> None:
    """Prepare the recorder's database before Home Assistant starts (HA's own pattern)."""


async def test_one_display_press_makes_one_logbook_entry(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    mqtt_mock: Any,
    config_entry: MockConfigEntry,
    fire: Fire,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """The event entity's state change is the entry; the bus event adds no second line."""
    assert await async_setup_component(hass, "logbook", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await fire("autocore/ESP32_001/status", status_a())
    await async_wait_recording_done(hass)
    client = await hass_ws_client()

    for presses in (1, 2):  # the first press also makes the event entity
        await fire("autocore/ESP32_001/display/interaction", dumps(INTERACTION))
        await async_wait_recording_done(hass)
        assert await display_entries(client) == presses


async def display_entries(client: MockHAClientWebSocket) -> int:
    """Count the logbook's entries of the display: its entity's and our events' lines."""
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": (dt_util.utcnow() - timedelta(hours=1)).isoformat(),
            "end_time": dt_util.utcnow().isoformat(),
        }
    )
    response = await client.receive_json()
    assert response["success"]
    return sum(
        entry.get("entity_id") == DISPLAY
        or (entry.get("domain") == DOMAIN and "display" in entry["message"])
        for entry in response["result"]
    )
