"""Container logs entities: counters on the hub's timer, the last problem, the snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import SensorStateClass
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import HomeAssistant
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

from custom_components.mqtt_fleet.families.container_logs.hub import (
    MAX_STORED_MESSAGE,
    ContainerLogsHub,
    LogSourceDevice,
)

from ...clock import advance, settle
from .helpers import (
    BASE,
    HUB_INVALID,
    START,
    START_MS,
    WEB,
    batch,
    changes,
    entity_id,
    fire,
    log,
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
    assert changes(state_changes, entity) == [f"{long_text[:254]}…"]  # at once, not on the tick
    assert len(problem.state) == 255
    assert problem.attributes["message"] == long_text
    assert problem.attributes["level"] == "error"
    assert problem.attributes["timestamp"] is None

    # The last one of a batch wins.
    await fire(hass, "1/web/warn/batch", batch(log("first", "warn"), log("second", "warning")))
    assert state(hass, WEB, "last_problem").state == "second"
    assert state(hass, WEB, "last_problem").attributes["level"] == "warn"


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
    assert problem.state == f"{text[:254]}…"  # the state is restored ...
    assert problem.attributes.get("message") == text  # ... the whole text is not
    assert problem.attributes.get("level") == "error"


async def test_restored_attributes_keep_the_cut_message(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    text = "z" * 60000
    await fire(hass, "1/web/error", log(text, "error"))
    cut = f"{text[: MAX_STORED_MESSAGE - 1]}…"
    assert state(hass, WEB, "last_problem").attributes["message"] == cut
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await settle(hass)
    problem = state(hass, WEB, "last_problem")
    assert (problem.state, problem.attributes.get("message")) == (f"{text[:254]}…", cut)


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
async def test_last_problem_state_is_the_first_line(
    hass: HomeAssistant, container_logs: MockConfigEntry, text: str, shown: str
) -> None:
    """The state shows the first line; "…" says the `message` attribute has more."""
    await fire(hass, "1/web/warn", log(text, "warn"))
    problem = state(hass, WEB, "last_problem")
    assert problem.state == shown
    assert problem.attributes["message"] == text
