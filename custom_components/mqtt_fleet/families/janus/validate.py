"""Check a Janus entry's admin secret against a running server before the entry is saved.

One `list_sessions` (the admin request that needs the secret; `info` does not) to each
server that may answer, all within VALIDATE_TIMEOUT seconds:

- the servers typed in the form (`servers`), then those of a loaded entry under the same
  base (reauth, reconfigure): its online devices and its known servers;
- any server whose `online` status arrives on `{base}/+/status` meanwhile (a retained
  status arrives at once).

The first answer decides: 403 is `invalid_auth`; `success` or any other error passes (a
457 says nothing of the secret: the entry's repair issue explains it). No answer at all,
or no server to ask, is `cannot_connect`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.exceptions import HomeAssistantError

from ...const import CONF_ADMIN_SECRET, CONF_BASE_TOPIC, CONF_FAMILY, DOMAIN, LOGGER
from ...protocol.janus import (
    AdminError,
    AdminErrorCode,
    AdminReply,
    AdminRequest,
    JanusProtocol,
    ServerStatus,
)
from ...protocol.payload import InvalidMessage
from ...protocol.topics import is_safe_id
from .hub import CONF_SERVERS, JanusHub, configured_servers

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from homeassistant.components.mqtt import ReceiveMessage
    from homeassistant.core import HomeAssistant

# The whole check: subscribing, asking and waiting for the first answer.
VALIDATE_TIMEOUT: Final = 3.0
# Servers asked at most: one answer is enough, a few cover servers that are down.
MAX_SERVERS_ASKED: Final = 5
QOS: Final = 1

type Errors = dict[str, str]


async def async_validate_entry(hass: HomeAssistant, base: str, data: Mapping[str, Any]) -> Errors:
    """Return {} when a server accepted the secret, else the form's errors."""
    typed = configured_servers(data)
    if not all(is_safe_id(server) for server in typed):
        return {CONF_SERVERS: "servers_invalid"}
    check = _SecretCheck(hass, base, data.get(CONF_ADMIN_SECRET) or None)
    return await check.async_run([*typed, *_loaded_entry_servers(hass, base)])


def discovery_options(server: str) -> dict[str, Any]:
    """Keep the discovered server as a known server: it exists from setup on."""
    return {CONF_SERVERS: [server]} if is_safe_id(server) else {}


def _loaded_entry_servers(hass: HomeAssistant, base: str) -> list[str]:
    """Return the servers a loaded Janus entry under `base` knows, online ones first."""
    servers: list[str] = []
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        hub = entry.runtime_data
        if (
            entry.data.get(CONF_FAMILY) != JanusHub.family
            or entry.data.get(CONF_BASE_TOPIC) != base
            or not isinstance(hub, JanusHub)
        ):
            continue
        devices = sorted(hub.devices.values(), key=lambda device: device.connected is not True)
        servers += [device.wire_id for device in devices if device.online is not False]
        servers += hub.known_servers
    return servers


class _SecretCheck:
    """One validation run: the servers asked, and the first answer."""

    def __init__(self, hass: HomeAssistant, base: str, secret: str | None) -> None:
        self.hass = hass
        self.protocol = JanusProtocol(base)
        self.secret = secret
        self.asked: set[str] = set()
        self.to_ask: asyncio.Queue[str] = asyncio.Queue()
        self.transactions: set[str] = set()
        self.outcome: asyncio.Future[Errors] = hass.loop.create_future()
        self.replies_subscribed: asyncio.Future[None] = hass.loop.create_future()

    async def async_run(self, servers: Iterable[str]) -> Errors:
        """Listen, ask, and return the first answer's verdict, all within the bound."""
        for server in servers:
            self._offer(server)
        unsubscribes: list[CALLBACK_TYPE] = []
        sender: asyncio.Task[None] | None = None
        try:
            async with asyncio.timeout(VALIDATE_TIMEOUT):
                if not await mqtt.async_wait_for_mqtt_client(self.hass):
                    return {"base": "cannot_connect"}
                statuses, replies = self.protocol.subscriptions
                unsubscribes.append(
                    mqtt.async_on_subscribe_done(
                        self.hass, replies, QOS, self._async_replies_subscribed
                    )
                )
                unsubscribes.extend(
                    [
                        await mqtt.async_subscribe(
                            self.hass, topic, self._async_on_message, qos=QOS, encoding=None
                        )
                        for topic in (replies, statuses)
                    ]
                )
                sender = self.hass.async_create_background_task(
                    self._async_send(), f"{DOMAIN} Janus secret check"
                )
                return await self.outcome
        except TimeoutError:
            return {"base": "cannot_connect"}
        except HomeAssistantError as err:  # MQTT is not enabled
            LOGGER.debug("Could not check the Janus admin secret: %s", err)
            return {"base": "cannot_connect"}
        finally:
            if sender is not None:
                sender.cancel()
            for unsubscribe in unsubscribes:
                unsubscribe()

    def _offer(self, server: str) -> None:
        if server not in self.asked and len(self.asked) < MAX_SERVERS_ASKED:
            self.asked.add(server)
            self.to_ask.put_nowait(server)

    @callback
    def _async_replies_subscribed(self) -> None:
        if not self.replies_subscribed.done():
            self.replies_subscribed.set_result(None)

    async def _async_send(self) -> None:
        """Ask each server once the replies can reach us (a reply before that is lost)."""
        await self.replies_subscribed
        while True:
            server = await self.to_ask.get()
            message, transaction = self.protocol.admin_request(
                server, AdminRequest.LIST_SESSIONS, self.secret
            )
            self.transactions.add(transaction)
            try:
                await mqtt.async_publish(
                    self.hass, message.topic, message.payload, message.qos, message.retain
                )
            except HomeAssistantError as err:  # the broker is away: no answer will come
                LOGGER.debug("Could not ask Janus server %s: %s", server, err)

    @callback
    def _async_on_message(self, msg: ReceiveMessage) -> None:
        """Ask a server that says it is online; judge a reply to one of our requests."""
        payload = msg.payload
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        try:
            message = self.protocol.parse(msg.topic, raw)
        except InvalidMessage:
            return
        match message:
            case ServerStatus(server=server, online=True):
                self._offer(server)
            case AdminReply(transaction=transaction) if transaction in self.transactions:
                if self.outcome.done():
                    return
                unauthorized = (
                    isinstance(message, AdminError) and message.code == AdminErrorCode.UNAUTHORIZED
                )
                self.outcome.set_result({"base": "invalid_auth"} if unauthorized else {})
