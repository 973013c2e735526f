"""Config, discovery and options flows of the Container logs family."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
import logging
from pathlib import Path
import string
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.config_entries import SOURCE_MQTT, SOURCE_USER, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
import yaml

from custom_components.mqtt_fleet import config_flow
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.container_logs.forwarding import (
    FORWARDED_SCOPE,
    HomeAssistantLogHandler,
)
from custom_components.mqtt_fleet.families.container_logs.hub import ContainerLogsHub
from custom_components.mqtt_fleet.flow_fields import ADMISSION_DEFAULTS

from ...common import TRANSLATIONS, default_options, entry_id_for
from ...flow_helpers import (
    assert_abort_translated,
    assert_translated,
    discovery as mqtt_discovery,
    fields,
    start_user_flow,
    suggested_values,
)
from .helpers import logs_entry

PACKAGE = Path(config_flow.__file__).parent
BASE = "container-manager/logs"
SUBSCRIBED = "container-manager/logs/manager/#"
TOPIC = "container-manager/logs/1/web/info"
DEFAULT_OPTIONS = {
    "batch_logs": True,
    "batch_interval": 1.0,
    "batch_max": 50,
    "forward_buffer_mb": 16,
    "forward_ha_logs": False,
    "forward_ha_level": "warn",
    "log_event_level": "warn",
    "stale_device_days": 30,
}
OPTION_FIELDS = list(DEFAULT_OPTIONS)
LOG = json.dumps(
    {
        "message": "Server started",
        "timestamp": 1767323045000,
        "level": "info",
        "source": {"type": "container", "name": "web"},
        "serviceId": 1001,
        "serviceName": "web",
        "containerId": "c0ffee",
    }
)
BATCH = json.dumps({"count": 1, "logs": [{"message": "Applying target state", "level": "info"}]})


# --- helpers ----------------------------------------------------------------------------


def discovery(topic: str, payload: str | bytes, subscribed: str = SUBSCRIBED) -> MqttServiceInfo:
    """Build what HA's MQTT discovery hands to async_step_mqtt, from the manager's filter."""
    return mqtt_discovery(topic, payload, subscribed)


@pytest.fixture
async def loaded(hass: HomeAssistant, mqtt_mock: Any) -> AsyncGenerator[Any]:
    """Set up entries for real, with the sensor platform only."""

    async def setup(entry: MockConfigEntry) -> MockConfigEntry:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        return entry

    with patch("custom_components.mqtt_fleet.PLATFORMS", [Platform.SENSOR]):
        yield setup


# --- user step --------------------------------------------------------------------------


@pytest.mark.usefixtures("mqtt_mock")
async def test_container_logs_step_creates_the_entry(
    hass: HomeAssistant, mock_setup_entry: AsyncMock
) -> None:
    result = await start_user_flow(hass, "container_logs")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "container_logs"
    assert result["errors"] == {}
    assert fields(result) == ["base_topic"]
    assert result["data_schema"]({}) == {"base_topic": BASE}
    assert_translated(result)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": f" {BASE} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Container logs"  # the default base: the family's name alone
    assert result["data"] == {"family": "container_logs", "base_topic": BASE}
    assert result["options"] == DEFAULT_OPTIONS
    assert default_options("container_logs") == DEFAULT_OPTIONS
    entry = result["result"]
    assert entry.unique_id == "container_logs:container-manager/logs"
    assert entry.source == SOURCE_USER
    assert "offline_timeout" not in entry.options  # log sources have no connectivity
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_container_logs_step_with_another_base(hass: HomeAssistant) -> None:
    result = await start_user_flow(hass, "container_logs")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site-a/logs"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Container logs (site-a/logs)"
    assert result["result"].unique_id == "container_logs:site-a/logs"


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize(
    ("base", "error"),
    [
        ("", "base_topic_empty"),
        ("/logs", "base_topic_edge_slash"),
        ("logs/", "base_topic_edge_slash"),
        ("container-manager//logs", "base_topic_empty_level"),
        ("container-manager/logs/#", "base_topic_wildcard"),
        ("container-manager/+", "base_topic_wildcard"),
        ("logs\x07", "base_topic_control_character"),
        ("l" * 40000, "base_topic_too_long"),
    ],
)
async def test_invalid_base_then_recover(hass: HomeAssistant, base: str, error: str) -> None:
    result = await start_user_flow(hass, "container_logs")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "container_logs"
    assert result["errors"] == {"base_topic": error}
    assert_translated(result)
    assert suggested_values(result)["base_topic"] == base
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": BASE})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["base_topic"] == BASE


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
async def test_duplicate_base_aborts(hass: HomeAssistant) -> None:
    existing = logs_entry()
    existing.add_to_hass(hass)
    result = await start_user_flow(hass, "container_logs")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": BASE})
    assert result["type"] is FlowResultType.FORM  # said in the form, the base can be changed
    assert result["errors"] == {"base_topic": "base_topic_in_use"}
    assert_translated(result)
    assert hass.config_entries.async_entries(DOMAIN) == [existing]


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize("base", ["container-manager/logs/site-a", "container-manager"])
async def test_overlapping_base_of_the_family(hass: HomeAssistant, base: str) -> None:
    logs_entry().add_to_hass(hass)
    result = await start_user_flow(hass, "container_logs")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base_topic": "base_topic_overlaps"}
    assert_translated(result)


# --- discovery --------------------------------------------------------------------------


def test_manifest_lists_the_discovery_topic() -> None:
    manifest = json.loads((PACKAGE / "manifest.json").read_text("utf-8"))
    assert SUBSCRIBED in manifest["mqtt"]
    spec = config_flow.DISCOVERY_TOPICS[SUBSCRIBED]
    assert (spec.key, spec.default_base) == ("container_logs", BASE)


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("topic", "payload", "device"),
    [
        pytest.param(TOPIC, LOG, "1:web", id="single"),
        pytest.param(TOPIC, LOG.encode(), "1:web", id="bytes"),
        pytest.param(
            "container-manager/logs/system/warn/batch",
            json.dumps({"count": 2, "logs": [json.loads(LOG), {"bad": 1}]}),
            "system",
            id="batch-with-one-good-log",
        ),
        pytest.param(
            "container-manager/logs/manager/error",
            '{"message": "pull failed", "level": "error"}',
            "manager",
            id="minimal",
        ),
    ],
)
async def test_discovery_is_confirm_only(
    hass: HomeAssistant, topic: str, payload: str | bytes, device: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert fields(result) == []
    assert result["description_placeholders"] == {
        "family": "Container logs",
        "base_topic": BASE,
        "device": device,
    }
    assert_translated(result)
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["unique_id"] == "container_logs:container-manager/logs"
    assert flow["context"]["title_placeholders"] == {"name": "Container logs"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Container logs"  # the default base: the family's name alone
    assert result["data"] == {"family": "container_logs", "base_topic": BASE}
    assert result["options"] == DEFAULT_OPTIONS
    assert result["result"].source == SOURCE_MQTT


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        pytest.param(TOPIC, "Server started", id="plain-text"),
        pytest.param(TOPIC, "", id="empty"),
        pytest.param(TOPIC, b"\xff\xfe", id="binary"),
        pytest.param(TOPIC, "[]", id="array"),
        pytest.param(TOPIC, '{"message": "no level"}', id="no-level"),
        pytest.param(TOPIC, '{"message": "x", "level": "trace"}', id="unknown-level"),
        pytest.param("container-manager/logs/1/web/trace", LOG, id="topic-level-unknown"),
        pytest.param("container-manager/logs/status", LOG, id="not-a-log-topic"),
        pytest.param("container-manager/logs/a/b/c/info", LOG, id="too-deep"),
        pytest.param(
            "container-manager/logs/1/web/info/batch",
            '{"count": 1, "logs": [{"bad": 1}]}',
            id="batch-without-a-good-log",
        ),
        pytest.param(
            "container-manager/logs/1/web/info/batch", '{"count": 0, "logs": []}', id="empty-batch"
        ),
    ],
)
async def test_invalid_discovery_aborts(
    hass: HomeAssistant, topic: str, payload: str | bytes
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload)
    )
    assert result["reason"] == "invalid_discovery_info"
    assert_abort_translated(result)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_discovery_of_a_configured_base_aborts(hass: HomeAssistant) -> None:
    logs_entry().add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(TOPIC, LOG)
    )
    assert result["reason"] == "already_configured"
    assert_abort_translated(result)


async def test_a_second_source_does_not_open_a_second_flow(hass: HomeAssistant) -> None:
    first = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(TOPIC, LOG)
    )
    assert first["type"] is FlowResultType.FORM
    second = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery("container-manager/logs/system/info", LOG),
    )
    assert second["reason"] == "already_in_progress"
    assert_abort_translated(second)


@pytest.mark.usefixtures("mqtt_mock")
async def test_discovery_through_ha_mqtt(hass: HomeAssistant) -> None:
    """Only the manager's own logs start a flow: container logs are far too many."""
    async_fire_mqtt_message(hass, TOPIC, LOG)
    async_fire_mqtt_message(hass, "container-manager/logs/system/warn/batch", LOG)
    await hass.async_block_till_done()
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    async_fire_mqtt_message(hass, "container-manager/logs/manager/info/batch", BATCH)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "discovery_confirm"
    assert flow["context"]["source"] == SOURCE_MQTT
    assert flow["context"]["unique_id"] == "container_logs:container-manager/logs"
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["description_placeholders"]["device"] == "manager"


# --- options ----------------------------------------------------------------------------


async def test_options_form(hass: HomeAssistant, loaded: Any) -> None:
    entry = await loaded(logs_entry(batch_max=20, forward_ha_level="error"))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "container_logs"
    assert fields(result) == [*OPTION_FIELDS, *ADMISSION_DEFAULTS]
    assert suggested_values(result) == ADMISSION_DEFAULTS | DEFAULT_OPTIONS | {
        "batch_max": 20,
        "forward_ha_level": "error",
    }
    assert_translated(result, "options")
    schema = result["data_schema"].schema
    selectors = {str(key): value for key, value in schema.items()}
    levels = {
        "forward_ha_level": ["info", "warn", "error"],  # debug would feed itself
        "log_event_level": ["debug", "info", "warn", "error"],
    }
    for key, options in levels.items():
        config = selectors[key].config
        assert config["options"] == options
        assert config["translation_key"] == "log_level"
    buffer = selectors["forward_buffer_mb"].config
    assert (buffer["min"], buffer["max"], buffer["step"]) == (1, 256, 1)
    assert buffer["unit_of_measurement"] == "MiB"


async def test_options_form_fills_in_missing_options(hass: HomeAssistant, loaded: Any) -> None:
    """An entry stored without options shows (and runs with) the defaults."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Container logs (container-manager/logs)",
        unique_id="container_logs:container-manager/logs",
        entry_id=entry_id_for("container_logs:container-manager/logs"),
        data={"family": "container_logs", "base_topic": BASE},
        options={},
    )
    await loaded(entry)
    hub: ContainerLogsHub = entry.runtime_data
    assert hub.forwarder.batching is True
    assert hub.event_level == "warn"
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert suggested_values(result) == ADMISSION_DEFAULTS | DEFAULT_OPTIONS


async def test_options_saved_reload_with_the_new_values(
    hass: HomeAssistant, loaded: Any, mqtt_mock: Any
) -> None:
    entry = await loaded(logs_entry())
    old_hub: ContainerLogsHub = entry.runtime_data
    assert old_hub.forwarder.batching is True
    assert old_hub.forwarder._interval == 1.0
    assert old_hub.forwarder._max_size == 50
    assert old_hub.forwarder._max_bytes == 16 * 1024 * 1024
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "batch_logs": False,
            "batch_interval": "2.5",
            "batch_max": 20.0,
            "forward_buffer_mb": 4.0,
            "forward_ha_logs": True,
            "forward_ha_level": "error",
            "log_event_level": "debug",
            "stale_device_days": 90.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    expected = {
        "batch_logs": False,
        "batch_interval": 2.5,
        "batch_max": 20,
        "forward_buffer_mb": 4,
        "forward_ha_logs": True,
        "forward_ha_level": "error",
        "log_event_level": "debug",
        "stale_device_days": 90,
    }
    assert result["data"] == expected
    assert type(result["data"]["batch_interval"]) is float
    assert type(result["data"]["batch_max"]) is int
    assert type(result["data"]["forward_buffer_mb"]) is int
    assert type(result["data"]["stale_device_days"]) is int
    await hass.async_block_till_done()
    assert dict(entry.options) == expected
    hub: ContainerLogsHub = entry.runtime_data
    assert isinstance(hub, ContainerLogsHub)
    assert hub is not old_hub
    assert hub.forwarder.batching is False
    assert hub.forwarder._interval == 2.5
    assert hub.forwarder._max_size == 20
    assert hub.forwarder._max_bytes == 4 * 1024 * 1024
    assert hub.event_level == "debug"
    assert hub.upkeep.stale_after == 90 * 86400
    handlers = [
        handler
        for handler in logging.getLogger(FORWARDED_SCOPE).handlers
        if isinstance(handler, HomeAssistantLogHandler)
    ]
    assert [handler.level for handler in handlers] == [logging.ERROR]

    # Back to the defaults: the handler goes away with the reload.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], dict(DEFAULT_OPTIONS)
    )
    await hass.async_block_till_done()
    assert entry.runtime_data is not hub
    assert not any(
        isinstance(handler, HomeAssistantLogHandler)
        for handler in logging.getLogger(FORWARDED_SCOPE).handlers
    )


async def test_options_saved_unchanged_do_not_reload(hass: HomeAssistant, loaded: Any) -> None:
    entry = await loaded(logs_entry())
    hub = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], dict(DEFAULT_OPTIONS)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is hub


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_interval", 0.05),
        ("batch_interval", 61),
        ("batch_max", 0),
        ("batch_max", 1001),
        ("forward_buffer_mb", 0),
        ("forward_buffer_mb", 257),
        ("forward_buffer_mb", "lots"),
        ("forward_ha_level", "warning"),
        ("log_event_level", "trace"),
    ],
)
async def test_options_out_of_range(hass: HomeAssistant, loaded: Any, key: str, value: Any) -> None:
    entry = await loaded(logs_entry())
    hub = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    with pytest.raises(InvalidData) as err:
        await hass.config_entries.options.async_configure(
            result["flow_id"], DEFAULT_OPTIONS | {key: value}
        )
    assert key in err.value.schema_errors
    assert dict(entry.options) == DEFAULT_OPTIONS
    assert entry.runtime_data is hub


# --- translations -----------------------------------------------------------------------


def test_translations_of_the_container_logs_flow() -> None:
    config = TRANSLATIONS["config"]
    step = config["step"]["container_logs"]
    assert step["title"]
    assert step["description"]
    assert set(step["data"]) == set(step["data_description"]) == {"base_topic"}
    assert config["step"]["user"]["menu_options"]["container_logs"]
    confirm = config["step"]["discovery_confirm"]
    for text in (confirm["title"], confirm["description"]):
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field}
        assert used <= {"family", "base_topic", "device"}
    for reason in ("already_configured", "already_in_progress", "invalid_discovery_info"):
        assert config["abort"][reason]

    options = TRANSLATIONS["options"]["step"]["container_logs"]
    for key in OPTION_FIELDS:
        assert options["data"][key], key
        assert options["data_description"][key], key

    levels = TRANSLATIONS["selector"]["log_level"]["options"]
    assert set(levels) == {"debug", "info", "warn", "error"}
    assert all(levels.values())

    exceptions = TRANSLATIONS["exceptions"]
    for key in ("log_entry_ambiguous", "log_entry_not_found", "invalid_action_data"):
        assert exceptions[key]["message"], key
    assert "{service_name}" in exceptions["unsafe_service_name"]["message"]
    assert "{source_name}" in exceptions["unsafe_source_name"]["message"]
    assert {"{action}", "{error}"} <= {
        f"{{{field}}}"
        for _, field, _, _ in string.Formatter().parse(exceptions["invalid_action_data"]["message"])
        if field
    }

    sensors = TRANSLATIONS["entity"]["sensor"]
    for key in ("debug_logs", "info_logs", "warn_logs", "error_logs"):
        assert sensors[key]["name"], key
    assert "last_problem" not in sensors  # retired: the problem event entity
    problem = TRANSLATIONS["entity"]["event"]["problem"]
    assert set(problem["state_attributes"]) == {
        "event_type",
        "first_line",
        "message",
        "logged_at",
        "source_name",
        "service_name",
        "container_id",
        "skipped",
    }
    assert set(problem["state_attributes"]["event_type"]["state"]) == {"warning", "error"}
    triggers = TRANSLATIONS["device_automation"]["trigger_type"]
    assert (triggers["logged_warning"], triggers["logged_error"]) == (
        "Logged a warning",
        "Logged an error",
    )


def test_forward_log_action_is_described() -> None:
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text("utf-8"))
    spec = services["forward_log"]["fields"]
    texts = TRANSLATIONS["services"]["forward_log"]
    assert texts["name"]
    assert texts["description"]
    assert (
        set(spec)
        == set(texts["fields"])
        == {
            "message",
            "level",
            "source_type",
            "source_name",
            "service_id",
            "service_name",
            "container_id",
            "qos",
            "retain",
            "config_entry_id",
        }
    )
    for field, text in texts["fields"].items():
        assert text["name"], field
        assert text["description"], field
    assert spec["level"]["selector"]["select"]["translation_key"] == "log_level"
    assert spec["level"]["selector"]["select"]["options"] == ["debug", "info", "warn", "error"]
    assert spec["message"]["required"] is True
    icons = json.loads((PACKAGE / "icons.json").read_text("utf-8"))
    assert "forward_log" in icons["services"]


async def test_home_assistant_reads_the_translations(hass: HomeAssistant) -> None:
    """HA itself resolves the texts the flow, the options and the entities use."""
    hass.config.components.add(DOMAIN)
    config = await async_get_translations(hass, "en", "config", {DOMAIN})
    prefix = f"component.{DOMAIN}.config"
    assert config[f"{prefix}.step.container_logs.title"] == "Container logs"
    options = await async_get_translations(hass, "en", "options", {DOMAIN})
    for key in OPTION_FIELDS:
        assert options[f"component.{DOMAIN}.options.step.container_logs.data.{key}"]
    selector = await async_get_translations(hass, "en", "selector", {DOMAIN})
    assert selector[f"component.{DOMAIN}.selector.log_level.options.warn"] == "Warning"
    entity = await async_get_translations(hass, "en", "entity", {DOMAIN})
    assert entity[f"component.{DOMAIN}.entity.event.problem.name"] == "Warning or error"
    services = await async_get_translations(hass, "en", "services", {DOMAIN})
    assert services[f"component.{DOMAIN}.services.forward_log.fields.config_entry_id.name"]
