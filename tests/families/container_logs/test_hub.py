"""Container logs hub: a device per log source, events, invalid input, restore."""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.db_schema import (
    MAX_EVENT_DATA_BYTES,
    MAX_STATE_ATTRS_BYTES,
    EventData,
    StateAttributes,
)
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    MAX_LENGTH_STATE_STATE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.mqtt_fleet.const import EVENT_DEVICE_DISCOVERED
from custom_components.mqtt_fleet.families.container_logs.forwarding import (
    FORWARDED_SCOPE,
    HomeAssistantLogHandler,
)
from custom_components.mqtt_fleet.families.container_logs.hub import (
    EVENT_LOG,
    MAX_STORED_MESSAGE,
    ContainerLogsHub,
    LogSourceDevice,
)

from ...clock import advance, settle
from ...common import device_by_identifier
from .helpers import (
    BASE,
    HUB_INVALID,
    KEY,
    START_MS,
    WEB,
    batch,
    fire,
    log,
    problem,
    problem_entity,
    registry_device,
    state,
)

# Our reader refuses payloads over 64 KiB: raised where a test sends more.
PAYLOAD_LIMIT = "custom_components.mqtt_fleet.protocol.payload.MAX_PAYLOAD_BYTES"

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
    assert tuple(hub.protocol.subscriptions) == (f"{BASE}/#",)
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
    assert {entity.domain for entity in device_entities} == {"event", "sensor"}
    assert not any(entity.unique_id.endswith("/connectivity") for entity in device_entities)
    # A source: its problem event entity, and a counter per level it logged; no "last seen".
    web = registry_device(hass, WEB).id
    assert {
        entity.unique_id.removeprefix(f"{KEY}/{WEB}/")
        for entity in device_entities
        if entity.device_id == web
    } == {"problem", "info_logs", "error_logs"}
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
    assert problem(hass, WEB).attributes["first_line"] == "crash"


async def test_hub_is_a_container_logs_hub(container_logs: MockConfigEntry) -> None:
    hub = container_logs.runtime_data
    assert isinstance(hub, ContainerLogsHub)
    assert hub.has_connectivity is False
    assert hub.event_level == "warn"


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


@pytest.mark.parametrize(
    ("length", "truncated"),
    [(MAX_STORED_MESSAGE, False), (MAX_STORED_MESSAGE + 1, True)],
    ids=["at-the-limit", "beyond"],
)
async def test_event_message_is_cut_and_says_so(
    hass: HomeAssistant, container_logs: MockConfigEntry, length: int, truncated: bool
) -> None:
    events = async_capture_events(hass, EVENT_LOG)
    text = "e" * length
    await fire(hass, "1/web/error", log(text, "error"))
    (event,) = events
    if truncated:
        assert event.data == _expected_event(
            hass, "error", f"{text[: MAX_STORED_MESSAGE - 1]}…", truncated=True
        )
    else:
        assert event.data == _expected_event(hass, "error", text)  # whole, and no flag


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 60_000, id="ascii"),
        pytest.param("\U0001f600" * 60_000, id="emoji"),  # 4 bytes each in UTF-8
        pytest.param("\x1b" * 60_000, id="escape"),  # 6 bytes each in JSON: \u001b
    ],
)
async def test_a_60000_character_line_stays_under_the_recorder_limits(
    hass: HomeAssistant,
    container_logs: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    text: str,
) -> None:
    """State, attributes and event hold cut copies, each within what the recorder stores."""
    events = async_capture_events(hass, EVENT_LOG)
    state_changes = async_capture_events(hass, EVENT_STATE_CHANGED)
    names = {"source": {"type": "container", "name": text}, "serviceName": text}
    with patch(PAYLOAD_LIMIT, 4 * 1024 * 1024):
        await fire(hass, "1/web/error", log(text, "error", containerId=text, **names))
    cut = f"{text[: MAX_STORED_MESSAGE - 1]}…"
    name = f"{text[: MAX_LENGTH_STATE_STATE - 1]}…"

    shown = problem(hass, WEB)
    assert shown.attributes["first_line"] == name
    assert shown.attributes["message"] == cut  # not recorded, but held in the state
    assert [shown.attributes[key] for key in ("source_name", "service_name", "container_id")] == [
        name
    ] * 3
    (change,) = [
        event for event in state_changes if event.data["entity_id"] == problem_entity(hass, WEB)
    ][-1:]
    attributes = StateAttributes.shared_attrs_bytes_from_event(change, None)
    assert json.loads(attributes)["first_line"] == name  # stored, not replaced by {}
    assert len(attributes) < MAX_STATE_ATTRS_BYTES

    (event,) = events
    assert event.data["message"] == cut
    assert event.data["truncated"] is True
    assert [event.data[key] for key in ("source_name", "service_name", "container_id")] == [
        name
    ] * 3
    data = EventData.shared_data_bytes_from_event(event, None)
    assert json.loads(data)["message"] == cut
    assert len(data) < MAX_EVENT_DATA_BYTES
    assert "exceed maximum size" not in caplog.text


# --- invalid input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("leaf", "payload"),
    [
        pytest.param("1/web/info", "not json", id="not-json"),
        pytest.param("1/web/info", "[]", id="array"),
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
    assert problem(hass, WEB).attributes["first_line"] == "w"


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
    assert problem(hass, WEB).attributes["first_line"] == "boom"

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


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize("logs_options", [{"forward_ha_logs": True}])
async def test_event_and_forwarded_levels_apply_without_a_reload(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    """Saving the options changes no entity state; the new levels take effect."""
    hub: ContainerLogsHub = container_logs.runtime_data
    await fire(hass, "1/web/warn", log("w", "warn"))
    (handler,) = [
        handler
        for handler in logging.getLogger(FORWARDED_SCOPE).handlers
        if isinstance(handler, HomeAssistantLogHandler)
    ]
    assert handler.level == logging.WARNING
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)

    hass.config_entries.async_update_entry(
        container_logs,
        options={
            **container_logs.options,
            "log_event_level": "error",
            "forward_ha_level": "error",
        },
    )
    await hass.async_block_till_done()
    assert container_logs.runtime_data is hub  # not reloaded
    assert [event.data["entity_id"] for event in changes if event.data["old_state"]] == []
    assert handler.level == logging.ERROR  # the same handler, at the new level

    events = async_capture_events(hass, EVENT_LOG)
    await fire(hass, "1/web/warn", log("w2", "warn"))
    await fire(hass, "1/web/error", log("e", "error"))
    assert [event.data["level"] for event in events] == ["error"]


async def test_batch_settings_reload_the_entry(
    hass: HomeAssistant, container_logs: MockConfigEntry
) -> None:
    """Batching rebuilds the forwarder: with it, even a live option reloads the entry."""
    hub = container_logs.runtime_data
    hass.config_entries.async_update_entry(
        container_logs,
        options={**container_logs.options, "batch_max": 20, "log_event_level": "error"},
    )
    await hass.async_block_till_done()
    assert container_logs.runtime_data is not hub
    assert container_logs.runtime_data.event_level == "error"
