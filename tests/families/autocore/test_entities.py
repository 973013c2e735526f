"""AutoCore entities: sensors, relays (switches), display events and system messages.

Relays: commands per layout at QoS 1; the state changes only when the board confirms.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.device_automation import (
    DeviceAutomationType,
    async_get_device_automations,
)
from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.autocore.hub import (
    EVENT_DISPLAY_INTERACTION,
    EVENT_SYSTEM_MESSAGE,
)

from ...clock import until
from ...common import Fire, dumps, publishes
from .helpers import (
    BOARD_A,
    BOARD_B,
    relay_a,
    relay_event_b,
    relays_b,
    status_a,
    status_b,
    telemetry_a,
)

SWITCH_A = "switch.esp32_001_relay_01"
SWITCH_B = "switch.relay_board_1_board_b1_relay_02"
DISPLAY = "event.esp32_001_display"
INTERACTION = {"screen": "main", "element": "btn_1", "action": "press"}


# --- sensors ---------------------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_sensors_snapshot(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Every sensor of both layouts and of the hub, with classes, units and categories."""
    freezer.move_to("2026-01-02T03:04:05+00:00")
    async_fire_time_changed(hass)  # starts the message rate window at this time
    await hass.async_block_till_done()
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/ESP32_001/telemetry", telemetry_a(pressure=1013.2, lux=420))
    await fire("autocore/devices/board-b1/status", status_b())
    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await snapshot_platform(hass, entity_registry, snapshot, sensor_entry.entry_id)


async def test_values_update_and_unchanged_values_write_nothing(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """A changed value is written; a repeated one does not touch the state at all."""
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    first = hass.states.get("sensor.esp32_001_temperature")
    assert first.state == "25.6"
    humidity = hass.states.get("sensor.esp32_001_humidity")

    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=26.1))
    assert hass.states.get("sensor.esp32_001_temperature").state == "26.1"
    assert hass.states.get("sensor.esp32_001_humidity").last_reported == humidity.last_reported

    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=26.1))
    assert hass.states.get("sensor.esp32_001_temperature").last_reported == (
        hass.states.get("sensor.esp32_001_temperature").last_updated
    )


async def test_new_telemetry_key_adds_a_sensor_later(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """An unknown numeric key seen later becomes a generic sensor without a restart."""
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get("sensor.esp32_001_co2") is None
    await fire("autocore/ESP32_001/telemetry", telemetry_a(co2=612))
    state = hass.states.get("sensor.esp32_001_co2")
    assert state.state == "612"
    assert state.attributes["state_class"] == "measurement"
    assert "unit_of_measurement" not in state.attributes


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_seen_is_written_at_most_every_30_seconds(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Last seen uses the local receive time and is not rewritten per message."""
    freezer.move_to("2026-01-02T03:04:05+00:00")
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get("sensor.esp32_001_last_seen").state == "2026-01-02T03:04:05+00:00"
    freezer.tick(timedelta(seconds=10))
    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=20))
    assert hass.states.get("sensor.esp32_001_last_seen").state == "2026-01-02T03:04:05+00:00"
    freezer.tick(timedelta(seconds=25))
    await fire("autocore/ESP32_001/telemetry", telemetry_a(temperature=21))
    assert hass.states.get("sensor.esp32_001_last_seen").state == "2026-01-02T03:04:40+00:00"


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_hub_sensors(
    hass: HomeAssistant,
    sensor_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Counters, rate and devices online refresh on the hub's 10 s timer."""
    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    await fire("autocore/devices/board-b1/status", status_b(status="offline"))
    await fire("autocore/ESP32_001/telemetry", "not json")

    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.autocore_messages_received").state == "4"
    assert hass.states.get("sensor.autocore_invalid_messages").state == "1"
    assert hass.states.get("sensor.autocore_devices_online").state == "1"
    assert hass.states.get("sensor.autocore_message_rate").state == "24.0"

    freezer.tick(timedelta(seconds=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.autocore_message_rate").state == "0.0"


# --- relays ----------------------------------------------------------------------------


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
    assert state.attributes["friendly_name"] == "ESP32_001 Relay 01"
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
    assert hass.states.get("switch.relay_board_1_board_b1_relay_01").state == STATE_OFF


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
        "relay": "01",
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


# --- display interactions and system messages ------------------------------------------


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
    assert hass.states.get("switch.relay_board_1_board_b1_relay_03").state == STATE_ON
    shutoff = {
        "uuid": BOARD_B,
        "event": "safety_shutoff",
        "channel": 3,
        "reason": "heartbeat_timeout",
        "timeout": 30000,
    }
    await fire("autocore/telemetry/relays/data", dumps(shutoff))
    assert hass.states.get("switch.relay_board_1_board_b1_relay_03").state == STATE_OFF
    assert [(event.data["kind"], event.data["reason"]) for event in events] == [
        ("safety_shutoff", "heartbeat_timeout")
    ]
    assert events[0].data["payload"] == shutoff


# --- naming, numbering, triggers and the logbook ----------------------------------------


async def test_relays_number_from_01_on_both_layouts_in_sort_order(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    entity_registry: er.EntityRegistry,
) -> None:
    """Layout A index 0 and channel 1 are both Relay 01; names sort as the numbers do.

    Home Assistant's device page sorts entity names as text, without numeric collation.
    Unique ids keep the board's own numbers.
    """
    for index in range(12):
        await fire(f"autocore/ESP32_001/relay/{index}/status", relay_a(index, False))
    await fire(
        "autocore/devices/board-b1/relays/state",
        relays_b(**{f"ch{channel}": False for channel in range(1, 13)}),
    )
    for board, first_unique_id in ((BOARD_A, "relay_0"), (BOARD_B, "channel_1")):
        device_id = setup_entry.runtime_data.devices[board].registry_id
        entries = [
            entry
            for entry in er.async_entries_for_device(entity_registry, device_id)
            if entry.domain == SWITCH_DOMAIN
        ]
        names = {
            entry.unique_id.rpartition("/")[2]: hass.states.get(entry.entity_id).name
            for entry in entries
        }
        device_name = board  # named by its own id until a status names it
        assert names[first_unique_id] == f"{device_name} Relay 01"
        shown = [name.removeprefix(f"{device_name} ") for name in names.values()]
        assert sorted(shown) == [f"Relay {number:02d}" for number in range(1, 13)]


async def test_pressure_has_its_unit_and_class(
    hass: HomeAssistant, sensor_entry: MockConfigEntry, fire: Fire
) -> None:
    """The boards send pressure in hPa: it is an atmospheric pressure, converted by HA."""
    await fire("autocore/ESP32_001/telemetry", telemetry_a(pressure=1012.6))
    state = hass.states.get("sensor.esp32_001_pressure")
    assert state.state == "1012.6"
    assert state.attributes["unit_of_measurement"] == "hPa"
    assert state.attributes["device_class"] == "atmospheric_pressure"


async def test_display_trigger_only_on_boards_that_may_have_a_display(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """Firmware v2 boards have no display: "Display used" is offered on layout A only."""
    await fire("autocore/ESP32_001/status", status_a())
    await fire("autocore/devices/board-b1/status", status_b())
    devices = setup_entry.runtime_data.devices
    found = await async_get_device_automations(
        hass,
        DeviceAutomationType.TRIGGER,
        [devices[BOARD_A].registry_id, devices[BOARD_B].registry_id],
    )
    ours = {
        device_id: [trigger["type"] for trigger in triggers if trigger["domain"] == DOMAIN]
        for device_id, triggers in found.items()
    }
    assert ours == {
        devices[BOARD_A].registry_id: ["display_interaction"],
        devices[BOARD_B].registry_id: [],
    }
