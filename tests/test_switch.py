"""Relays: commands per layout at QoS 1; the state changes only when the board confirms."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import patch

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .clock import until
from .common import publishes, relay_a, relay_event_b, relays_b, status_b
from .conftest import Fire

SWITCH_A = "switch.esp32_001_relay_0"
SWITCH_B = "switch.relay_board_1_relay_2"


def _switch(hass: HomeAssistant, service: str, entity_id: str) -> asyncio.Task[Any]:
    return hass.async_create_task(
        hass.services.async_call(SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True)
    )


async def test_layout_a_relay_confirmed(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """Turning a layout A relay on publishes the command; the state follows the board."""
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    state = hass.states.get(SWITCH_A)
    assert state.state == STATE_OFF
    assert state.attributes["friendly_name"] == "ESP32_001 Relay 0"
    mqtt_mock.async_publish.reset_mock()

    call = _switch(hass, SERVICE_TURN_ON, SWITCH_A)
    await until(lambda: mqtt_mock.async_publish.called, tries=200)
    assert publishes(mqtt_mock) == [
        ("autocore/ESP32_001/relay/0/set", b'{"state":true,"source":"home_assistant"}', 1, False)
    ]
    assert hass.states.get(SWITCH_A).state == STATE_OFF  # not optimistic
    assert not call.done()

    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, True))
    await call
    assert hass.states.get(SWITCH_A).state == STATE_ON

    call = _switch(hass, SERVICE_TURN_OFF, SWITCH_A)
    await until(lambda: mqtt_mock.async_publish.call_count == 2, tries=200)
    assert mqtt_mock.async_publish.call_args.args[1] == (
        b'{"state":false,"source":"home_assistant"}'
    )
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    await call
    assert hass.states.get(SWITCH_A).state == STATE_OFF


async def test_layout_b_channel_confirmed(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """Firmware v2 channels get the v2 command and confirm through relay events."""
    await fire("autocore/devices/board-b1/status", status_b())
    await fire("autocore/devices/board-b1/relays/state", relays_b(ch1=False, ch2=False))
    assert hass.states.get(SWITCH_B).state == STATE_OFF
    mqtt_mock.async_publish.reset_mock()

    call = _switch(hass, SERVICE_TURN_ON, SWITCH_B)
    await until(lambda: mqtt_mock.async_publish.called, tries=200)
    assert publishes(mqtt_mock) == [
        (
            "autocore/devices/board-b1/relays/set",
            b'{"protocol_version":"2.2","channel":2,"command":"on","source":"home_assistant"}',
            1,
            False,
        )
    ]
    await fire("autocore/telemetry/relays/data", relay_event_b(2, True))
    await call
    assert hass.states.get(SWITCH_B).state == STATE_ON
    assert hass.states.get("switch.relay_board_1_relay_1").state == STATE_OFF


async def test_command_for_current_state_is_confirmed_by_a_repeat(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """A board repeating the state it already had still confirms the command."""
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, True))
    call = _switch(hass, SERVICE_TURN_ON, SWITCH_A)
    await until(lambda: mqtt_mock.async_publish.called, tries=200)
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, True))
    await call
    assert hass.states.get(SWITCH_A).state == STATE_ON


async def test_unconfirmed_command_raises(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """No confirmation in time: a translated error, and the state is unchanged."""
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    with (
        patch("custom_components.mqtt_fleet.families.autocore.hub.RELAY_CONFIRM_TIMEOUT", 0.01),
        pytest.raises(HomeAssistantError) as error,
    ):
        await hass.services.async_call(
            SWITCH_DOMAIN, SERVICE_TURN_ON, {ATTR_ENTITY_ID: SWITCH_A}, blocking=True
        )
    assert error.value.translation_key == "relay_not_confirmed"
    assert error.value.translation_placeholders == {
        "device": "ESP32_001",
        "relay": "0",
        "timeout": "5",
    }
    assert hass.states.get(SWITCH_A).state == STATE_OFF
    assert setup_entry.runtime_data.devices["ESP32_001"]._waiters == {}


async def test_custom_relay_command_topic(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry, fire: Fire
) -> None:
    """The layout A command topic template is an option."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options={**config_entry.options, "relay_command_topic": "cmd/{base}/{device_id}/{relay}"},
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    mqtt_mock.async_publish.reset_mock()
    call = _switch(hass, SERVICE_TURN_ON, SWITCH_A)
    await until(lambda: mqtt_mock.async_publish.called, tries=200)
    assert mqtt_mock.async_publish.call_args.args[0] == "cmd/autocore/ESP32_001/0"
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, True))
    await call


async def test_unload_while_waiting_for_confirmation(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """A command still waiting when the entry unloads fails with a clear error."""
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    call = _switch(hass, SERVICE_TURN_ON, SWITCH_A)
    await until(lambda: mqtt_mock.async_publish.called, tries=200)
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    with pytest.raises(HomeAssistantError) as error:
        await call
    assert error.value.translation_key == "unloaded_while_waiting"
