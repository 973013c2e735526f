"""AutoCore entities: telemetry and status sensors, relay switches, display events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from homeassistant.components.event import EventEntity
from homeassistant.components.sensor import SensorDeviceClass, SensorStateClass
from homeassistant.components.switch import SwitchEntity
from homeassistant.const import (
    PERCENTAGE,
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    STATE_ON,
    EntityCategory,
    UnitOfElectricPotential,
    UnitOfPressure,
    UnitOfTemperature,
)
from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.restore_state import RestoreEntity

from ...const import DOMAIN
from ...entities.base import FleetEntity
from ...entities.sensor import (
    FREE_MEMORY,
    LAST_RESTART,
    LAST_SEEN,
    FleetSensorDescription,
    always_available,
    catalogue,
)
from . import keys
from .hub import RELAY_CONFIRM_TIMEOUT, AutoCoreHub

if TYPE_CHECKING:
    from ...device import FleetDevice
    from ...hub import EntityFactory, FleetHub
    from ...protocol.autocore import Layout

EVENT_TYPE_INTERACTION = "interaction"

SENSORS = catalogue(
    FleetSensorDescription(
        key=keys.TEMPERATURE,
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    FleetSensorDescription(
        key=keys.HUMIDITY,
        device_class=SensorDeviceClass.HUMIDITY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    FleetSensorDescription(
        key=keys.VOLTAGE,
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
    ),
    FleetSensorDescription(
        key=keys.PRESSURE,
        translation_key="pressure",
        device_class=SensorDeviceClass.ATMOSPHERIC_PRESSURE,
        native_unit_of_measurement=UnitOfPressure.HPA,  # what the boards send: 1012.6
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
    ),
    FREE_MEMORY,
    LAST_RESTART,
    FleetSensorDescription(
        key=keys.WIFI_SIGNAL,
        translation_key="wifi_signal",
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key=keys.IP_ADDRESS,
        translation_key="ip_address",
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    FleetSensorDescription(
        key=keys.DISCONNECT_REASON,
        translation_key="disconnect_reason",
        entity_category=EntityCategory.DIAGNOSTIC,
        available_fn=always_available,  # it matters most while the board is away
    ),
    LAST_SEEN,
)


def _telemetry_name(key: str) -> str:
    """Name a telemetry key for display: `pm2_5` becomes `Pm2 5`, `CO2` stays `CO2`."""
    name = key.removeprefix(keys.EXTRA_TELEMETRY_PREFIX).replace("_", " ")
    return name[:1].upper() + name[1:]


def describe_sensor(key: str) -> FleetSensorDescription | None:
    """Return the description for a key; telemetry the protocol does not name gets one."""
    if (description := SENSORS.get(key)) is not None:
        return description
    if key.startswith(keys.EXTRA_TELEMETRY_PREFIX):
        return FleetSensorDescription(
            key=key,
            translation_key="telemetry",
            translation_placeholders={"key": _telemetry_name(key)},
            state_class=SensorStateClass.MEASUREMENT,
        )
    return None


def relay_switches(hub: FleetHub[Any]) -> EntityFactory:
    """Return the factory of a switch per relay key."""
    autocore_hub = cast("AutoCoreHub", hub)  # the spec pairs this factory with AutoCoreHub

    def factory(device: FleetDevice, key: str) -> RelaySwitch | None:
        if (relay := keys.parse_relay_key(key)) is None:
            return None
        return RelaySwitch(autocore_hub, device, key, *relay)

    return factory


def display_events(_hub: FleetHub[Any]) -> EntityFactory:
    """Return the factory of a board's display event entity."""

    def factory(device: FleetDevice, key: str) -> DisplayEvent | None:
        return DisplayEvent(device, key) if key == keys.DISPLAY else None

    return factory


class RelaySwitch(FleetEntity, SwitchEntity, RestoreEntity):
    """A relay; never optimistic: the state changes when the board confirms it."""

    _attr_translation_key = "relay"

    def __init__(
        self, hub: AutoCoreHub, device: FleetDevice, key: str, layout: Layout, relay: int
    ) -> None:
        """Bind the switch to its board and relay number."""
        super().__init__(device, key)
        self.hub = hub
        self.layout = layout
        self.relay = relay
        self.label = keys.relay_label(layout, relay)
        self._attr_translation_placeholders = {"relay": self.label}
        self._restored: bool | None = None

    async def async_added_to_hass(self) -> None:
        """Restore the last confirmed state, shown until the board reports again."""
        await super().async_added_to_hass()
        if (state := await self.async_get_last_state()) is not None:
            self._restored = state.state == STATE_ON

    @property
    def is_on(self) -> bool | None:
        """Return the state the board last confirmed."""
        value = self.value
        return self._restored if value is None else bool(value)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch the relay on and wait for the board to confirm."""
        await self._async_switch(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch the relay off and wait for the board to confirm."""
        await self._async_switch(False)

    async def _async_switch(self, state: bool) -> None:
        try:
            await self.hub.async_switch_relay(self.device, self.layout, self.relay, state)
        except TimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="relay_not_confirmed",
                translation_placeholders={
                    "device": self.device.wire_id,
                    "relay": self.label,
                    "timeout": str(int(RELAY_CONFIRM_TIMEOUT)),
                },
            ) from err


class DisplayEvent(FleetEntity, EventEntity):
    """Fires when a user touches the board's display; attributes carry the payload."""

    _attr_translation_key = "display"
    _attr_event_types = [EVENT_TYPE_INTERACTION]  # noqa: RUF012 - HA's attribute convention
    _last_interaction: Any = None

    async def async_added_to_hass(self) -> None:
        """Fire the interaction that created the entity (values only come from this run).

        It fires once the entity's first state is written: the logbook skips an entity's
        first state, so firing in that write would leave the first press unlogged.
        """
        await super().async_added_to_hass()
        if self.value is not None:
            self.async_on_remove(self.hass.loop.call_soon(self._async_device_updated).cancel)

    @callback
    def _async_device_updated(self) -> None:
        """Trigger once per new interaction; availability changes only write state."""
        interaction = self.value
        if interaction is not None and interaction is not self._last_interaction:
            self._last_interaction = interaction
            self._trigger_event(EVENT_TYPE_INTERACTION, dict(interaction))
        self.async_write_ha_state()
