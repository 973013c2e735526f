"""Container logs entities: counters on the hub's timer, the problem event, the snapshot."""

from __future__ import annotations

from datetime import timedelta
import json
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.logbook.helpers import async_subscribe_events
from homeassistant.components.recorder.db_schema import StateAttributes
from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNKNOWN, Platform
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
    async_fire_time_changed_exact,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.mqtt_fleet import logbook
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.container_logs import keys
from custom_components.mqtt_fleet.families.container_logs.hub import (
    EVENT_LOG,
    EVENT_LOGGED_ERROR,
    EVENT_LOGGED_WARNING,
    MAX_STORED_MESSAGE,
    PROBLEM_BURST,
    PROBLEM_PERIOD,
    ContainerLogsHub,
    LogSourceDevice,
)

from ...clock import advance, settle
from .helpers import (
    BASE,
    HUB_INVALID,
    KEY,
    START_MS,
    WEB,
    batch,
    changes,
    entity_id,
    fire,
    log,
    logs_entry,
    problem,
    problem_entity,
    registry_device,
    state,
)

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
    # Only the levels seen so far have a counter; the problem event entity is there at once.
    for key in ("warn_logs", "error_logs", "debug_logs"):
        assert entity_id(hass, WEB, key) is None, key
    assert problem(hass, WEB).state == STATE_UNKNOWN

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
    assert problem(hass, WEB).state == STATE_UNKNOWN  # info lines never fire it


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
    shown = problem(hass, WEB)
    assert shown.attributes["first_line"] == "e"
    assert shown.attributes["event_type"] == "error"


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
    assert problem(hass, WEB).attributes["first_line"] == "b"
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


# --- warning or error: the problem event -----------------------------------------------


async def test_problem_event_fires_at_once_for_warnings_and_errors(
    hass: HomeAssistant, container_logs: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await fire(hass, "1/web/info", log("fine"))
    entity = problem_entity(hass, WEB)
    assert problem(hass, WEB).state == STATE_UNKNOWN  # info lines never fire it
    assert problem(hass, WEB).attributes["friendly_name"] == "web (app 1) Warning or error"
    assert problem(hass, WEB).attributes["event_types"] == ["warning", "error"]

    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    await fire(hass, "1/web/warn", log("disk 91% full", "warn", timestamp=START_MS + 1500))
    shown = problem(hass, WEB)
    assert shown.state == "2026-01-02T03:04:05.000+00:00"  # when it was shown
    assert shown.attributes == {
        "event_types": ["warning", "error"],
        "event_type": "warning",
        "first_line": "disk 91% full",
        "message": "disk 91% full",
        "logged_at": "2026-01-02T03:04:06.500000+00:00",
        "source_name": "web",
        "service_name": "web",
        "container_id": "c0ffee",
        "skipped": 0,
        "friendly_name": "web (app 1) Warning or error",
    }

    await fire(hass, "1/web/info", log("still fine"))
    await fire(hass, "1/web/debug", log("details", "debug"))
    await fire(hass, "1/web/info/batch", batch(log("x"), log("y", "debug")))
    await advance(hass, freezer, 10)
    assert len(changes(state_changes, entity)) == 1

    long_text = "Traceback: " + "x" * 400
    await fire(hass, "1/web/error", log(long_text, "fatal", timestamp=None))
    assert len(changes(state_changes, entity)) == 2  # at once, not on the tick
    shown = problem(hass, WEB)
    assert shown.attributes["event_type"] == "error"
    assert shown.attributes["first_line"] == f"{long_text[:254]}…"
    assert shown.attributes["message"] == long_text
    assert shown.attributes["logged_at"] is None

    # Each problem of a batch fires, in order.
    await fire(hass, "1/web/warn/batch", batch(log("first", "warn"), log("second", "warning")))
    fired = [event.data["new_state"] for event in state_changes[-2:]]
    assert [state.attributes["first_line"] for state in fired] == ["first", "second"]
    assert len(changes(state_changes, entity)) == 4


async def test_a_flood_of_warnings_is_paced_the_latest_shown_with_the_count_skipped(
    hass: HomeAssistant, container_logs: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Five at once, then one a minute per level: the latest held back, saying how many."""
    await fire(hass, "1/web/info", log("started"))
    entity = problem_entity(hass, WEB)
    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    warnings = async_capture_events(hass, EVENT_LOGGED_WARNING)
    errors = async_capture_events(hass, EVENT_LOGGED_ERROR)
    every_log = async_capture_events(hass, EVENT_LOG)

    await fire(hass, "1/web/warn/batch", batch(*(log(f"w{n}", "warn") for n in range(20))))
    assert len(changes(state_changes, entity)) == PROBLEM_BURST
    assert [event.data["first_line"] for event in warnings] == ["w0", "w1", "w2", "w3", "w4"]
    assert len(every_log) == 20  # `mqtt_fleet_log` stays one per log

    # An error has its own budget: shown at once in a flood of warnings.
    await fire(hass, "1/web/error", log("crash", "error"))
    assert problem(hass, WEB).attributes["first_line"] == "crash"
    assert len(errors) == 1

    await advance(hass, freezer, PROBLEM_PERIOD - 10)
    assert len(warnings) == PROBLEM_BURST
    await advance(hass, freezer, 20)  # a minute on, the hub's next tick shows the held one
    assert len(warnings) == PROBLEM_BURST + 1
    assert warnings[-1].data["first_line"] == "w19"
    assert warnings[-1].data["skipped"] == 14  # w5 to w18
    shown = problem(hass, WEB)
    assert (shown.attributes["event_type"], shown.attributes["skipped"]) == ("warning", 14)
    assert len(changes(state_changes, entity)) == PROBLEM_BURST + 2

    # Nothing held: later ticks show nothing more; the next warning waits for its token.
    await advance(hass, freezer, PROBLEM_PERIOD)
    assert len(warnings) == PROBLEM_BURST + 1
    await fire(hass, "1/web/warn", log("later", "warn"))
    assert warnings[-1].data["first_line"] == "later"
    assert warnings[-1].data["skipped"] == 0


async def test_logbook_entries_for_n_warnings(
    hass: HomeAssistant, container_logs: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """What the logbook's live stream shows of a log source: one entry per problem shown.

    Our own events add no second line, and the counters none at all; a flood of 100
    warnings shows the first five, then the latest a minute later.
    """
    await fire(hass, "1/web/info", log("started"))
    device = registry_device(hass, WEB)
    entities = [
        entry.entity_id for entry in er.async_entries_for_device(er.async_get(hass), device.id)
    ]
    # The events the logbook describes: ours per log and per problem are not among them.
    described = list(logbook.MESSAGES)
    assert not {EVENT_LOG, EVENT_LOGGED_WARNING, EVENT_LOGGED_ERROR} & set(described)
    entries: list[Event] = []
    unsubscribes: list[CALLBACK_TYPE] = []

    @callback
    def logbook_entry(event: Event) -> None:
        entries.append(event)

    async_subscribe_events(
        hass, unsubscribes, logbook_entry, described, None, entities, [device.id]
    )
    await fire(hass, "1/web/warn", log("one", "warn"))
    await advance(hass, freezer, 10)  # the counters are written: not logbook entries
    assert len(entries) == 1
    assert entries[0].data["entity_id"] == problem_entity(hass, WEB)

    entries.clear()
    for n in range(100):
        async_fire_mqtt_message(hass, f"{BASE}/1/web/warn", json.dumps(log(f"w{n}", "warn")))
    await settle(hass)
    assert len(entries) == PROBLEM_BURST - 1  # the first warning took one token
    await advance(hass, freezer, PROBLEM_PERIOD + 10)  # a token, then the hub's tick
    assert len(entries) == PROBLEM_BURST
    assert entries[-1].data["new_state"].attributes["first_line"] == "w99"
    for unsubscribe in unsubscribes:
        unsubscribe()


async def test_the_problem_message_stays_out_of_the_recorder(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    """A traceback per problem would fill the database: only its first line is recorded."""
    await fire(hass, "1/web/info", log("started"))
    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    text = "Traceback (most recent call last):\n" + "  line\n" * 200
    await fire(hass, "1/web/error", log(text, "error"))
    (change,) = [
        event for event in state_changes if event.data["entity_id"] == problem_entity(hass, WEB)
    ]
    assert change.data["new_state"].attributes["message"] == text
    recorded = json.loads(StateAttributes.shared_attrs_bytes_from_event(change, None))
    assert "message" not in recorded
    assert recorded["first_line"] == "Traceback (most recent call last):…"
    assert recorded["event_type"] == "error"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("disk full\nat line 3", "disk full…", id="two-lines"),
        pytest.param("disk full\r\n  at line 3\r\n", "disk full…", id="crlf"),
        pytest.param("\ndisk full\n", "disk full", id="blank-lines-around"),
        pytest.param("a" * 300 + "\nb", f"{'a' * 254}…", id="long-first-line"),
        pytest.param("a" * 255, "a" * 255, id="exactly-a-state"),
        pytest.param("a" * 254 + "\nb", f"{'a' * 254}…", id="a-state-and-more"),
    ],
)
async def test_first_line_of_a_problem(
    hass: HomeAssistant, container_logs: MockConfigEntry, text: str, shown: str
) -> None:
    """`first_line` shows the first line; "…" says the `message` attribute has more."""
    await fire(hass, "1/web/warn", log(text, "warn"))
    attributes = problem(hass, WEB).attributes
    assert attributes["first_line"] == shown
    assert attributes["message"] == text


async def test_the_first_problem_of_a_new_source_is_a_state_change(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    """A source whose first log is an error: the entity is made, then fires (logbook-visible)."""
    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    await fire(hass, "1/web/error", log("crash on start", "error"))
    entity = problem_entity(hass, WEB)
    made, fired = [event for event in state_changes if event.data["entity_id"] == entity]
    assert made.data["old_state"] is None
    assert made.data["new_state"].state == STATE_UNKNOWN
    assert fired.data["old_state"].state == STATE_UNKNOWN
    assert fired.data["new_state"].attributes["first_line"] == "crash on start"


async def test_the_last_problem_survives_a_reload(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    text = "z" * 60000
    await fire(hass, "1/web/error", log(text, "error"))
    before = problem(hass, WEB)
    assert before.attributes["message"] == f"{text[: MAX_STORED_MESSAGE - 1]}…"
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    after = problem(hass, WEB)
    assert after.state == before.state
    assert after.attributes == before.attributes


# --- retired entities -------------------------------------------------------------------


async def test_the_last_problem_sensor_and_last_seen_are_removed_at_setup(
    hass: HomeAssistant, mqtt_mock: Any, entity_registry: er.EntityRegistry
) -> None:
    """Entries of the retired keys (from before the event entity) go; the others stay."""
    entry = logs_entry()
    entry.add_to_hass(hass)
    made = {
        key: entity_registry.async_get_or_create(
            "sensor", DOMAIN, f"{KEY}/{WEB}/{key}", config_entry=entry
        ).entity_id
        for key in ("last_problem", "last_seen", "warn_logs")
    }
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entity_registry.async_get(made["last_problem"]) is None
    assert entity_registry.async_get(made["last_seen"]) is None
    assert entity_registry.async_get(made["warn_logs"]) is not None
    assert {"last_problem", "last_seen"} == keys.RETIRED


# --- snapshot ---------------------------------------------------------------------------


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize(
    "platforms", [[Platform.EVENT], [Platform.SENSOR]], ids=["event", "sensor"]
)
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
async def test_debug_counter_restores_when_enabled(
    hass: HomeAssistant, container_logs: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    await fire(hass, "1/web/debug", log("d", "debug"))
    await fire(hass, "1/web/debug", log("d", "debug"))
    assert entity_id(hass, WEB, "last_seen") is None  # not offered on log sources
    await advance(hass, freezer, 60)
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    assert state(hass, WEB, "debug_logs").state == "2"
    await fire(hass, "1/web/debug", log("d", "debug"))
    await advance(hass, freezer, 10)
    assert state(hass, WEB, "debug_logs").state == "3"
