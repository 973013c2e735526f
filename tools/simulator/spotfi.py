"""SpotFi routers: spotfi-bridge-go on OpenWrt (docs/protocols.md, "SpotFi").

Each router has its own connection with a retained ``OFFLINE`` Last Will, sends
Go-marshalled heartbeats, answers ubus RPC requests and runs x-tunnel terminals on the
simulated system in ``openwrt``. SIGUSR2 cuts one off; ``system reboot`` does too.
"""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass, field
from functools import partial
import os
import random
import signal
import time
from typing import TYPE_CHECKING, TypeIs, override

from .core import LOG, Family, Job, Link, ReplyPacer, Runner, Settings, Will, drop_all
from .openwrt import LOGIN, PROMPT, OpenWrt, UbusError
from .payloads import Payload, go_json, parse_object

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

GO_NIL_FLOAT = "%!f(<nil>)"  # Go's fmt for a nil float: what a failed ubus read turns into
CONTINUATION = b"> "  # ash's PS2: the line so far leaves a quote open
PTY_CHUNK = 64  # bytes per x-data message, like one read from a PTY
PTY_GAP = 0.003  # seconds between two chunks
TERMINAL_IDLE = 300.0  # the bridge silently drops a terminal idle this long
SWEEP_SECONDS = 30.0
REBOOT_DELAY = 1.0  # seconds between the reply to `system reboot` and the power going


@dataclass
class TerminalSession:
    """One x-tunnel shell: the line being typed, and output waiting to leave in PTY chunks."""

    session_id: str
    topic: str
    last_input: float  # monotonic
    line: bytearray = field(default_factory=bytearray)
    pending: str = ""  # lines typed so far of a command whose quote is still open
    outbox: deque[bytes] = field(default_factory=deque)
    draining: bool = False
    closing: bool = False


def is_publish_topic(value: object) -> TypeIs[str]:
    """Tell whether a client-supplied topic is one paho can publish to."""
    return isinstance(value, str) and bool(value) and not any(c in value for c in "+#\0")


class SpotFiRouter:
    """spotfi-bridge-go on one router: status, metrics, ubus RPC and x-tunnel terminals.

    Everything it publishes except the status string is Go-marshalled JSON.
    """

    def __init__(
        self, settings: Settings, runner: Runner, router_id: str, rng: random.Random
    ) -> None:
        """Build the router and its connection; nothing goes on the wire yet."""
        self.router_id = router_id
        self._settings = settings
        self._runner = runner
        self.system = OpenWrt(rng, on_reboot=partial(runner.call_later, REBOOT_DELAY, self._reboot))
        root = f"{settings.spotfi_base}/{router_id}"
        self._status_topic = f"{root}/status"
        self._metrics_topic = f"{root}/metrics"
        self._rpc_topic = f"{root}/rpc/request"
        self._response_topic = f"{root}/rpc/response"
        self._terminal_topic = f"{root}/x/out"
        self._sessions: dict[str, TerminalSession] = {}
        self._metrics_sent = 0
        self.link = Link(
            settings,
            runner,
            client_id=f"spotfi-{router_id}-{os.getpid()}",
            subscriptions=[self._rpc_topic, f"{root}/x/in"],
            on_message=self._on_message,
            on_reconnect=self.announce,
            will=lambda: Will(self._status_topic, "OFFLINE", retain=True),
        )
        self._replies = ReplyPacer(
            runner, self.link, settings.spotfi_reply_delay, settings.reply_jitter, router_id
        )

    def announce(self) -> list[mqtt.MQTTMessageInfo]:
        """Publish what the bridge sends on connect: ONLINE (retained), then a heartbeat."""
        return [
            self.link.publish_text(self._status_topic, "ONLINE", qos=1, retain=True),
            self.link.publish_text(self._metrics_topic, self._metrics()),
        ]

    def tick(self) -> None:
        """Let the readings drift, then send the heartbeat."""
        self.system.tick()
        self.link.send(self._metrics_topic, self._metrics())

    def sweep(self) -> None:
        """Drop terminals nobody typed into for TERMINAL_IDLE seconds, without a word."""
        cutoff = time.monotonic() - TERMINAL_IDLE
        for session in [s for s in self._sessions.values() if s.last_input < cutoff]:
            LOG.info("%s: terminal %s idle, dropped", self.router_id, session.session_id)
            del self._sessions[session.session_id]

    def _metrics(self) -> str:
        self._metrics_sent += 1
        metrics = self.system.metrics()
        if self._settings.spotfi_garbage and self._metrics_sent % 5 == 0:
            metrics["cpuLoad"] = GO_NIL_FLOAT
        return go_json({"type": "metrics", "metrics": metrics})

    def _reboot(self) -> None:
        seconds = self._settings.spotfi_down_seconds
        LOG.info("%s: rebooting (ubus system reboot)", self.router_id)
        self._sessions.clear()
        self.system.power_off(seconds)
        if not self.link.down:
            self.link.cut(seconds)

    def _on_message(self, topic: str, raw: bytes) -> None:
        if topic == self._rpc_topic:
            self._on_rpc(raw)
        else:
            self._on_terminal(raw)

    def _on_rpc(self, raw: bytes) -> None:
        request = parse_object(raw)
        request_id = None if request is None else request.get("id")
        if request is None or request_id is None:
            LOG.debug("%s: RPC request without an id ignored: %r", self.router_id, raw[:200])
            return
        reply: Payload = {"type": "rpc-result", "id": request_id}
        try:
            reply |= {"status": "success", "result": self._call(request)}
        except UbusError as err:
            reply |= {
                "status": "error",
                "error": err.error,
                "stderr": f"Command failed: {err.status}",
            }
        self._replies.send(self._response_topic, go_json(reply))

    def _call(self, request: Payload) -> Payload:
        path, method, args = request.get("path"), request.get("method"), request.get("args") or {}
        if not isinstance(path, str) or not isinstance(method, str):
            raise UbusError("Object not found", "Not found")
        if not isinstance(args, dict):
            raise UbusError("Invalid argument", "Invalid argument")
        return self.system.ubus(path, method, args)

    def _on_terminal(self, raw: bytes) -> None:
        message = parse_object(raw)
        session_id = None if message is None else message.get("sessionId")
        if message is None or not isinstance(session_id, str) or not session_id:
            LOG.debug(
                "%s: terminal message without a session ignored: %r", self.router_id, raw[:200]
            )
            return
        kind = message.get("type")
        if kind == "x-start":
            self._start(session_id, message.get("responseTopic"))
        elif kind not in ("x-data", "x-stop"):
            LOG.debug("%s: terminal message of type %r ignored", self.router_id, kind)
        elif session_id not in self._sessions:
            if kind == "x-data":
                self._send_x(
                    self._terminal_topic,
                    {"type": "x-error", "sessionId": session_id, "error": "session not found"},
                )
        elif kind == "x-stop":
            LOG.info("%s: terminal %s stopped", self.router_id, session_id)
            del self._sessions[session_id]
        else:
            self._on_input(self._sessions[session_id], message.get("data"))

    def _start(self, session_id: str, response_topic: object) -> None:
        topic = response_topic if is_publish_topic(response_topic) else self._terminal_topic
        session = TerminalSession(session_id, topic, time.monotonic())
        self._sessions[session_id] = session
        LOG.info("%s: terminal %s started", self.router_id, session_id)
        self._send_x(topic, {"type": "x-started", "status": "ready", "sessionId": session_id})
        self._emit(session, LOGIN + PROMPT)

    def _on_input(self, session: TerminalSession, data: object) -> None:
        try:
            keys = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except ValueError:  # binascii.Error, or a non-ASCII string
            keys = None
        if keys is None:
            self._send_x(
                session.topic,
                {"type": "x-error", "sessionId": session.session_id, "error": "invalid data"},
            )
            return
        session.last_input = time.monotonic()
        self._emit(session, self._type(session, keys))

    def _type(self, session: TerminalSession, keys: bytes) -> bytes:
        # ash edits the line itself and echoes what is typed, as through a PTY.
        echo = bytearray()
        for key in keys:
            if key in (0x0A, 0x0D):
                line = session.pending + session.line.decode(errors="replace")
                session.line.clear()
                echo += b"\r\n"
                if self.system.incomplete(line):
                    session.pending = line + "\n"
                    echo += CONTINUATION
                    continue
                session.pending = ""
                output = self.system.run(line)
                if output is None:
                    session.closing = True
                    break
                echo += output.replace("\n", "\r\n").encode() + PROMPT
            elif key == 0x03:  # Ctrl-C
                session.line.clear()
                session.pending = ""
                echo += b"^C\r\n" + PROMPT
            elif key in (0x08, 0x7F):
                if session.line:
                    session.line.pop()
                    echo += b"\b \b"
            elif key >= 0x20:
                session.line.append(key)
                echo.append(key)
        return bytes(echo)

    def _emit(self, session: TerminalSession, output: bytes) -> None:
        session.outbox.extend(
            output[start : start + PTY_CHUNK] for start in range(0, len(output), PTY_CHUNK)
        )
        if session.outbox and not session.draining:
            session.draining = True
            self._drain(session)

    def _drain(self, session: TerminalSession) -> None:
        if self._sessions.get(session.session_id) is not session:
            return  # stopped, replaced or dropped meanwhile
        chunk = session.outbox.popleft()
        data = base64.b64encode(chunk).decode("ascii")
        self._send_x(
            session.topic, {"type": "x-data", "sessionId": session.session_id, "data": data}
        )
        if session.outbox:
            self._runner.call_later(PTY_GAP, partial(self._drain, session))
            return
        session.draining = False
        if session.closing:
            LOG.info("%s: terminal %s exited", self.router_id, session.session_id)
            del self._sessions[session.session_id]

    def _send_x(self, topic: str, payload: Payload) -> None:
        self.link.send(topic, go_json(payload), qos=1)


class SpotFiFamily(Family):
    """SpotFi routers (`{spotfi_base}/{id}/...`), one bridge connection each."""

    key = "spotfi"

    def __init__(self, settings: Settings, runner: Runner, rng: random.Random) -> None:
        """Build the routers; router n's id depends on --seed and n, not on the count."""
        super().__init__(settings, runner)
        self._routers: list[SpotFiRouter] = []
        while len(self._routers) < settings.spotfi:
            router_id = f"rtr-{rng.getrandbits(32):08x}"
            router_rng = random.Random(rng.getrandbits(64))
            if all(router.router_id != router_id for router in self._routers):
                self._routers.append(SpotFiRouter(settings, runner, router_id, router_rng))

    @override
    def ids(self) -> list[str]:
        return [router.router_id for router in self._routers]

    @override
    def links(self) -> list[Link]:
        return [router.link for router in self._routers]

    @override
    def start(self) -> list[mqtt.MQTTMessageInfo]:
        self.runner.every(self.settings.metrics_interval, self._tick)
        self.runner.every(SWEEP_SECONDS, self._sweep)
        return [info for router in self._routers for info in router.announce()]

    @override
    def stop(self) -> None:
        drop_all(self.links())

    @override
    def signals(self) -> dict[signal.Signals, Job]:
        return {signal.SIGUSR2: self._outage}

    def _tick(self) -> None:
        for router in self._routers:
            router.tick()

    def _sweep(self) -> None:
        for router in self._routers:
            router.sweep()

    def _outage(self) -> None:
        for router in self._routers:
            if not router.link.down:
                router.link.cut(self.settings.spotfi_down_seconds)
                return
        LOG.warning("SIGUSR2: no connected SpotFi router to cut")
