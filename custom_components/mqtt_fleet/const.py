"""Constants every family shares; what one family alone uses lives in its folder."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "mqtt_fleet"
LOGGER = logging.getLogger(__package__)

# Config entry data
CONF_FAMILY: Final = "family"
CONF_BASE_TOPIC: Final = "base_topic"
CONF_ADMIN_SECRET: Final = "admin_secret"  # noqa: S105 - a key name; asked again by reauth

# Config entry options every family has
CONF_OFFLINE_TIMEOUT: Final = "offline_timeout"  # families whose devices have connectivity
CONF_STALE_DEVICE_DAYS: Final = "stale_device_days"
CONF_MAX_DEVICES: Final = "max_devices"
CONF_NEW_DEVICES_PER_MINUTE: Final = "new_devices_per_minute"
CONF_KNOWN_DEVICES_ONLY: Final = "known_devices_only"

DEFAULT_STALE_DEVICE_DAYS: Final = 30
MIN_STALE_DEVICE_DAYS: Final = 1
MAX_STALE_DEVICE_DAYS: Final = 3650
MIN_OFFLINE_TIMEOUT: Final = 10
MAX_OFFLINE_TIMEOUT: Final = 86400

# Bus events every family fires; a family's own events are defined in its folder.
EVENT_DEVICE_DISCOVERED: Final = f"{DOMAIN}_device_discovered"
EVENT_DEVICE_ONLINE: Final = f"{DOMAIN}_device_online"
EVENT_DEVICE_OFFLINE: Final = f"{DOMAIN}_device_offline"
# Event data: the HA device registry id, and the device's own id on the wire.
ATTR_DEVICE_ID: Final = "device_id"
ATTR_WIRE_ID: Final = "device"

# Hub bookkeeping
DEAD_LETTER_CAPACITY: Final = 50
DEAD_LETTER_PAYLOAD_BYTES: Final = 512
INVALID_LOG_INTERVAL: Final = 60.0
HUB_SENSOR_REFRESH_SECONDS: Final = 10
LAST_SEEN_WRITE_INTERVAL: Final = 30.0
