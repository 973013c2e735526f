"""Display interactions (event entity and bus event) and system messages."""

from __future__ import annotations

from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.mqtt_fleet.families.autocore.hub import (
    EVENT_DISPLAY_INTERACTION,
    EVENT_SYSTEM_MESSAGE,
)

from .common import BOARD_A, BOARD_B, dumps, relays_b, status_a, status_b
from .conftest import Fire

DISPLAY = "event.esp32_001_display"
INTERACTION = {"screen": "main", "element": "btn_1", "action": "press"}


async def test_display_interaction(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire, freezer: FrozenDateTimeFactory
) -> None:
    """Each interaction fires the entity (even a repeat) and a bus event with the payload."""
    events = async_capture_events(hass, EVENT_DISPLAY_INTERACTION)
    assert hass.states.get(DISPLAY) is None

    await fire("autocore/ESP32_001/display/interaction", dumps(INTERACTION))
    state = hass.states.get(DISPLAY)
    assert state.attributes["event_type"] == "interaction"
    assert state.attributes["event_types"] == ["interaction"]
    assert state.attributes["element"] == "btn_1"
    assert state.attributes["action"] == "press"
    assert state.attributes["friendly_name"] == "ESP32_001 Display"
    first_fired = state.state
    registry_id = setup_entry.runtime_data.devices[BOARD_A].registry_id
    assert [event.data for event in events] == [
        {**INTERACTION, "device_id": registry_id, "device": BOARD_A, "family": "autocore"}
    ]

    freezer.tick(timedelta(seconds=1))
    await fire("autocore/ESP32_001/display/interaction", dumps(INTERACTION))
    assert len(events) == 2
    assert hass.states.get(DISPLAY).state != first_fired

    await fire("autocore/ESP32_001/display/interaction", dumps({**INTERACTION, "action": "hold"}))
    assert hass.states.get(DISPLAY).attributes["action"] == "hold"


async def test_availability_change_does_not_refire(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """Going offline and back only changes availability; the last interaction stays."""
    await fire("autocore/ESP32_001/display/interaction", dumps(INTERACTION))
    fired_at = hass.states.get(DISPLAY).state
    await fire("autocore/ESP32_001/status", status_a(status="offline"))
    assert hass.states.get(DISPLAY).state == STATE_UNAVAILABLE
    await fire("autocore/ESP32_001/status", status_a())
    assert hass.states.get(DISPLAY).state == fired_at
    assert fired_at != STATE_UNKNOWN


async def test_system_messages(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """Layout A system messages and layout B error reports reach the bus."""
    events = async_capture_events(hass, EVENT_SYSTEM_MESSAGE)
    await fire("autocore/ESP32_001/system/boot", dumps({"reason": "power_on"}))
    await fire("autocore/errors/board-b1/command", dumps({"error": "bad channel"}))
    devices = setup_entry.runtime_data.devices
    assert [event.data for event in events] == [
        {
            "kind": "boot",
            "payload": {"reason": "power_on"},
            "device_id": devices[BOARD_A].registry_id,
            "device": BOARD_A,
            "family": "autocore",
        },
        {
            "kind": "error",
            "error_type": "command",
            "payload": {"error": "bad channel"},
            "device_id": devices[BOARD_B].registry_id,
            "device": BOARD_B,
            "family": "autocore",
        },
    ]


async def test_safety_shutoff_switches_the_channel_off(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The firmware's safety shutoff turns the channel off and is reported on the bus."""
    events = async_capture_events(hass, EVENT_SYSTEM_MESSAGE)
    await fire("autocore/devices/board-b1/status", status_b())
    await fire("autocore/devices/board-b1/relays/state", relays_b(ch3=True))
    assert hass.states.get("switch.relay_board_1_relay_3").state == STATE_ON
    shutoff = {
        "uuid": BOARD_B,
        "event": "safety_shutoff",
        "channel": 3,
        "reason": "heartbeat_timeout",
        "timeout": 30000,
    }
    await fire("autocore/telemetry/relays/data", dumps(shutoff))
    assert hass.states.get("switch.relay_board_1_relay_3").state == STATE_OFF
    assert [(event.data["kind"], event.data["reason"]) for event in events] == [
        ("safety_shutoff", "heartbeat_timeout")
    ]
    assert events[0].data["payload"] == shutoff
