"""Janus config flow: the user step, MQTT discovery asking for the secret, reauth, options."""

from __future__ import annotations

from collections.abc import AsyncGenerator
import json
from pathlib import Path
from typing import Any
from unittest.mock import ANY, AsyncMock, patch

from homeassistant.config_entries import SOURCE_MQTT, SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message

from custom_components.mqtt_fleet import config_flow
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.janus import validate
from custom_components.mqtt_fleet.families.janus.hub import JanusHub
from custom_components.mqtt_fleet.flow_fields import ADMISSION_DEFAULTS

from ...common import TRANSLATIONS, device_by_identifier
from ...flow_helpers import (
    assert_abort_translated,
    assert_translated,
    discovery,
    fields,
    start_user_flow,
    suggested_values,
)
from .helpers import FakeGateways, janus_entry

JANUS_OPTIONS = {
    "offline_timeout": 60,
    "stale_device_days": 30,
    "poll_interval": 10,
    "servers": [],
}

JANUS_STATUS = "janus/gw1/status"
JANUS_SUBSCRIBED = "janus/+/status"

ABORTS = (
    "reauth_successful",
    "already_configured",
    "already_in_progress",
    "invalid_discovery_info",
    "mqtt_not_configured",
)
EXCEPTIONS = (
    "janus_no_reply",
    "janus_unauthorized",
    "janus_error",
    "device_not_found",
    "device_ambiguous",
    "invalid_action_data",
    "unloaded_while_waiting",
)


@pytest.fixture
async def loaded(hass: HomeAssistant, mqtt_mock: Any) -> AsyncGenerator[Any]:
    """Set up entries for real, with the sensor and binary sensor platforms only."""

    async def setup(entry: MockConfigEntry) -> MockConfigEntry:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        return entry

    with patch("custom_components.mqtt_fleet.PLATFORMS", [Platform.BINARY_SENSOR, Platform.SENSOR]):
        yield setup


# --- user step --------------------------------------------------------------------------


async def test_janus_step_creates_the_entry(
    hass: HomeAssistant, gateways: FakeGateways, mock_setup_entry: AsyncMock
) -> None:
    """The secret is checked on the named server before the entry is made."""
    gateways.run("gw1")
    result = await start_user_flow(hass, "janus")
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "janus"
    assert result["errors"] == {}
    assert fields(result) == ["base_topic", "admin_secret", "servers"]
    assert result["data_schema"]({}) == {"base_topic": "janus"}
    assert_translated(result, described=False)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus", "admin_secret": "s3cret", "servers": ["gw1"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Janus"
    assert result["data"] == {
        "family": "janus",
        "base_topic": "janus",
        "admin_secret": "s3cret",
        "servers": ["gw1"],
    }
    assert result["options"] == JANUS_OPTIONS
    assert gateways.asked == [("gw1", ANY)]
    assert gateways.asked[0][1]["admin_secret"] == "s3cret"
    entry = result["result"]
    assert entry.unique_id == "janus:janus"
    assert entry.source == SOURCE_USER
    await hass.async_block_till_done()
    assert len(mock_setup_entry.mock_calls) == 1


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("secret", [{}, {"admin_secret": ""}])
async def test_janus_step_without_a_secret(
    hass: HomeAssistant, gateways: FakeGateways, secret: dict[str, str]
) -> None:
    """A server without an admin secret answers a request without one."""
    gateways.secret = None
    gateways.run("gw1", "site-a/janus", retain_status=True)
    result = await start_user_flow(hass, "janus")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site-a/janus", **secret}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Janus (site-a/janus)"
    assert result["data"]["admin_secret"] == ""
    assert result["result"].unique_id == "janus:site-a/janus"
    assert "admin_secret" not in gateways.asked[0][1]


@pytest.mark.usefixtures("mock_setup_entry")
async def test_janus_step_checks_the_secret_on_a_server_with_a_retained_status(
    hass: HomeAssistant, gateways: FakeGateways
) -> None:
    """No server named: the one whose retained status arrives is asked. 403: invalid_auth."""
    gateways.run("gw1", retain_status=True)
    result = await start_user_flow(hass, "janus")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus", "admin_secret": "wrong"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert_translated(result, described=False)
    assert [server for server, _body in gateways.asked] == ["gw1"]
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus", "admin_secret": "s3cret"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["admin_secret"] == "s3cret"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_janus_step_with_no_server_answering(
    hass: HomeAssistant, gateways: FakeGateways
) -> None:
    """Nobody answers within the bound: cannot_connect, and the typed values stay."""
    with patch.object(validate, "VALIDATE_TIMEOUT", 0.2):
        result = await start_user_flow(hass, "janus")
        user_input = {"base_topic": "janus", "admin_secret": "s3cret", "servers": ["gw9"]}
        result = await hass.config_entries.flow.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    assert_translated(result, described=False)
    assert suggested_values(result)["servers"] == ["gw9"]
    assert not hass.config_entries.async_entries(DOMAIN)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_janus_step_refuses_unsafe_server_names(
    hass: HomeAssistant, gateways: FakeGateways
) -> None:
    result = await start_user_flow(hass, "janus")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus", "servers": ["gw1", "a/b"]}
    )
    assert result["errors"] == {"servers": "servers_invalid"}
    assert_translated(result, described=False)
    assert gateways.asked == []


@pytest.mark.usefixtures("mock_setup_entry")
async def test_janus_step_accepts_an_answer_that_is_no_403(
    hass: HomeAssistant, gateways: FakeGateways
) -> None:
    """457 says nothing of the secret: the entry is made, its repair issue explains."""
    gateways.run("gw1")
    gateways.reply_code = 457
    result = await start_user_flow(hass, "janus")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus", "admin_secret": "s3cret", "servers": ["gw1"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_janus_step_while_a_discovery_waits(
    hass: HomeAssistant, gateways: FakeGateways, mock_setup_entry: AsyncMock
) -> None:
    """A gateway's status opened a discovery: adding the same base by hand still works."""
    gateways.run("gw1", retain_status=True)
    discovered = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(JANUS_STATUS, "online", JANUS_SUBSCRIBED),
    )
    assert discovered["step_id"] == "discovery_confirm"
    result = await start_user_flow(hass, "janus")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "janus", "admin_secret": "s3cret"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["admin_secret"] == "s3cret"
    await hass.async_block_till_done()
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("family", ["janus"])
@pytest.mark.parametrize(
    ("base", "error"),
    [
        ("", "base_topic_empty"),
        ("   ", "base_topic_empty"),
        ("/janus", "base_topic_edge_slash"),
        ("janus/", "base_topic_edge_slash"),
        ("site//janus", "base_topic_empty_level"),
        ("janus/+", "base_topic_wildcard"),
        ("janus/#", "base_topic_wildcard"),
        ("ja\x00nus", "base_topic_control_character"),
        ("j" * 40000, "base_topic_too_long"),
    ],
)
async def test_invalid_base_then_recover(
    hass: HomeAssistant, gateways: FakeGateways, family: str, base: str, error: str
) -> None:
    gateways.secret = None
    gateways.run("gw1", "ok/base", retain_status=True)
    result = await start_user_flow(hass, family)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == family
    assert result["errors"] == {"base_topic": error}
    assert_translated(result, described=False)
    assert suggested_values(result)["base_topic"] == base  # what the user typed stays
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "ok/base"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["base_topic"] == "ok/base"


@pytest.mark.usefixtures("mqtt_mock", "mock_setup_entry")
@pytest.mark.parametrize(
    ("existing", "family", "base"),
    [
        (janus_entry(), "janus", "janus"),
    ],
)
async def test_duplicate_base_is_refused(
    hass: HomeAssistant, existing: MockConfigEntry, family: str, base: str
) -> None:
    existing.add_to_hass(hass)
    result = await start_user_flow(hass, family)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["errors"] == {"base_topic": "base_topic_in_use"}
    assert hass.config_entries.async_entries(DOMAIN) == [existing]


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("existing", "family", "base"),
    [
        (janus_entry("janus"), "janus", "janus/lab"),
        (janus_entry("janus/lab"), "janus", "janus"),
    ],
)
async def test_overlapping_base_of_the_same_family(
    hass: HomeAssistant, gateways: FakeGateways, existing: MockConfigEntry, family: str, base: str
) -> None:
    existing.add_to_hass(hass)
    gateways.secret = None
    gateways.run("gw1", f"{existing.data['base_topic']}-2", retain_status=True)
    result = await start_user_flow(hass, family)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"base_topic": base})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base_topic": "base_topic_overlaps"}
    assert_translated(result, described=False)
    # A sibling of the existing base is fine.
    sibling = f"{existing.data['base_topic']}-2"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": sibling}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


# --- MQTT discovery ---------------------------------------------------------------------


def test_manifest_lists_the_discovery_topic() -> None:
    manifest = json.loads((Path(config_flow.__file__).parent / "manifest.json").read_text("utf-8"))
    assert JANUS_SUBSCRIBED in manifest["mqtt"]


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    "payload", ['{"online": true}', "online", b'{"online":false}', "true", "OFFLINE"]
)
async def test_janus_discovery_asks_for_the_secret(
    hass: HomeAssistant, gateways: FakeGateways, payload: str | bytes
) -> None:
    """The secret is checked on the server; the entry keeps that server as a known one."""
    gateways.run("gw1", retain_status=True)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(JANUS_STATUS, payload, JANUS_SUBSCRIBED),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert fields(result) == ["admin_secret", "servers"]
    assert result["description_placeholders"] == {
        "family": "Janus",
        "base_topic": "janus",
        "device": "gw1",
    }
    assert_translated(result, described=False)
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["unique_id"] == "janus:janus"
    assert flow["context"]["title_placeholders"] == {"name": "Janus"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "wrongsecret"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert_translated(result, described=False)
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "s3cret"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Janus"
    assert result["data"]["admin_secret"] == "s3cret"
    assert result["options"] == JANUS_OPTIONS | {"servers": ["gw1"]}
    assert result["result"].source == SOURCE_MQTT


@pytest.mark.usefixtures("mock_setup_entry")
async def test_janus_discovery_without_a_secret(
    hass: HomeAssistant, gateways: FakeGateways
) -> None:
    gateways.secret = None
    gateways.run("gw1", retain_status=True)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(JANUS_STATUS, "online", JANUS_SUBSCRIBED),
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["admin_secret"] == ""


@pytest.mark.usefixtures("mock_setup_entry")
async def test_janus_discovery_checks_the_secret_on_a_server_without_retained_status(
    hass: HomeAssistant, gateways: FakeGateways
) -> None:
    gateways.run("gw1")
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(JANUS_STATUS, "online", JANUS_SUBSCRIBED),
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "wrongsecret"}
    )
    assert result["errors"] == {"base": "invalid_auth"}


async def test_discovered_server_is_a_device_of_the_new_entry(
    hass: HomeAssistant, gateways: FakeGateways, loaded: Any
) -> None:
    """The entry made from discovery has the discovered server at once, before any poll."""
    gateways.run("gw1", retain_status=True)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(JANUS_STATUS, "online", JANUS_SUBSCRIBED),
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "s3cret"}
    )
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert "gw1" in entry.runtime_data.devices
    assert device_by_identifier(dr.async_get(hass), f"{entry.entry_id}/gw1") is not None


@pytest.mark.parametrize(
    ("topic", "payload", "subscribed"),
    [
        pytest.param(JANUS_STATUS, "maybe", JANUS_SUBSCRIBED, id="janus-word"),
        pytest.param(JANUS_STATUS, '{"online": "yes"}', JANUS_SUBSCRIBED, id="janus-type"),
        pytest.param(JANUS_STATUS, "{}", JANUS_SUBSCRIBED, id="janus-empty-object"),
        pytest.param(JANUS_STATUS, "", JANUS_SUBSCRIBED, id="janus-cleared"),
        pytest.param(JANUS_STATUS, b"\xff\xfe", JANUS_SUBSCRIBED, id="janus-binary"),
        pytest.param(JANUS_STATUS, "[true]", JANUS_SUBSCRIBED, id="janus-array"),
        pytest.param(JANUS_STATUS, "ONLINE", "janus/+/metrics", id="unknown-subscription"),
        pytest.param(
            "janus/gw1/from-janus-admin",
            '{"janus": "success", "transaction": "x"}',
            JANUS_SUBSCRIBED,
            id="janus-not-a-status",
        ),
    ],
)
async def test_invalid_discovery_aborts(
    hass: HomeAssistant, topic: str, payload: str | bytes, subscribed: str
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload, subscribed)
    )
    assert result["reason"] == "invalid_discovery_info"
    assert_abort_translated(result)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    ("existing", "topic", "payload", "subscribed"),
    [
        (janus_entry(), JANUS_STATUS, "online", JANUS_SUBSCRIBED),
    ],
)
async def test_discovery_of_a_configured_base_aborts(
    hass: HomeAssistant, existing: MockConfigEntry, topic: str, payload: str, subscribed: str
) -> None:
    existing.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_MQTT}, data=discovery(topic, payload, subscribed)
    )
    assert result["reason"] == "already_configured"
    assert_abort_translated(result)


async def test_second_discovered_server_does_not_open_a_second_flow(
    hass: HomeAssistant,
) -> None:
    first = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery(JANUS_STATUS, "online", JANUS_SUBSCRIBED),
    )
    assert first["type"] is FlowResultType.FORM
    second = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_MQTT},
        data=discovery("janus/gw2/status", "online", JANUS_SUBSCRIBED),
    )
    assert second["reason"] == "already_in_progress"
    assert_abort_translated(second)


@pytest.mark.usefixtures("mqtt_mock")
@pytest.mark.parametrize(
    ("topic", "payload", "unique_id", "device"),
    [
        (JANUS_STATUS, '{"online": true}', "janus:janus", "gw1"),
    ],
)
async def test_discovery_through_ha_mqtt(
    hass: HomeAssistant, topic: str, payload: str, unique_id: str, device: str
) -> None:
    async_fire_mqtt_message(hass, topic, payload, retain=True)
    await hass.async_block_till_done()
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["step_id"] == "discovery_confirm"
    assert flow["context"]["source"] == SOURCE_MQTT
    assert flow["context"]["unique_id"] == unique_id
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["description_placeholders"]["device"] == device


# --- reauth -----------------------------------------------------------------------------


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reauth_flow(hass: HomeAssistant, gateways: FakeGateways) -> None:
    """The new secret is checked before it is saved: a wrong one is refused inline."""
    gateways.secret = "n3w"
    gateways.run("gw1", retain_status=True)
    entry = janus_entry()
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert fields(result) == ["admin_secret"]
    assert result["description_placeholders"] == {"name": "Janus (janus)"}
    assert_translated(result, described=False)
    description = TRANSLATIONS["config"]["step"]["reauth_confirm"]["description"]
    assert "{name}" in description
    with pytest.raises(InvalidData):  # the secret is required here
        await hass.config_entries.flow.async_configure(result["flow_id"], {})

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "wrongsecret"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "invalid_auth"}
    assert_translated(result, described=False)
    assert entry.data["admin_secret"] == "s3cret"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "n3w"}
    )
    assert result["reason"] == "reauth_successful"
    assert_abort_translated(result)
    assert dict(entry.data) == {"family": "janus", "base_topic": "janus", "admin_secret": "n3w"}
    assert dict(entry.options) == JANUS_OPTIONS
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_reauth_of_a_loaded_entry_does_not_reload_it(
    hass: HomeAssistant, loaded: Any, gateways: FakeGateways
) -> None:
    """The entry's own server checks the secret (no status retained, none typed)."""
    gateways.run("gw1")
    entry = await loaded(janus_entry(servers=["gw1"]))
    hub: JanusHub = entry.runtime_data
    gateways.secret = "n3w"
    result = await entry.start_reauth_flow(hass)
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "s3cret"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"admin_secret": "n3w"}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data is hub
    assert hub.entry.data["admin_secret"] == "n3w"


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(janus_entry(servers=["gw1"]), id="options"),
        pytest.param(janus_entry(data_servers=["gw1"]), id="data"),
    ],
)
async def test_reconfigure_to_a_new_base_asks_the_entry_servers(
    hass: HomeAssistant, gateways: FakeGateways, entry: MockConfigEntry
) -> None:
    """No status retained, none typed: the entry's own known servers check the secret."""
    gateways.run("gw1", base="site2/janus")
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site2/janus", "admin_secret": "wrongsecret"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": "site2/janus", "admin_secret": "s3cret"}
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["base_topic"] == "site2/janus"
    assert gateways.asked[-1][0] == "gw1"


# --- options ----------------------------------------------------------------------------


async def test_janus_options_form(hass: HomeAssistant, loaded: Any) -> None:
    entry = await loaded(janus_entry(servers=["gw1"], poll_interval=15))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "janus"
    assert fields(result) == [
        "offline_timeout",
        "stale_device_days",
        "poll_interval",
        "servers",
        *ADMISSION_DEFAULTS,
    ]
    assert suggested_values(result) == ADMISSION_DEFAULTS | {
        "offline_timeout": 60,
        "stale_device_days": 30,
        "poll_interval": 15,
        "servers": ["gw1"],
    }
    assert_translated(result, "options", described=False)


@pytest.mark.parametrize("seconds", [1, 3601, 0, -5, 1.9])
async def test_janus_poll_interval_out_of_range(
    hass: HomeAssistant, loaded: Any, seconds: float
) -> None:
    entry = await loaded(janus_entry())
    hub = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    with pytest.raises(InvalidData) as err:
        await hass.config_entries.options.async_configure(
            result["flow_id"], {"offline_timeout": 60, "poll_interval": seconds, "servers": []}
        )
    assert "poll_interval" in err.value.schema_errors
    assert dict(entry.options) == JANUS_OPTIONS
    assert entry.runtime_data is hub


@pytest.mark.parametrize(("timeout", "interval"), [(60, 60), (30, 45)])
async def test_janus_poll_interval_must_be_shorter_than_the_timeout(
    hass: HomeAssistant, loaded: Any, timeout: int, interval: int
) -> None:
    """Sessions would go stale between polls: refused with a clear error."""
    entry = await loaded(janus_entry())
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"offline_timeout": timeout, "poll_interval": interval, "servers": []}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"poll_interval": "poll_interval_too_long"}
    assert dict(entry.options) == JANUS_OPTIONS


@pytest.mark.parametrize("server", ["a/b", "a+b", "#", "gw\x00", "x" * 129])
async def test_janus_unsafe_server_names(hass: HomeAssistant, loaded: Any, server: str) -> None:
    entry = await loaded(janus_entry())
    hub = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    user_input = {"offline_timeout": 60, "poll_interval": 10, "servers": ["gw1", server]}
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"servers": "servers_invalid"}
    assert_translated(result, "options", described=False)
    assert suggested_values(result)["servers"] == ["gw1", server]
    await hass.async_block_till_done()
    assert dict(entry.options) == JANUS_OPTIONS
    assert entry.runtime_data is hub


async def test_janus_options_saved_apply_the_new_values_without_a_reload(
    hass: HomeAssistant, loaded: Any, mqtt_mock: Any
) -> None:
    entry = await loaded(janus_entry())
    old_hub: JanusHub = entry.runtime_data
    assert old_hub.poll_interval == 10
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "offline_timeout": 120.0,
            "stale_device_days": 3.0,
            "poll_interval": 2.0,
            "servers": [" gw1 ", "", "gw2", "gw1", "   ", "gw 3"],
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    expected = {
        "offline_timeout": 120,
        "stale_device_days": 3,
        "poll_interval": 2,
        "servers": ["gw1", "gw2", "gw 3"],
    }
    assert result["data"] == expected
    assert type(result["data"]["poll_interval"]) is int
    assert type(result["data"]["stale_device_days"]) is int
    await hass.async_block_till_done()
    assert dict(entry.options) == expected
    hub: JanusHub = entry.runtime_data
    assert hub is old_hub  # applied in place
    assert hub.poll_interval == 2
    assert hub.offline_timeout == 120
    assert hub.upkeep.stale_after == 3 * 86400
    assert set(hub.devices) == {"gw1", "gw2", "gw 3"}
    registry = dr.async_get(hass)
    assert device_by_identifier(registry, "entry_janus_janus/gw 3") is not None


async def test_janus_options_without_servers(hass: HomeAssistant, loaded: Any) -> None:
    entry = await loaded(janus_entry(servers=["gw1"]))
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"offline_timeout": 60, "poll_interval": 10}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # No servers are filled in; the stale days come from the schema's default.
    expected = {"offline_timeout": 60, "poll_interval": 10, "stale_device_days": 30}
    assert result["data"] == expected
    await hass.async_block_till_done()
    assert entry.runtime_data.options == expected


# --- translations -----------------------------------------------------------------------


def test_translations_of_the_janus_flow() -> None:
    config = TRANSLATIONS["config"]
    entry_fields = {"base_topic", "admin_secret", "servers"}
    assert set(config["step"]["janus"]["data"]) == entry_fields
    assert set(config["step"]["janus"]["data_description"]) == entry_fields
    for step in ("discovery_confirm", "reconfigure"):
        for key in ("admin_secret", "servers"):
            assert config["step"][step]["data"][key]
            assert config["step"][step]["data_description"][key]
    assert set(config["step"]["reauth_confirm"]["data"]) == {"admin_secret"}
    for error in ("invalid_auth", "cannot_connect", "servers_invalid"):
        assert config["error"][error], error
    for reason in ABORTS:
        assert config["abort"][reason], reason
    options = TRANSLATIONS["options"]
    for key in ("poll_interval", "servers"):
        assert options["step"]["janus"]["data"][key]
        assert options["step"]["janus"]["data_description"][key]
    assert options["error"]["servers_invalid"]
    exceptions = TRANSLATIONS["exceptions"]
    for key in EXCEPTIONS:
        assert exceptions[key]["message"], key
    sensors = TRANSLATIONS["entity"]["sensor"]
    assert set(sensors["admin_state"]["state"]) == {
        "ok",
        "unauthorized",
        "no_reply",
        "wrong_path",
        "error",
    }
