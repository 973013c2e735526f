"""AutoCore ESP32 boards: sensors, relays confirmed by the board, display events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.const import Platform
from homeassistant.helpers.selector import TextSelector
import probatio as vol

from ...const import CONF_OFFLINE_TIMEOUT, CONF_STALE_DEVICE_DAYS, DEFAULT_STALE_DEVICE_DAYS
from ...entities.sensor import sensor_factory
from ...family import FamilySpec
from ...flow_fields import count_selector, offline_timeout_field, stale_days_field
from ...protocol.autocore import (
    DEFAULT_RELAY_COMMAND_TOPIC,
    AutoCoreProtocol,
    DeviceStatus,
    Layout,
    relay_topic_template_problem,
)
from ...protocol.payload import InvalidMessage
from . import keys
from .actions import async_register_actions
from .entities import describe_sensor, display_events, relay_switches
from .hub import (
    CONF_MAX_EXTRA_SENSORS,
    CONF_RELAY_COMMAND_TOPIC,
    DEFAULT_MAX_EXTRA_SENSORS,
    EVENT_DISPLAY_INTERACTION,
    EVENT_SYSTEM_MESSAGE,
    LAYOUT_MODELS,
    MAX_EXTRA_SENSORS_LIMIT,
    AutoCoreHub,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

TRIGGER_DISPLAY_INTERACTION = "display_interaction"


def discovered_device(base: str, topic: str, payload: bytes) -> str | None:
    """Return the board of a status whose online state reads, even with an odd field."""
    try:
        status = AutoCoreProtocol(base).parse(topic, payload)
    except InvalidMessage:
        return None
    if isinstance(status, DeviceStatus) and status.online is not None:
        return status.device_id
    return None


def option_fields() -> dict[vol.Marker, Any]:
    """Return the options form: timeouts, the relay command topic, the sensor cap."""
    return {
        **offline_timeout_field(),
        **stale_days_field(),
        vol.Required(CONF_RELAY_COMMAND_TOPIC): TextSelector(),
        vol.Optional(CONF_MAX_EXTRA_SENSORS): count_selector(MAX_EXTRA_SENSORS_LIMIT),
    }


def options_errors(options: Mapping[str, Any]) -> dict[str, str]:
    """Check the relay command topic template."""
    template = options.get(CONF_RELAY_COMMAND_TOPIC)
    if template is not None and (problem := relay_topic_template_problem(template)):
        return {CONF_RELAY_COMMAND_TOPIC: f"template_{problem}"}
    return {}


def triggers_for_model(model: str | None) -> Iterable[str]:
    """Offer "Display used" on boards that may have a display: firmware v2 boards have none."""
    if model == LAYOUT_MODELS[Layout.FIRMWARE_V2]:
        return ()
    return (TRIGGER_DISPLAY_INTERACTION,)


def _system_message(data: Mapping[str, Any]) -> str:
    reason = data.get("reason") or data.get("error_type")
    kind = str(data.get("kind", "system"))
    return f"reported {kind}" + (f": {reason}" if reason else "")


SPEC = FamilySpec(
    hub_type=AutoCoreHub,
    default_base="autocore",
    discovery_topics=("autocore/+/status", "autocore/devices/+/status"),
    discovered_device=discovered_device,
    default_options={
        CONF_OFFLINE_TIMEOUT: AutoCoreHub.default_offline_timeout,
        CONF_STALE_DEVICE_DAYS: DEFAULT_STALE_DEVICE_DAYS,
        CONF_RELAY_COMMAND_TOPIC: DEFAULT_RELAY_COMMAND_TOPIC,
        CONF_MAX_EXTRA_SENSORS: DEFAULT_MAX_EXTRA_SENSORS,
    },
    option_fields=option_fields,
    options_errors=options_errors,
    text_placeholders={
        "device_id": "{device_id}",
        "relay": "{relay}",
        "relay_with_format": "{relay:02d}",
        "uuid": "<uuid>",
        "relay_number": "<n>",
    },
    platforms={
        Platform.SENSOR: sensor_factory(describe_sensor),
        Platform.SWITCH: relay_switches,
        Platform.EVENT: display_events,
    },
    trigger_events={TRIGGER_DISPLAY_INTERACTION: EVENT_DISPLAY_INTERACTION},
    triggers_for_model=triggers_for_model,
    retired_keys=keys.RETIRED,
    # A display interaction is logged once, by its event entity's state change.
    logbook_messages={EVENT_SYSTEM_MESSAGE: _system_message},
    register_actions=async_register_actions,
)
