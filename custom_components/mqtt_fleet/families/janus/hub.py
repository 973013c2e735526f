"""Janus WebRTC gateways: status, and the admin API polled over MQTT."""

from __future__ import annotations

import asyncio
from collections import deque
import contextlib
from datetime import timedelta
from enum import StrEnum
import math
import time
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.event import async_track_time_interval

from ...const import CONF_ADMIN_SECRET, DOMAIN, LOGGER
from ...device import FleetDevice, unloaded_error
from ...hub import FleetHub
from ...issues import JANUS_WRONG_PATH
from ...protocol.correlation import PendingReplies
from ...protocol.janus import (
    AdminError,
    AdminErrorCode,
    AdminReply,
    AdminRequest,
    AdminSuccess,
    JanusProtocol,
    ServerInfo,
    ServerStatus,
)
from ...protocol.topics import is_safe_id
from . import keys
from .poll_schedule import PollRound, RequestBudget

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping
    from datetime import datetime

    from homeassistant.core import HomeAssistant

    from ...hub import FleetConfigEntry

MODEL: Final = "Janus WebRTC Server"
CONF_POLL_INTERVAL: Final = "poll_interval"
CONF_SERVERS: Final = "servers"
DEFAULT_POLL_INTERVAL: Final = 10
MIN_POLL_INTERVAL: Final = 2
MAX_POLL_INTERVAL: Final = 3600
ADMIN_REPLY_TIMEOUT: Final = 5.0
QOS: Final = 1  # the hub's subscriptions (FleetHub.async_start)
# HA resubscribes a moment after it reconnects (a cooldown, then one filter at a time).
RECONNECT_POLL_DELAY: Final = 1.5
# The poller's budget. A 9,200-server burst stalled HA's loop for 7 s: ~0.75 ms a poll
# (its publishes, the reply, the bookkeeping). 20 admin requests a second is ~1.5 % of the
# loop and still polls 200 servers every 10 s (the default interval); past that the
# interval stretches to servers / 20. A hard cap on every request the poller sends.
MAX_POLLS_PER_SECOND: Final = 20
# The poll timer: each tick starts the polls whose turn came, 5 at most at 20 a second.
POLL_TICK: Final = 0.25
# Polls of servers put first in line (setup, a reconnect) per tick: the same 5.
HURRIED_PER_TICK: Final = math.ceil(MAX_POLLS_PER_SECOND * POLL_TICK)


def configured_servers(settings: Mapping[str, Any]) -> list[str]:
    """Return the known servers in an entry's data or options (absent or blank: none)."""
    servers = settings.get(CONF_SERVERS)
    return [server for server in servers if isinstance(server, str)] if servers else []


class AdminState(StrEnum):
    """What the admin API last answered to list_sessions."""

    OK = "ok"
    UNAUTHORIZED = "unauthorized"
    NO_REPLY = "no_reply"
    WRONG_PATH = "wrong_path"  # 457: admin topics wired as plain API topics
    ERROR = "error"


class JanusDevice(FleetDevice):
    """A Janus server: connected by its status; session counts go stale without replies."""

    has_info = False  # it answered `info` since it last came online
    # False from a (re)connect status until list_sessions answers: the old count is gone.
    count_current = True
    poll: asyncio.Task[None] | None = None  # the last poll (it may start and end at once)

    @property
    def connected(self) -> bool | None:
        """Return the status the server last sent (or a reply proved).

        Janus retains no status: a server known only from before a restart is taken
        as gone once its admin API stayed silent for the offline timeout.
        """
        if self.online is None and not self.fresh:
            return False
        return self.online

    @property
    def available(self) -> bool:
        """Its information stays readable unless the server said it is offline."""
        return self.online is not False


class JanusHub(FleetHub[JanusDevice]):
    """Follow Janus servers under one base topic and poll their admin API."""

    family = "janus"
    device_type = JanusDevice
    protocol: JanusProtocol
    title = "Janus"
    manufacturer = "Meetecho"
    default_offline_timeout = 60

    def __init__(self, hass: HomeAssistant, entry: FleetConfigEntry) -> None:
        """Build the protocol and the transaction map."""
        super().__init__(hass, entry)
        self.protocol = JanusProtocol(self.base)
        self.pending: PendingReplies[AdminReply] = PendingReplies(self.loop)
        self.poll_interval = float(self.options.get(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL))
        now = self.loop.time()
        self._round = PollRound(self.poll_interval, MAX_POLLS_PER_SECOND, POLL_TICK, now)
        self._budget = RequestBudget(MAX_POLLS_PER_SECOND)
        self._turns: deque[asyncio.Future[None]] = deque()  # polls waiting for budget
        # Polling waits for HA to (re)subscribe; until the broker acknowledged the reply
        # subscription (inf) a reply would be lost and the poll wait for its timeout.
        self._paused_until: float | None = math.inf
        self._hurried_left = HURRIED_PER_TICK  # first-in-line polls this tick may still start
        self._stretch_logged = False

    def new_device(self, wire_id: str, registry_id: str, *, restored: bool) -> JanusDevice:
        """Make the device; one whose id is a topic level joins the poll round."""
        device = super().new_device(wire_id, registry_id, restored=restored)
        if is_safe_id(wire_id):  # a stray registry entry's id is never asked
            self._round.add(wire_id)
        return device

    def statuses_requested(self, devices: list[FleetDevice]) -> Coroutine[Any, Any, None] | None:
        """Return a wait for the poll round to reach every server (it is what asks them).

        Twice the period: a server not heard from yet gets an `info` request first.
        """
        return asyncio.sleep(2 * self._round.period)

    @property
    def known_servers(self) -> list[str]:
        """Return the servers the user named: in the options, or when adding the entry."""
        servers = configured_servers(self.options) + configured_servers(self.data)
        return [server for server in dict.fromkeys(servers) if is_safe_id(server)]

    async def async_start(self) -> None:
        """Subscribe, create the known servers, and poll the restored servers first.

        A server known from before (a restart, a reload) shows restored values: it is polled
        as soon as the replies can arrive (5 a tick, within the request budget), so they are
        replaced within a second, not one interval later. Servers new to the entry join
        the round.
        """
        await super().async_start()
        # Queued now: the done callback waits for this subscription, not an earlier one.
        _statuses, replies = self.protocol.subscriptions
        self._unsubscribes.append(
            mqtt.async_on_subscribe_done(self.hass, replies, QOS, self._async_replies_subscribed)
        )
        for server in self.known_servers:
            if server not in self.devices:  # the user's list: admitted
                self.async_add_device(server, MODEL)
        for wire_id, device in self.devices.items():
            if device.restored:
                self._round.hurry(wire_id)
        self._unsubscribes.append(
            async_track_time_interval(
                self.hass,
                self._async_poll_tick,
                timedelta(seconds=POLL_TICK),
                name=f"{DOMAIN} Janus admin poll",
            )
        )

    @callback
    def _async_replies_subscribed(self) -> None:
        """Start polling once the broker acknowledged the subscription to the replies.

        The servers put first in line go at once; the round starts from here. HA also
        reports its resubscriptions after a reconnect: that pause has its own end.
        """
        if self._paused_until == math.inf:
            self._paused_until = None
            now = self.loop.time()
            self._round.restart(now)
            self._async_poll_hurried(now)

    @callback
    def async_apply_family_options(
        self, options: Mapping[str, Any], changed: frozenset[str]
    ) -> bool:
        """Take a new poll interval and new known servers without a reload.

        A new server is a device at once and joins the round; one taken off the list stays
        a device (with its history) until the user deletes it.
        """
        if changed - {CONF_POLL_INTERVAL, CONF_SERVERS}:
            return False
        if CONF_POLL_INTERVAL in changed:
            self.poll_interval = float(options.get(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL))
            self._round.interval = self.poll_interval
            self._stretch_logged = False
        for server in configured_servers(options):
            if is_safe_id(server) and server not in self.devices:
                self.async_add_device(server, MODEL)
        return True

    def as_diagnostics(self) -> dict[str, Any]:
        """Add how many requests wait for a reply, and how often a server is polled.

        The effective interval is what the budget plans; the last round's length is what it
        gave, longer when servers that never answered `info` needed two requests each.
        """
        return {
            **super().as_diagnostics(),
            "requests_waiting": len(self.pending),
            "poll_interval_effective": round(self._round.period, 2),
            "poll_round_seconds": None if (lap := self._round.last_lap) is None else round(lap, 2),
        }

    @callback
    def async_shutdown(self) -> None:
        """Stop polling and fail requests still waiting for a reply."""
        super().async_shutdown()
        self.pending.fail_all(unloaded_error(self.entry.title))

    def handle(
        self, topic: str, payload: bytes, monotonic: float, wall: float, *, live: bool
    ) -> tuple[str, ...]:
        """Apply a status; hand an admin reply to the request that waits for it."""
        message = self.protocol.parse(topic, payload)
        match message:
            case ServerStatus(server=server, online=online):
                device = self.async_device_for(server, MODEL)
                device.async_set_online(online)
                device.async_mark_heard(wall, live=live)
                if not online:
                    device.has_info = False  # ask again when it is back
                elif live or not device.has_info:  # (re)connected, or not polled yet
                    if live:
                        self._async_reconnected(device)
                    self._round.hurry(server)
                    self._async_poll_hurried(self.loop.time())
            case AdminReply(transaction=transaction):
                if not self.pending.resolve(transaction, message):
                    LOGGER.debug("Ignored an admin reply nobody waits for on %s", topic)
        return message.problems

    @callback
    def _async_reconnected(self, device: JanusDevice) -> None:
        """Forget what a server whose transport just (re)connected told before.

        Janus sends its connect status on every connect: a new process (no sessions, maybe
        a new version or secret) or one back after a broker outage. Its count is unknown
        until it answers; a poll sent to the old connection will get no reply.
        """
        device.has_info = False
        device.count_current = False
        if device.poll is not None:
            device.poll.cancel()
            device.poll = None
        if keys.SESSIONS in device.known_keys:
            device.async_notify(keys.SESSIONS)

    @callback
    def _async_poll_tick(self, _now: datetime) -> None:
        """Start the polls whose turn came, as far as the request budget has room.

        Polls waiting to send their second request go first, then servers put first in
        line (setup, a reconnect), then the round. A turn passes unused for a server known
        to be offline or still busy with its last poll; an id that left self.devices
        leaves the round.
        """
        now = self.loop.time()
        if self._paused_until is not None:
            if now < self._paused_until:
                return
            self._paused_until = None
            self._round.resume(now)
        else:
            self._round.accrue(now)
        self._async_log_stretched()
        self._hurried_left = HURRIED_PER_TICK
        budget = self._budget
        while self._turns and budget.has_room(now):
            turn = self._turns.popleft()
            if not turn.done():  # done: its poll was cancelled
                budget.spend(now)
                turn.set_result(None)
        self._async_poll_hurried(now)
        while budget.has_room(now) and (wire_id := self._round.take(self.devices)) is not None:
            self._async_start_poll(self.devices[wire_id], now)

    @callback
    def _async_poll_hurried(self, now: float) -> None:
        """Start the polls of the servers put first in line, as far as the budget has room.

        Run at once (setup, a status), not at the next tick, 5 a tick at most like the
        round's turns; while HA resubscribes after a reconnect they wait for the tick that
        ends the pause.
        """
        if self._paused_until is not None:
            return
        while (
            self._hurried_left > 0
            and self._budget.has_room(now)
            and (wire_id := self._round.take_hurried(self.devices)) is not None
        ):
            self._hurried_left -= 1
            self._async_start_poll(self.devices[wire_id], now)

    @callback
    def _async_start_poll(self, device: JanusDevice, now: float) -> None:
        """Poll a server unless it is known offline or still busy with its last poll."""
        if device.online is not False and (device.poll is None or device.poll.done()):
            self._budget.spend(now)
            device.poll = self.entry.async_create_background_task(
                self.hass, self._async_poll_server(device), f"{DOMAIN} poll {device.wire_id}"
            )

    @callback
    def _async_log_stretched(self) -> None:
        """Say once, while the hub runs, that the budget polls each server less often."""
        if self._round.stretched and not self._stretch_logged:
            self._stretch_logged = True
            LOGGER.info(
                "%s: %d Janus servers need more than %d admin polls a second at a %g s "
                "interval; each is polled about every %g s instead (diagnostics: "
                "poll_interval_effective)",
                self.entry.title,
                len(self._round),
                MAX_POLLS_PER_SECOND,
                self.poll_interval,
                self._round.period,
            )

    async def _async_budget_turn(self) -> None:
        """Wait until the request budget has room for one more request."""
        now = self.loop.time()
        if not self._turns and self._budget.has_room(now):
            self._budget.spend(now)
            return
        turn: asyncio.Future[None] = self.loop.create_future()
        self._turns.append(turn)
        await turn

    @callback
    def async_mqtt_reconnected(self) -> None:
        """Drop polls whose replies the outage lost; poll again once resubscribed.

        The round pauses meanwhile and then goes on, spread as before: no catching up.
        """
        for device in self.devices.values():
            if device.poll is not None:
                device.poll.cancel()
        if self._paused_until != math.inf:  # else the first subscription ends the pause
            self._paused_until = self.loop.time() + RECONNECT_POLL_DELAY

    async def _async_poll_server(self, device: JanusDevice) -> None:
        if not device.has_info:
            with contextlib.suppress(TimeoutError, HomeAssistantError):
                await self.async_admin_request(device, AdminRequest.INFO)
                device.has_info = True
            await self._async_budget_turn()  # the tick paid for the first request only
        try:
            await self.async_admin_request(device, AdminRequest.LIST_SESSIONS)
        except TimeoutError:
            if device.online is not False:
                device.async_set_value(keys.ADMIN_STATE, AdminState.NO_REPLY)
        except HomeAssistantError as err:
            LOGGER.debug("Polling %s stopped: %s", device.wire_id, err)

    async def async_admin_request(
        self, device: JanusDevice, request: AdminRequest, seconds: float = ADMIN_REPLY_TIMEOUT
    ) -> AdminReply:
        """Send one admin request and apply its reply; TimeoutError when none comes."""
        secret = self.entry.data.get(CONF_ADMIN_SECRET)
        message, transaction = self.protocol.admin_request(device.wire_id, request, secret)
        reply = await self.pending.async_request(
            transaction, lambda: self.async_publish(message), seconds
        )
        self._apply_reply(device, request, reply, secret)
        return reply

    def _apply_reply(
        self, device: JanusDevice, request: AdminRequest, reply: AdminReply, secret: str | None
    ) -> None:
        """Apply a reply to a request sent with `secret`.

        A 403 to a secret the entry no longer has (a poll sent while reauth checked the new
        one) says nothing of the new secret: it neither marks the server nor asks again.
        """
        device.async_set_online(True)  # only a running server answers
        device.async_mark_heard(time.time(), live=True)
        match reply:
            case AdminSuccess(sessions=sessions) if request is AdminRequest.LIST_SESSIONS:
                if device.values.get(keys.ADMIN_STATE) == AdminState.WRONG_PATH:
                    self.upkeep.async_clear(JANUS_WRONG_PATH, device)
                device.async_set_value(keys.ADMIN_STATE, AdminState.OK)
                if sessions is not None:
                    count = len(sessions)
                    if not device.count_current:
                        device.count_current = True
                        if device.values.get(keys.SESSIONS) == count:  # no write coming
                            device.async_notify(keys.SESSIONS)
                    device.async_set_value(keys.SESSIONS, count)
                    device.async_mark_seen(
                        self.loop.time(), time.time(), live=True
                    )  # the count is fresh
            case ServerInfo(version=version) if version:
                self.async_update_device_registry(device, sw_version=version)
            case AdminError(code=AdminErrorCode.UNAUTHORIZED) if secret != self.entry.data.get(
                CONF_ADMIN_SECRET
            ):
                LOGGER.debug("Ignored a 403 to the replaced admin secret from %s", device.wire_id)
            case AdminError(code=AdminErrorCode.UNAUTHORIZED):
                if device.values.get(keys.ADMIN_STATE) != AdminState.UNAUTHORIZED:
                    LOGGER.warning(
                        "Janus server %s refused the admin secret; asking for a new one",
                        device.wire_id,
                    )
                device.async_set_value(keys.ADMIN_STATE, AdminState.UNAUTHORIZED)
                self.entry.async_start_reauth(self.hass)
            case AdminError(code=AdminErrorCode.NOT_HANDLED_AT_PATH):
                if device.values.get(keys.ADMIN_STATE) != AdminState.WRONG_PATH:
                    self.upkeep.async_raise(JANUS_WRONG_PATH, device)
                device.async_set_value(keys.ADMIN_STATE, AdminState.WRONG_PATH)
            case AdminError(code=code, reason=reason):
                LOGGER.debug("Janus %s admin error %s: %s", device.wire_id, code, reason)
                device.async_set_value(keys.ADMIN_STATE, AdminState.ERROR)

    async def async_list_sessions(self, device: JanusDevice, seconds: float) -> dict[str, Any]:
        """Answer the list_sessions action from a live request."""
        server = device.wire_id
        if device.online is False:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="device_offline",
                translation_placeholders={"device": server},
            )
        try:
            reply = await self.async_admin_request(device, AdminRequest.LIST_SESSIONS, seconds)
        except TimeoutError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="janus_no_reply",
                translation_placeholders={"server": server, "timeout": f"{seconds:g}"},
            ) from err
        if isinstance(reply, AdminError):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="janus_unauthorized"
                if reply.code == AdminErrorCode.UNAUTHORIZED
                else "janus_error",
                translation_placeholders={
                    "server": server,
                    "code": str(reply.code),
                    "reason": reply.reason,
                },
            )
        sessions = list(reply.sessions or ()) if isinstance(reply, AdminSuccess) else []
        return {"server": server, "count": len(sessions), "sessions": sessions}
