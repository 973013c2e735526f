"""Janus WebRTC gateways: status, and the admin API over the MQTT transport.

Replies are matched to requests by `transaction`; Janus uses no MQTT v5 response topic
or correlation data for admin replies. The topics and payloads are described in
docs/protocols.md, section "Janus".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
import secrets
from typing import Final

import orjson

from .payload import FieldReader, InvalidMessage, decode_json, decode_json_object, decode_text
from .topics import BaseTopic, OutgoingMessage, is_safe_id, require_safe_id

__all__ = [
    "AdminError",
    "AdminErrorCode",
    "AdminReply",
    "AdminRequest",
    "AdminSuccess",
    "JanusMessage",
    "JanusProtocol",
    "ServerInfo",
    "ServerStatus",
    "new_transaction",
]

_ONLINE_WORDS: Final = {"online": True, "true": True, "offline": False, "false": False}


class AdminRequest(StrEnum):
    """Admin requests a monitor sends."""

    LIST_SESSIONS = "list_sessions"
    INFO = "info"


class AdminErrorCode(IntEnum):
    """Admin API error codes a monitor has to tell apart."""

    UNAUTHORIZED = 403  # wrong or missing admin_secret
    NOT_HANDLED_AT_PATH = 457  # admin topics wired as plain API topics


@dataclass(frozen=True, slots=True, kw_only=True)
class JanusMessage:
    """Something a server told us; `problems` lists the fields that were refused."""

    server: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerStatus(JanusMessage):
    """The transport's connect or disconnect message (the latter is the Last Will)."""

    online: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminReply(JanusMessage):
    """A reply on from-janus-admin; None transaction means it cannot be matched.

    A reply with nothing more to read (`pong`) is an AdminReply itself.
    """

    transaction: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminSuccess(AdminReply):
    """`success`: carries `sessions` for list_sessions."""

    sessions: tuple[int, ...] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminError(AdminReply):
    """`error` with its code and reason."""

    code: int | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerInfo(AdminReply):
    """`server_info`, the answer to `info`; `version` is display text (it becomes firmware)."""

    version: str | None


def new_transaction() -> str:
    """Return a fresh random transaction id."""
    return secrets.token_hex(12)


class JanusProtocol:
    """Parse and build Janus status and admin messages under one base topic."""

    __slots__ = ("_topics", "base", "subscriptions")

    def __init__(self, base: str) -> None:
        """Check the base topic once."""
        self._topics = BaseTopic(base)
        self.base = base
        self.subscriptions: tuple[str, ...] = (f"{base}/+/status", f"{base}/+/from-janus-admin")

    def parse(self, topic: str, payload: bytes) -> JanusMessage:
        """Turn one received message into a typed message, or raise InvalidMessage."""
        match self._topics.levels(topic):
            case [server, "status"] if is_safe_id(server):
                return ServerStatus(server=server, online=_online(payload))
            case [server, "from-janus-admin"] if is_safe_id(server):
                return _admin_reply(server, payload)
        raise InvalidMessage("not a Janus topic")

    def admin_request(
        self,
        server: str,
        request: AdminRequest,
        admin_secret: str | None,
        transaction: str | None = None,
    ) -> tuple[OutgoingMessage, str]:
        """Build an admin request; only list_sessions carries the secret."""
        require_safe_id(server)
        transaction = transaction or new_transaction()
        body: dict[str, object] = {"janus": request.value, "transaction": transaction}
        if request is AdminRequest.LIST_SESSIONS and admin_secret:
            body["admin_secret"] = admin_secret
        return (
            OutgoingMessage(f"{self.base}/{server}/to-janus-admin", orjson.dumps(body)),
            transaction,
        )


def _online(payload: bytes) -> bool:
    """Read a status: `{"online": bool}`, a JSON bool, or online/offline/true/false."""
    text = decode_text(payload).strip()
    try:
        value = decode_json(payload)
    except InvalidMessage:
        value = text
    if isinstance(value, dict):
        online = FieldReader(value).boolean("online")
        if online is None:
            raise InvalidMessage("online: expected a boolean")
        return online
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and (online := _ONLINE_WORDS.get(value.strip().lower())) is not None:
        return online
    raise InvalidMessage(f"unknown status {text[:32]!r}")


def _admin_reply(server: str, payload: bytes) -> AdminReply:
    fields = FieldReader(decode_json_object(payload))
    transaction = fields.data.get("transaction")
    transaction = transaction if isinstance(transaction, str) and transaction else None
    match fields.require("janus", fields.string("janus")):
        case "success":
            return AdminSuccess(
                server=server,
                transaction=transaction,
                sessions=_sessions(fields),
                problems=tuple(fields.problems),
            )
        case "error":
            error = fields.require("error", fields.obj("error"))
            details = FieldReader(error)
            code = details.integer("code")
            return AdminError(
                server=server,
                transaction=transaction,
                code=code,
                reason=details.string("reason") or "",
                problems=tuple(f"error.{problem}" for problem in details.problems),
            )
        case "server_info":
            return ServerInfo(
                server=server,
                transaction=transaction,
                version=fields.display_string("version_string"),
                problems=tuple(fields.problems),
            )
        case "pong":  # the answer to someone else's ping: nothing to read but the transaction
            return AdminReply(server=server, transaction=transaction)
        case other:
            raise InvalidMessage(f"janus: unknown reply {other[:32]!r}")


def _sessions(fields: FieldReader) -> tuple[int, ...] | None:
    """Read the session ids of a list_sessions reply; odd entries are problems."""
    sessions = fields.data.get("sessions")
    if sessions is None:
        return None
    if not isinstance(sessions, list):
        fields.wrong_type("sessions", sessions, "an array")
        return None
    valid = tuple(item for item in sessions if type(item) is int)
    if len(valid) != len(sessions):
        fields.problems.append("sessions: expected whole numbers")
    return valid
