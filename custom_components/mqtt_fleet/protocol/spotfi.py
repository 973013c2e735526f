"""SpotFi OpenWrt routers (spotfi-bridge-go): status, metrics, ubus RPC and the x-tunnel.

ubus gives root on the router, so RPC calls pass an allow-list first: its patterns are
`path.method` names where `*` stands for part of one dotted level, never more. The topics
and payloads are described in docs/protocols.md, section "SpotFi".
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import re
import secrets
from typing import TYPE_CHECKING, Final

import orjson

from .payload import (
    MAX_INTEGER,
    FieldReader,
    InvalidMessage,
    decode_json,
    decode_json_object,
    decode_text,
)
from .topics import BaseTopic, OutgoingMessage, is_safe_id, require_safe_id

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "DEFAULT_RPC_ALLOW_LIST",
    "Metrics",
    "RouterBoard",
    "RouterStatus",
    "RpcResult",
    "SpotFiMessage",
    "SpotFiProtocol",
    "TerminalResult",
    "TunnelData",
    "TunnelError",
    "TunnelMessage",
    "TunnelStarted",
    "is_allow_pattern",
    "new_id",
    "parse_board",
    "read_terminal",
    "rpc_allowed",
    "rpc_name_problem",
    "terminal_finished",
    "terminal_input",
]

DEFAULT_RPC_ALLOW_LIST: Final = (
    "system.board",
    "system.info",
    "network.interface.*.status",
    "uspot.client_list",
)
_RPC_PATH: Final = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
_RPC_METHOD: Final = re.compile(r"[A-Za-z0-9_-]+")
_ALLOW_PATTERN: Final = re.compile(r"[A-Za-z0-9_*-]+(\.[A-Za-z0-9_*-]+)+")
_STATUS_WORDS: Final = {"online": True, "offline": False}
# Go's fmt writes a value it could not format as `%!verb(...)`: the bridge sends
# `"%!f(<nil>)"` for a reading its ubus call did not return.
_GO_FORMAT_ERROR: Final = "%!"
# The heartbeat fields read by the bridge's one `system info` call.
_SYSTEM_INFO_FIELDS: Final = ("cpuLoad", "totalMemory", "freeMemory")
_MAX_TEXT: Final = 255  # characters kept of a text the router reports (model, reason)
# The terminal command's wrapper (see `terminal_input`): a line of its own in the output.
_MARKER_WORD: Final = "mqttfleet"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotFiMessage:
    """Something a router told us; `problems` lists the fields that were refused."""

    router: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterStatus(SpotFiMessage):
    """ONLINE / OFFLINE (retained; OFFLINE is also the Last Will), with any reason given."""

    online: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Metrics(SpotFiMessage):
    """The heartbeat: memory in bytes, CPU load in percent, uptime in seconds.

    `unknown` names the fields the bridge sent as Go's nil marker: no reading this time.
    """

    uptime: int | None
    cpu_load: float | None
    total_memory: int | None
    free_memory: int | None
    active_users: int | None
    unknown: tuple[str, ...] = ()

    @property
    def memory_used(self) -> float | None:
        """Return the share of memory in use, in percent."""
        if self.total_memory and self.free_memory is not None:
            return round(100 * (self.total_memory - self.free_memory) / self.total_memory, 1)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RpcResult(SpotFiMessage):
    """The answer to an RPC request, matched by `request_id`."""

    request_id: str
    ok: bool
    result: object
    error: str | None
    stderr: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelMessage(SpotFiMessage):
    """A terminal message; `session` is None when the router did not name one."""

    session: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelStarted(TunnelMessage):
    """x-started: the router's shell is ready."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelData(TunnelMessage):
    """x-data: terminal output."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelError(TunnelMessage):
    """x-error: the router refused or ended the session."""

    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterBoard:
    """What `ubus call system board` says of the router, as the device registry shows it."""

    model: str | None
    model_id: str | None
    sw_version: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminalResult:
    """A command's output read from the terminal transcript, without banner, prompt or echo.

    `exit_code` is None when the end marker never came (the command still ran, or the
    shell is not a POSIX shell); `stdout` is then what came after the start marker.
    """

    stdout: str
    exit_code: int | None


def new_id() -> str:
    """Return a fresh random request or session id."""
    return secrets.token_hex(12)


def rpc_name_problem(path: str, method: str) -> str | None:
    """Say what makes an RPC path or method unsafe to send, or None."""
    if not _RPC_PATH.fullmatch(path):
        return "path"
    if not _RPC_METHOD.fullmatch(method):
        return "method"
    return None


def is_allow_pattern(pattern: str) -> bool:
    """Tell whether an allow-list entry is a `path.method` pattern naming its ubus object.

    The first level takes no `*`: `*.*` would hand out `file.exec` and `system.reboot`.
    """
    return (
        _ALLOW_PATTERN.fullmatch(pattern) is not None
        and "*" not in pattern.split(".", maxsplit=1)[0]
    )


def rpc_allowed(path: str, method: str, allow_list: Iterable[str]) -> bool:
    """Tell whether `path.method` matches an allow-list pattern.

    `*` matches within one dotted level; the name itself may hold no wildcard at all.
    """
    if rpc_name_problem(path, method) is not None:
        return False
    name = f"{path}.{method}"
    return any(_pattern_regex(pattern).fullmatch(name) for pattern in allow_list)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join("[^.]*" if char == "*" else re.escape(char) for char in pattern))


class SpotFiProtocol:
    """Parse and build SpotFi messages under one base topic."""

    __slots__ = ("_topics", "base", "subscriptions")

    def __init__(self, base: str) -> None:
        """Check the base topic once."""
        self._topics = BaseTopic(base)
        self.base = base
        self.subscriptions: tuple[str, ...] = (
            f"{base}/+/status",
            f"{base}/+/metrics",
            f"{base}/+/rpc/response",
            f"{base}/+/x/out",
        )

    def response_topic(self, router: str) -> str:
        """Return the topic terminal output is asked to go to."""
        return f"{self.base}/{require_safe_id(router)}/x/out"

    def parse(self, topic: str, payload: bytes) -> SpotFiMessage:
        """Turn one received message into a typed message, or raise InvalidMessage."""
        match self._topics.levels(topic):
            case [router, "status"] if is_safe_id(router):
                return _status(router, payload)
            case [router, "metrics"] if is_safe_id(router):
                return _metrics(router, payload)
            case [router, "rpc", "response"] if is_safe_id(router):
                return _rpc_result(router, payload)
            case [router, "x", "out"] if is_safe_id(router):
                return _tunnel(router, payload)
        raise InvalidMessage("not a SpotFi topic")

    def rpc_request(
        self,
        router: str,
        path: str,
        method: str,
        args: dict[str, object],
        request_id: str | None = None,
    ) -> tuple[OutgoingMessage, str]:
        """Build an RPC request (`ubus call <path> <method> <args>` on the router)."""
        require_safe_id(router)
        if (problem := rpc_name_problem(path, method)) is not None:
            raise ValueError(f"unsafe RPC {problem}")
        request_id = request_id or new_id()
        body = {"type": "rpc", "id": request_id, "path": path, "method": method, "args": args}
        return OutgoingMessage(f"{self.base}/{router}/rpc/request", orjson.dumps(body)), request_id

    def tunnel_start(self, router: str, session: str, timestamp_ms: int) -> OutgoingMessage:
        """Open a terminal session whose output goes to our response topic."""
        return self._tunnel_message(
            router,
            {
                "type": "x-start",
                "sessionId": session,
                "responseTopic": self.response_topic(router),
                "timestamp": timestamp_ms,
            },
        )

    def tunnel_data(self, router: str, session: str, data: bytes) -> OutgoingMessage:
        """Send terminal input."""
        return self._tunnel_message(
            router,
            {"type": "x-data", "sessionId": session, "data": base64.b64encode(data).decode()},
        )

    def tunnel_stop(self, router: str, session: str) -> OutgoingMessage:
        """End a terminal session (the router never does)."""
        return self._tunnel_message(router, {"type": "x-stop", "sessionId": session})

    def _tunnel_message(self, router: str, body: dict[str, object]) -> OutgoingMessage:
        require_safe_id(router)
        return OutgoingMessage(f"{self.base}/{router}/x/in", orjson.dumps(body))


def _status(router: str, payload: bytes) -> RouterStatus:
    """Read ONLINE / OFFLINE (also JSON-quoted), or `{"status": "online", "reason": ...}`."""
    text = decode_text(payload).strip()
    if (online := _STATUS_WORDS.get(text.lower())) is not None:
        return RouterStatus(router=router, online=online)
    try:
        value = decode_json(payload)
    except InvalidMessage:
        value = None
    reason: str | None = None
    problems: tuple[str, ...] = ()
    if isinstance(value, dict):
        fields = FieldReader(value)
        value = fields.string("status")
        reason = fields.display_string("reason")
        reason = None if reason is None else reason[:_MAX_TEXT]
        problems = tuple(fields.problems)
    if isinstance(value, str) and (online := _STATUS_WORDS.get(value.strip().lower())) is not None:
        return RouterStatus(router=router, online=online, reason=reason, problems=problems)
    raise InvalidMessage(f"unknown status {text[:32]!r}")


def _metrics(router: str, payload: bytes) -> Metrics:
    envelope = FieldReader(decode_json_object(payload))
    kind = envelope.string("type")
    if kind is not None and kind != "metrics":
        raise InvalidMessage(f"type: expected 'metrics', got {kind[:32]!r}")
    data = envelope.require("metrics", envelope.obj("metrics"))
    unknown = tuple(
        key
        for key, value in data.items()
        if isinstance(value, str) and value.startswith(_GO_FORMAT_ERROR)
    )
    fields = FieldReader({key: value for key, value in data.items() if key not in unknown})
    uptime = _uptime(fields)
    cpu_load = _non_negative(fields, "cpuLoad")
    total_memory = fields.integer("totalMemory")
    free_memory = fields.integer("freeMemory")
    if "uptime" in unknown and total_memory == 0:
        # The bridge's ubus `system info` call failed: it sends nil for uptime and
        # zeros for the other values of the same call. Those zeros are not readings.
        unknown = (*unknown, *(key for key in _SYSTEM_INFO_FIELDS if key not in unknown))
        cpu_load = total_memory = free_memory = None
    if total_memory is not None and free_memory is not None and free_memory > total_memory:
        fields.problems.append("freeMemory: more than totalMemory")
        free_memory = None
    return Metrics(
        router=router,
        uptime=uptime,
        cpu_load=cpu_load,
        total_memory=total_memory,
        free_memory=free_memory,
        active_users=fields.integer("activeUsers"),
        unknown=unknown,
        problems=(*envelope.problems, *(f"metrics.{problem}" for problem in fields.problems)),
    )


def _uptime(fields: FieldReader) -> int | None:
    """Uptime is documented as a string of seconds; a whole number is taken too."""
    value = fields.data.get("uptime")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        # Count the digits before int(), which refuses over 4300 of them.
        if len(value.lstrip("0")) > len(str(MAX_INTEGER)) or int(value) > MAX_INTEGER:
            fields.problems.append(f"uptime: expected a whole number <= {MAX_INTEGER}")
            return None
        return int(value)
    if isinstance(value, str):
        fields.problems.append(f"uptime: expected seconds, got {value[:32]!r}")
        return None
    return fields.integer("uptime")


def _non_negative(fields: FieldReader, key: str) -> float | None:
    value = fields.number(key)
    if value is not None and value < 0:
        fields.problems.append(f"{key}: expected a number >= 0")
        return None
    return value


def _rpc_result(router: str, payload: bytes) -> RpcResult:
    fields = FieldReader(decode_json_object(payload))
    request_id = fields.data.get("id")
    if type(request_id) is int:
        request_id = str(request_id)
    if not isinstance(request_id, str) or not request_id:
        raise InvalidMessage("id: missing")
    status = fields.require("status", fields.string("status"))
    if status not in ("success", "error"):
        raise InvalidMessage(f"status: unknown value {status[:32]!r}")
    return RpcResult(
        router=router,
        request_id=request_id,
        ok=status == "success",
        result=fields.data.get("result"),
        error=fields.string("error"),
        stderr=fields.string("stderr"),
        problems=tuple(fields.problems),
    )


def _tunnel(router: str, payload: bytes) -> TunnelMessage:
    fields = FieldReader(decode_json_object(payload))
    session = fields.string("sessionId") or None
    match fields.require("type", fields.string("type")):
        case "x-started":
            return TunnelStarted(router=router, session=session, problems=tuple(fields.problems))
        case "x-data":
            text = fields.require("data", fields.string("data"))
            try:
                data = base64.b64decode(text, validate=True)
            except ValueError:  # binascii.Error, or non-ASCII text
                raise InvalidMessage("data: not base64") from None
            return TunnelData(
                router=router, session=session, data=data, problems=tuple(fields.problems)
            )
        case "x-error":
            return TunnelError(
                router=router,
                session=session,
                error=fields.string("error") or "",
                problems=tuple(fields.problems),
            )
        case other:
            raise InvalidMessage(f"type: unknown tunnel message {other[:32]!r}")


def parse_board(result: object) -> RouterBoard | None:
    """Read `ubus call system board`: the model, the board name and the release.

    The release shows as `<distribution> <version>` (`OpenWrt 23.05.3`); None when the
    result says nothing the registry can show.
    """
    if not isinstance(result, dict):
        return None
    fields = FieldReader(result)
    release = FieldReader(fields.obj("release") or {})
    distribution = release.display_string("distribution")
    version = release.display_string("version")
    sw_version = (
        f"{distribution} {version}"
        if distribution and version
        else version or release.display_string("description")
    )
    board = RouterBoard(
        model=_shown(fields.display_string("model")),
        model_id=_shown(fields.display_string("board_name")),
        sw_version=_shown(sw_version),
    )
    return None if board == RouterBoard(model=None, model_id=None, sw_version=None) else board


def _shown(text: str | None) -> str | None:
    return None if text is None else text[:_MAX_TEXT]


def terminal_input(command: str, marker: str) -> bytes:
    """Return the one line that runs `command` between two marker lines of its output.

    The shell prints `<marker>B` before the command runs and `<marker>E<exit code>` on a
    line of its own after it; the echoed input never holds either (the quotes split them).
    `eval` of the single-quoted command keeps its own quotes, `#` and newlines; the
    subshell around it turns an `exit 3` into exit code 3 instead of ending the shell.
    """
    quoted = "'" + command.replace("'", "'\\''") + "'"
    return (
        f"echo {_MARKER_WORD}{marker}''B; (eval {quoted}); "
        f"printf '\\n%sE%s\\n' {_MARKER_WORD}{marker} \"$?\"\n"
    ).encode()


def read_terminal(transcript: str, marker: str) -> TerminalResult:
    """Cut the command's output out of a terminal transcript (see `terminal_input`).

    Line ends become newlines (a PTY sends CR LF). Without the start marker the command
    never ran: stdout is empty.
    """
    text = transcript.replace("\r\n", "\n")
    tag = re.escape(f"{_MARKER_WORD}{marker}")
    # Not anchored to a line start: a multi-line command's last `> ` prompt precedes it.
    start = re.search(f"{tag}B\n", text)
    if start is None:
        return TerminalResult(stdout="", exit_code=None)
    rest = text[start.end() :]
    end = re.search(f"\n{tag}E([0-9]{{1,3}})\n", rest)
    if end is None:
        return TerminalResult(stdout=rest, exit_code=None)
    return TerminalResult(stdout=rest[: end.start()], exit_code=int(end.group(1)))


def terminal_finished(transcript: bytes, marker: str) -> bool:
    """Tell whether the end marker line has arrived (the command exited)."""
    return (
        re.search(f"\n{re.escape(_MARKER_WORD + marker)}E[0-9]{{1,3}}\r?\n".encode(), transcript)
        is not None
    )
