"""Container logs: a device per log source, and forwarding logs onto the same scheme."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.const import Platform
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import probatio as vol

from ...const import CONF_STALE_DEVICE_DAYS, DEFAULT_STALE_DEVICE_DAYS
from ...entities.sensor import sensor_factory
from ...family import FamilySpec
from ...flow_fields import seconds_selector, stale_days_field
from ...protocol.container_logs import ContainerLogsProtocol, Level
from ...protocol.payload import InvalidMessage
from . import keys
from .actions import async_register_actions
from .entities import SENSORS, problem_events
from .hub import (
    CONF_BATCH_INTERVAL,
    CONF_BATCH_LOGS,
    CONF_BATCH_MAX,
    CONF_FORWARD_BUFFER_MB,
    CONF_FORWARD_HA_LEVEL,
    CONF_FORWARD_HA_LOGS,
    CONF_LOG_EVENT_LEVEL,
    DEFAULT_BASE,
    DEFAULT_BATCH_INTERVAL,
    DEFAULT_BATCH_MAX,
    DEFAULT_FORWARD_BUFFER_MB,
    PROBLEM_EVENT_TYPES,
    PROBLEM_EVENTS,
    ContainerLogsHub,
)

MAX_FORWARD_BUFFER_MB: Final = 256


def _level_selector(levels: list[str]) -> SelectSelector:
    return SelectSelector(
        SelectSelectorConfig(
            options=levels, translation_key="log_level", mode=SelectSelectorMode.DROPDOWN
        )
    )


def discovered_device(base: str, topic: str, payload: bytes) -> str | None:
    """Return the source of a valid log message (the manager's own logs find the entry)."""
    try:
        stream = ContainerLogsProtocol(base).parse(topic, payload)
    except InvalidMessage:
        return None
    return stream.source if stream.logs else None


def option_fields() -> dict[vol.Marker, Any]:
    """Return the options form: batching, the buffer, forwarding HA's records, events."""
    return {
        vol.Required(CONF_BATCH_LOGS): BooleanSelector(),
        vol.Required(CONF_BATCH_INTERVAL): seconds_selector(0.1, 60, step=0.1),
        vol.Required(CONF_BATCH_MAX): NumberSelector(
            NumberSelectorConfig(min=1, max=1000, step=1, mode=NumberSelectorMode.BOX)
        ),
        vol.Required(CONF_FORWARD_BUFFER_MB): NumberSelector(
            NumberSelectorConfig(
                min=1,
                max=MAX_FORWARD_BUFFER_MB,
                step=1,
                unit_of_measurement="MiB",
                mode=NumberSelectorMode.BOX,
            )
        ),
        vol.Required(CONF_FORWARD_HA_LOGS): BooleanSelector(),
        # HA's own debug records include the event bus handling our events: never forwarded.
        vol.Required(CONF_FORWARD_HA_LEVEL): _level_selector(
            [level.value for level in Level if level is not Level.DEBUG]
        ),
        vol.Required(CONF_LOG_EVENT_LEVEL): _level_selector([level.value for level in Level]),
        **stale_days_field(),
    }


SPEC = FamilySpec(
    hub_type=ContainerLogsHub,
    default_base=DEFAULT_BASE,
    # The manager's own logs find the entry: a filter over every log would start a
    # discovery flow per log line.
    discovery_topics=(f"{DEFAULT_BASE}/manager/#",),
    discovered_device=discovered_device,
    default_options={
        CONF_BATCH_LOGS: True,
        CONF_BATCH_INTERVAL: DEFAULT_BATCH_INTERVAL,
        CONF_BATCH_MAX: DEFAULT_BATCH_MAX,
        CONF_FORWARD_BUFFER_MB: DEFAULT_FORWARD_BUFFER_MB,
        CONF_FORWARD_HA_LOGS: False,
        CONF_FORWARD_HA_LEVEL: Level.WARN.value,
        CONF_LOG_EVENT_LEVEL: Level.WARN.value,
        CONF_STALE_DEVICE_DAYS: DEFAULT_STALE_DEVICE_DAYS,
    },
    option_fields=option_fields,
    text_placeholders={
        "batch_payload": "{count, logs}",
        "app": "<app>",
        "service": "<service>",
        "level": "<level>",
    },
    platforms={Platform.SENSOR: sensor_factory(SENSORS), Platform.EVENT: problem_events},
    trigger_events={
        f"logged_{event_type}": PROBLEM_EVENTS[level]
        for level, event_type in PROBLEM_EVENT_TYPES.items()
    },
    retired_keys=keys.RETIRED,
    # No logbook lines of our own: the problem event entity's fires are the logbook's
    # entries, one per problem shown (paced); `mqtt_fleet_log` is for automations.
    register_actions=async_register_actions,
)
