"""SpotFi OpenWrt routers: status and heartbeat metrics; ubus RPC and the terminal tunnel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.const import Platform
from homeassistant.helpers.selector import BooleanSelector
import probatio as vol

from ...const import CONF_OFFLINE_TIMEOUT, CONF_STALE_DEVICE_DAYS, DEFAULT_STALE_DEVICE_DAYS
from ...entities.sensor import sensor_factory
from ...family import FamilySpec
from ...flow_fields import LIST_SELECTOR, offline_timeout_field, stale_days_field
from ...keys import UPTIME
from ...protocol.payload import InvalidMessage
from ...protocol.spotfi import (
    DEFAULT_RPC_ALLOW_LIST,
    RouterStatus,
    SpotFiProtocol,
    is_allow_pattern,
)
from .actions import async_register_actions
from .entities import SENSORS
from .hub import CONF_RPC_ALLOW_LIST, CONF_TERMINAL_ENABLED, SpotFiHub

if TYPE_CHECKING:
    from collections.abc import Mapping


def discovered_device(base: str, topic: str, payload: bytes) -> str | None:
    """Return the router of a valid status message."""
    try:
        message = SpotFiProtocol(base).parse(topic, payload)
    except InvalidMessage:
        return None
    return message.router if isinstance(message, RouterStatus) else None


def option_fields() -> dict[vol.Marker, Any]:
    """Return the options form: timeouts, the RPC allow-list and the terminal switch."""
    return {
        **offline_timeout_field(),
        **stale_days_field(),
        vol.Optional(CONF_RPC_ALLOW_LIST): LIST_SELECTOR,
        vol.Required(CONF_TERMINAL_ENABLED): BooleanSelector(),
    }


def options_errors(options: Mapping[str, Any]) -> dict[str, str]:
    """Every allow-list entry must be a valid pattern."""
    if not all(is_allow_pattern(pattern) for pattern in options.get(CONF_RPC_ALLOW_LIST, [])):
        return {CONF_RPC_ALLOW_LIST: "allow_list_invalid"}
    return {}


SPEC = FamilySpec(
    hub_type=SpotFiHub,
    default_base="spotfi/router",
    discovery_topics=("spotfi/router/+/status",),
    discovered_device=discovered_device,
    default_options={
        CONF_OFFLINE_TIMEOUT: SpotFiHub.default_offline_timeout,
        CONF_STALE_DEVICE_DAYS: DEFAULT_STALE_DEVICE_DAYS,
        CONF_RPC_ALLOW_LIST: list(DEFAULT_RPC_ALLOW_LIST),
        CONF_TERMINAL_ENABLED: False,
    },
    option_fields=option_fields,
    options_errors=options_errors,
    text_placeholders={"router": "<router>"},
    platforms={Platform.SENSOR: sensor_factory(SENSORS)},
    retired_keys=frozenset({UPTIME}),  # replaced by the last restart timestamp
    register_actions=async_register_actions,
)
