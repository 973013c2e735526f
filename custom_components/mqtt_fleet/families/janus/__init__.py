"""Janus WebRTC gateways: online status, sessions, and the admin API over MQTT."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.const import Platform
import probatio as vol

from ...const import (
    CONF_ADMIN_SECRET,
    CONF_OFFLINE_TIMEOUT,
    CONF_STALE_DEVICE_DAYS,
    DEFAULT_STALE_DEVICE_DAYS,
)
from ...entities.sensor import sensor_factory
from ...family import FamilySpec
from ...flow_fields import (
    LIST_SELECTOR,
    SECRET_SELECTOR,
    offline_timeout_field,
    seconds_selector,
    stale_days_field,
)
from ...protocol.janus import JanusProtocol, ServerStatus
from ...protocol.payload import InvalidMessage
from ...protocol.topics import is_safe_id
from . import keys
from .actions import async_register_actions
from .entities import SENSORS
from .hub import (
    CONF_POLL_INTERVAL,
    CONF_SERVERS,
    DEFAULT_POLL_INTERVAL,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    JanusHub,
)
from .validate import async_validate_entry, discovery_options

if TYPE_CHECKING:
    from collections.abc import Mapping


def discovered_device(base: str, topic: str, payload: bytes) -> str | None:
    """Return the server of a valid status message."""
    try:
        message = JanusProtocol(base).parse(topic, payload)
    except InvalidMessage:
        return None
    return message.server if isinstance(message, ServerStatus) else None


def option_fields() -> dict[vol.Marker, Any]:
    """Return the options form: timeouts, the admin poll interval and known servers."""
    return {
        **offline_timeout_field(),
        **stale_days_field(),
        vol.Required(CONF_POLL_INTERVAL): seconds_selector(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
        vol.Optional(CONF_SERVERS): LIST_SELECTOR,
    }


def entry_fields() -> dict[vol.Marker, Any]:
    """Return what adding the entry asks: the admin secret, and servers to check it on.

    The servers are stored in the entry's data; the hub knows them with the options' ones.
    """
    return {
        vol.Optional(CONF_ADMIN_SECRET): SECRET_SELECTOR,
        vol.Optional(CONF_SERVERS): LIST_SELECTOR,
    }


def options_errors(options: Mapping[str, Any]) -> dict[str, str]:
    """Check that a poll comes within the offline timeout and servers are topic levels."""
    errors: dict[str, str] = {}
    poll_interval = options.get(CONF_POLL_INTERVAL)
    if poll_interval is not None and poll_interval >= options.get(CONF_OFFLINE_TIMEOUT, 0):
        errors[CONF_POLL_INTERVAL] = "poll_interval_too_long"
    if not all(is_safe_id(server) for server in options.get(CONF_SERVERS, [])):
        errors[CONF_SERVERS] = "servers_invalid"
    return errors


SPEC = FamilySpec(
    hub_type=JanusHub,
    default_base="janus",
    discovery_topics=("janus/+/status",),
    discovered_device=discovered_device,
    default_options={
        CONF_OFFLINE_TIMEOUT: JanusHub.default_offline_timeout,
        CONF_STALE_DEVICE_DAYS: DEFAULT_STALE_DEVICE_DAYS,
        CONF_POLL_INTERVAL: DEFAULT_POLL_INTERVAL,
        CONF_SERVERS: [],
    },
    option_fields=option_fields,
    options_errors=options_errors,
    entry_fields=entry_fields,
    validate_entry=async_validate_entry,
    discovery_options=discovery_options,
    text_placeholders={"server": "<server>"},
    platforms={Platform.SENSOR: sensor_factory(SENSORS)},
    retired_keys=keys.RETIRED,
    register_actions=async_register_actions,
)
