"""Entity keys every family shares: each is part of entity unique ids, so never renamed.

A family's own keys are constants in its folder; none is derived from a protocol field name.
"""

from __future__ import annotations

from typing import Final

# Device entities
CONNECTIVITY: Final = "connectivity"
LAST_SEEN: Final = "last_seen"
UPTIME: Final = "uptime"  # retired: a duration that only grows, shown as LAST_RESTART
LAST_RESTART: Final = "last_restart"
FREE_MEMORY: Final = "free_memory"

# Hub entities
MQTT_CONNECTED: Final = "mqtt_connected"
MESSAGES_RECEIVED: Final = "messages_received"
INVALID_MESSAGES: Final = "invalid_messages"
MESSAGE_RATE: Final = "message_rate"
DEVICES_ONLINE: Final = "devices_online"
