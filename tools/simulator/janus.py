"""Janus WebRTC gateways with the MQTT transport's admin API (docs/protocols.md, "Janus").

Each server has its own connection, announces itself with the transport's connect
message and leaves its disconnect message as the Last Will. SIGUSR1 cuts one off.
"""

from __future__ import annotations

from functools import partial
import json
import os
import random
import signal
from typing import TYPE_CHECKING, override

from .core import LOG, Family, Job, Link, ReplyPacer, Runner, Settings, Will, drop_all
from .payloads import Payload, reject_constant, walk

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

JANUS_ONLINE = '{"online": true}'  # the transport's usual connect_message
JANUS_OFFLINE = '{"online": false}'  # its disconnect_message, also the Last Will
JANUS_UNAUTHORIZED = "Unauthorized request (wrong or missing secret/token)"
JANUS_DRIFT_SECONDS = 4.0  # how often users may join or leave a server
JANUS_MAX_SESSIONS = 25
JANUS_ID_LIMIT = 2**53  # Janus keeps its random ids JavaScript-safe


def janus_error(
    code: int, reason: str, transaction: str | None = None, session_id: int = 0
) -> Payload:
    """Build an error reply in janus_process_error's field order; validation errors lack T."""
    reply: Payload = {"janus": "error"}
    if session_id:
        reply["session_id"] = session_id
    if transaction is not None:
        reply["transaction"] = transaction
    reply["error"] = {"code": code, "reason": reason}
    return reply


def janus_plugin(name: str, author: str, description: str, version: str) -> Payload:
    """Describe a plugin or transport the way server_info lists it."""
    number = int(version.replace(".", ""))
    return {
        "name": name,
        "author": author,
        "description": description,
        "version_string": version,
        "version": number,
    }


JANUS_BUILD: Payload = {
    "name": "Janus WebRTC Server",
    "version": 1400,
    "version_string": "1.4.0",
    "author": "Meetecho s.r.l.",
    "commit-hash": "4d5c0ee9f31e4f5a6b9ae0be6f2c6a3bd8a0d1e7",
    "compile-time": "Thu Feb 27 10:12:44 UTC 2025",
    "log-to-stdout": True,
    "log-to-file": False,
    "data_channels": True,
    "accepting-new-sessions": True,
    "session-timeout": 60,
    "reclaim-session-timeout": 0,
    "candidates-timeout": 45,
}
JANUS_FEATURES: Payload = {
    "ipv6": False,
    "ice-lite": False,
    "ice-tcp": False,
    "ice-nomination": "aggressive",
    "ice-consent-freshness": False,
    "ice-keepalive-conncheck": False,
    "hangup-on-failed": False,
    "full-trickle": False,
    "mdns-enabled": False,
    "min-nack-queue": 200,
    "nack-optimizations": False,
    "twcc-period": 200,
    "dtls-mtu": 1200,
    "static-event-loops": 0,
    "api_secret": False,
    "auth_token": False,
    "event_handlers": False,
    "opaqueid_in_api": False,
    "dependencies": {
        "glib2": "2.74.6",
        "jansson": "2.14",
        "libnice": "0.1.21",
        "libsrtp": "libsrtp2 2.5.0",
        "libcurl": "7.88.1",
        "crypto": "OpenSSL 3.0.15 3 Sep 2024",
    },
    "transports": {
        "janus.transport.http": janus_plugin(
            "JANUS REST (HTTP/HTTPS) transport plugin",
            "Meetecho s.r.l.",
            "This transport plugin adds REST (HTTP/HTTPS) support to the Janus API "
            "via libmicrohttpd.",
            "0.0.2",
        ),
        "janus.transport.mqtt": janus_plugin(
            "JANUS MQTT transport plugin",
            "Andrei Nesterov <ae.nesterov@gmail.com>",
            "This transport plugin adds MQTT support to the Janus API via Paho client library.",
            "0.0.1",
        ),
    },
    "events": {},
    "loggers": {},
    "plugins": {
        "janus.plugin.echotest": janus_plugin(
            "JANUS EchoTest plugin",
            "Meetecho s.r.l.",
            "This is a trivial EchoTest plugin for Janus, just used to showcase the plugin "
            "interface.",
            "0.0.8",
        ),
        "janus.plugin.videoroom": janus_plugin(
            "JANUS VideoRoom plugin",
            "Meetecho s.r.l.",
            "This is a plugin implementing a videoconferencing SFU (Selective Forwarding Unit) "
            "for Janus, that is an audio/video router.",
            "0.0.9",
        ),
    },
}
JANUS_STATUS: Payload = {
    "token_auth": False,
    "session_timeout": 60,
    "reclaim_session_timeout": 0,
    "candidates_timeout": 45,
    "log_level": 4,
    "log_timestamps": False,
    "log_colors": False,
    "log_rotate_sig": 0,
    "locking_debug": False,
    "refcount_debug": False,
    "min_nack_queue": 200,
    "nack-optimizations": False,
    "no_media_timer": 1,
    "slowlink_threshold": 0,
}


class JanusServer:
    """One Janus instance whose MQTT transport has the admin API enabled.

    Answers follow janus.c's janus_process_incoming_admin_request: transaction and
    janus are validated first (no transaction in those errors), info and ping need no
    secret, anything else needs admin_secret, and an unknown request gets 457. With
    wrong_path the admin topics are wired to the plain API, which answers info and ping
    but nothing admin-only. Replies are compact and keep insertion order, like the
    transport's default JSON_COMPACT | JSON_PRESERVE_ORDER.
    """

    def __init__(self, settings: Settings, runner: Runner, number: int, rng: random.Random) -> None:
        """Open a few sessions and build the connection; nothing goes on the wire yet."""
        self.name = f"janus-{number:02d}"
        self._settings = settings
        self._runner = runner
        self._rng = rng
        self._wrong_path = number <= settings.janus_wrong_path
        self._local_ip = f"10.20.{number // 250}.{10 + number % 250}"
        self._sessions: dict[int, list[int]] = {}  # session id -> its handle ids
        self._target = rng.uniform(2.0, 20.0)  # where the session count is heading
        for _ in range(round(self._target)):
            self._open_session()
        root = f"{settings.janus_base}/{self.name}"
        self._status_topic = f"{root}/status"
        self._reply_topic = f"{root}/from-janus-admin"
        self.link = Link(
            settings,
            runner,
            client_id=f"{self.name}-{os.getpid()}",
            subscriptions=[f"{root}/to-janus-admin"],
            on_message=self._on_request,
            on_reconnect=self.announce,
            will=lambda: Will(self._status_topic, JANUS_OFFLINE, retain=False),
        )
        self._replies = ReplyPacer(
            runner, self.link, settings.janus_reply_delay, settings.reply_jitter, self.name
        )

    def start(self) -> mqtt.MQTTMessageInfo:
        """Let users come and go from now on, and say the server is online."""
        self._runner.every(
            JANUS_DRIFT_SECONDS, self._drift, jitter=partial(self._rng.uniform, 0.5, 1.5)
        )
        return self.announce()

    def announce(self) -> mqtt.MQTTMessageInfo:
        """Publish the connect message; not retained, as Janus leaves retain off by default."""
        return self.link.publish_text(self._status_topic, JANUS_ONLINE, qos=1)

    def _drift(self) -> None:
        # One user comes or goes per tick; the count follows a slowly wandering target.
        self._target = walk(self._rng, self._target, 1.5, 0.0, JANUS_MAX_SESSIONS)
        count, target = len(self._sessions), round(self._target)
        if count < target:
            self._open_session()
        elif count > target:
            self._close_session()
        elif count and self._rng.random() < 0.3:  # one leaves, another joins
            self._close_session()
            self._open_session()

    def _open_session(self) -> None:
        handles = [self._rng.randrange(1, JANUS_ID_LIMIT) for _ in range(self._rng.randint(1, 3))]
        self._sessions[self._rng.randrange(1, JANUS_ID_LIMIT)] = handles

    def _close_session(self) -> None:
        del self._sessions[self._rng.choice(list(self._sessions))]

    def _on_request(self, topic: str, raw: bytes) -> None:
        reply = json.dumps(self._answer(raw), ensure_ascii=False, separators=(",", ":"))
        self._replies.send(self._reply_topic, reply)

    def _answer(self, raw: bytes) -> Payload:
        try:
            request = json.loads(raw, parse_constant=reject_constant)
        except json.JSONDecodeError as err:
            return janus_error(454, f"JSON error: on line {err.lineno}: {err.msg}")
        except (ValueError, RecursionError) as err:  # bad UTF-8, NaN, nesting too deep
            return janus_error(454, f"JSON error: on line 1: {err}")
        if not isinstance(request, dict):
            return janus_error(455, "JSON error: not an object")
        value = request.get("session_id")
        session_id = value if isinstance(value, int) and not isinstance(value, bool) else 0
        for element in ("transaction", "janus"):
            if element not in request:
                return janus_error(456, f"Missing mandatory element ({element})", None, session_id)
            if not isinstance(request[element], str):
                reason = f"Invalid element type ({element} should be a string)"
                return janus_error(467, reason, None, session_id)
        return self._dispatch(request, request["janus"], request["transaction"], session_id)

    def _dispatch(
        self, request: dict[str, object], verb: str, transaction: str, session_id: int
    ) -> Payload:
        kind = verb.lower()  # Janus compares request names with strcasecmp
        if not session_id and kind == "info":
            return {
                "janus": "server_info",
                "transaction": transaction,
                **JANUS_BUILD,
                "server-name": self.name,
                "local-ip": self._local_ip,
                **JANUS_FEATURES,
            }
        if not session_id and kind == "ping":
            return {"janus": "pong", "transaction": transaction}
        unhandled = janus_error(
            457, f"Unhandled request '{verb}' at this path", transaction, session_id
        )
        if self._wrong_path:
            return unhandled
        if request.get("admin_secret") != self._settings.janus_secret:
            return janus_error(403, JANUS_UNAUTHORIZED, transaction, session_id)
        if session_id:
            reply = self._session_request(kind, transaction, session_id)
            return unhandled if reply is None else reply
        if kind == "list_sessions":
            return {"janus": "success", "transaction": transaction, "sessions": [*self._sessions]}
        if kind == "get_status":
            return {"janus": "success", "transaction": transaction, "status": JANUS_STATUS}
        return unhandled

    def _session_request(self, kind: str, transaction: str, session_id: int) -> Payload | None:
        handles = self._sessions.get(session_id)
        if handles is None:
            return janus_error(458, f"No such session {session_id}", transaction, session_id)
        reply: Payload = {"janus": "success", "session_id": session_id, "transaction": transaction}
        if kind == "list_handles":
            return reply | {"handles": handles}
        if kind == "destroy_session":
            del self._sessions[session_id]
            return reply
        return None


class JanusFamily(Family):
    """Janus gateways (`{janus_base}/{server}/...`), one connection each, like the real ones."""

    key = "janus"

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the servers; server n's sessions depend on --seed and n, not on the count."""
        super().__init__(settings, runner)
        self._servers = [
            JanusServer(settings, runner, number, random.Random(rng.getrandbits(64)))
            for number in range(1, settings.janus + 1)
        ]

    @override
    def ids(self) -> list[str]:
        return [server.name for server in self._servers]

    @override
    def links(self) -> list[Link]:
        return [server.link for server in self._servers]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        return [server.start() for server in self._servers]

    @override
    def stop(self) -> None:
        drop_all(self.links())

    @override
    def signals(self) -> dict[signal.Signals, Job]:
        return {signal.SIGUSR1: self._outage}

    def _outage(self) -> None:
        for server in self._servers:
            if not server.link.down:
                server.link.cut(self.settings.janus_down_seconds)
                return
        LOG.warning("SIGUSR1: no connected Janus server to cut")
