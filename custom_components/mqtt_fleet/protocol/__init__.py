"""The wire protocols MQTT Fleet speaks: pure Python, no I/O and no Home Assistant imports.

Each family module has a protocol class built once for a base topic. Its `parse(topic,
payload)` returns a typed, frozen message or raises InvalidMessage; its builders return an
OutgoingMessage (topic, payload bytes, QoS, retain) for any transport to publish. A message
with a bad optional field is still returned, and its `problems` tuple names what was
refused.

Modules:

- `autocore`: AutoCore ESP32 boards, both topic layouts.
- `janus`: Janus WebRTC gateways, status and the admin API.
- `spotfi`: SpotFi OpenWrt routers, status, metrics, ubus RPC and the terminal tunnel.
- `container_logs`: MqttLogBackend container log streams, read and written.
- `correlation`: replies awaited by transaction or request id (asyncio).
- `payload` and `topics`: decoding, typed field reads and topic safety, shared by the above.

The wire contract is described in docs/protocols.md.
"""

from . import autocore, container_logs, correlation, janus, payload, spotfi, topics
from .autocore import AutoCoreProtocol
from .container_logs import ContainerLogsProtocol
from .correlation import PendingReplies
from .janus import JanusProtocol
from .payload import MAX_PAYLOAD_BYTES, InvalidMessage, display_text
from .spotfi import SpotFiProtocol
from .topics import OutgoingMessage, UnsafeIdError, base_topic_problem, is_safe_id

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "AutoCoreProtocol",
    "ContainerLogsProtocol",
    "InvalidMessage",
    "JanusProtocol",
    "OutgoingMessage",
    "PendingReplies",
    "SpotFiProtocol",
    "UnsafeIdError",
    "autocore",
    "base_topic_problem",
    "container_logs",
    "correlation",
    "display_text",
    "is_safe_id",
    "janus",
    "payload",
    "spotfi",
    "topics",
]
