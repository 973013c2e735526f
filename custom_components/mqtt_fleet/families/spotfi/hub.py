"""SpotFi OpenWrt routers: heartbeat metrics, allow-listed ubus RPC and the terminal tunnel."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from ...const import DOMAIN, LOGGER
from ...device import FleetDevice, unloaded_error
from ...hub import FleetHub
from ...keys import FREE_MEMORY, UPTIME
from ...protocol.correlation import PendingReplies
from ...protocol.spotfi import (
    DEFAULT_RPC_ALLOW_LIST,
    Metrics,
    RouterStatus,
    RpcResult,
    SpotFiProtocol,
    TunnelData,
    TunnelError,
    TunnelMessage,
    TunnelStarted,
    is_allow_pattern,
    new_id,
    rpc_allowed,
)
from . import keys

if TYPE_CHECKING:
    from collections.abc import Callable

    from homeassistant.core import HomeAssistant

    from ...hub import FleetConfigEntry

MODEL: Final = "OpenWrt router (SpotFi bridge)"
CONF_RPC_ALLOW_LIST: Final = "rpc_allow_list"
CONF_TERMINAL_ENABLED: Final = "terminal_enabled"
RPC_TIMEOUT: Final = 10.0
TERMINAL_TIMEOUT: Final = 10.0
TERMINAL_IDLE: Final = 1.0
# Bytes of output a terminal session collects: a router printing without end stops there.
MAX_TERMINAL_OUTPUT: Final = 1024 * 1024
# Heartbeat metrics shown as sensors, read from the typed message.
METRIC_VALUES: Final[tuple[tuple[str, Callable[[Metrics], float | None]], ...]] = (
    (UPTIME, lambda metrics: metrics.uptime),
    (keys.CPU_LOAD, lambda metrics: metrics.cpu_load),
    (keys.MEMORY_USED, lambda metrics: metrics.memory_used),
    (keys.TOTAL_MEMORY, lambda metrics: metrics.total_memory),
    (FREE_MEMORY, lambda metrics: metrics.free_memory),
    (keys.ACTIVE_USERS, lambda metrics: metrics.active_users),
)


@dataclass
class TerminalSession:
    """One terminal_exec run: started, output so far, and any error from the router."""

    router: str
    started: asyncio.Future[None]
    activity: asyncio.Event = field(default_factory=asyncio.Event)
    output: bytearray = field(default_factory=bytearray)
    truncated: bool = False  # the output reached MAX_TERMINAL_OUTPUT: collecting ends
    failure: HomeAssistantError | None = None

    def collect(self, data: bytes) -> None:
        """Keep output up to MAX_TERMINAL_OUTPUT; what goes beyond ends the session."""
        room = MAX_TERMINAL_OUTPUT - len(self.output)
        self.output.extend(data[:room])
        self.truncated = self.truncated or len(data) > room
        self.activity.set()

    def fail(self, failure: HomeAssistantError) -> None:
        """End the session: the waiting action raises `failure`."""
        self.failure = failure
        self.activity.set()
        if not self.started.done():
            self.started.set_result(None)

    def raise_failure(self) -> None:
        """Raise what ended the session, if anything did."""
        if self.failure is not None:
            raise self.failure


class SpotFiHub(FleetHub[FleetDevice]):
    """Follow SpotFi routers under one base topic; run RPC and terminal actions."""

    family = "spotfi"
    device_type = FleetDevice
    protocol: SpotFiProtocol
    title = "SpotFi"
    manufacturer = "SpotFi"
    default_offline_timeout = 60

    def __init__(self, hass: HomeAssistant, entry: FleetConfigEntry) -> None:
        """Build the protocol, the RPC map and the terminal sessions."""
        super().__init__(hass, entry)
        self.protocol = SpotFiProtocol(self.base)
        self.pending: PendingReplies[RpcResult] = PendingReplies(self.loop)
        self.terminals: dict[str, TerminalSession] = {}
        # Stored options are trusted no further than the options flow checks them: only
        # valid patterns count (`*.*` would hand out file.exec), only True opens the shell.
        patterns = self.options.get(CONF_RPC_ALLOW_LIST, DEFAULT_RPC_ALLOW_LIST)
        self.allow_list: tuple[str, ...] = tuple(
            pattern
            for pattern in (patterns if isinstance(patterns, list | tuple) else ())
            if isinstance(pattern, str) and is_allow_pattern(pattern)
        )
        self.terminal_enabled = self.options.get(CONF_TERMINAL_ENABLED) is True

    def as_diagnostics(self) -> dict[str, Any]:
        """Add how many requests wait for a reply."""
        return {**super().as_diagnostics(), "requests_waiting": len(self.pending)}

    @callback
    def async_shutdown(self) -> None:
        """Fail RPC calls and terminal sessions still waiting."""
        super().async_shutdown()
        error = unloaded_error(self.entry.title)
        self.pending.fail_all(error)
        for session in self.terminals.values():
            session.fail(error)

    def handle(
        self, topic: str, payload: bytes, monotonic: float, wall: float, *, live: bool
    ) -> tuple[str, ...]:
        """Apply status and heartbeat; hand RPC and terminal replies to their waiters."""
        message = self.protocol.parse(topic, payload)
        match message:
            case RouterStatus(router=router, online=online):
                self.async_device_for(router, MODEL).async_set_online(online)
            case Metrics(router=router):
                device = self.async_device_for(router, MODEL)
                for key, read in METRIC_VALUES:
                    if (value := read(message)) is not None:
                        device.async_set_value(key, value)
                device.async_mark_seen(monotonic, wall, live=live)  # the metrics are the heartbeat
            case RpcResult(request_id=request_id):
                if not self.pending.resolve(request_id, message):
                    LOGGER.debug("Ignored an RPC result nobody waits for on %s", topic)
            case TunnelMessage():
                self._route_tunnel(message)
        return message.problems

    def _route_tunnel(self, message: TunnelMessage) -> None:
        """Match terminal output by session id, or to the router's only open session."""
        if message.session is not None:
            session = self.terminals.get(message.session)
        else:
            open_sessions = [s for s in self.terminals.values() if s.router == message.router]
            session = open_sessions[0] if len(open_sessions) == 1 else None
        if session is None:
            LOGGER.debug("Ignored terminal output for no open session from %s", message.router)
            return
        match message:
            case TunnelStarted():
                if not session.started.done():
                    session.started.set_result(None)
            case TunnelData(data=data):
                session.collect(data)
            case TunnelError(error=error):
                session.fail(
                    HomeAssistantError(
                        translation_domain=DOMAIN,
                        translation_key="terminal_error",
                        translation_placeholders={
                            "router": session.router,
                            "error": error or "terminal error",
                        },
                    )
                )

    async def async_rpc_call(
        self,
        device: FleetDevice,
        path: str,
        method: str,
        args: dict[str, object],
        seconds: float,
    ) -> object:
        """Run one allow-listed ubus call on the router and return its result."""
        if not rpc_allowed(path, method, self.allow_list):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="rpc_not_allowed",
                translation_placeholders={"name": f"{path}.{method}"},
            )
        _require_not_offline(device)
        message, request_id = self.protocol.rpc_request(device.wire_id, path, method, args)
        try:
            reply = await self.pending.async_request(
                request_id, lambda: self.async_publish(message), seconds
            )
        except TimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="rpc_no_reply",
                translation_placeholders={"router": device.wire_id, "timeout": f"{seconds:g}"},
            ) from err
        if not reply.ok:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="rpc_failed",
                translation_placeholders={
                    "router": device.wire_id,
                    "name": f"{path}.{method}",
                    "error": reply.error or "",
                    "stderr": reply.stderr or "",
                },
            )
        return reply.result

    async def async_terminal_exec(
        self, device: FleetDevice, command: str, seconds: float, idle: float
    ) -> dict[str, Any]:
        """Run one command through the x-tunnel; collect output until it goes idle."""
        if not self.terminal_enabled:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="terminal_disabled"
            )
        _require_not_offline(device)
        router = device.wire_id
        session_id = new_id()
        session = TerminalSession(router, self.loop.create_future())
        self.terminals[session_id] = session
        deadline = self.loop.time() + seconds
        try:
            await self.async_publish(
                self.protocol.tunnel_start(router, session_id, int(time.time() * 1000))
            )
            try:
                async with asyncio.timeout_at(deadline):
                    await session.started
            except TimeoutError as err:
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="terminal_no_start",
                    translation_placeholders={"router": router, "timeout": f"{seconds:g}"},
                ) from err
            session.raise_failure()
            await self.async_publish(
                self.protocol.tunnel_data(router, session_id, f"{command}\n".encode())
            )
            reason = await self._async_collect(session, deadline, idle)
        finally:
            del self.terminals[session_id]
            with contextlib.suppress(HomeAssistantError):
                await self.async_publish(self.protocol.tunnel_stop(router, session_id))
        return {"output": session.output.decode("utf-8", "replace"), "reason": reason}

    async def _async_collect(self, session: TerminalSession, deadline: float, idle: float) -> str:
        """Wait for output until none came for `idle` seconds, the deadline, or the cap."""
        while True:
            session.raise_failure()  # also what came while the input was being sent
            if session.truncated:
                return "truncated"
            session.activity.clear()
            wait_until = min(self.loop.time() + idle, deadline)
            try:
                async with asyncio.timeout_at(wait_until):
                    await session.activity.wait()
            except TimeoutError:
                session.raise_failure()
                return "timeout" if wait_until >= deadline else "idle"


def _require_not_offline(device: FleetDevice) -> None:
    """Fail at once for a router whose status (or Last Will) says OFFLINE."""
    if device.online is False:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="device_offline",
            translation_placeholders={"device": device.wire_id},
        )
