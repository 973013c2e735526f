"""Container logs: a device per log source, counters on the hub's timer, last problem, events."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
import json
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import SensorStateClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
    async_fire_time_changed_exact,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.mqtt_fleet.const import DOMAIN, EVENT_DEVICE_DISCOVERED
from custom_components.mqtt_fleet.families.container_logs.hub import (
    EVENT_LOG,
    ContainerLogsHub,
    LogSourceDevice,
)
from tests.common import default_options, entry_id_for

from .clock import advance, settle
from .common import device_by_identifier

BASE = "container-manager/logs"
KEY = entry_id_for(f"container_logs:{BASE}")
START = "2026-01-02T03:04:05+00:00"
START_MS = int(datetime.fromisoformat(START).timestamp() * 1000)
WEB = "1:web"
HUB_INVALID = "sensor.container_logs_container_manager_logs_invalid_messages"


# --- helpers ----------------------------------------------------------------------------


def logs_entry(base: str = BASE, **options: Any) -> MockConfigEntry:
    """A Container logs entry under `base` with the default options and `options`."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Container logs ({base})",
        unique_id=f"container_logs:{base}",
        entry_id=entry_id_for(f"container_logs:{base}"),
        data={"family": "container_logs", "base_topic": base},
        options=default_options("container_logs") | options,
        version=2,
        minor_version=1,
    )


def log(
    message: str = "Server started",
    level: str = "info",
    *,
    timestamp: int | None = START_MS,
    **fields: Any,
) -> dict[str, Any]:
    """A LogMessage as the seed's MqttLogBackend serialises it (JSON.stringify)."""
    body: dict[str, Any] = {"message": message}
    if timestamp is not None:
        body["timestamp"] = timestamp
    body["level"] = level
    body["source"] = {"type": "container", "name": "web"}
    body |= {"serviceId": 1001, "serviceName": "web", "containerId": "c0ffee", "isStdErr": False}
    body.update(fields)
    return body


def batch(*logs: dict[str, Any], count: int | None = None) -> str:
    """A `/batch` payload: {count, logs}."""
    return json.dumps({"count": len(logs) if count is None else count, "logs": list(logs)})


async def fire(hass: HomeAssistant, leaf: str, payload: str | bytes | dict[str, Any]) -> None:
    """Deliver a message on `{BASE}/{leaf}`."""
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    async_fire_mqtt_message(hass, f"{BASE}/{leaf}", payload)
    await settle(hass)


def entity_id(hass: HomeAssistant, source: str, key: str, *, hub_key: str = KEY) -> str | None:
    """Return the entity id of a source's sensor, None when it was never created."""
    return er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{hub_key}/{source}/{key}")


def state(hass: HomeAssistant, source: str, key: str) -> Any:
    """Return the state object of a source's sensor (it must exist)."""
    entity = entity_id(hass, source, key)
    assert entity is not None, (source, key)
    return hass.states.get(entity)


def registry_device(hass: HomeAssistant, source: str, hub_key: str = KEY) -> dr.DeviceEntry:
    device = device_by_identifier(dr.async_get(hass), f"{hub_key}/{source}")
    assert device is not None, source
    return device


def changes(events: list[Event], entity: str) -> list[str]:
    """The states an entity changed to (state_changed events)."""
    return [
        event.data["new_state"].state
        for event in events
        if event.data["entity_id"] == entity and event.data["new_state"] is not None
    ]


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def logs_options() -> dict[str, Any]:
    """Options on top of the defaults."""
    return {}


@pytest.fixture
def platforms() -> list[Platform]:
    """The platforms to load."""
    return [Platform.SENSOR]


@pytest.fixture
async def container_logs(
    hass: HomeAssistant,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    logs_options: dict[str, Any],
    platforms: list[Platform],
) -> AsyncGenerator[MockConfigEntry]:
    """Set up the Container logs entry at a frozen time (MQTT first: it cannot load frozen)."""
    freezer.move_to(START)
    entry = logs_entry(**logs_options)
    entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", platforms):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        # Let HA's MQTT subscribe cooldown run without moving the clock.
        async_fire_time_changed_exact(hass, dt_util.utcnow() + timedelta(seconds=1))
        await settle(hass)
        mqtt_mock.async_publish.reset_mock()
        yield entry


# --- devices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "platforms", [[Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR, Platform.SWITCH]]
)
async def test_a_device_per_source(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    hub: ContainerLogsHub = container_logs.runtime_data
    assert tuple(hub.subscriptions) == (f"{BASE}/#",)
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)

    await fire(hass, "1/web/info", log())
    await fire(hass, "2/db/warn", log("slow query", "warn", serviceId=2005, serviceName="db"))
    await fire(hass, "unknown/worker/info", log(serviceName="worker", serviceId=None))
    await fire(hass, "system/info", log("disk ok", source={"type": "system"}))
    await fire(hass, "manager/error", log("pull failed", "error", source={"type": "manager"}))
    await fire(hass, "other/debug", log("misc", "debug", source={"type": "other"}))
    await fire(hass, "1/web/error", log("crash", "error"))  # the same source again
    assert hub.invalid_messages == 0

    names = {
        WEB: "web (app 1)",
        "2:db": "db (app 2)",
        "unknown:worker": "worker (app unknown)",
        "system": "System",
        "manager": "Container manager",
        "other": "Other logs",
    }
    assert set(hub.devices) == set(names)
    hub_device = device_by_identifier(dr.async_get(hass), KEY)
    assert hub_device is not None
    assert hub_device.model == "Container logs hub"
    for source, name in names.items():
        device = registry_device(hass, source)
        assert device.name == name
        assert device.model == "Container log source"
        assert device.manufacturer == "Container manager"
        assert device.via_device_id == hub_device.id
        assert isinstance(hub.devices[source], LogSourceDevice)
    assert [event.data for event in discovered] == [
        {
            "device_id": registry_device(hass, source).id,
            "device": source,
            "family": "container_logs",
        }
        for source in names
    ]

    # No connectivity for log sources, and no "devices online" on the hub.
    device_entities = [
        entity
        for entity in er.async_entries_for_config_entry(entity_registry, container_logs.entry_id)
        if entity.device_id != hub_device.id
    ]
    assert device_entities
    assert {entity.domain for entity in device_entities} == {"sensor"}
    assert not any(entity.unique_id.endswith("/connectivity") for entity in device_entities)
    hub_keys = {
        entity.unique_id.removeprefix(f"{KEY}/")
        for entity in er.async_entries_for_config_entry(entity_registry, container_logs.entry_id)
        if entity.device_id == hub_device.id
    }
    assert hub_keys == {"mqtt_connected", "messages_received", "invalid_messages", "message_rate"}
    assert hub.devices[WEB].connected is None
    assert hub.devices_online == 0

    # A quiet source is not a missing one: its entities stay available past any timeout.
    await advance(hass, freezer, 200)
    assert hub.devices[WEB].fresh is False
    assert hub.devices[WEB].available is True
    assert state(hass, WEB, "info_logs").state == "1"
    assert state(hass, WEB, "last_problem").state == "crash"


async def test_hub_is_a_container_logs_hub(container_logs: MockConfigEntry) -> None:
    hub = container_logs.runtime_data
    assert isinstance(hub, ContainerLogsHub)
    assert hub.has_connectivity is False
    assert hub.event_level == "warn"


# --- counters ---------------------------------------------------------------------------


async def test_counter_appears_with_its_first_log_and_is_written_on_the_tick(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    await fire(hass, "1/web/info", log())
    info = state(hass, WEB, "info_logs")
    assert info.state == "1"
    assert info.attributes["state_class"] == SensorStateClass.TOTAL_INCREASING
    assert info.attributes["friendly_name"] == "web (app 1) Info logs"
    assert "unit_of_measurement" not in info.attributes
    # Only the levels seen so far have a counter.
    for key in ("warn_logs", "error_logs", "debug_logs", "last_problem"):
        assert entity_id(hass, WEB, key) is None, key

    await fire(hass, "1/web/info", log("second"))
    await fire(hass, "1/web/info", log("third"))
    assert state(hass, WEB, "info_logs").state == "1"  # not per line
    await advance(hass, freezer, 9.5)
    assert state(hass, WEB, "info_logs").state == "1"
    await advance(hass, freezer, 0.5)  # the hub's 10 s timer
    assert state(hass, WEB, "info_logs").state == "3"

    # The debug counter exists but is disabled by default; the others are enabled.
    await fire(hass, "1/web/debug", log("details", "debug"))
    await fire(hass, "1/web/warn", log("careful", "warn"))
    await fire(hass, "1/web/error", log("broken", "error"))
    debug = entity_registry.async_get(entity_id(hass, WEB, "debug_logs"))
    assert debug.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(debug.entity_id) is None
    for key in ("warn_logs", "error_logs"):
        entry = entity_registry.async_get(entity_id(hass, WEB, key))
        assert entry.disabled_by is None
        assert state(hass, WEB, key).state == "1"
        assert state(hass, WEB, key).attributes["state_class"] == "total_increasing"
    device: LogSourceDevice = container_logs.runtime_data.devices[WEB]
    assert device.counts == {"debug": 1, "info": 3, "warn": 1, "error": 1}


@pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])
async def test_500_info_lines_write_the_counter_at_most_once_per_tick(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    batched: bool,
) -> None:
    """No entity state is written per info line: only the hub's 10 s timer writes counts."""
    await fire(hass, "1/web/info", log("first"))
    info = entity_id(hass, WEB, "info_logs")
    assert hass.states.get(info).state == "1"
    entity = hass.data["entity_components"]["sensor"].get_entity(info)
    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    hub: ContainerLogsHub = container_logs.runtime_data

    with patch.object(entity, "async_write_ha_state", wraps=entity.async_write_ha_state) as write:
        await advance(hass, freezer, 1)  # away from the tick
        sent = 0
        while sent < 500:
            if batched:
                logs = [log(f"line {sent + i}") for i in range(50)]
                async_fire_mqtt_message(hass, f"{BASE}/1/web/info/batch", batch(*logs))
                sent += 50
            else:
                async_fire_mqtt_message(hass, f"{BASE}/1/web/info", json.dumps(log(f"{sent}")))
                sent += 1
            await hass.async_block_till_done()  # any per-line write would run here
            if sent == 250:
                freezer.tick(timedelta(seconds=4))
                async_fire_time_changed_exact(hass)  # not yet the tick
                await settle(hass)
        await settle(hass)
        assert hub.devices[WEB].counts["info"] == 501
        assert write.call_count == 0
        assert changes(state_changes, info) == []
        assert hass.states.get(info).state == "1"

        await advance(hass, freezer, 5)  # the tick at 10 s
        assert write.call_count == 1
        assert changes(state_changes, info) == ["501"]

        # A tick with nothing new writes nothing.
        await advance(hass, freezer, 10)
        assert write.call_count == 1
        assert changes(state_changes, info) == ["501"]

    assert hub.invalid_messages == 0
    assert hub.messages_received == 1 + (10 if batched else 500)
    assert entity_id(hass, WEB, "last_problem") is None  # info lines never touch it


async def test_batch_counts_each_log_by_its_own_level(
    hass: HomeAssistant, container_logs: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    hub: ContainerLogsHub = container_logs.runtime_data
    await fire(
        hass,
        "1/web/info/batch",
        batch(
            log("a"),
            log("b", "warn"),
            log("c", "warning"),
            log("d", "error"),
            log("e", "fatal"),
            log("f", "debug"),
            log("g", "INFO"),
        ),
    )
    assert hub.invalid_messages == 0
    assert hub.devices[WEB].counts == {"debug": 1, "info": 2, "warn": 2, "error": 2}
    await advance(hass, freezer, 10)
    assert state(hass, WEB, "info_logs").state == "2"
    assert state(hass, WEB, "warn_logs").state == "2"
    assert state(hass, WEB, "error_logs").state == "2"
    problem = state(hass, WEB, "last_problem")
    assert problem.state == "e"
    assert problem.attributes["level"] == "error"


@pytest.mark.parametrize(
    "bad_entries",
    [
        pytest.param(["not an object"], id="string"),
        pytest.param([{"message": "x", "level": "trace"}], id="unknown-level"),
        pytest.param([{"level": "info"}], id="no-message"),
        pytest.param([{"message": "x"}], id="no-level"),
        pytest.param([{"message": 5, "level": "info"}], id="message-type"),
        pytest.param([None, 3, {"message": "x", "level": 1}], id="several"),
    ],
)
async def test_bad_batch_entries_are_one_invalid_message_the_good_ones_count(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    bad_entries: list[Any],
) -> None:
    hub: ContainerLogsHub = container_logs.runtime_data
    payload = json.dumps(
        {"count": 2 + len(bad_entries), "logs": [log("a"), *bad_entries, log("b", "warn")]}
    )
    await fire(hass, "1/web/info/batch", payload)
    assert hub.invalid_messages == 1
    assert hub.devices[WEB].counts == {"debug": 0, "info": 1, "warn": 1, "error": 0}
    assert "logs[1]" in hub.dead_letters[-1].reason
    assert state(hass, WEB, "last_problem").state == "b"
    await advance(hass, freezer, 10)
    assert hass.states.get(HUB_INVALID).state == "1"


async def test_batch_count_mismatch_is_invalid_but_its_logs_count(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    hub: ContainerLogsHub = container_logs.runtime_data
    await fire(hass, "system/warn/batch", batch(log("a", "warn"), log("b", "warn"), count=3))
    assert hub.invalid_messages == 1
    assert hub.dead_letters[-1].reason == "count: 3 but 2 logs"
    assert hub.devices["system"].counts["warn"] == 2


# --- last warning or error --------------------------------------------------------------


async def test_last_problem_is_updated_at_once_for_warnings_and_errors(
    hass: HomeAssistant, container_logs: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await fire(hass, "1/web/info", log("fine"))
    assert entity_id(hass, WEB, "last_problem") is None  # info lines never create it

    await fire(hass, "1/web/warn", log("disk 91% full", "warn", timestamp=START_MS + 1500))
    problem = state(hass, WEB, "last_problem")
    assert problem.state == "disk 91% full"
    assert problem.attributes["friendly_name"] == "web (app 1) Last warning or error"
    assert problem.attributes["message"] == "disk 91% full"
    assert problem.attributes["level"] == "warn"
    assert problem.attributes["timestamp"] == datetime(2026, 1, 2, 3, 4, 6, 500000, tzinfo=UTC)
    assert isinstance(problem.attributes["timestamp"], datetime)
    assert "state_class" not in problem.attributes

    entity = entity_id(hass, WEB, "last_problem")
    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    await fire(hass, "1/web/info", log("still fine"))
    await fire(hass, "1/web/debug", log("details", "debug"))
    await fire(hass, "1/web/info/batch", batch(log("x"), log("y", "debug")))
    await advance(hass, freezer, 10)
    assert changes(state_changes, entity) == []
    assert state(hass, WEB, "last_problem").state == "disk 91% full"

    long_text = "Traceback: " + "x" * 400
    await fire(hass, "1/web/error", log(long_text, "fatal", timestamp=None))
    problem = state(hass, WEB, "last_problem")
    assert changes(state_changes, entity) == [long_text[:255]]  # at once, not on the tick
    assert len(problem.state) == 255
    assert problem.attributes["message"] == long_text
    assert problem.attributes["level"] == "error"
    assert problem.attributes["timestamp"] is None

    # The last one of a batch wins.
    await fire(hass, "1/web/warn/batch", batch(log("first", "warn"), log("second", "warning")))
    assert state(hass, WEB, "last_problem").state == "second"
    assert state(hass, WEB, "last_problem").attributes["level"] == "warn"


# --- events -----------------------------------------------------------------------------


def _expected_event(hass: HomeAssistant, level: str, message: str, **fields: Any) -> dict[str, Any]:
    data = {
        "level": level,
        "message": message,
        "timestamp": START_MS,
        "source_type": "container",
        "source_name": "web",
        "service_id": 1001,
        "service_name": "web",
        "container_id": "c0ffee",
        "device_id": registry_device(hass, WEB).id,
        "device": WEB,
        "family": "container_logs",
    }
    return data | fields


async def test_events_at_and_above_warn_by_default(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    events = async_capture_events(hass, EVENT_LOG)
    await fire(hass, "1/web/debug", log("d", "debug"))
    await fire(hass, "1/web/info", log("i"))
    assert events == []
    await fire(hass, "1/web/warn", log("w", "warn"))
    await fire(hass, "1/web/warn", log("w2", "warning"))
    await fire(hass, "1/web/error", log("e", "error"))
    await fire(hass, "1/web/error", log("f", "fatal"))
    assert [event.data for event in events] == [
        _expected_event(hass, "warn", "w"),
        _expected_event(hass, "warn", "w2"),
        _expected_event(hass, "error", "e"),
        _expected_event(hass, "error", "f"),
    ]

    # A batch fires one event per qualifying log; a minimal log leaves the fields None.
    events.clear()
    minimal = {"message": "m", "level": "error"}
    await fire(hass, "system/info/batch", batch(log("i"), minimal, log("w", "warn", source={})))
    system = registry_device(hass, "system").id
    assert [event.data for event in events] == [
        {
            "level": "error",
            "message": "m",
            "timestamp": None,
            "source_type": "other",
            "source_name": None,
            "service_id": None,
            "service_name": None,
            "container_id": None,
            "device_id": system,
            "device": "system",
            "family": "container_logs",
        },
        _expected_event(hass, "warn", "w", source_type="other", source_name=None)
        | {"device_id": system, "device": "system"},
    ]


@pytest.mark.parametrize(
    ("logs_options", "fired"),
    [
        ({"log_event_level": "error"}, ["error", "error"]),
        ({"log_event_level": "debug"}, ["debug", "info", "warn", "warn", "error", "error"]),
        ({"log_event_level": "info"}, ["info", "warn", "warn", "error", "error"]),
    ],
)
async def test_event_level_option(
    hass: HomeAssistant, container_logs: MockConfigEntry, fired: list[str]
) -> None:
    events = async_capture_events(hass, EVENT_LOG)
    for level in ("debug", "info", "warn", "warning", "error", "fatal"):
        await fire(hass, f"1/web/{level}", log(level, level))
    assert [event.data["level"] for event in events] == fired
    assert all(event.data["device"] == WEB for event in events)


# --- invalid input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "payload"),
    [
        pytest.param("1/web/info", "not json", id="not-json"),
        pytest.param("1/web/info", "[]", id="array"),
        pytest.param("1/web/info", "", id="empty"),
        pytest.param("1/web/info", b"\xff\xfe", id="not-utf8"),
        pytest.param("1/web/info", '{"message": "x", "level": NaN}', id="nan"),
        pytest.param("1/web/info", '{"level": "info"}', id="no-message"),
        pytest.param("1/web/info", '{"message": "x"}', id="no-level"),
        pytest.param("1/web/info", '{"message": "x", "level": "trace"}', id="unknown-level"),
        pytest.param("1/web/info", json.dumps(log("x" * 70000)), id="over-64k"),
        pytest.param("1/web/info/batch", '{"count": 1, "logs": {}}', id="batch-not-array"),
        pytest.param("1/web/info/batch", json.dumps(log()), id="single-on-batch"),
        pytest.param("1/web/trace", json.dumps(log()), id="topic-level-unknown"),
        pytest.param("1/web", json.dumps(log()), id="topic-no-level"),
        pytest.param("info", json.dumps(log()), id="topic-level-only"),
        pytest.param("batch", json.dumps(log()), id="topic-batch-only"),
        pytest.param("1/web/extra/info", json.dumps(log()), id="topic-too-deep"),
        pytest.param("app/web/info", json.dumps(log()), id="topic-bad-app-id"),
        pytest.param("1.5/web/info", json.dumps(log()), id="topic-fractional-app-id"),
        pytest.param("containers/info", json.dumps(log()), id="topic-unknown-kind"),
        pytest.param("1//info", json.dumps(log()), id="topic-empty-service"),
    ],
)
async def test_invalid_messages_are_counted_never_raised(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    leaf: str,
    payload: str | bytes,
) -> None:
    hub: ContainerLogsHub = container_logs.runtime_data
    events = async_capture_events(hass, EVENT_LOG)
    await fire(hass, leaf, payload)
    assert hub.invalid_messages == 1
    assert hub.devices == {}
    assert len(hub.dead_letters) == 1
    assert events == []
    await advance(hass, freezer, 10)
    assert hass.states.get(HUB_INVALID).state == "1"
    # The stream goes on.
    await fire(hass, "1/web/warn", log("w", "warn"))
    assert hub.devices[WEB].counts["warn"] == 1
    assert hub.invalid_messages == 1


async def test_odd_fields_count_the_log_and_the_invalid_message(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    """A log with a wrongly typed optional field still counts; the message is flagged."""
    hub: ContainerLogsHub = container_logs.runtime_data
    await fire(hass, "1/web/warn", log("w", "warn", serviceId="1001", isStdErr="yes"))
    assert hub.devices[WEB].counts["warn"] == 1
    assert hub.invalid_messages == 1
    assert "serviceId" in hub.dead_letters[-1].reason
    assert state(hass, WEB, "last_problem").state == "w"


# --- restore ----------------------------------------------------------------------------


@pytest.mark.parametrize("ticked", [True, False], ids=["after-tick", "before-tick"])
async def test_counters_continue_after_reload(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    ticked: bool,
) -> None:
    for _ in range(3):
        await fire(hass, "1/web/info", log())
    await fire(hass, "1/web/warn/batch", batch(log("w1", "warn"), log("w2", "warn")))
    await fire(hass, "1/web/error", log("boom", "error"))
    if ticked:
        await advance(hass, freezer, 10)
        assert state(hass, WEB, "info_logs").state == "3"

    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    hub: ContainerLogsHub = container_logs.runtime_data
    device = hub.devices[WEB]
    assert device.restored
    assert device.counts == {"debug": 0, "info": 3, "warn": 2, "error": 1}
    assert state(hass, WEB, "info_logs").state == "3"
    assert state(hass, WEB, "warn_logs").state == "2"
    assert state(hass, WEB, "error_logs").state == "1"
    assert state(hass, WEB, "last_problem").state == "boom"
    assert state(hass, WEB, "last_problem").state != STATE_UNAVAILABLE

    # Counting goes on from the restored values; a second reload does not add them twice.
    await fire(hass, "1/web/info", log())
    await fire(hass, "1/web/debug", log("d", "debug"))
    await advance(hass, freezer, 10)
    assert state(hass, WEB, "info_logs").state == "4"
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    assert state(hass, WEB, "info_logs").state == "4"
    assert state(hass, WEB, "warn_logs").state == "2"
    assert container_logs.runtime_data.devices[WEB].counts["info"] == 4


# --- snapshot ---------------------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities_snapshot(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    await fire(
        hass,
        "1/web/info/batch",
        batch(log("a"), log("b"), log("c", "debug"), log("slow", "warn"), log("oops", "error")),
    )
    await fire(hass, "system/warn", log("low disk", "warn", source={"type": "system"}))
    await fire(hass, "other/info", "garbage")
    await advance(hass, freezer, 10)  # counters and hub sensors are written
    await snapshot_platform(hass, entity_registry, snapshot, container_logs.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_last_seen_and_debug_counter_restore_when_enabled(
    hass: HomeAssistant, container_logs: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await fire(hass, "1/web/debug", log("d", "debug"))
    await fire(hass, "1/web/debug", log("d", "debug"))
    assert state(hass, WEB, "last_seen").state == START
    await advance(hass, freezer, 60)
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    assert state(hass, WEB, "last_seen").state == START  # restored, not "unknown"
    assert state(hass, WEB, "debug_logs").state == "2"
    await fire(hass, "1/web/debug", log("d", "debug"))
    await advance(hass, freezer, 10)
    assert state(hass, WEB, "debug_logs").state == "3"
    assert state(hass, WEB, "last_seen").state == "2026-01-02T03:05:05+00:00"


async def test_last_problem_attributes_survive_a_reload(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    text = "boom " + "y" * 300
    await fire(hass, "1/web/error", log(text, "error"))
    assert state(hass, WEB, "last_problem").attributes["message"] == text
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    problem = state(hass, WEB, "last_problem")
    assert problem.state == text[:255]  # the state is restored ...
    assert problem.attributes.get("message") == text  # ... the full text is not
    assert problem.attributes.get("level") == "error"


async def test_a_batch_without_a_valid_log_discovers_nothing(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    hub: ContainerLogsHub = container_logs.runtime_data
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)
    await fire(hass, "1/web/info/batch", batch({"message": "x", "level": "trace"}, {"bad": 1}))
    assert hub.invalid_messages == 1
    assert discovered == []
    assert hub.devices == {}
    assert device_by_identifier(dr.async_get(hass), f"{KEY}/{WEB}") is None
