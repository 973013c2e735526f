"""Constants for MQTT Fleet."""

from __future__ import annotations

from enum import StrEnum
import logging
from typing import Final

DOMAIN: Final = "mqtt_fleet"
LOGGER = logging.getLogger(__package__)


class Family(StrEnum):
    """Equipment families; one config entry serves one family under one base topic."""

    AUTOCORE = "autocore"
    JANUS = "janus"
    SPOTFI = "spotfi"
    CONTAINER_LOGS = "container_logs"


FAMILY_TITLES: Final[dict[Family, str]] = {
    Family.AUTOCORE: "AutoCore",
    Family.JANUS: "Janus",
    Family.SPOTFI: "SpotFi",
    Family.CONTAINER_LOGS: "Container logs",
}

DEFAULT_BASE_TOPICS: Final[dict[Family, str]] = {
    Family.AUTOCORE: "autocore",
    Family.JANUS: "janus",
    Family.SPOTFI: "spotfi/router",
    Family.CONTAINER_LOGS: "container-manager/logs",
}

# Config entry data
CONF_FAMILY: Final = "family"
CONF_BASE_TOPIC: Final = "base_topic"

CONF_ADMIN_SECRET: Final = "admin_secret"  # noqa: S105 - a key name; Janus, changed by reauth

# Config entry options
CONF_OFFLINE_TIMEOUT: Final = "offline_timeout"
CONF_RELAY_COMMAND_TOPIC: Final = "relay_command_topic"
CONF_POLL_INTERVAL: Final = "poll_interval"
CONF_SERVERS: Final = "servers"
CONF_RPC_ALLOW_LIST: Final = "rpc_allow_list"
CONF_TERMINAL_ENABLED: Final = "terminal_enabled"

CONF_BATCH_LOGS: Final = "batch_logs"
CONF_BATCH_INTERVAL: Final = "batch_interval"
CONF_BATCH_MAX: Final = "batch_max"
CONF_FORWARD_HA_LOGS: Final = "forward_ha_logs"
CONF_FORWARD_HA_LEVEL: Final = "forward_ha_level"
CONF_LOG_EVENT_LEVEL: Final = "log_event_level"
CONF_STALE_DEVICE_DAYS: Final = "stale_device_days"  # every family

DEFAULT_STALE_DEVICE_DAYS: Final = 30
MIN_STALE_DEVICE_DAYS: Final = 1
MAX_STALE_DEVICE_DAYS: Final = 3650

DEFAULT_POLL_INTERVAL: Final = 10
MIN_POLL_INTERVAL: Final = 2
MAX_POLL_INTERVAL: Final = 3600

DEFAULT_OFFLINE_TIMEOUT: Final[dict[Family, int]] = {
    Family.AUTOCORE: 90,
    Family.JANUS: 60,
    Family.SPOTFI: 60,
    Family.CONTAINER_LOGS: 90,
}
MIN_OFFLINE_TIMEOUT: Final = 10
MAX_OFFLINE_TIMEOUT: Final = 86400

# Bus events
EVENT_DEVICE_DISCOVERED: Final = f"{DOMAIN}_device_discovered"
EVENT_DEVICE_ONLINE: Final = f"{DOMAIN}_device_online"
EVENT_DEVICE_OFFLINE: Final = f"{DOMAIN}_device_offline"
EVENT_DISPLAY_INTERACTION: Final = f"{DOMAIN}_display_interaction"
EVENT_SYSTEM_MESSAGE: Final = f"{DOMAIN}_system_message"
EVENT_LOG: Final = f"{DOMAIN}_log"

# Actions
SERVICE_SEND_COMMAND: Final = "send_command"
SERVICE_LIST_SESSIONS: Final = "list_sessions"
SERVICE_RPC_CALL: Final = "rpc_call"
SERVICE_TERMINAL_EXEC: Final = "terminal_exec"
SERVICE_FORWARD_LOG: Final = "forward_log"
ATTR_DEVICE_ID: Final = "device_id"
ATTR_COMMAND: Final = "command"
ATTR_SERVER: Final = "server"
ATTR_ROUTER: Final = "router"
ATTR_PATH: Final = "path"
ATTR_METHOD: Final = "method"
ATTR_ARGS: Final = "args"
ATTR_TIMEOUT: Final = "timeout"
ATTR_IDLE: Final = "idle"
ATTR_MESSAGE: Final = "message"
ATTR_LEVEL: Final = "level"
ATTR_SOURCE_TYPE: Final = "source_type"
ATTR_SOURCE_NAME: Final = "source_name"
ATTR_SERVICE_ID: Final = "service_id"
ATTR_SERVICE_NAME: Final = "service_name"
ATTR_CONTAINER_ID: Final = "container_id"
ATTR_QOS: Final = "qos"
ATTR_RETAIN: Final = "retain"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"

ADMIN_REPLY_TIMEOUT: Final = 5.0
RPC_TIMEOUT: Final = 10.0
TERMINAL_TIMEOUT: Final = 10.0
TERMINAL_IDLE: Final = 1.0

# Hub bookkeeping
DEAD_LETTER_CAPACITY: Final = 50
DEAD_LETTER_PAYLOAD_BYTES: Final = 512
INVALID_LOG_INTERVAL: Final = 60.0
HUB_SENSOR_REFRESH_SECONDS: Final = 10
LAST_SEEN_WRITE_INTERVAL: Final = 30.0
RELAY_CONFIRM_TIMEOUT: Final = 5.0
