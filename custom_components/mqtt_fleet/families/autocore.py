"""AutoCore ESP32 boards: how their messages change devices, and their commands."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from ..const import (
    CONF_RELAY_COMMAND_TOPIC,
    DOMAIN,
    EVENT_DISPLAY_INTERACTION,
    EVENT_SYSTEM_MESSAGE,
    LOGGER,
    RELAY_CONFIRM_TIMEOUT,
    Family,
)
from ..hub import FleetDevice, FleetHub
from ..protocol.autocore import (
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

if TYPE_CHECKING:
    from collections.abc import Iterable

    from homeassistant.core import HomeAssistant

    from ..hub import FleetConfigEntry

# Entity keys: relays keep the board's own numbering, and the key says the layout.
_RELAY_KEY_PREFIX: Final = {Layout.MONITOR: "relay_", Layout.FIRMWARE_V2: "channel_"}
EXTRA_TELEMETRY_PREFIX: Final = "telemetry_"
STATUS_VALUES: Final = ("ip_address", "firmware_version", "uptime", "wifi_signal", "free_memory")
LAYOUT_MODELS: Final = {
    Layout.MONITOR: "ESP32 (monitor layout)",
    Layout.FIRMWARE_V2: "ESP32 relay board (firmware v2)",
}


def relay_key(layout: Layout, relay: int) -> str:
    """Return the entity key of a relay."""
    return f"{_RELAY_KEY_PREFIX[layout]}{relay}"


def parse_relay_key(key: str) -> tuple[Layout, int] | None:
    """Return (layout, relay) for a relay entity key, else None."""
    for layout, prefix in _RELAY_KEY_PREFIX.items():
        if key.startswith(prefix) and (number := key[len(prefix) :]).isdecimal():
            return layout, int(number)
    return None


def _board_name(message: AutoCoreMessage) -> str | None:
    """Name a firmware v2 board by its board id: friendlier than its UUID."""
    if not isinstance(message, DeviceStatus) or not message.board_id:
        return None
    board_id = message.board_id
    return f"AutoCore board {board_id}" if board_id.isdigit() else board_id


class AutoCoreDevice(FleetDevice):
    """An AutoCore board; its layout is learned from its messages."""

    layout: Layout | None = None

    def as_diagnostics(self) -> dict[str, Any]:
        """Describe the board, with the layout it speaks."""
        return {**super().as_diagnostics(), "layout": self.layout}


class AutoCoreHub(FleetHub[AutoCoreDevice]):
    """Route AutoCore messages of both layouts under one base topic."""

    family = Family.AUTOCORE
    manufacturer = "AutoCore"

    def __init__(self, hass: HomeAssistant, entry: FleetConfigEntry) -> None:
        """Build the protocol for the entry's base topic and relay command template."""
        super().__init__(hass, entry)
        self.protocol = AutoCoreProtocol(
            self.base, entry.options.get(CONF_RELAY_COMMAND_TOPIC, DEFAULT_RELAY_COMMAND_TOPIC)
        )

    @property
    def subscriptions(self) -> Iterable[str]:
        """Return the topic filters of both layouts."""
        return self.protocol.subscriptions

    def create_device(self, device_id: str, registry_id: str, *, restored: bool) -> AutoCoreDevice:
        """Make an AutoCore device."""
        return AutoCoreDevice(self, device_id, registry_id, restored=restored)

    def handle(self, topic: str, payload: bytes, monotonic: float, wall: float) -> tuple[str, ...]:
        """Apply one AutoCore message to its board."""
        message = self.protocol.parse(topic, payload)
        device = self.devices.get(message.device_id) or self.device_for(
            message.device_id, LAYOUT_MODELS[message.layout], _board_name(message)
        )
        if device.layout is not message.layout:
            device.layout = message.layout
            self.async_update_device_registry(device, model=LAYOUT_MODELS[message.layout])
        match message:
            case DeviceStatus():
                self._apply_status(device, message)
            case Telemetry(values=values, extra=extra):
                for key, value in values.items():
                    device.set_value(key, value)
                for key, value in extra.items():
                    device.set_value(f"{EXTRA_TELEMETRY_PREFIX}{key}", value)
            case RelayState(layout=layout, relay=relay, state=state):
                device.set_value(relay_key(layout, relay), state)
            case RelayStates(relays=relays):
                for channel, state in relays.items():
                    device.set_value(relay_key(Layout.FIRMWARE_V2, channel), state)
            case SafetyShutoff(relay=relay, reason=reason, payload=data):
                device.set_value(relay_key(Layout.FIRMWARE_V2, relay), False)
                self.fire_device_event(
                    EVENT_SYSTEM_MESSAGE,
                    device,
                    {"kind": "safety_shutoff", "reason": reason, "payload": data},
                )
            case DisplayInteraction(data=data):
                device.push("display", data)
                self.fire_device_event(EVENT_DISPLAY_INTERACTION, device, dict(data))
            case SystemMessage(kind=kind, payload=data, error_type=error_type):
                event = {"kind": kind, "payload": data}
                if error_type is not None:
                    event["error_type"] = error_type
                self.fire_device_event(EVENT_SYSTEM_MESSAGE, device, event)
        device.mark_seen(monotonic, wall)
        return message.problems

    def _apply_status(self, device: AutoCoreDevice, status: DeviceStatus) -> None:
        device.set_online(status.online)
        for key in STATUS_VALUES:
            if (value := getattr(status, key)) is not None:
                device.set_value(key, value)
        registry: dict[str, str] = {}
        if status.firmware_version is not None:
            registry["sw_version"] = status.firmware_version
        if (name := _board_name(status)) is not None:
            registry.update(name=name, serial_number=device.device_id)
        if registry:
            self.async_update_device_registry(device, **registry)

    async def async_switch_relay(
        self, device: FleetDevice, layout: Layout, relay: int, state: bool
    ) -> None:
        """Command a relay and wait for the board to confirm it (TimeoutError if not)."""
        message = self.protocol.relay_command(device.device_id, layout, relay, state)
        async with asyncio.timeout(RELAY_CONFIRM_TIMEOUT):
            await device.async_request(
                relay_key(layout, relay), state, lambda: self.async_publish(message)
            )

    async def async_send_command(self, device: AutoCoreDevice, command: DeviceCommand) -> None:
        """Send a firmware v2 device command."""
        if device.layout is not Layout.FIRMWARE_V2:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="command_not_supported",
                translation_placeholders={"device": device.device_id, "command": command},
            )
        await self.async_publish(self.protocol.device_command(device.device_id, command))

    @callback
    def async_mqtt_reconnected(self) -> None:
        """Ask every firmware v2 board to republish its status after a reconnect."""
        boards = [
            device.device_id
            for device in self.devices.values()
            if device.layout is Layout.FIRMWARE_V2
        ]
        if boards:
            LOGGER.debug("Asking %d AutoCore boards for their status", len(boards))
            self.entry.async_create_background_task(
                self.hass, self._async_request_status(boards), f"{DOMAIN} status request"
            )

    async def _async_request_status(self, boards: list[str]) -> None:
        try:
            for device_id in boards:
                await self.async_publish(
                    self.protocol.device_command(device_id, DeviceCommand.STATUS)
                )
        except HomeAssistantError as err:
            LOGGER.debug("Status requests stopped: %s", err)
