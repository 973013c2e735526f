"""SpotFi OpenWrt routers: heartbeat metrics, allow-listed ubus RPC and the terminal tunnel."""

from __future__ import annotations

import asyncio
from collections import deque
import contextlib
from dataclasses import dataclass, field
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.const import UnitOfInformation
from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er

from ...const import DOMAIN, LOGGER
from ...device import FleetDevice, unloaded_error
from ...entities.sensor import async_set_last_restart
from ...hub import FleetHub
from ...keys import FREE_MEMORY, LAST_RESTART
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
    parse_board,
    read_terminal,
    rpc_allowed,
    rpc_name_problem,
    terminal_finished,
    terminal_input,
)
from . import keys

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from homeassistant.core import HomeAssistant

    from ...hub import FleetConfigEntry

# The model of a router until `system board` names it.
MODEL: Final = "OpenWrt router (SpotFi bridge)"
CONF_RPC_ALLOW_LIST: Final = "rpc_allow_list"
CONF_TERMINAL_ENABLED: Final = "terminal_enabled"
RPC_TIMEOUT: Final = 10.0
TERMINAL_TIMEOUT: Final = 10.0
# Bytes of output a terminal session collects: a router printing without end stops there.
MAX_TERMINAL_OUTPUT: Final = 1024 * 1024
BOARD_CALL: Final = ("system", "board")
# `system board` requests in flight per hub: a fleet coming online at once (a broker restart,
# a first start) asks every router, and each unanswered request waits RPC_TIMEOUT.
BOARD_READS_AT_ONCE: Final = 5
# Heartbeat metrics shown as sensors, read from the typed message, with the fields each
# comes from: a field the bridge sent as nil makes the sensor unknown.
METRIC_VALUES: Final[tuple[tuple[str, Callable[[Metrics], float | None], tuple[str, ...]], ...]] = (
    (keys.CPU_LOAD, lambda metrics: metrics.cpu_load, ("cpuLoad",)),
    (keys.MEMORY_USED, lambda metrics: metrics.memory_used, ("totalMemory", "freeMemory")),
    (keys.TOTAL_MEMORY, lambda metrics: metrics.total_memory, ("totalMemory",)),
    (FREE_MEMORY, lambda metrics: metrics.free_memory, ("freeMemory",)),
    (keys.ACTIVE_USERS, lambda metrics: metrics.active_users, ("activeUsers",)),
)


@dataclass
class TerminalSession:
    """One terminal_exec run: started, output so far, and any error from the router."""

    router: str
    marker: str  # frames the command's output: see protocol.spotfi.terminal_input
    started: asyncio.Future[None]
    activity: asyncio.Event = field(default_factory=asyncio.Event)
    output: bytearray = field(default_factory=bytearray)
    exited: bool = False  # the end marker came: the command is done
    truncated: bool = False  # the output reached MAX_TERMINAL_OUTPUT: collecting ends
    failure: HomeAssistantError | None = None

    def collect(self, data: bytes) -> None:
        """Keep output up to MAX_TERMINAL_OUTPUT; what goes beyond ends the session."""
        room = MAX_TERMINAL_OUTPUT - len(self.output)
        # The end marker may straddle two chunks: look at the new data and a line before.
        tail_from = max(0, len(self.output) - len(self.marker) - 64)
        self.output.extend(data[:room])
        self.exited = self.exited or terminal_finished(bytes(self.output[tail_from:]), self.marker)
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


# Stored options are trusted no further than the options flow checks them: only valid
# patterns count (`*.*` would hand out file.exec), only True opens the shell.
def _allow_list(options: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the valid RPC allow patterns of the options."""
    patterns = options.get(CONF_RPC_ALLOW_LIST, DEFAULT_RPC_ALLOW_LIST)
    return tuple(
        pattern
        for pattern in (patterns if isinstance(patterns, list | tuple) else ())
        if isinstance(pattern, str) and is_allow_pattern(pattern)
    )


def _terminal_enabled(options: Mapping[str, Any]) -> bool:
    """Return whether the options open the terminal (only a real True does)."""
    return options.get(CONF_TERMINAL_ENABLED) is True


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
        self.allow_list = _allow_list(self.options)
        self.terminal_enabled = _terminal_enabled(self.options)
        self._board_reads: set[str] = set()  # routers whose `system board` is asked or queued
        self._board_queue: deque[FleetDevice] = deque()
        self._board_readers = 0
        self._metrics_missing: set[str] = set()  # routers said to send nil readings

    @callback
    def async_apply_family_options(
        self, options: Mapping[str, Any], changed: frozenset[str]
    ) -> bool:
        """Take a new RPC allow-list and terminal switch without a reload.

        They are checked when an action starts: calls and sessions already running finish.
        """
        if changed - {CONF_RPC_ALLOW_LIST, CONF_TERMINAL_ENABLED}:
            return False
        self.allow_list = _allow_list(options)
        self.terminal_enabled = _terminal_enabled(options)
        return True

    @callback
    def async_restore(self) -> None:
        """Also show the free memory of routers made before in MiB, as the total."""
        super().async_restore()
        registry = er.async_get(self.hass)
        for entity in er.async_entries_for_config_entry(registry, self.entry.entry_id):
            private: dict[str, Any] = dict(entity.options.get("sensor.private", {}))
            if (
                entity.unique_id.endswith(f"/{FREE_MEMORY}")
                and private.get("suggested_unit_of_measurement") == UnitOfInformation.KIBIBYTES
            ):
                registry.async_update_entity_options(
                    entity.entity_id,
                    "sensor.private",
                    {**private, "suggested_unit_of_measurement": UnitOfInformation.MEBIBYTES},
                )

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
            case RouterStatus(router=router, online=online, reason=reason):
                device = self.async_device_for(router, MODEL)
                if not online and reason is not None:
                    device.async_set_value(keys.DISCONNECT_REASON, reason)
                device.async_set_online(online)
            case Metrics(router=router):
                device = self.async_device_for(router, MODEL)
                self._apply_metrics(device, message, wall if live else None)
                device.async_mark_seen(monotonic, wall, live=live)  # the metrics are the heartbeat
            case RpcResult(request_id=request_id):
                if not self.pending.resolve(request_id, message):
                    LOGGER.debug("Ignored an RPC result nobody waits for on %s", topic)
            case TunnelMessage():
                self._route_tunnel(message)
        return message.problems

    def _apply_metrics(self, device: FleetDevice, metrics: Metrics, sent: float | None) -> None:
        """Show the readings; nil ones as unknown, said once until the router recovers.

        `sent` is a live heartbeat's receive time, None for a replayed retained one, whose
        uptime cannot date the last restart.
        """
        for key, read, sources in METRIC_VALUES:
            if (value := read(metrics)) is not None:
                device.async_set_value(key, value)
            elif any(source in metrics.unknown for source in sources):
                device.async_set_value(key, None)
        if metrics.uptime is not None and sent is not None:
            booted_before = device.values.get(LAST_RESTART)
            if async_set_last_restart(device, metrics.uptime, sent) and booted_before is not None:
                self._async_read_board(device)  # it restarted: the release may be new
        router = device.wire_id
        if metrics.unknown and router not in self._metrics_missing:
            self._metrics_missing.add(router)
            LOGGER.warning(
                "Router %s sends no value for %s (a ubus call on the router failed); "
                "shown as unknown until it reports them again",
                router,
                ", ".join(metrics.unknown),
            )
        elif not metrics.unknown and router in self._metrics_missing:
            self._metrics_missing.discard(router)
            LOGGER.info("Router %s reports all its metrics again", router)

    @callback
    def async_connectivity_changed(
        self, device: FleetDevice, previous: bool | None, connected: bool | None
    ) -> None:
        """Read the router's board each time it comes (back) online."""
        super().async_connectivity_changed(device, previous, connected)
        if connected:
            self._async_read_board(device)

    @callback
    def _async_read_board(self, device: FleetDevice) -> None:
        """Queue a `system board` request, if the allow-list lets it and none is queued."""
        if device.wire_id in self._board_reads or not rpc_allowed(*BOARD_CALL, self.allow_list):
            return
        self._board_reads.add(device.wire_id)
        self._board_queue.append(device)
        if self._board_readers < BOARD_READS_AT_ONCE:
            self._board_readers += 1
            self.entry.async_create_background_task(
                self.hass, self._async_read_boards(), f"{DOMAIN} router boards", eager_start=False
            )

    async def _async_read_boards(self) -> None:
        """Read queued routers' boards one after the other (one of BOARD_READS_AT_ONCE)."""
        try:
            while self._board_queue:
                await self._async_fill_board(self._board_queue.popleft())
        finally:
            self._board_readers -= 1

    async def _async_fill_board(self, device: FleetDevice) -> None:
        """Show the router's model and release in the device registry; retried at next online."""
        try:
            result = await self._async_rpc(device, *BOARD_CALL, {}, RPC_TIMEOUT)
        except HomeAssistantError as err:
            LOGGER.debug("Could not read the board of router %s: %s", device.wire_id, err)
            return
        finally:
            self._board_reads.discard(device.wire_id)
        if (board := parse_board(result)) is None:
            LOGGER.debug("Router %s answered system board without a model", device.wire_id)
            return
        if self.devices.get(device.wire_id) is device:  # not removed meanwhile
            self.async_update_device_registry(
                device,
                **{
                    name: value
                    for name, value in (
                        ("model", board.model),
                        ("model_id", board.model_id),
                        ("sw_version", board.sw_version),
                    )
                    if value is not None
                },
            )

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
        """Run one allow-listed ubus call on the router and return its result.

        A name no allow-list entry could hold gets its own error: the refusal only names
        what the options form accepts.
        """
        if rpc_name_problem(path, method) is not None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="rpc_name_invalid",
                translation_placeholders={"path": path, "method": method},
            )
        if not rpc_allowed(path, method, self.allow_list):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="rpc_not_allowed",
                translation_placeholders={"name": f"{path}.{method}"},
            )
        _require_not_offline(device)
        return await self._async_rpc(device, path, method, args, seconds)

    async def _async_rpc(
        self,
        device: FleetDevice,
        path: str,
        method: str,
        args: dict[str, object],
        seconds: float,
    ) -> object:
        """Send one ubus call and wait for its result; the caller checked the allow-list."""
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
            # The bridge passes ubus's stderr on with its trailing newline.
            details = ": ".join(
                text.strip() for text in (reply.error, reply.stderr) if text and text.strip()
            )
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="rpc_failed",
                translation_placeholders={
                    "router": device.wire_id,
                    "name": f"{path}.{method}",
                    "details": details or "-",
                },
            )
        return reply.result

    async def async_terminal_exec(
        self,
        device: FleetDevice,
        command: str,
        seconds: float,
        idle: float | None,
        *,
        raw: bool = False,
    ) -> dict[str, Any]:
        """Run one command through the x-tunnel; return its output and exit code.

        The command runs framed by marker lines (`terminal_input`): output ends at the end
        marker, or at the timeout, the cap, or `idle` seconds without output if given.
        """
        if not self.terminal_enabled:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="terminal_disabled"
            )
        _require_not_offline(device)
        router = device.wire_id
        session_id = new_id()
        session = TerminalSession(router, session_id, self.loop.create_future())
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
                self.protocol.tunnel_data(router, session_id, terminal_input(command, session_id))
            )
            reason = await self._async_collect(session, deadline, idle)
        finally:
            del self.terminals[session_id]
            with contextlib.suppress(HomeAssistantError):
                await self.async_publish(self.protocol.tunnel_stop(router, session_id))
        transcript = session.output.decode("utf-8", "replace")
        result = read_terminal(transcript, session_id)
        response: dict[str, Any] = {
            "stdout": result.stdout,
            "exit_code": result.exit_code,
            "reason": reason,
        }
        if raw:
            response["transcript"] = transcript
        return response

    async def _async_collect(
        self, session: TerminalSession, deadline: float, idle: float | None
    ) -> str:
        """Wait until the command exited, the deadline, the cap, or `idle` s without output."""
        while True:
            session.raise_failure()  # also what came while the input was being sent
            if session.exited:
                return "exited"
            if session.truncated:
                return "truncated"
            session.activity.clear()
            wait_until = deadline if idle is None else min(self.loop.time() + idle, deadline)
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
