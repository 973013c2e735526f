"""AutoCore boards end to end: tools/simulator -> mosquitto -> HA's real MQTT client.

Every message here crosses a real broker. Our own paho subscriber (`wire`) checks what HA
puts on the wire against docs/protocols.md (section "AutoCore"), independently of the
integration.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import signal
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    EntityCategory,
    UnitOfInformation,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import (
    BaseUnitConverter,
    InformationConverter,
)
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.mqtt_fleet.const import DOMAIN, EVENT_DEVICE_OFFLINE, EVENT_DEVICE_ONLINE
from custom_components.mqtt_fleet.families.autocore.hub import EVENT_DISPLAY_INTERACTION

from ..common import device_by_identifier, entry_id_for
from .helpers import BASE, wait_for

if TYPE_CHECKING:
    from .helpers import Broker, Fleet, Simulator, Wire, WireMessage

pytestmark = pytest.mark.broker

UID = entry_id_for("autocore:autocore")  # registry ids start with the entry id
MODEL_A = "ESP32 (monitor layout)"
MODEL_B = "ESP32 relay board (firmware v2)"
SOURCE = "home_assistant"
# The firmware version is device information, not a sensor; the uptime dates the restart.
KEYS_A = {
    "connectivity",
    "last_seen",
    "ip_address",
    "last_restart",
    "temperature",
    "humidity",
    "voltage",
    "free_memory",
    *(f"relay_{n}" for n in range(4)),
}
# Firmware v2 sends the address 0.0.0.0, which names no host: no address sensor.
KEYS_B = {
    "connectivity",
    "last_seen",
    "last_restart",
    "wifi_signal",
    "free_memory",
    *(f"channel_{n}" for n in range(1, 17)),
}
ALWAYS_AVAILABLE = {"connectivity", "last_seen"}  # shown while a board is away


# --- helpers -------------------------------------------------------------------------------


def device_keys(hass: HomeAssistant, device: str) -> dict[str, str]:
    """Map entity key -> entity id for one board, from the entity registry."""
    prefix = f"{UID}/{device}/"
    return {
        entry.unique_id.removeprefix(prefix): entry.entity_id
        for entry in er.async_get(hass).entities.values()
        if entry.platform == DOMAIN and entry.unique_id.startswith(prefix)
    }


def entity_id(hass: HomeAssistant, device: str, key: str) -> str | None:
    """Return the entity id of one board's value, looked up by unique_id."""
    return device_keys(hass, device).get(key)


def state_of(hass: HomeAssistant, device: str, key: str) -> State | None:
    """Return the state of one board's value, None while the entity does not exist."""
    if (found := entity_id(hass, device, key)) is None:
        return None
    return hass.states.get(found)


def registry_device(hass: HomeAssistant, device: str) -> dr.DeviceEntry | None:
    """Return a board's device registry entry."""
    return device_by_identifier(dr.async_get(hass), f"{UID}/{device}")


async def wait_for_fleet(hass: HomeAssistant, simulator: Simulator) -> None:
    """Wait until every board reported and has all its entities, connected."""

    def complete() -> bool:
        boards = [(board, KEYS_A) for board in simulator.layout_a]
        boards += [(board, KEYS_B) for board in simulator.layout_b]
        for board, keys in boards:
            known = device_keys(hass, board)
            if not keys <= known.keys():
                return False
            connectivity = hass.states.get(known["connectivity"])
            if connectivity is None or connectivity.state != STATE_ON:
                return False
        return True

    await wait_for(complete, what="every simulated board with all its entities, connected")


def numeric(state: State | None) -> float:
    """Return a sensor's state as a float."""
    assert state is not None
    return float(state.state)


def restarted_ago(state: State | None) -> float:
    """Return how many seconds ago a last restart sensor dates the restart."""
    assert state is not None
    assert state.attributes.get(ATTR_DEVICE_CLASS) == SensorDeviceClass.UPTIME
    restarted = dt_util.parse_datetime(state.state)
    assert restarted is not None, state
    return (dt_util.utcnow() - restarted).total_seconds()


def board_name(board_id: str, uuid: str) -> str:
    """Return the name docs/protocols.md gives a firmware v2 board: its board id, told
    apart by the last 6 letters and digits of its uuid."""
    named = f"AutoCore board {board_id}" if board_id.isdigit() else board_id
    suffix = "".join(character for character in uuid if character.isalnum())[-6:]
    return f"{named} ({suffix})"


def in_unit(state: State | None, converter: type[BaseUnitConverter], unit: str) -> float:
    """Return a sensor's value in `unit`, whichever unit HA chose to show it in."""
    assert state is not None
    shown = state.attributes[ATTR_UNIT_OF_MEASUREMENT]
    assert shown in converter.VALID_UNITS, (state.entity_id, shown)
    return converter.convert(float(state.state), shown, unit)


def board_states(hass: HomeAssistant, board: str) -> dict[str, State]:
    """Return the states of a board's enabled entities; disabled ones must have none."""
    registry = er.async_get(hass)
    states: dict[str, State] = {}
    for key, found in device_keys(hass, board).items():
        state = hass.states.get(found)
        if state is None:
            entry = registry.async_get(found)
            assert entry is not None
            assert entry.disabled, f"{found} is enabled but has no state"
        else:
            states[key] = state
    return states


def commands_since(wire: Wire, since: int) -> list[WireMessage]:
    """Return every command (relay or device) on the wire since a mark."""
    return [
        message
        for message in wire.messages(since=since)
        if message.topic.endswith("/set") or "/commands/" in message.topic
    ]


# --- a: the simulated fleet shows up with the right entities -------------------------------


@pytest.mark.parametrize("simulator_options", [{"interaction_interval": 0}], ids=["no_display"])
async def test_fleet_entities_states_and_devices(
    fleet: Fleet, simulator: Simulator, wire: Wire
) -> None:
    """Both layouts produce their entities, with units, states and registry devices."""
    hass = fleet.hass
    assert simulator.layout_a == ["ESP32_001", "ESP32_002"]
    assert len(simulator.layout_b) == 2
    await wait_for_fleet(hass, simulator)

    # Exactly the expected entities: the extra numeric telemetry key only on ESP32_001.
    assert device_keys(hass, "ESP32_001").keys() == KEYS_A | {"telemetry_pressure"}
    assert device_keys(hass, "ESP32_002").keys() == KEYS_A
    for board in simulator.layout_b:
        assert device_keys(hass, board).keys() == KEYS_B

    # Layout A entity ids follow the device id.
    for board in simulator.layout_a:
        slug = board.lower()
        assert entity_id(hass, board, "temperature") == f"sensor.{slug}_temperature"
        # Relays are numbered from 01 on both layouts: the board's relay 0 is "Relay 01".
        assert entity_id(hass, board, "relay_0") == f"switch.{slug}_relay_01"
        assert entity_id(hass, board, "relay_3") == f"switch.{slug}_relay_04"
        assert entity_id(hass, board, "connectivity") == f"binary_sensor.{slug}_connectivity"
    assert entity_id(hass, "ESP32_001", "telemetry_pressure") == "sensor.esp32_001_pressure"

    # Layout A: telemetry sensors with units, in the simulator's ranges.
    ranges = {"temperature": (22.0, 28.0), "humidity": (35.0, 65.0), "voltage": (3.20, 3.35)}
    units = {"temperature": "°C", "humidity": "%", "voltage": "V"}
    for board, ip_address in zip(
        simulator.layout_a, ("192.168.1.100", "192.168.1.101"), strict=True
    ):
        connectivity = state_of(hass, board, "connectivity")
        assert connectivity is not None
        assert connectivity.attributes[ATTR_DEVICE_CLASS] == "connectivity"
        for key, (low, high) in ranges.items():
            sensor = state_of(hass, board, key)
            assert sensor is not None
            assert low <= numeric(sensor) <= high, (board, key, sensor.state)
            assert sensor.attributes[ATTR_UNIT_OF_MEASUREMENT] == units[key]
            assert sensor.attributes[ATTR_DEVICE_CLASS] == key
            assert sensor.attributes["state_class"] == SensorStateClass.MEASUREMENT
        memory = state_of(hass, board, "free_memory")
        assert getattr(memory, "attributes", {}).get(ATTR_DEVICE_CLASS) == "data_size"
        free_bytes = in_unit(memory, InformationConverter, UnitOfInformation.BYTES)
        assert 40000 <= free_bytes <= 50000  # sent in bytes as memory_free
        # The simulator started the boards within this test: whole seconds, rounded.
        assert -1 <= restarted_ago(state_of(hass, board, "last_restart")) < 600
        assert getattr(state_of(hass, board, "ip_address"), "state", None) == ip_address
        for relay in range(4):
            assert getattr(state_of(hass, board, f"relay_{relay}"), "state", None) == STATE_OFF
        last_seen = er.async_get(hass).async_get(entity_id(hass, board, "last_seen") or "")
        assert last_seen is not None
        assert last_seen.disabled_by is er.RegistryEntryDisabler.INTEGRATION  # noisy: opt-in

    pressure = state_of(hass, "ESP32_001", "telemetry_pressure")
    assert pressure is not None
    assert 995.0 <= numeric(pressure) <= 1030.0
    assert pressure.attributes["state_class"] == SensorStateClass.MEASUREMENT
    assert pressure.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.ATMOSPHERIC_PRESSURE
    assert pressure.attributes[ATTR_UNIT_OF_MEASUREMENT] == "hPa"  # the boards send hPa

    # Layout B: status values as sensors, 16 channels.
    for board in simulator.layout_b:
        signal_strength = state_of(hass, board, "wifi_signal")
        assert signal_strength is not None
        assert signal_strength.attributes[ATTR_UNIT_OF_MEASUREMENT] == "dBm"
        assert signal_strength.attributes[ATTR_DEVICE_CLASS] == SensorDeviceClass.SIGNAL_STRENGTH
        assert -75 <= numeric(signal_strength) <= -45
        memory = state_of(hass, board, "free_memory")
        free_bytes = in_unit(memory, InformationConverter, UnitOfInformation.BYTES)
        assert 150000 <= free_bytes <= 230000
        assert -1 <= restarted_ago(state_of(hass, board, "last_restart")) < 600
        assert entity_id(hass, board, "ip_address") is None  # 0.0.0.0 names no host
        for channel in range(1, 17):
            assert getattr(state_of(hass, board, f"channel_{channel}"), "state", None) == STATE_OFF

    # The address and the last restart are diagnostics.
    entity_registry = er.async_get(hass)
    for board in (*simulator.layout_a, *simulator.layout_b):
        for key in ("ip_address", "last_restart"):
            if key == "ip_address" and board in simulator.layout_b:
                continue
            found = entity_registry.async_get(entity_id(hass, board, key) or "")
            assert found is not None
            assert found.entity_category is EntityCategory.DIAGNOSTIC

    # Devices: each board via the hub, with its layout's model and its firmware.
    device_registry = dr.async_get(hass)
    hub = device_by_identifier(device_registry, UID)
    assert hub is not None
    assert hub.entry_type is None
    expected = [(board, MODEL_A, "1.2.0", board) for board in simulator.layout_a]
    for board in simulator.layout_b:
        # A firmware v2 board is named by the board_id it reports, with the end of its UUID:
        # every simulated board says the same board_id as on a real installation's first.
        status = wire.messages(f"{BASE}/devices/{board}/status")[0].json()
        expected.append((board, MODEL_B, "2.0.0", board_name(status["board_id"], board)))
    for board, model, firmware, name in expected:
        device = registry_device(hass, board)
        assert device is not None, board
        assert device.via_device_id == hub.id
        assert (device.manufacturer, device.model, device.sw_version) == (
            "AutoCore",
            model,
            firmware,
        )
        assert device.name == name
        assert device.config_entry_id == fleet.entry.entry_id
    assert len(dr.async_entries_for_config_entry(device_registry, fleet.entry.entry_id)) == 5

    # Values follow the live telemetry: HA catches up with the newest reading on the wire.
    telemetry_topic = f"{BASE}/ESP32_001/telemetry"

    def matches_latest_telemetry() -> bool:
        readings = wire.messages(telemetry_topic)
        if len(readings) < 3:
            return False
        latest = readings[-1].json()
        return (
            numeric(state_of(hass, "ESP32_001", "temperature")) == latest["temperature"]
            and numeric(state_of(hass, "ESP32_001", "humidity")) == latest["humidity"]
            and numeric(state_of(hass, "ESP32_001", "voltage")) == latest["voltage"]
            and numeric(state_of(hass, "ESP32_001", "telemetry_pressure")) == latest["pressure"]
            and in_unit(
                state_of(hass, "ESP32_001", "free_memory"),
                InformationConverter,
                UnitOfInformation.BYTES,
            )
            == pytest.approx(latest["memory_free"])
        )

    await wait_for(matches_latest_telemetry, what="ESP32_001 sensors to follow its telemetry")

    # Every simulated message was valid; the broker link shows as connected; the traffic of
    # a configured stream starts no discovery flow.
    assert fleet.hub.messages_received > 0
    assert fleet.hub.invalid_messages == 0, list(fleet.hub.dead_letters)
    broker_link = entity_registry.async_get_entity_id(
        "binary_sensor", DOMAIN, f"{UID}/mqtt_connected"
    )
    assert broker_link is not None
    assert getattr(hass.states.get(broker_link), "state", None) == STATE_ON

    # The manifest's discovery topics match the boards' status: HA's MQTT discovery starts
    # flows, which find the stream configured, remember the topics and abort; no reload.
    hub = fleet.hub
    status_topics = {f"{BASE}/{board}/status" for board in simulator.layout_a}
    status_topics |= {f"{BASE}/devices/{board}/status" for board in simulator.layout_b}
    await wait_for(
        lambda: {key.key for key in fleet.entry.discovery_keys.get("mqtt", ())} == status_topics,
        what="discovery to record every status topic on the entry",
    )
    await hass.async_block_till_done()
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert fleet.entry.runtime_data is hub


# --- b: switches command the board and show its confirmation -------------------------------


@dataclass(frozen=True)
class RelayCase:
    """A relay to switch: layout, which board of that layout, relay number, a neighbour."""

    layout: str
    board_index: int
    relay: int
    neighbour: int

    @property
    def prefix(self) -> str:
        """Return the entity key prefix of this layout's relays."""
        return "relay_" if self.layout == "a" else "channel_"

    def command(self, board: str, on: bool) -> tuple[str, dict[str, Any]]:
        """Return the command topic and payload docs/protocols.md ("AutoCore") prescribes."""
        if self.layout == "a":
            return f"{BASE}/{board}/relay/{self.relay}/set", {"state": on, "source": SOURCE}
        payload = {
            "protocol_version": "2.2",
            "channel": self.relay,
            "command": "on" if on else "off",
            "source": SOURCE,
        }
        return f"{BASE}/devices/{board}/relays/set", payload

    def confirmed(self, wire: Wire, board: str, on: bool, since: int) -> bool:
        """Tell whether the board confirmed the relay's new state on the wire."""
        if self.layout == "a":
            return any(
                message.json()["state"] is on and message.json()["triggered_by"] == SOURCE
                for message in wire.messages(f"{BASE}/{board}/relay/{self.relay}/status", since)
            )
        events = [
            message.json()
            for message in wire.messages(f"{BASE}/telemetry/relays/data", since)
            if message.json().get("uuid") == board
        ]
        states = wire.messages(f"{BASE}/devices/{board}/relays/state", since)
        return any(
            event["event"] == "relay_change"
            and event["channel"] == self.relay
            and event["state"] is on
            and event["source"] == SOURCE
            for event in events
        ) and any(message.json()["channels"][str(self.relay)] is on for message in states)


@pytest.mark.parametrize(
    "case",
    [RelayCase("a", 1, 2, 3), RelayCase("b", 0, 16, 15)],
    ids=["layout_a_relay_2", "layout_b_channel_16"],
)
async def test_switch_round_trip(
    fleet: Fleet, simulator: Simulator, wire: Wire, case: RelayCase
) -> None:
    """turn_on/turn_off publish the documented command; the state is the board's answer."""
    hass = fleet.hass
    await wait_for_fleet(hass, simulator)
    board = (simulator.layout_a if case.layout == "a" else simulator.layout_b)[case.board_index]
    switch = entity_id(hass, board, f"{case.prefix}{case.relay}")
    other = entity_id(hass, board, f"{case.prefix}{case.neighbour}")
    assert switch is not None
    assert other is not None

    for service, on in (("turn_on", True), ("turn_off", False)):
        assert getattr(hass.states.get(switch), "state", None) == (STATE_OFF if on else STATE_ON)
        mark = wire.mark()
        await hass.services.async_call("switch", service, {ATTR_ENTITY_ID: switch}, blocking=True)
        # The call returns once the board confirmed: the state is already the board's.
        assert getattr(hass.states.get(switch), "state", None) == (STATE_ON if on else STATE_OFF)

        topic, payload = case.command(board, on)
        commands = await wait_for(
            lambda mark=mark: commands_since(wire, mark), what=f"the command on {topic}"
        )
        assert [(m.topic, m.json(), m.qos, m.retain) for m in commands] == [
            (topic, payload, 1, False)
        ]
        await wait_for(
            lambda on=on, mark=mark: case.confirmed(wire, board, on, mark),
            what=f"{board} to confirm relay {case.relay} on the wire",
        )
        assert getattr(hass.states.get(other), "state", None) == STATE_OFF

        # Asking again for the state the relay is in: the board confirms it again.
        mark = wire.mark()
        await hass.services.async_call("switch", service, {ATTR_ENTITY_ID: switch}, blocking=True)
        assert getattr(hass.states.get(switch), "state", None) == (STATE_ON if on else STATE_OFF)
        repeated = await wait_for(lambda mark=mark: commands_since(wire, mark), what="the repeat")
        assert [(m.topic, m.json()) for m in repeated] == [(topic, payload)]


async def test_switch_is_not_optimistic(fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
    """A frozen board confirms nothing: the call fails, the state stays; it follows later."""
    hass = fleet.hass
    await wait_for_fleet(hass, simulator)
    switch = entity_id(hass, "ESP32_001", "relay_1")
    assert switch is not None
    mark = wire.mark()
    simulator.send_signal(signal.SIGSTOP)
    try:
        with (
            patch("custom_components.mqtt_fleet.families.autocore.hub.RELAY_CONFIRM_TIMEOUT", 0.5),
            pytest.raises(HomeAssistantError) as err,
        ):
            await hass.services.async_call(
                "switch", "turn_on", {ATTR_ENTITY_ID: switch}, blocking=True
            )
        assert err.value.translation_key == "relay_not_confirmed"
        assert getattr(hass.states.get(switch), "state", None) == STATE_OFF
        commands = await wait_for(lambda: commands_since(wire, mark), what="the command")
        assert [m.topic for m in commands] == [f"{BASE}/ESP32_001/relay/1/set"]
    finally:
        simulator.send_signal(signal.SIGCONT)
    # The thawed board handles the queued command; its late confirmation is shown.
    await wait_for(
        lambda: getattr(hass.states.get(switch), "state", None) == STATE_ON,
        what="the late confirmation",
    )


# --- c: device commands --------------------------------------------------------------------


@pytest.mark.parametrize("simulator_options", [{"status_interval": 60}], ids=["status_60s"])
async def test_send_command_status(fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
    """`status` makes a layout-B board republish its status; a layout-A board refuses it."""
    hass = fleet.hass
    await wait_for_fleet(hass, simulator)
    board, other = simulator.layout_b
    status_topic = f"{BASE}/devices/{board}/status"
    # With a 60 s interval each board has published its status once, at start.
    assert len(wire.messages(status_topic)) == 1
    device = registry_device(hass, board)
    layout_a_device = registry_device(hass, "ESP32_001")
    assert device is not None
    assert layout_a_device is not None
    last_seen = fleet.hub.devices[board].last_seen
    assert last_seen is not None
    sent = fleet.hub.messages_sent
    mark = wire.mark()

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "send_command",
            {"device_id": layout_a_device.id, "command": "status"},
            blocking=True,
        )
    assert err.value.translation_key == "command_not_supported"
    assert fleet.hub.messages_sent == sent

    await hass.services.async_call(
        DOMAIN, "send_command", {"device_id": device.id, "command": "status"}, blocking=True
    )
    commands = await wait_for(lambda: commands_since(wire, mark), what="the status command")
    # HA publishes in order, so nothing went out for the layout-A board before this one.
    assert [(m.topic, m.json(), m.qos, m.retain) for m in commands] == [
        (
            f"{BASE}/devices/{board}/commands/status",
            {"protocol_version": "2.2", "command": "status"},
            1,
            False,
        )
    ]

    republished = await wait_for(
        lambda: wire.messages(status_topic, since=mark), what=f"{board} to republish its status"
    )
    assert len(republished) == 1
    status = republished[0].json()
    assert (status["uuid"], status["status"], republished[0].retain) == (board, "online", True)
    assert not wire.messages(f"{BASE}/devices/{other}/status", since=mark)

    # HA took the fresh status in.
    await wait_for(
        lambda: (fleet.hub.devices[board].last_seen or 0) > last_seen,
        what="HA to receive the republished status",
    )
    await wait_for(
        lambda: numeric(state_of(hass, board, "wifi_signal")) == status["wifi_signal"],
        what="the Wi-Fi signal of the republished status",
    )
    # The republished uptime dates the same boot as the one shown (whole seconds both).
    sent_at = dt_util.parse_datetime(status["timestamp"])
    assert sent_at is not None
    restarted = restarted_ago(state_of(hass, board, "last_restart"))
    assert restarted == pytest.approx(
        (dt_util.utcnow() - sent_at).total_seconds() + status["uptime"], abs=3
    )


async def test_send_command_reset_and_reboot(
    fleet: Fleet, simulator: Simulator, wire: Wire
) -> None:
    """`reset` switches a board's channels off; `reboot` takes it away and back."""
    hass = fleet.hass
    await wait_for_fleet(hass, simulator)
    board = simulator.layout_b[1]
    device = registry_device(hass, board)
    channel = entity_id(hass, board, "channel_3")
    assert device is not None
    assert channel is not None
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: channel}, blocking=True)
    assert getattr(hass.states.get(channel), "state", None) == STATE_ON

    mark = wire.mark()
    await hass.services.async_call(
        DOMAIN, "send_command", {"device_id": device.id, "command": "reset"}, blocking=True
    )
    await wait_for(
        lambda: getattr(hass.states.get(channel), "state", None) == STATE_OFF,
        what="the reset to switch channel 3 off",
    )
    commands = await wait_for(lambda: commands_since(wire, mark), what="the reset command")
    assert [(m.topic, m.json(), m.qos) for m in commands] == [
        (
            f"{BASE}/devices/{board}/commands/reset",
            {"protocol_version": "2.2", "command": "reset"},
            1,
        )
    ]

    offline_events = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    online_events = async_capture_events(hass, EVENT_DEVICE_ONLINE)
    mark = wire.mark()
    await hass.services.async_call(
        DOMAIN, "send_command", {"device_id": device.id, "command": "reboot"}, blocking=True
    )
    await wait_for(lambda: online_events, what=f"{board} to come back from its reboot")
    assert [event.data["device"] for event in offline_events] == [board]
    assert [event.data["device"] for event in online_events] == [board]
    assert getattr(state_of(hass, board, "connectivity"), "state", None) == STATE_ON

    def after_goodbye() -> list[dict[str, Any]]:
        """Return the board's status messages from its offline goodbye on."""
        statuses = [m.json() for m in wire.messages(f"{BASE}/devices/{board}/status", mark)]
        offline = [n for n, status in enumerate(statuses) if status["status"] == "offline"]
        return statuses[offline[0] :] if offline else []

    await wait_for(lambda: len(after_goodbye()) >= 2, what="offline, then online, on the wire")
    statuses = after_goodbye()
    assert (statuses[0]["reason"], statuses[1]["status"]) == ("reboot", "online")
    commands = await wait_for(lambda: commands_since(wire, mark), what="the reboot command")
    assert [m.topic for m in commands] == [f"{BASE}/devices/{board}/commands/reboot"]


# --- d: the simulator stops ----------------------------------------------------------------


async def test_sigterm_takes_every_board_offline(
    fleet: Fleet, simulator: Simulator, wire: Wire
) -> None:
    """Layout B's Last Will and layout A's offline status make every board unavailable."""
    hass = fleet.hass
    await wait_for_fleet(hass, simulator)
    offline_events = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    boards = [*simulator.layout_a, *simulator.layout_b]
    mark = wire.mark()

    simulator.send_signal(signal.SIGTERM)
    await wait_for(lambda: simulator.proc.poll() is not None, what="the simulator to exit")
    assert simulator.proc.returncode == 0, simulator.log_tail()

    def goodbyes(topic: str) -> list[dict[str, Any]]:
        return [
            message.json()
            for message in wire.messages(topic, since=mark)
            if message.json()["status"] == "offline"
        ]

    for board in simulator.layout_b:
        topic = f"{BASE}/devices/{board}/status"
        (will,) = await wait_for(lambda t=topic: goodbyes(t), what=f"{board}'s LWT")
        assert (will["uuid"], will["reason"]) == (board, "unexpected_disconnect")
        (message,) = [m for m in wire.messages(topic, since=mark) if m.json() == will]
        assert (message.qos, message.retain) == (1, True)
    for board in simulator.layout_a:
        topic = f"{BASE}/{board}/status"
        (goodbye,) = await wait_for(lambda t=topic: goodbyes(t), what=f"{board}'s offline status")
        assert goodbye["device_id"] == board

    def connectivity_off() -> bool:
        return all(
            getattr(state_of(hass, board, "connectivity"), "state", None) == STATE_OFF
            for board in boards
        )

    await wait_for(connectivity_off, what="every board's connectivity to go off")
    for board in boards:
        states = board_states(hass, board)
        # The Last Will's reason is shown while the board is away; layout A sends none.
        reason = states.pop("disconnect_reason", None)
        expected = "unexpected_disconnect" if board in simulator.layout_b else None
        assert getattr(reason, "state", None) == expected, (board, reason)
        for key, state in states.items():
            if key in ALWAYS_AVAILABLE:
                assert state.state != STATE_UNAVAILABLE, (board, key)
            else:
                assert state.state == STATE_UNAVAILABLE, (board, key, state.state)
    assert sorted(event.data["device"] for event in offline_events) == sorted(boards)


# --- e: display interactions ---------------------------------------------------------------


async def test_display_interactions(fleet: Fleet, simulator: Simulator, wire: Wire) -> None:
    """Each touch on a layout-A display fires a bus event and triggers the event entity."""
    hass = fleet.hass
    events = async_capture_events(hass, EVENT_DISPLAY_INTERACTION)
    triggers: dict[str, int] = {}

    @callback
    def _state_changed(event: Event[EventStateChangedData]) -> None:
        # The boards stay online, so each state change of an event entity is a trigger,
        # after its first state (unknown: the first interaction fires once it is written).
        # (Its state is a millisecond timestamp: two triggers can share one.)
        if (
            (new := event.data["new_state"]) is not None
            and new.domain == "event"
            and new.state != STATE_UNKNOWN
        ):
            triggers[new.entity_id] = triggers.get(new.entity_id, 0) + 1

    hass.bus.async_listen("state_changed", _state_changed)
    await wait_for_fleet(hass, simulator)

    def bus_events(board: str) -> list[dict[str, Any]]:
        return [dict(event.data) for event in events if event.data["device"] == board]

    await wait_for(
        lambda: all(len(bus_events(board)) >= 3 for board in simulator.layout_a),
        what="three display interactions per layout-A board",
    )
    for board in simulator.layout_a:
        device = registry_device(hass, board)
        assert device is not None
        touches = [m.json() for m in wire.messages(f"{BASE}/{board}/display/interaction")]
        fired = bus_events(board)
        count = min(len(touches), len(fired))
        assert count >= 3
        # Both saw the same message stream from its start: the event data is the payload.
        assert fired[:count] == [
            {**touch, "device_id": device.id, "device": board, "family": "autocore"}
            for touch in touches[:count]
        ]

        display = entity_id(hass, board, "display")
        assert display == f"event.{board.lower()}_display"

        def entity_shows_latest(board: str = board, display: str = display) -> bool:
            state = hass.states.get(display)
            latest = bus_events(board)[-1]
            return (
                state is not None
                and dt_util.parse_datetime(state.state) is not None
                and state.attributes.get("event_type") == "interaction"
                and all(
                    state.attributes.get(key) == latest[key]
                    for key in ("screen", "element", "action")
                )
                # One trigger per interaction.
                and triggers.get(display) == len(bus_events(board))
            )

        await wait_for(entity_shows_latest, what=f"{display} to show every interaction")


# --- freshness and broker restarts ---------------------------------------------------------


async def connectivity_is(
    hass: HomeAssistant, boards: list[str], state: str, timeout: float
) -> None:
    """Wait until every board's connectivity shows `state`."""
    await wait_for(
        lambda: all(
            getattr(state_of(hass, board, "connectivity"), "state", None) == state
            for board in boards
        ),
        timeout,
        f"every board's connectivity to be {state}",
    )


@pytest.mark.parametrize("entry_options", [{"offline_timeout": 3}], ids=["offline_timeout_3s"])
async def test_silent_boards_go_stale_and_come_back(
    fleet: Fleet, simulator: Simulator, wire: Wire
) -> None:
    """A hung simulator says nothing, not even a Last Will: freshness alone marks it away."""
    hass = fleet.hass
    await wait_for_fleet(hass, simulator)
    boards = [*simulator.layout_a, *simulator.layout_b]
    offline_events = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    online_events = async_capture_events(hass, EVENT_DEVICE_ONLINE)
    loop = asyncio.get_running_loop()
    simulator.send_signal(signal.SIGSTOP)
    frozen_at = loop.time()
    mark = wire.mark()
    try:
        await connectivity_is(hass, boards, STATE_OFF, 15)
        # Every board spoke at most 1 s before the freeze: none went stale before 2 s.
        assert loop.time() - frozen_at > 1.5
        assert not [m for m in wire.messages(since=mark) if b"offline" in m.payload]
        for board in boards:
            for key, state in board_states(hass, board).items():
                if key not in ALWAYS_AVAILABLE:
                    assert state.state == STATE_UNAVAILABLE, (board, key)
        assert sorted(event.data["device"] for event in offline_events) == sorted(boards)
        assert not online_events
    finally:
        simulator.send_signal(signal.SIGCONT)

    await connectivity_is(hass, boards, STATE_ON, 10)
    await wait_for(
        lambda: sorted(event.data["device"] for event in online_events) == sorted(boards),
        what="an online event per board",
    )
    for board in boards:
        for key in ("last_restart", "free_memory"):
            assert getattr(state_of(hass, board, key), "state", None) != STATE_UNAVAILABLE


async def test_broker_restart(
    fleet: Fleet, simulator: Simulator, broker: Broker, wire: Wire
) -> None:
    """After the broker restarts (no persistence) HA and the boards resubscribe and work."""
    hass = fleet.hass
    hub = fleet.hub
    await wait_for_fleet(hass, simulator)
    boards = [*simulator.layout_a, *simulator.layout_b]
    broker_link = er.async_get(hass).async_get_entity_id(
        "binary_sensor", DOMAIN, f"{UID}/mqtt_connected"
    )
    assert broker_link is not None
    sent = hub.messages_sent

    with patch("homeassistant.components.mqtt.client.RECONNECT_INTERVAL_SECONDS", 0.2):
        down = async_capture_events(hass, "state_changed")
        await broker.async_restart()
        restarted = time.time()
        await wait_for(lambda: mqtt.is_connected(hass), 15, "HA to reconnect")
        await wait_for(
            lambda: getattr(hass.states.get(broker_link), "state", None) == STATE_ON,
            what="the broker connection sensor to come back on",
        )
    # The hub saw the connection drop and come back.
    assert any(
        event.data["entity_id"] == broker_link
        and getattr(event.data["new_state"], "state", None) == STATE_OFF
        for event in down
    )
    # On reconnect the hub asks every firmware v2 board for its status.
    await wait_for(
        lambda: hub.messages_sent == sent + len(simulator.layout_b),
        what="a status request per layout-B board",
    )
    # Both sides resubscribed: each board's new messages reach HA again.
    await wait_for(
        lambda: all((hub.devices[board].last_seen or 0) > restarted for board in boards),
        15,
        "every board to be heard again after the restart",
    )
    await connectivity_is(hass, boards, STATE_ON, 10)
    for board, key in (("ESP32_001", "relay_3"), (simulator.layout_b[1], "channel_1")):
        switch = entity_id(hass, board, key)
        assert switch is not None
        await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: switch}, blocking=True)
        assert getattr(hass.states.get(switch), "state", None) == STATE_ON
    assert wire.messages(f"{BASE}/ESP32_001/relay/3/set")


async def test_reload_restores_relays_and_catches_up_from_retained(
    fleet: Fleet, simulator: Simulator, wire: Wire
) -> None:
    """Reloaded with live boards: relay states are restored at once, and retained layout-B
    state that changed while HA was unloaded is taken from the broker."""
    hass = fleet.hass
    await wait_for_fleet(hass, simulator)
    board = simulator.layout_b[0]
    relay = entity_id(hass, "ESP32_001", "relay_0")
    channel = entity_id(hass, board, "channel_2")
    assert relay is not None
    assert channel is not None
    await hass.services.async_call("switch", "turn_on", {ATTR_ENTITY_ID: relay}, blocking=True)
    assert getattr(hass.states.get(relay), "state", None) == STATE_ON

    assert await hass.config_entries.async_unload(fleet.entry.entry_id)
    await hass.async_block_till_done()
    # While HA is not listening, another client switches channel 2 on.
    mark = wire.mark()
    sent = wire.publish(
        f"{BASE}/devices/{board}/relays/set",
        {"protocol_version": "2.2", "channel": 2, "command": "on", "source": "wall_switch"},
    )
    await wait_for(sent.is_published, what="our command to reach the broker")
    await wait_for(
        lambda: any(
            m.json()["channels"]["2"] is True
            for m in wire.messages(f"{BASE}/devices/{board}/relays/state", mark)
        ),
        what=f"{board} to switch channel 2 on",
    )

    assert await hass.config_entries.async_setup(fleet.entry.entry_id)
    await hass.async_block_till_done()
    # Before the board's state arrives again the switch shows its restored, last known one.
    assert getattr(hass.states.get(relay), "state", None) == STATE_ON
    # The retained relays/state brings the change HA missed.
    await wait_for(
        lambda: getattr(hass.states.get(channel), "state", None) == STATE_ON,
        what="the retained channel state after the reload",
    )
    await connectivity_is(hass, [*simulator.layout_a, *simulator.layout_b], STATE_ON, 10)
    # The restored relay still answers: switching it off is confirmed by the board.
    await hass.services.async_call("switch", "turn_off", {ATTR_ENTITY_ID: relay}, blocking=True)
    assert getattr(hass.states.get(relay), "state", None) == STATE_OFF
