"""AutoCore ESP32 boards: how their messages change devices, and their commands."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr

from ...admission import Refusal
from ...const import DOMAIN, LOGGER
from ...device import FleetDevice
from ...entities.sensor import async_set_last_restart
from ...hub import FleetHub
from ...issues import ADMISSION_PREFIX
from ...keys import FREE_MEMORY, LAST_RESTART
from ...protocol.autocore import (
    DEFAULT_RELAY_COMMAND_TOPIC,
    AutoCoreMessage,
    AutoCoreProtocol,
    DeviceCommand,
    DeviceStatus,
    DisplayInteraction,
    Layout,
    RelayState,
    RelayStates,
    SafetyShutoff,
    SystemMessage,
    Telemetry,
)
from . import keys

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping

    from homeassistant.core import HomeAssistant

    from ...hub import FleetConfigEntry

CONF_RELAY_COMMAND_TOPIC: Final = "relay_command_topic"
CONF_MAX_EXTRA_SENSORS: Final = Refusal.MAX_EXTRA_SENSORS.value
# Real boards send a handful of telemetry keys beyond the documented ones; 32 leaves room for
# any firmware, while one board can no longer make thousands of sensors.
DEFAULT_MAX_EXTRA_SENSORS: Final = 32
MAX_EXTRA_SENSORS_LIMIT: Final = 1000
# Status requests (after a reconnect, or for statuses that did not come): a 5,000-board
# fleet is asked in 100 s rather than in one burst that the boards answer all at once.
STATUS_REQUESTS_PER_SECOND: Final = 50
STATUS_REQUESTS_PER_ROUND: Final = 10
EVENT_DISPLAY_INTERACTION: Final = f"{DOMAIN}_display_interaction"
EVENT_SYSTEM_MESSAGE: Final = f"{DOMAIN}_system_message"
RELAY_CONFIRM_TIMEOUT: Final = 5.0
LAYOUT_MODELS: Final = {
    Layout.MONITOR: "ESP32 (monitor layout)",
    Layout.FIRMWARE_V2: "ESP32 relay board (firmware v2)",
}
# Status fields shown as sensors, read from the typed status (the firmware version is
# device information, the uptime the last restart).
STATUS_VALUES: Final[tuple[tuple[str, Callable[[DeviceStatus], object]], ...]] = (
    (keys.WIFI_SIGNAL, lambda status: status.wifi_signal),
    (FREE_MEMORY, lambda status: status.free_memory),
    (keys.DISCONNECT_REASON, lambda status: status.reason),
)
# How much of a board's own id its name carries: a firmware v2 uuid ends in the board's
# MAC address (`esp32-relay-a1b2c3`), whose last six hex digits tell boards apart, as in
# ESPHome's name suffix. An id up to SHORT_ID_LENGTH characters is carried whole.
BOARD_SUFFIX_LENGTH: Final = 6
SHORT_ID_LENGTH: Final = 8


def board_suffix(wire_id: str) -> str:
    """Return the part of a board's own id that its name carries (`a1b2c3`)."""
    if len(wire_id) <= SHORT_ID_LENGTH:
        return wire_id
    letters = "".join(character for character in wire_id if character.isalnum())
    return (letters or wire_id)[-BOARD_SUFFIX_LENGTH:]


def _board_name(message: AutoCoreMessage) -> str | None:
    """Name a firmware v2 board by its board id, told apart by the end of its uuid.

    The firmware numbers boards from 1 on each installation, so two boards may both say
    `board_id` 1: `AutoCore board 1 (a1b2c3)` and `AutoCore board 1 (d4e5f6)`.
    """
    if not isinstance(message, DeviceStatus) or not message.board_id:
        return None
    board_id = message.board_id
    named = f"AutoCore board {board_id}" if board_id.isdigit() else board_id
    return f"{named} ({board_suffix(message.device_id)})"


class AutoCoreDevice(FleetDevice):
    """An AutoCore board; its layout is learned from its messages (or its registry model)."""

    layout: Layout | None = None
    extra_sensors: int | None = None  # counted from the known keys when first needed

    def count_extra_sensors(self) -> int:
        """Return how many extra telemetry sensors the board has."""
        if self.extra_sensors is None:
            self.extra_sensors = sum(
                key.startswith(keys.EXTRA_TELEMETRY_PREFIX) for key in self.known_keys
            )
        return self.extra_sensors

    def as_diagnostics(self) -> dict[str, Any]:
        """Describe the board, with the layout it speaks."""
        return {**super().as_diagnostics(), "layout": self.layout}


class AutoCoreHub(FleetHub[AutoCoreDevice]):
    """Route AutoCore messages of both layouts under one base topic."""

    family = "autocore"
    device_type = AutoCoreDevice
    protocol: AutoCoreProtocol
    title = "AutoCore"
    manufacturer = "AutoCore"
    default_offline_timeout = 90

    def __init__(self, hass: HomeAssistant, entry: FleetConfigEntry) -> None:
        """Build the protocol for the entry's base topic and relay command template."""
        super().__init__(hass, entry)
        self.protocol = AutoCoreProtocol(
            self.base, entry.options.get(CONF_RELAY_COMMAND_TOPIC, DEFAULT_RELAY_COMMAND_TOPIC)
        )
        self.max_extra_sensors = int(
            entry.options.get(CONF_MAX_EXTRA_SENSORS, DEFAULT_MAX_EXTRA_SENSORS)
        )

    @callback
    def async_apply_family_options(
        self, options: Mapping[str, Any], changed: frozenset[str]
    ) -> bool:
        """Take a new relay command topic and extra sensor cap without a reload.

        The next relay command uses the new topic. The cap applies to sensors a board adds
        from now on; extra sensors it already has stay. An issue about the old cap goes: the
        next refusal raises it with the new one.
        """
        if changed - {CONF_RELAY_COMMAND_TOPIC, CONF_MAX_EXTRA_SENSORS}:
            return False
        if CONF_RELAY_COMMAND_TOPIC in changed:
            self.protocol = AutoCoreProtocol(
                self.base, options.get(CONF_RELAY_COMMAND_TOPIC, DEFAULT_RELAY_COMMAND_TOPIC)
            )
        if CONF_MAX_EXTRA_SENSORS in changed:
            self.max_extra_sensors = int(
                options.get(CONF_MAX_EXTRA_SENSORS, DEFAULT_MAX_EXTRA_SENSORS)
            )
            self.async_clear_issue(f"{ADMISSION_PREFIX}{Refusal.MAX_EXTRA_SENSORS}")
        return True

    @callback
    def async_restore(self) -> None:
        """Restore the boards, each with the layout its registry model names."""
        super().async_restore()
        layouts = {model: layout for layout, model in LAYOUT_MODELS.items()}
        models = {
            entry.id: entry.model
            for entry in dr.async_entries_for_config_entry(
                dr.async_get(self.hass), self.entry.entry_id
            )
        }
        for device in self.devices.values():
            device.layout = layouts.get(models.get(device.registry_id) or "")

    def handle(
        self, topic: str, payload: bytes, monotonic: float, wall: float, *, live: bool
    ) -> tuple[str, ...]:
        """Apply one AutoCore message to its board."""
        message = self.protocol.parse(topic, payload)
        device = self.devices.get(message.device_id) or self.async_device_for(
            message.device_id, LAYOUT_MODELS[message.layout], _board_name(message)
        )
        if device.layout is not message.layout:
            device.layout = message.layout
            self.async_update_device_registry(device, model=LAYOUT_MODELS[message.layout])
        match message:
            case DeviceStatus():
                self._apply_status(device, message, wall if live else None)
            case Telemetry():
                self._apply_telemetry(device, message, topic, payload, wall if live else None)
            case RelayState(layout=layout, relay=relay, state=state):
                device.async_set_value(keys.relay_key(layout, relay), state)
            case RelayStates(relays=relays):
                for channel, state in relays.items():
                    device.async_set_value(keys.relay_key(Layout.FIRMWARE_V2, channel), state)
            case SafetyShutoff(relay=relay, reason=reason, payload=data):
                device.async_set_value(keys.relay_key(Layout.FIRMWARE_V2, relay), False)
                self.async_fire_device_event(
                    EVENT_SYSTEM_MESSAGE,
                    device,
                    {"kind": "safety_shutoff", "reason": reason, "payload": data},
                )
            case DisplayInteraction(data=data):
                device.async_push(keys.DISPLAY, data)
                self.async_fire_device_event(EVENT_DISPLAY_INTERACTION, device, dict(data))
            case SystemMessage(kind=kind, payload=data, error_type=error_type):
                event = {"kind": kind, "payload": data}
                if error_type is not None:
                    event["error_type"] = error_type
                self.async_fire_device_event(EVENT_SYSTEM_MESSAGE, device, event)
        device.async_mark_seen(monotonic, wall, live=live)
        return message.problems

    def _apply_telemetry(
        self,
        device: AutoCoreDevice,
        telemetry: Telemetry,
        topic: str,
        payload: bytes,
        sent: float | None,
    ) -> None:
        for name, value in telemetry.values.items():
            if (key := keys.TELEMETRY[name]) != LAST_RESTART:
                device.async_set_value(key, value)
            elif sent is not None:
                async_set_last_restart(device, value, sent)
        for name, value in telemetry.extra.items():
            key = keys.extra_telemetry_key(name)
            if key in device.known_keys or self._admit_extra_sensor(device, key, topic, payload):
                device.async_set_value(key, value)

    def _admit_extra_sensor(
        self, device: AutoCoreDevice, key: str, topic: str, payload: bytes
    ) -> bool:
        """Count a new extra sensor against the board's cap; refuse it beyond."""
        if (count := device.count_extra_sensors()) < self.max_extra_sensors:
            device.extra_sensors = count + 1
            return True
        self.async_refuse(
            Refusal.MAX_EXTRA_SENSORS,
            self.max_extra_sensors,
            topic,
            payload,
            f"sensor {key} of {device.wire_id} refused: "
            f"the board has {self.max_extra_sensors} extra sensors, its limit",
        )
        return False

    def _apply_status(
        self, device: AutoCoreDevice, status: DeviceStatus, sent: float | None
    ) -> None:
        """Apply a status; `sent` is a live message's receive time, None for a replayed one.

        An uptime dates the last restart only in a live status: the time a retained one was
        sent is unknown.
        """
        device.async_set_online(status.online)
        for key, read in STATUS_VALUES:
            if (value := read(status)) is not None:
                device.async_set_value(key, value)
        if status.uptime is not None and sent is not None:
            async_set_last_restart(device, status.uptime, sent)
        self._apply_ip_address(device, status)
        registry: dict[str, str] = {}
        if status.firmware_version is not None:
            registry["sw_version"] = status.firmware_version
        if (name := _board_name(status)) is not None:
            registry.update(name=name, serial_number=device.wire_id)
        if registry:
            self.async_update_device_registry(device, **registry)

    def _apply_ip_address(self, device: AutoCoreDevice, status: DeviceStatus) -> None:
        """Show the address; an online board without a usable one has an unknown address.

        Firmware v2 sends `0.0.0.0`: its board gets no address sensor, and one shown before
        turns unknown. The Last Will says nothing of the address and changes nothing.
        """
        if status.ip_address is not None:
            device.async_set_value(keys.IP_ADDRESS, status.ip_address)
        elif status.online and keys.IP_ADDRESS in device.known_keys:
            device.async_set_value(keys.IP_ADDRESS, None)

    async def async_switch_relay(
        self, device: FleetDevice, layout: Layout, relay: int, state: bool
    ) -> None:
        """Command a relay and wait for the board to confirm it (TimeoutError if not)."""
        message = self.protocol.relay_command(device.wire_id, layout, relay, state)
        async with asyncio.timeout(RELAY_CONFIRM_TIMEOUT):
            await device.async_request(
                keys.relay_key(layout, relay), state, lambda: self.async_publish(message)
            )

    async def async_send_command(self, device: AutoCoreDevice, command: DeviceCommand) -> None:
        """Send a firmware v2 device command."""
        if device.layout is not Layout.FIRMWARE_V2:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="command_not_supported",
                translation_placeholders={"device": device.wire_id, "command": command},
            )
        await self.async_publish(self.protocol.device_command(device.wire_id, command))

    @callback
    def async_mqtt_reconnected(self) -> None:
        """Ask every firmware v2 board to republish its status after a reconnect."""
        if (asking := self.statuses_requested(list(self.devices.values()))) is not None:
            self.entry.async_create_background_task(self.hass, asking, f"{DOMAIN} status request")

    def statuses_requested(self, devices: list[FleetDevice]) -> Coroutine[Any, Any, None] | None:
        """Return the paced requests to the firmware v2 boards among `devices`."""
        boards = [
            device.wire_id
            for device in devices
            if isinstance(device, AutoCoreDevice) and device.layout is Layout.FIRMWARE_V2
        ]
        if not boards:
            return None
        LOGGER.debug("Asking %d AutoCore boards for their status", len(boards))
        return self._async_request_status(boards)

    async def _async_request_status(self, boards: list[str]) -> None:
        """Publish the requests a round at a time, STATUS_REQUESTS_PER_SECOND at most."""
        try:
            for start in range(0, len(boards), STATUS_REQUESTS_PER_ROUND):
                if start:
                    await asyncio.sleep(STATUS_REQUESTS_PER_ROUND / STATUS_REQUESTS_PER_SECOND)
                for wire_id in boards[start : start + STATUS_REQUESTS_PER_ROUND]:
                    await self.async_publish(
                        self.protocol.device_command(wire_id, DeviceCommand.STATUS)
                    )
        except HomeAssistantError as err:
            LOGGER.debug("Status requests stopped: %s", err)
