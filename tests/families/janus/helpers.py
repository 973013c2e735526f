"""Janus test helpers: the entry, the admin API's replies, and the requests HA sent.

The Janus WebRTC Server's MQTT transport and admin API: docs/protocols.md, section "Janus".
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
import json
import re
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import mqtt
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from paho.mqtt.client import topic_matches_sub
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed_exact,
)

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.janus.actions import SERVICE_LIST_SESSIONS

from ... import clock
from ...clock import settle, until as _until
from ...common import default_options, device_by_identifier, entry_id_for

BASE = "janus"
SERVER = "gw1"
SECRET = "s3cret"
START = "2026-01-02T03:04:05+00:00"
TRANSACTION = re.compile(r"[0-9a-f]{24}")
SUBSCRIBE_STEP = 0.25  # seconds the clock moves on while HA's MQTT client subscribes
SUBSCRIBE_STEPS = 40

CONNECTIVITY = f"binary_sensor.{SERVER}_connectivity"
SESSIONS = f"sensor.{SERVER}_sessions"
ADMIN_STATE = f"sensor.{SERVER}_admin_api"
INVALID = "sensor.janus_invalid_messages"


def janus_entry(
    base: str = BASE, secret: str = SECRET, data_servers: list[str] | None = None, **options: Any
) -> MockConfigEntry:
    """A Janus entry under `base` with the family's default options and `options`.

    `data_servers` are the known servers typed when the entry was added (its data).
    """
    data = {"family": "janus", "base_topic": base, "admin_secret": secret}
    if data_servers is not None:
        data["servers"] = data_servers  # type: ignore[assignment]
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Janus ({base})",
        unique_id=f"janus:{base}",
        entry_id=entry_id_for(f"janus:{base}"),
        data=data,
        options=default_options("janus") | options,
        version=2,
        minor_version=1,
    )


async def replies_subscribed(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, base: str = BASE
) -> None:
    """After an entry's setup: move the clock on until HA subscribed to its admin replies.

    HA subscribes after its cooldowns, timers on the (frozen) clock; the hub polls once
    the subscription is made, and the clock stops right there.
    """
    made = asyncio.Event()
    stop = mqtt.async_on_subscribe_done(hass, f"{base}/+/from-janus-admin", 1, made.set)
    try:
        await settle(hass)
        for _ in range(SUBSCRIBE_STEPS):
            if made.is_set():
                return
            freezer.tick(timedelta(seconds=SUBSCRIBE_STEP))
            async_fire_time_changed_exact(hass)
            await settle(hass)
        raise AssertionError("HA never subscribed to the admin replies")
    finally:
        stop()


async def advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Move the frozen clock on in steps of at most 1 s, firing timers on the way."""
    await clock.advance(hass, freezer, seconds, step=1.0)


def published(mqtt_mock: Any, server: str | None = None, kind: str | None = None) -> list[Any]:
    """Return the admin request calls (topic, payload, qos, retain) sent so far."""
    calls = []
    for call in mqtt_mock.async_publish.call_args_list:
        topic = call.args[0]
        if not topic.endswith("/to-janus-admin"):
            continue
        if server is not None and topic != f"{BASE}/{server}/to-janus-admin":
            continue
        if kind is not None and json.loads(call.args[1])["janus"] != kind:
            continue
        calls.append(call)
    return calls


class AdminTraffic:
    """The admin requests HA publishes, taken as they come: (server, body) in order."""

    def __init__(self, mqtt_mock: Any) -> None:
        self._publish = mqtt_mock.async_publish
        self._seen = 0

    def take(self) -> list[tuple[str, dict[str, Any]]]:
        """Return the admin requests published since the last call."""
        calls = self._publish.call_args_list[self._seen :]
        self._seen += len(calls)
        return [
            (call.args[0].split("/")[1], json.loads(call.args[1]))
            for call in calls
            if call.args[0].endswith("/to-janus-admin")
        ]


async def answer(hass: HomeAssistant, sent: list[tuple[str, dict[str, Any]]]) -> None:
    """Answer admin requests as a running server does: its info, or no sessions."""
    for server, body in sent:
        transaction = body["transaction"]
        payload = server_info(transaction) if body["janus"] == "info" else success(transaction, [])
        async_fire_mqtt_message(hass, f"{BASE}/{server}/from-janus-admin", payload)
    await settle(hass)


def requests(mqtt_mock: Any, server: str | None = None, kind: str | None = None) -> list[Any]:
    """Return the bodies of the admin requests sent so far."""
    return [json.loads(call.args[1]) for call in published(mqtt_mock, server, kind)]


async def wait_request(mqtt_mock: Any, server: str, kind: str, count: int) -> dict[str, Any]:
    """Wait for the `count`-th request of `kind` to `server` and return its body."""
    await _until(lambda: len(requests(mqtt_mock, server, kind)) >= count)
    return requests(mqtt_mock, server, kind)[count - 1]


def success(transaction: str | None, sessions: list[int] | None = None) -> str:
    body: dict[str, Any] = {"janus": "success"}
    if transaction is not None:
        body["transaction"] = transaction
    if sessions is not None:
        body["sessions"] = sessions
    return json.dumps(body)


def server_info(transaction: str, version: str = "1.2.3") -> str:
    return json.dumps(
        {
            "janus": "server_info",
            "transaction": transaction,
            "name": "Janus WebRTC Server",
            "version": 1203,
            "version_string": version,
            "server-name": SERVER,
        }
    )


def error(transaction: str, code: int, reason: str = "nope") -> str:
    return json.dumps(
        {"janus": "error", "transaction": transaction, "error": {"code": code, "reason": reason}}
    )


async def reply(hass: HomeAssistant, server: str, payload: str) -> None:
    """Answer on the server's admin reply topic and let the waiter run."""
    async_fire_mqtt_message(hass, f"{BASE}/{server}/from-janus-admin", payload)
    await settle(hass)


async def status(hass: HomeAssistant, server: str, payload: str) -> None:
    async_fire_mqtt_message(hass, f"{BASE}/{server}/status", payload)
    await hass.async_block_till_done()


async def first_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory | None,
    mqtt_mock: Any,
    server: str = SERVER,
    sessions: list[int] | None = None,
    version: str = "1.2.3",
) -> None:
    """Answer the poll a server gets as it comes online: its `info`, then `list_sessions`."""
    listings = len(requests(mqtt_mock, server, "list_sessions"))
    await settle(hass)
    info = requests(mqtt_mock, server, "info")[-1]
    await reply(hass, server, server_info(info["transaction"], version))
    listing = await wait_request(mqtt_mock, server, "list_sessions", listings + 1)
    await reply(
        hass, server, success(listing["transaction"], [11, 22] if sessions is None else sessions)
    )


async def came_online(hass: HomeAssistant, mqtt_mock: Any, server: str = SERVER) -> None:
    """Bring a server online and answer the poll that goes out at once; forget its traffic."""
    await status(hass, server, "online")
    await first_poll(hass, None, mqtt_mock, server)
    mqtt_mock.async_publish.reset_mock()


def call_list_sessions(hass: HomeAssistant, data: dict[str, Any]) -> asyncio.Task[Any]:
    """Start a list_sessions call (a plain task: block_till_done does not wait for it)."""
    coro: Coroutine[Any, Any, Any] = hass.services.async_call(
        DOMAIN, SERVICE_LIST_SESSIONS, data, blocking=True, return_response=True
    )
    return asyncio.create_task(coro)


def device_entry(
    hass: HomeAssistant, server: str, key: str = "entry_janus_janus"
) -> dr.DeviceEntry:
    device = device_by_identifier(dr.async_get(hass), f"{key}/{server}")
    assert device is not None
    return device


class FakeGateways:
    """Janus servers on HA's mocked broker: their retained status, their admin API.

    A server in `running` answers `list_sessions` as Janus does: `success` with the right
    secret (or when it has none), 403 otherwise; `reply_code` makes it answer that error
    instead. Its retained status reaches whoever subscribes to a matching filter.
    """

    def __init__(self, hass: HomeAssistant, mqtt_mock: Any, mqtt_client_mock: Any) -> None:
        self.hass = hass
        self.secret: str | None = SECRET
        self.running: set[str] = set()
        self.retained: dict[str, str] = {}
        self.reply_code: int | None = None
        self.asked: list[tuple[str, dict[str, Any]]] = []
        mqtt_mock.async_publish.side_effect = self._async_publish
        subscribe = mqtt_client_mock.subscribe.side_effect

        def _subscribe(topics: Any, qos: int = 0, **kwargs: Any) -> Any:
            result = subscribe(topics, qos, **kwargs)
            filters = [topics] if isinstance(topics, str) else [item[0] for item in topics]
            for topic, payload in self.retained.items():
                if any(topic_matches_sub(topic_filter, topic) for topic_filter in filters):
                    hass.loop.call_soon(async_fire_mqtt_message, hass, topic, payload, 1, True)
            return result

        mqtt_client_mock.subscribe.side_effect = _subscribe

    def run(self, server: str = SERVER, base: str = BASE, *, retain_status: bool = False) -> None:
        """Start a server; with `retain_status` the broker keeps its online status."""
        self.running.add(f"{base}/{server}")
        if retain_status:
            self.retained[f"{base}/{server}/status"] = '{"online": true}'

    async def _async_publish(self, topic: str, payload: Any, *args: Any, **kwargs: Any) -> None:
        prefix, _, leaf = topic.rpartition("/")
        if leaf != "to-janus-admin" or prefix not in self.running:
            return
        server, body = prefix.rpartition("/")[2], json.loads(payload)
        self.asked.append((server, body))
        if body["janus"] != "list_sessions":
            return
        transaction = body["transaction"]
        if self.secret and body.get("admin_secret") != self.secret:
            answer = error(transaction, 403, "Unauthorized request (wrong or missing secret)")
        elif self.reply_code is not None:
            answer = error(transaction, self.reply_code)
        else:
            answer = success(transaction, [])
        reply_topic = f"{prefix}/from-janus-admin"
        self.hass.loop.call_soon(async_fire_mqtt_message, self.hass, reply_topic, answer)


def reauth_flows(hass: HomeAssistant) -> list[Any]:
    """The reauth flows in progress."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]
