"""Forwarding logs: the forward_log action, batching, and Home Assistant's own records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Generator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
import json
import logging
import threading
from typing import Any
from unittest.mock import AsyncMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, EVENT_LOGGING_CHANGED, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.container_logs.actions import SERVICE_FORWARD_LOG
from custom_components.mqtt_fleet.families.container_logs.forwarding import (
    FORWARDED_SCOPE,
    MEBIBYTE,
    HomeAssistantLogHandler,
    queued_size,
)
from custom_components.mqtt_fleet.families.container_logs.hub import ContainerLogsHub
from custom_components.mqtt_fleet.protocol.container_logs import Level, LogMessage

from ...clock import advance, settle, until as _until
from ...common import entry_id_for, publishes as raw_publishes
from .helpers import BASE, START, START_MS, WEB, logs_entry, problem, state

DEMO = logging.getLogger("homeassistant.components.demo")
SITE_B = "site-b/logs"


# --- helpers ----------------------------------------------------------------------------


async def forward(hass: HomeAssistant, **data: Any) -> None:
    """Call mqtt_fleet.forward_log."""
    await hass.services.async_call(DOMAIN, SERVICE_FORWARD_LOG, data, blocking=True)


def publishes(mqtt_mock: Any, base: str = BASE) -> list[tuple[str, Any, int, bool]]:
    """Return the (topic, decoded JSON, qos, retain) published under `base` so far."""
    return [
        (call.args[0], json.loads(call.args[1]), call.args[2], call.args[3])
        for call in mqtt_mock.async_publish.call_args_list
        if call.args[0].startswith(f"{base}/")
    ]


def messages(mqtt_mock: Any, base: str = BASE) -> list[str]:
    """Return the messages of every log published under `base`, batches unpacked, in order."""
    found: list[str] = []
    for topic, body, _qos, _retain in publishes(mqtt_mock, base):
        logs = body["logs"] if topic.endswith("/batch") else [body]
        found.extend(entry["message"] for entry in logs)
    return found


def body(message: str, level: str = "info", **fields: Any) -> dict[str, Any]:
    """The JSON body forward_log builds at the frozen time."""
    return {"message": message, "timestamp": START_MS, "level": level, **fields}


@contextmanager
def watch_subscription(hass: HomeAssistant, topic: str, qos: int) -> Generator[asyncio.Event]:
    """An event set once HA's MQTT client has subscribed `topic` (call before subscribing)."""
    subscribed = asyncio.Event()
    stop_watching = mqtt.async_on_subscribe_done(hass, topic, qos, subscribed.set)
    try:
        yield subscribed
    finally:
        stop_watching()


async def advance_until_subscribed(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, subscribed: asyncio.Event
) -> None:
    """Like `advance(hass, freezer, seconds)`, and HA's MQTT client has subscribed by the end.

    HA's MQTT client subscribes wildcard filters one at a time, each awaiting its SUBACK, so its
    first batch (MQTT discovery's many filters) outlasts `settle`; a filter queued meanwhile waits
    for the next cooldown after it. After each step the event loop runs until that batch is done.
    """
    while seconds > 0:
        await advance(hass, freezer, min(seconds, 0.5))
        seconds -= 0.5
        for _ in range(2000):  # a few iterations per filter, for about 100 filters
            if subscribed.is_set():
                break
            await asyncio.sleep(0)
    assert subscribed.is_set(), "not subscribed"


def log_handlers() -> list[HomeAssistantLogHandler]:
    return [
        h
        for h in logging.getLogger(FORWARDED_SCOPE).handlers
        if isinstance(h, HomeAssistantLogHandler)
    ]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def logs_options() -> dict[str, Any]:
    """Options on top of the defaults."""
    return {}


@pytest.fixture
async def container_logs(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    logs_options: dict[str, Any],
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the Container logs entry (sensors and the problem events) at a frozen time."""
    # Frozen time jumps would make asyncio's debug mode log "slow callback" warnings,
    # which are Home Assistant records too: keep them out of the forwarded stream.
    hass.loop.slow_callback_duration = 3600
    freezer.move_to(START)
    entry = logs_entry(**logs_options)
    entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", [Platform.EVENT, Platform.SENSOR]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        # Let HA's MQTT subscribe cooldown run without moving the clock.
        async_fire_time_changed_exact(hass, dt_util.utcnow() + timedelta(seconds=1))
        await settle(hass)
        mqtt_mock.async_publish.reset_mock()
        yield entry


@pytest.fixture
def hub(container_logs: MockConfigEntry) -> ContainerLogsHub:
    """The entry's hub."""
    return container_logs.runtime_data


# --- forward_log without batching -------------------------------------------------------


@pytest.mark.parametrize("logs_options", [{"batch_logs": False}])
async def test_forward_log_single_exact_message(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any
) -> None:
    await forward(
        hass,
        message="Server started",
        level="info",
        source_type="container",
        source_name="web",
        service_id=1001,
        service_name="web",
        container_id="c0ffee",
    )
    assert raw_publishes(mqtt_mock) == [
        (
            f"{BASE}/1/web/info",
            (
                b'{"message":"Server started","timestamp":' + str(START_MS).encode() + b","
                b'"level":"info","source":{"type":"container","name":"web"},'
                b'"serviceId":1001,"serviceName":"web","containerId":"c0ffee"}'
            ),
            1,
            False,
        )
    ]
    assert hub.forwarder.forwarded == 1
    assert hub.forwarder.queued == 0


@pytest.mark.parametrize("logs_options", [{"batch_logs": False}])
@pytest.mark.parametrize(
    ("data", "topic", "expected"),
    [
        pytest.param(
            {"message": "m", "source_type": "container", "service_id": 2500, "service_name": "db"},
            "2/db/info",
            body("m", source={"type": "container"}, serviceId=2500, serviceName="db"),
            id="app-2",
        ),
        pytest.param(
            {
                "message": "m",
                "level": "warn",
                "source_type": "container",
                "service_id": 0,
                "service_name": "web",
            },
            "unknown/web/warn",
            body("m", "warn", source={"type": "container"}, serviceId=0, serviceName="web"),
            id="service-id-0",
        ),
        pytest.param(
            {"message": "m", "level": "error", "source_type": "container", "service_name": "web"},
            "unknown/web/error",
            body("m", "error", source={"type": "container"}, serviceName="web"),
            id="no-service-id",
        ),
        pytest.param(
            {"message": "m", "source_type": "container", "service_id": 1001},
            "other/info",
            body("m", source={"type": "container"}, serviceId=1001),
            id="container-without-service-name",
        ),
        pytest.param(
            {"message": "m", "source_type": "container", "service_name": ""},
            "other/info",
            body("m", source={"type": "container"}, serviceName=""),
            id="container-empty-service-name",
        ),
        pytest.param(
            {"message": "m", "level": "warn", "source_type": "system", "source_name": "backup"},
            "system/warn",
            body("m", "warn", source={"type": "system", "name": "backup"}),
            id="system",
        ),
        pytest.param(
            {"message": "m", "level": "debug", "source_type": "manager"},
            "manager/debug",
            body("m", "debug", source={"type": "manager"}),
            id="manager",
        ),
        pytest.param(
            {"message": "m"},
            "other/info",
            body("m", source={"type": "other"}),
            id="defaults",
        ),
        pytest.param(
            {"message": "m", "source_type": "system", "service_name": "a/b"},
            "system/info",
            body("m", source={"type": "system"}, serviceName="a/b"),
            id="service-name-not-a-topic-level",
        ),
    ],
)
async def test_forward_log_single_topics(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    data: dict[str, Any],
    topic: str,
    expected: dict[str, Any],
) -> None:
    await forward(hass, **data)
    assert publishes(mqtt_mock) == [(f"{BASE}/{topic}", expected, 1, False)]
    await settle(hass)
    assert hub.invalid_messages == 0  # what we publish, we read back


@pytest.mark.parametrize("logs_options", [{"batch_logs": False}])
@pytest.mark.parametrize(
    ("options", "qos", "retain"),
    [
        ({}, 1, False),
        ({"qos": 0}, 0, False),
        ({"qos": "2"}, 2, False),
        ({"retain": True}, 1, True),
        ({"qos": 0, "retain": "true"}, 0, True),
    ],
)
async def test_forward_log_single_qos_and_retain(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    options: dict[str, Any],
    qos: int,
    retain: bool,
) -> None:
    await forward(hass, message="m", **options)
    assert publishes(mqtt_mock) == [
        (f"{BASE}/other/info", body("m", source={"type": "other"}), qos, retain)
    ]


@pytest.mark.parametrize("logs_options", [{"batch_logs": False}])
async def test_forward_log_single_publish_failure_reaches_the_caller(
    hass: HomeAssistant, hub: ContainerLogsHub
) -> None:
    with (
        patch.object(mqtt, "async_publish", AsyncMock(side_effect=HomeAssistantError("away"))),
        pytest.raises(HomeAssistantError, match="away"),
    ):
        await forward(hass, message="m")
    assert hub.forwarder.forwarded == 0


# --- round trip -------------------------------------------------------------------------


@pytest.mark.parametrize("logs_options", [{"batch_logs": False}, {}], ids=["single", "batched"])
async def test_round_trip(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    """What forward_log publishes reads back (the entry reads its own base) the same."""
    web = {"source_type": "container", "service_id": 1001, "service_name": "web"}
    await forward(hass, message="up", **web)
    await forward(hass, message="GET /", **web)
    await forward(hass, message="slow", level="warn", **web)
    await forward(hass, message="disk full " + "z" * 300, level="error", container_id="c1", **web)
    await forward(hass, message="tick", level="debug", source_type="system")
    await advance(hass, freezer, 10)  # batches flushed, then the counters written

    assert hub.invalid_messages == 0
    assert hub.devices[WEB].counts == {"debug": 0, "info": 2, "warn": 1, "error": 1}
    assert hub.devices["system"].counts == {"debug": 1, "info": 0, "warn": 0, "error": 0}
    assert state(hass, WEB, "info_logs").state == "2"
    assert state(hass, WEB, "warn_logs").state == "1"
    assert state(hass, WEB, "error_logs").state == "1"
    shown = problem(hass, WEB)
    assert shown.attributes["event_type"] == "error"
    assert shown.attributes["first_line"] == ("disk full " + "z" * 300)[:254] + "…"
    assert shown.attributes["message"] == "disk full " + "z" * 300
    assert shown.attributes["logged_at"] == datetime.fromisoformat(START).isoformat()
    assert (shown.attributes["service_name"], shown.attributes["container_id"]) == ("web", "c1")
    last = hub.devices[WEB].values["problem"].log
    assert (last.service_id, last.service_name, last.container_id) == (1001, "web", "c1")


async def test_round_trip_through_a_second_entry(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A second entry reading the same base sees what the first one forwards."""
    reader_entry = MockConfigEntry(
        domain=DOMAIN,
        title="Container logs reader",
        unique_id="container_logs:reader",
        entry_id=entry_id_for("container_logs:reader"),
        data={"family": "container_logs", "base_topic": BASE},
        options=logs_entry().options | {"batch_logs": False},
    )
    reader_entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", [Platform.EVENT, Platform.SENSOR]):
        assert await hass.config_entries.async_setup(reader_entry.entry_id)
    await advance(hass, freezer, 2)  # HA's MQTT subscribe cooldown
    reader: ContainerLogsHub = reader_entry.runtime_data
    through_first = {"config_entry_id": container_logs.entry_id}
    web = {"source_type": "container", "service_id": 1001, "service_name": "web"}
    await forward(hass, message="up", **web, **through_first)
    await forward(hass, message="slow", level="warn", **web, **through_first)
    await forward(hass, message="oops", level="error", source_type="manager", **through_first)
    assert hub.forwarder.queued == 3  # the first entry batches
    await advance(hass, freezer, 10)
    assert reader.forwarder.forwarded == 0
    assert [topic for topic, *_ in publishes(mqtt_mock)] == [
        f"{BASE}/1/web/info/batch",
        f"{BASE}/1/web/warn/batch",
        f"{BASE}/manager/error/batch",
    ]
    for reading in (reader, hub):
        assert reading.invalid_messages == 0
        assert reading.devices[WEB].counts == {"debug": 0, "info": 1, "warn": 1, "error": 0}
        assert reading.devices["manager"].counts["error"] == 1
        assert reading.devices[WEB].values["problem"].log.message == "slow"
    shown = hass.states.get(
        er.async_get(hass).async_get_entity_id(
            "event", DOMAIN, f"{reader.entry.entry_id}/{WEB}/problem"
        )
    )
    assert shown.attributes["first_line"] == "slow"
    logged = datetime.fromisoformat(START).astimezone(UTC) + timedelta(seconds=2)
    assert shown.attributes["logged_at"] == logged.isoformat()


# --- batching ---------------------------------------------------------------------------


async def test_batches_per_topic_and_qos_in_order(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    web = {"source_type": "container", "service_id": 1001, "service_name": "web"}
    await forward(hass, message="a", **web)
    await forward(hass, message="b", level="warn", source_type="system")
    await forward(hass, message="c", **web)
    await forward(hass, message="d", qos=0, **web)
    await forward(hass, message="e", **web)
    await forward(hass, message="f", level="warn", source_type="system", qos=2)
    assert hub.forwarder.queued == 6
    await settle(hass)
    assert publishes(mqtt_mock) == []

    await advance(hass, freezer, 1)
    web_source = {"source": {"type": "container"}, "serviceId": 1001, "serviceName": "web"}
    system_source = {"source": {"type": "system"}}
    assert publishes(mqtt_mock) == [
        (
            f"{BASE}/1/web/info/batch",
            {"count": 3, "logs": [body(m, **web_source) for m in "ace"]},
            1,
            False,
        ),
        (
            f"{BASE}/system/warn/batch",
            {"count": 1, "logs": [body("b", "warn", **system_source)]},
            1,
            False,
        ),
        (f"{BASE}/1/web/info/batch", {"count": 1, "logs": [body("d", **web_source)]}, 0, False),
        (
            f"{BASE}/system/warn/batch",
            {"count": 1, "logs": [body("f", "warn", **system_source)]},
            2,
            False,
        ),
    ]
    assert hub.forwarder.queued == 0
    await advance(hass, freezer, 10)
    assert hub.invalid_messages == 0
    assert hub.devices[WEB].counts["info"] == 4
    assert hub.devices["system"].counts["warn"] == 2
    assert hub.as_diagnostics()["forwarding"] == {
        "batching": True,
        "forwarded": 6,
        "batches": 4,
        "queued": 0,
        "queued_bytes": 0,
        "dropped": 0,
        "home_assistant_logs": False,
    }


@pytest.mark.parametrize(
    ("logs_options", "interval"),
    [({}, 1.0), ({"batch_interval": 2.5}, 2.5)],
    ids=["default", "option"],
)
async def test_batch_flushed_at_the_interval(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    interval: float,
) -> None:
    await forward(hass, message="first")
    await settle(hass)
    freezer.tick(timedelta(seconds=interval - 0.5))
    async_fire_time_changed_exact(hass)
    await forward(hass, message="second")  # joins the batch: the timer is not re-armed
    freezer.tick(timedelta(seconds=0.49))
    async_fire_time_changed_exact(hass)
    await settle(hass)
    assert publishes(mqtt_mock) == []
    assert hub.forwarder.queued == 2

    freezer.tick(timedelta(seconds=0.01))
    async_fire_time_changed_exact(hass)
    await settle(hass)
    assert messages(mqtt_mock) == ["first", "second"]
    assert [topic for topic, *_ in publishes(mqtt_mock)] == [f"{BASE}/other/info/batch"]

    # The next log starts a new interval.
    await forward(hass, message="third")
    await advance(hass, freezer, interval - 0.5)
    assert messages(mqtt_mock) == ["first", "second"]
    await advance(hass, freezer, 0.5)
    assert messages(mqtt_mock) == ["first", "second", "third"]


async def test_batch_flushed_at_50_logs(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    for index in range(49):
        await forward(hass, message=f"{index}")
    await settle(hass)
    assert publishes(mqtt_mock) == []
    await forward(hass, message="49")
    await settle(hass)  # at once: no time passed
    ((topic, payload, _qos, _retain),) = publishes(mqtt_mock)
    assert topic == f"{BASE}/other/info/batch"
    assert payload["count"] == 50
    assert [entry["message"] for entry in payload["logs"]] == [f"{i}" for i in range(50)]
    assert hub.forwarder.queued == 0
    await advance(hass, freezer, 2)
    assert len(publishes(mqtt_mock)) == 1  # the interval timer went with the flush


@pytest.mark.parametrize("logs_options", [{"batch_max": 5}])
async def test_batch_flushed_at_the_batch_max_option(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    for index in range(5):
        await forward(hass, message=f"{index}")
    await settle(hass)
    assert [len(payload["logs"]) for _, payload, *_ in publishes(mqtt_mock)] == [5]
    for index in range(5, 8):
        await forward(hass, message=f"{index}")
    await settle(hass)
    assert len(publishes(mqtt_mock)) == 1
    await advance(hass, freezer, 1)
    assert [len(payload["logs"]) for _, payload, *_ in publishes(mqtt_mock)] == [5, 3]
    assert messages(mqtt_mock) == [f"{i}" for i in range(8)]


@pytest.mark.parametrize("logs_options", [{"batch_max": 4}])
async def test_a_flush_sends_at_most_batch_max_logs_per_batch(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Logs queued while the broker was away go out in batches of at most batch_max."""
    failing = AsyncMock(side_effect=HomeAssistantError("away"))
    with patch.object(mqtt, "async_publish", failing):
        for index in range(10):
            hub.forwarder.async_enqueue(hub_log(f"{index}"))
        await settle(hass)
        assert failing.await_count >= 1
    assert hub.forwarder.queued == 10
    await advance(hass, freezer, 1)
    assert [len(payload["logs"]) for _, payload, *_ in publishes(mqtt_mock)] == [4, 4, 2]
    assert messages(mqtt_mock) == [f"{i}" for i in range(10)]


def hub_log(message: str) -> LogMessage:
    """A LogMessage for the forwarder, as forward_log builds them."""
    return LogMessage(message=message, level=Level.INFO, timestamp=START_MS)


async def test_a_retained_log_goes_alone_at_once(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await forward(hass, message="queued")
    await forward(hass, message="retained", level="error", source_type="system", retain=True)
    assert publishes(mqtt_mock) == [
        (f"{BASE}/system/error", body("retained", "error", source={"type": "system"}), 1, True)
    ]
    assert hub.forwarder.queued == 1
    await advance(hass, freezer, 1)
    assert [(topic, retain) for topic, _, _, retain in publishes(mqtt_mock)] == [
        (f"{BASE}/system/error", True),
        (f"{BASE}/other/info/batch", False),
    ]


async def test_flush_on_unload(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    await forward(hass, message="a")
    await forward(hass, message="b", level="warn", source_type="manager")
    await settle(hass)
    assert publishes(mqtt_mock) == []

    real_publish = mqtt.async_publish
    seen_states: list[ConfigEntryState] = []

    async def recording_publish(*args: Any, **kwargs: Any) -> None:
        seen_states.append(container_logs.state)
        await real_publish(*args, **kwargs)

    with patch.object(mqtt, "async_publish", recording_publish):
        assert await hass.config_entries.async_unload(container_logs.entry_id)
    assert container_logs.state is ConfigEntryState.NOT_LOADED
    assert seen_states == [ConfigEntryState.UNLOAD_IN_PROGRESS] * 2
    assert [topic for topic, *_ in publishes(mqtt_mock)] == [
        f"{BASE}/other/info/batch",
        f"{BASE}/manager/warn/batch",
    ]
    assert messages(mqtt_mock) == ["a", "b"]
    assert hub.forwarder.queued == 0
    await advance(hass, freezer, 5)  # no timer left behind
    assert len(publishes(mqtt_mock)) == 2


async def test_flush_on_home_assistant_stop(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any
) -> None:
    await forward(hass, message="last words", level="error", source_type="system")
    await settle(hass)
    assert publishes(mqtt_mock) == []
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await settle(hass)
    assert messages(mqtt_mock) == ["last words"]
    assert hub.forwarder.queued == 0


async def test_publish_failure_keeps_the_logs_in_order(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = AsyncMock(side_effect=HomeAssistantError("broker away"))
    with patch.object(mqtt, "async_publish", failing):
        await forward(hass, message="1")
        await forward(hass, message="2")
        await forward(hass, message="3")
        await advance(hass, freezer, 1)
        assert failing.await_count == 1
        assert hub.forwarder.queued == 3
        assert "Log forwarding paused, 3 logs kept: broker away" in caplog.text
        await forward(hass, message="4")  # joins the queue behind the kept ones
        await advance(hass, freezer, 3)
        assert failing.await_count == 4  # one retry per interval, no more
        assert hub.forwarder.queued == 4
    assert publishes(mqtt_mock) == []

    await advance(hass, freezer, 1)
    assert messages(mqtt_mock) == ["1", "2", "3", "4"]
    assert len(publishes(mqtt_mock)) == 1
    assert hub.forwarder.queued == 0
    await advance(hass, freezer, 10)
    assert hub.devices["other"].counts["info"] == 4


async def test_partial_publish_failure_requeues_only_the_unsent_batches(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    real_publish = mqtt.async_publish

    async def system_fails(hass_: HomeAssistant, topic: str, *args: Any, **kw: Any) -> None:
        if topic.startswith(f"{BASE}/system/"):
            raise HomeAssistantError("refused")
        await real_publish(hass_, topic, *args, **kw)

    with patch.object(mqtt, "async_publish", system_fails):
        await forward(hass, message="o1")
        await forward(hass, message="s1", source_type="system")
        await forward(hass, message="o2")
        await forward(hass, message="s2", source_type="system")
        await advance(hass, freezer, 1)
        assert messages(mqtt_mock) == ["o1", "o2"]
        assert hub.forwarder.queued == 2
        await forward(hass, message="o3")
    await advance(hass, freezer, 1)
    # The kept system logs go first, in their order; nothing is sent twice.
    assert messages(mqtt_mock) == ["o1", "o2", "s1", "s2", "o3"]
    assert hub.forwarder.forwarded == 5


async def test_a_flush_publishes_its_batches_at_once(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Each batch awaits its own PUBACK while the others are already on their way."""
    in_flight: list[str] = []
    release = asyncio.Event()

    async def held(hass_: HomeAssistant, topic: str, *args: Any, **kw: Any) -> None:
        in_flight.append(topic)
        await release.wait()

    with patch.object(mqtt, "async_publish", held):
        for level in ("debug", "info", "warn", "error"):
            for number in range(10):
                await forward(hass, message=f"{level} {number}", level=level)
        await advance(hass, freezer, 1)
        assert in_flight == [
            f"{BASE}/other/{level}/batch" for level in ("debug", "info", "warn", "error")
        ]
        assert hub.forwarder.forwarded == 0  # none acknowledged yet, all four published
        release.set()
        await settle(hass)
    assert (hub.forwarder.forwarded, hub.forwarder.batches, hub.forwarder.queued) == (40, 4, 0)


async def test_an_unexpected_publish_error_keeps_the_logs(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A bug below us is raised, not swallowed, and the logs stay queued for the next flush."""
    with patch.object(mqtt, "async_publish", AsyncMock(side_effect=RuntimeError("bug"))):
        await forward(hass, message="kept")
        with pytest.raises(RuntimeError, match="bug"):
            await hub.forwarder.async_flush()
    assert hub.forwarder.queued == 1
    await hub.forwarder.async_flush()
    assert messages(mqtt_mock) == ["kept"]


async def test_buffer_limit_drops_the_oldest(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    with patch("custom_components.mqtt_fleet.families.container_logs.forwarding.MAX_BUFFERED", 3):
        for index in range(5):
            await forward(hass, message=f"{index}")
    assert hub.forwarder.queued == 3
    assert hub.forwarder.dropped == 2
    assert hub.as_diagnostics()["forwarding"]["queued_bytes"] == 3 * queued_size(
        LogMessage(message="0", level=Level.INFO)
    )
    await advance(hass, freezer, 1)
    assert messages(mqtt_mock) == ["2", "3", "4"]
    assert hub.as_diagnostics()["forwarding"]["dropped"] == 2
    assert hub.as_diagnostics()["forwarding"]["queued_bytes"] == 0


def test_a_queued_log_counts_its_texts_in_utf8() -> None:
    short = queued_size(LogMessage(message="", level=Level.INFO, source_type=""))
    assert short == 320  # its objects and topic
    assert queued_size(LogMessage(message="é" * 10, level=Level.INFO, source_type="")) == 340
    emoji = LogMessage(message="😀", level=Level.INFO, source_name="ab", container_id="c")
    assert queued_size(emoji) == short + 4 + len("other") + 2 + 1


@pytest.mark.parametrize("logs_options", [{"forward_buffer_mb": 1}])
async def test_broker_away_the_buffer_keeps_its_bytes_the_oldest_go(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """32 KiB logs beyond the 1 MiB buffer drop the oldest; one warning a minute says so."""
    text = "x" * (32768 - 5)
    size = queued_size(LogMessage(message=f"00000{text}", level=Level.INFO))
    kept = MEBIBYTE // size  # 31
    failing = AsyncMock(side_effect=HomeAssistantError("broker away"))
    with patch.object(mqtt, "async_publish", failing):
        for index in range(200):
            await forward(hass, message=f"{index:05d}{text}")
        assert hub.forwarder.queued == kept
        assert hub.forwarder.queued_bytes == kept * size <= MEBIBYTE
        assert hub.forwarder.dropped == 200 - kept
        assert caplog.text.count("Log forwarding buffer is full") == 1
        assert (
            f"Log forwarding buffer is full ({kept} logs, 1.0 MiB): 1 oldest logs dropped, 1 in all"
        ) in caplog.text
        await advance(hass, freezer, 3)  # three failed flushes: the logs went back, nothing more
        assert failing.await_count == 3 * kept  # a batch each: two would pass 64 KiB
        assert (hub.forwarder.queued, hub.forwarder.queued_bytes) == (kept, kept * size)
        await forward(hass, message=f"{200:05d}{text}")
        assert caplog.text.count("Log forwarding buffer is full") == 1  # within the minute
        assert hub.forwarder._reported_at is not None
        hub.forwarder._reported_at -= 60  # a minute on the loop's clock (freezer's is apart)
        await forward(hass, message=f"{201:05d}{text}")
        assert caplog.text.count("Log forwarding buffer is full") == 2
        # The number since the last warning, and in all.
        assert f"{202 - kept - 1} oldest logs dropped, {202 - kept} in all" in caplog.text
        assert hub.as_diagnostics()["forwarding"]["queued_bytes"] == kept * size
    await advance(hass, freezer, 1)
    assert [message[:5] for message in messages(mqtt_mock)] == [
        f"{index:05d}" for index in range(202 - kept, 202)
    ]
    assert hub.forwarder.queued_bytes == 0


# --- action errors ----------------------------------------------------------------------


async def _async_load_logs_entry(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, base: str
) -> MockConfigEntry:
    """Load a second Container logs entry (not batching) under `base`, subscribed."""
    entry = logs_entry(base, batch_logs=False)
    entry.add_to_hass(hass)
    # HA's MQTT subscribe cooldown. The entry must be subscribed before it is unloaded: if
    # its filter were still waiting in a subscribe batch, the unload's unsubscribe would
    # release the filter's subscription id first, and the batch would fail (KeyError in HA).
    with watch_subscription(hass, f"{base}/#", 1) as subscribed:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await advance_until_subscribed(hass, freezer, 2, subscribed)
    return entry


async def test_several_entries_default_to_the_one_on_the_default_base(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Without an entry, the one on `container-manager/logs`; another one when named."""
    other = await _async_load_logs_entry(hass, freezer, SITE_B)
    await forward(hass, message="to a")
    assert hub.forwarder.queued == 1  # the default base's entry (it batches)
    assert publishes(mqtt_mock, SITE_B) == []

    await forward(hass, message="to b", config_entry_id=other.entry_id)
    assert publishes(mqtt_mock, SITE_B) == [
        (
            f"{SITE_B}/other/info",
            body("to b", source={"type": "other"}) | {"timestamp": START_MS + 2000},
            1,
            False,
        )
    ]
    assert hub.forwarder.queued == 1

    # Two entries, neither on the default base: the caller must choose.
    third = await _async_load_logs_entry(hass, freezer, "site-c/logs")
    assert await hass.config_entries.async_unload(container_logs.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, message="m")
    assert err.value.translation_key == "log_entry_ambiguous"
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_placeholders == {"base_topic": BASE}

    # Once one is unloaded, the remaining entry is used without an id.
    assert await hass.config_entries.async_unload(third.entry_id)
    await forward(hass, message="to b again")
    assert [payload["message"] for _, payload, *_ in publishes(mqtt_mock, SITE_B)] == [
        "to b",
        "to b again",
    ]
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, message="m", config_entry_id=third.entry_id)
    assert err.value.translation_key == "log_entry_not_found"
    await advance(hass, freezer, 2)  # the unloads' unsubscribe cooldown


@pytest.mark.parametrize(
    "source_name", ["a/b", "a+b", "#", "$SYS", ".", "..", "web\x00", "line\nbreak", "x" * 129]
)
async def test_unsafe_source_name(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    source_name: str,
) -> None:
    """A source name follows the wire's id rules, checked before anything is queued."""
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, message="m", source_type="system", source_name=source_name)
    assert err.value.translation_key == "unsafe_source_name"
    assert err.value.translation_placeholders == {
        "source_name": source_name,
        "max_length": "128",
    }
    assert hub.forwarder.queued == 0
    await advance(hass, freezer, 2)
    assert publishes(mqtt_mock) == []


@pytest.mark.usefixtures("hub")
@pytest.mark.parametrize("config_entry_id", [None, "not-an-entry"])
async def test_no_loaded_entry(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    mqtt_mock: Any,
    config_entry_id: str | None,
) -> None:
    if config_entry_id is None:
        assert await hass.config_entries.async_unload(container_logs.entry_id)
        data: dict[str, Any] = {}
    else:
        data = {"config_entry_id": config_entry_id}
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, message="m", **data)
    assert err.value.translation_key == "log_entry_not_found"
    assert publishes(mqtt_mock) == []


async def test_an_entry_of_another_family_is_not_a_log_entry(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    spotfi = MockConfigEntry(
        domain=DOMAIN,
        title="SpotFi (spotfi/router)",
        unique_id="spotfi:spotfi/router",
        entry_id=entry_id_for("spotfi:spotfi/router"),
        data={"family": "spotfi", "base_topic": "spotfi/router"},
        options={"offline_timeout": 60, "rpc_allow_list": [], "terminal_enabled": False},
    )
    spotfi.add_to_hass(hass)
    assert await hass.config_entries.async_setup(spotfi.entry_id)
    await advance(hass, freezer, 2)  # HA's MQTT subscribe cooldown
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, message="m", config_entry_id=spotfi.entry_id)
    assert err.value.translation_key == "log_entry_not_found"
    await forward(hass, message="m")  # the only Container logs entry
    assert hub.forwarder.queued == 1


@pytest.mark.parametrize("logs_options", [{"batch_logs": False}, {}], ids=["single", "batched"])
@pytest.mark.parametrize("service_name", ["a/b", "a+b", "#", "web\x00", "x" * 129])
async def test_unsafe_service_name(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    service_name: str,
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await forward(
            hass,
            message="m",
            source_type="container",
            service_id=1001,
            service_name=service_name,
        )
    assert err.value.translation_key == "unsafe_service_name"
    assert err.value.translation_placeholders == {"service_name": service_name}
    assert hub.forwarder.queued == 0
    await advance(hass, freezer, 2)
    assert publishes(mqtt_mock) == []
    assert hub.forwarder.forwarded == 0


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"message": "m", "level": "trace"}, id="unknown-level"),
        pytest.param({"message": "m", "level": "warning"}, id="alias-level"),
        pytest.param({"message": "m", "qos": 3}, id="qos-3"),
        pytest.param({"message": "m", "qos": -1}, id="qos-negative"),
        pytest.param({"message": "m", "service_id": -1}, id="service-id-negative"),
        pytest.param({"message": "m", "service_id": "web"}, id="service-id-text"),
        pytest.param({"message": "m", "service_id": 2**53 + 1}, id="service-id-too-big"),
        pytest.param({"message": ""}, id="empty-message"),
        pytest.param({"message": "x" * 32769}, id="message-too-long"),
        pytest.param({"level": "info"}, id="no-message"),
        pytest.param({"message": "m", "source_type": "kernel"}, id="unknown-source-type"),
        pytest.param({"message": "m", "retain": "sometimes"}, id="retain-not-boolean"),
        pytest.param({"message": "m", "colour": "red"}, id="unknown-field"),
    ],
)
async def test_invalid_action_data(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    data: dict[str, Any],
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, **data)
    assert err.value.translation_key == "invalid_action_data"
    assert err.value.translation_placeholders["action"] == SERVICE_FORWARD_LOG
    assert err.value.translation_placeholders["error"]
    await advance(hass, freezer, 2)
    assert publishes(mqtt_mock) == []
    assert hub.forwarder.queued == 0


# --- Home Assistant's own records -------------------------------------------------------

HA_LOGS = {"forward_ha_logs": True}


def system_logs(mqtt_mock: Any) -> list[dict[str, Any]]:
    """The logs published on `{BASE}/system/...`, batches unpacked, in order."""
    found: list[dict[str, Any]] = []
    for topic, payload, _qos, _retain in publishes(mqtt_mock):
        if topic.startswith(f"{BASE}/system/"):
            found.extend(payload["logs"] if topic.endswith("/batch") else [payload])
    return found


@pytest.fixture
def demo_logger() -> Any:
    """Let the demo logger emit every level, so the handler's level decides."""
    level = DEMO.level
    DEMO.setLevel(logging.DEBUG)
    yield DEMO
    DEMO.setLevel(level)


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_home_assistant_warning_is_forwarded(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    demo_logger: logging.Logger,
) -> None:
    (handler,) = log_handlers()
    assert handler.level == logging.WARNING
    demo_logger.warning("Demo light %s is unreachable", "kitchen")
    demo_logger.info("Not forwarded: below the level")
    demo_logger.debug("Not forwarded either")
    await advance(hass, freezer, 1)
    assert publishes(mqtt_mock) == [
        (
            f"{BASE}/system/warn/batch",
            {
                "count": 1,
                "logs": [
                    {
                        "message": (
                            "homeassistant.components.demo: Demo light kitchen is unreachable"
                        ),
                        "timestamp": START_MS,
                        "level": "warn",
                        "source": {"type": "system", "name": "homeassistant"},
                        "isSystem": True,
                    }
                ],
            },
            1,
            False,
        )
    ]
    # It reads back as the system source's warning.
    await advance(hass, freezer, 10)
    assert hub.devices["system"].counts["warn"] == 1
    assert problem(hass, "system").attributes["message"].endswith("kitchen is unreachable")
    assert hub.as_diagnostics()["forwarding"]["home_assistant_logs"] is True


@pytest.mark.parametrize("logs_options", [HA_LOGS | {"batch_logs": False}])
async def test_home_assistant_records_without_batching(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    demo_logger: logging.Logger,
) -> None:
    demo_logger.error("first")
    demo_logger.critical("second")
    await _until(lambda: len(publishes(mqtt_mock)) == 2)
    assert [
        (topic, payload["message"], qos, retain)
        for topic, payload, qos, retain in publishes(mqtt_mock)
    ] == [
        (f"{BASE}/system/error", "homeassistant.components.demo: first", 1, False),
        (f"{BASE}/system/error", "homeassistant.components.demo: second", 1, False),
    ]


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_home_assistant_error_includes_the_traceback(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    demo_logger: logging.Logger,
) -> None:
    try:
        raise ValueError("boom")  # noqa: TRY301
    except ValueError:
        demo_logger.exception("Update failed")
    await advance(hass, freezer, 1)
    (forwarded,) = system_logs(mqtt_mock)
    assert forwarded["level"] == "error"
    message = forwarded["message"]
    assert message.startswith("homeassistant.components.demo: Update failed\nTraceback")
    assert 'raise ValueError("boom")' in message
    assert message.endswith("ValueError: boom")
    await advance(hass, freezer, 10)
    # Read back, the System source's problem shows the record's line; the traceback is kept.
    shown = problem(hass, "system")
    assert shown.attributes["event_type"] == "error"
    assert shown.attributes["first_line"] == "homeassistant.components.demo: Update failed…"
    assert shown.attributes["message"] == message
    assert shown.attributes["source_name"] == "homeassistant"


@pytest.mark.parametrize(
    ("logs_options", "levels"),
    [
        (HA_LOGS | {"forward_ha_level": "error"}, {"error": "error", "critical": "error"}),
        (
            HA_LOGS | {"forward_ha_level": "info"},
            {"info": "info", "warning": "warn", "error": "error", "critical": "error"},
        ),
        (  # debug is taken as info: HA's debug records would feed on our own events
            HA_LOGS | {"forward_ha_level": "debug"},
            {"info": "info", "warning": "warn", "error": "error", "critical": "error"},
        ),
    ],
)
async def test_forward_ha_level_option(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    demo_logger: logging.Logger,
    levels: dict[str, str],
) -> None:
    demo_logger.log(5, "finer than debug: never forwarded")
    demo_logger.debug("debug")
    demo_logger.info("info")
    demo_logger.warning("warning")
    demo_logger.error("error")
    demo_logger.critical("critical")
    await advance(hass, freezer, 1)
    prefix = "homeassistant.components.demo: "
    forwarded = {
        entry["message"].removeprefix(prefix): entry["level"]
        for entry in system_logs(mqtt_mock)
        if entry["message"].startswith(prefix)
    }
    assert forwarded == levels


@pytest.mark.parametrize("logs_options", [HA_LOGS | {"forward_ha_level": "debug"}])
@pytest.mark.parametrize(
    "name",
    [
        "custom_components.mqtt_fleet",
        "custom_components.mqtt_fleet.families.container_logs.forwarding",
        "custom_components.mqtt_fleet.hub",
        "homeassistant.components.mqtt",
        "homeassistant.components.mqtt.client",
        "paho",
        "paho.mqtt.client",
    ],
)
async def test_our_own_and_the_mqtt_layers_records_are_never_forwarded(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    name: str,
) -> None:
    await settle(hass)
    before = hub.forwarder.queued  # setting up the sensors logged a few debug records
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        for levelno in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            logger.log(levelno, "never forwarded")
        await settle(hass)
    finally:
        logger.setLevel(level)
    assert hub.forwarder.queued == before
    await advance(hass, freezer, 2)
    assert "never forwarded" not in json.dumps(publishes(mqtt_mock))


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_a_failing_publish_does_not_feed_itself(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The warning a failed flush logs is ours: not forwarded, so no loop; retries are bounded."""
    failing = AsyncMock(side_effect=HomeAssistantError("broker away"))
    with patch.object(mqtt, "async_publish", failing):
        DEMO.warning("the only record")
        await advance(hass, freezer, 1)
        assert failing.await_count == 1
        assert "Log forwarding paused, 1 logs kept" in caplog.text
        assert hub.forwarder.queued == 1  # our warning was not queued
        await advance(hass, freezer, 10)
        assert failing.await_count == 11  # one attempt per interval, never more
        assert hub.forwarder.queued == 1
        assert caplog.text.count("Log forwarding paused") == 11
    await advance(hass, freezer, 1)
    assert [entry["message"] for entry in system_logs(mqtt_mock)] == [
        "homeassistant.components.demo: the only record"
    ]
    await advance(hass, freezer, 10)
    assert len(publishes(mqtt_mock)) == 1  # and nothing more: it is over


@pytest.mark.parametrize("logs_options", [HA_LOGS | {"batch_logs": False}])
async def test_a_failing_single_publish_does_not_feed_itself(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.mqtt_fleet")
    failing = AsyncMock(side_effect=HomeAssistantError("broker away"))
    with patch.object(mqtt, "async_publish", failing):
        DEMO.warning("the only record")
        await settle(hass)
        await advance(hass, freezer, 5)
    assert failing.await_count == 1
    assert "Could not forward a log record: broker away" in caplog.text
    assert publishes(mqtt_mock) == []
    assert hub.forwarder.queued == 0


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_records_from_another_thread_are_forwarded_without_blocking(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    emitted = threading.Event()

    def log_in_a_thread() -> None:
        DEMO.warning("from a worker thread")
        emitted.set()

    worker = threading.Thread(target=log_in_a_thread, name="mqtt_fleet_test_logger")
    worker.start()
    # The loop is busy: this coroutine blocks it until the thread is done. A handler that
    # waited for the loop would never return (the join would time out).
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert emitted.is_set()
    assert hub.forwarder.queued == 0  # handed over, not taken yet: the loop has not run
    await settle(hass)
    assert hub.forwarder.queued == 1
    await advance(hass, freezer, 1)
    assert [entry["message"] for entry in system_logs(mqtt_mock)] == [
        "homeassistant.components.demo: from a worker thread"
    ]


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_a_record_that_cannot_be_formatted_never_raises(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    (handler,) = log_handlers()
    record = DEMO.makeRecord(DEMO.name, logging.WARNING, __file__, 1, "%d", ("x",), None)
    with patch.object(handler, "handleError") as handle_error:
        handler.emit(record)
    handle_error.assert_called_once_with(record)
    await advance(hass, freezer, 1)
    assert publishes(mqtt_mock) == []


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_unload_removes_the_handler(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    (handler,) = log_handlers()
    assert handler in logging.getLogger(FORWARDED_SCOPE).handlers
    DEMO.warning("before")
    await settle(hass)
    assert await hass.config_entries.async_unload(container_logs.entry_id)
    assert handler not in logging.getLogger(FORWARDED_SCOPE).handlers
    assert log_handlers() == []
    assert [entry["message"] for entry in system_logs(mqtt_mock)] == [
        "homeassistant.components.demo: before"  # flushed on unload
    ]
    DEMO.warning("after")
    await advance(hass, freezer, 2)
    assert hub.forwarder.queued == 0
    assert len(system_logs(mqtt_mock)) == 1


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_reload_keeps_a_single_handler(
    hass: HomeAssistant, container_logs: MockConfigEntry, mqtt_mock: Any
) -> None:
    (old,) = log_handlers()
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    (new,) = log_handlers()
    assert new is not old


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_home_assistant_stop_removes_the_handler_and_flushes(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any
) -> None:
    DEMO.error("shutting down")
    await settle(hass)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await settle(hass)
    assert log_handlers() == []
    assert [entry["message"] for entry in system_logs(mqtt_mock)] == [
        "homeassistant.components.demo: shutting down"
    ]
    assert hub.as_diagnostics()["forwarding"]["home_assistant_logs"] is False


async def test_home_assistant_records_are_off_by_default(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    assert log_handlers() == []
    DEMO.error("not forwarded")
    await advance(hass, freezer, 2)
    assert publishes(mqtt_mock) == []


# --- bugs -------------------------------------------------------------------------------


@pytest.mark.parametrize("logs_options", [{"batch_max": 4}])
async def test_broker_away_retries_once_per_interval_however_many_logs_arrive(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = AsyncMock(side_effect=HomeAssistantError("broker away"))
    with patch.object(mqtt, "async_publish", failing):
        for index in range(4):
            await forward(hass, message=f"{index}")
        await settle(hass)
        assert failing.await_count == 1  # the size limit flushed, and failed
        for index in range(4, 24):
            await forward(hass, message=f"{index}")
        await settle(hass)
        assert hub.forwarder.queued == 24
        attempts = failing.await_count
        warnings = caplog.text.count("Log forwarding paused")
    await advance(hass, freezer, 2)
    assert messages(mqtt_mock) == [f"{i}" for i in range(24)]  # nothing lost
    # Paused: the next attempt was the retry timer's, one interval after the failure.
    assert attempts == 1
    assert warnings == 1


async def test_no_flush_timer_survives_unload_after_a_failed_flush(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    release = asyncio.Event()

    async def slow_failure(*_args: Any, **_kwargs: Any) -> None:
        await release.wait()
        raise HomeAssistantError("broker away")

    with patch.object(mqtt, "async_publish", slow_failure):
        await forward(hass, message="a")
        freezer.tick(timedelta(seconds=1))
        async_fire_time_changed_exact(hass)
        await _until(lambda: hub.forwarder.queued == 0)  # taken by the flush, publishing
        await forward(hass, message="b")  # arms a timer: the flush cancelled the old one
        release.set()
        await settle(hass)
    assert hub.forwarder.queued == 2
    assert await hass.config_entries.async_unload(container_logs.entry_id)
    assert messages(mqtt_mock) == ["a", "b"]
    flush_timers = [
        handle
        for handle in getattr(hass.loop, "_scheduled", [])
        if not handle.cancelled() and "_schedule_flush" in repr(handle)
    ]
    for handle in flush_timers:  # keep the harness's lingering-timer check out of it
        handle.cancel()
    assert flush_timers == []


@pytest.mark.parametrize("logs_options", [HA_LOGS])
@pytest.mark.parametrize(
    "name",
    [
        "homeassistant.components.mqtt_statestream",
        "homeassistant.components.mqtt_eventstream",
        "homeassistant.components.mqtt_room",
    ],
)
async def test_records_of_other_mqtt_integrations_are_forwarded(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    name: str,
) -> None:
    logging.getLogger(name).warning("forward me")
    await advance(hass, freezer, 1)
    assert [entry["message"] for entry in system_logs(mqtt_mock)] == [f"{name}: forward me"]


@pytest.mark.parametrize(
    "logs_options",
    [HA_LOGS | {"forward_ha_level": "debug", "log_event_level": "debug"}],
)
async def test_debug_forwarding_does_not_feed_itself(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="homeassistant.core")  # logger: default: debug
    hass.bus.async_fire(EVENT_LOGGING_CHANGED)
    await advance(hass, freezer, 3)  # setup records forwarded, and what they caused
    DEMO.warning("a single record")
    await advance(hass, freezer, 5)
    published = len(publishes(mqtt_mock))
    await advance(hass, freezer, 10)
    caplog.set_level(logging.INFO, logger="homeassistant.core")
    hass.bus.async_fire(EVENT_LOGGING_CHANGED)
    await advance(hass, freezer, 3)
    assert len(publishes(mqtt_mock)) == published  # no new record: nothing more to send


async def test_a_batch_of_long_logs_reads_back(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await forward(hass, message="x" * 32768)
    await forward(hass, message="y" * 32768)
    await advance(hass, freezer, 1)
    assert messages(mqtt_mock) == ["x" * 32768, "y" * 32768]
    assert hub.invalid_messages == 0
    assert hub.devices["other"].counts["info"] == 2


@pytest.mark.parametrize("logs_options", [{"batch_logs": False}])
async def test_a_log_too_large_to_read_back_is_refused(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any
) -> None:
    """32768 characters of "é" are 64 KiB in UTF-8: no reader could take it."""
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(ServiceValidationError) as err:
        await forward(hass, message="é" * 32768)
    assert err.value.translation_key == "log_too_large"
    await forward(hass, message="é" * 16000)  # 32 KB: fine
    await settle(hass)
    assert hub.invalid_messages == 0
    assert hub.devices["other"].counts["info"] == 1


@pytest.mark.parametrize("logs_options", [HA_LOGS | {"forward_buffer_mb": 1}])
async def test_home_assistant_records_share_the_buffer_limit(
    hass: HomeAssistant,
    hub: ContainerLogsHub,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Records cut to 8 KiB fill the 1 MiB buffer too; our warning is not forwarded."""
    failing = AsyncMock(side_effect=HomeAssistantError("broker away"))
    with patch.object(mqtt, "async_publish", failing):
        for index in range(300):
            DEMO.error("record %05d %s", index, "r" * 10000)
        await settle(hass)
        assert 0 < hub.forwarder.queued < 300
        assert hub.forwarder.queued_bytes <= MEBIBYTE
        assert hub.forwarder.dropped == 300 - hub.forwarder.queued
        assert caplog.text.count("Log forwarding buffer is full") == 1
        kept = hub.forwarder.queued
    await advance(hass, freezer, 1)
    forwarded = [entry["message"] for entry in system_logs(mqtt_mock)]
    assert [message[38:43] for message in forwarded] == [
        f"{index:05d}" for index in range(300 - kept, 300)
    ]


@pytest.mark.parametrize("logs_options", [HA_LOGS])
async def test_a_huge_home_assistant_record_reads_back(
    hass: HomeAssistant, hub: ContainerLogsHub, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    DEMO.error("state dump: %s", "s" * 70000)
    await advance(hass, freezer, 1)
    assert len(system_logs(mqtt_mock)) == 1
    await settle(hass)
    assert hub.invalid_messages == 0
    assert hub.devices["system"].counts["error"] == 1
