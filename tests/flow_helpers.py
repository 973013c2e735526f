"""Helpers shared by the config and options flow tests."""

from __future__ import annotations

import time
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.mqtt import MqttServiceInfo
import probatio as vol

from custom_components.mqtt_fleet.const import DOMAIN

from .common import TRANSLATIONS


async def start_user_flow(hass: HomeAssistant, family: str) -> dict[str, Any]:
    """Open the user menu, check that it offers `family` with a text, and pick it."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert family in result["menu_options"]
    assert TRANSLATIONS["config"]["step"]["user"]["menu_options"][family]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": family}
    )


def discovery(topic: str, payload: str | bytes, subscribed_topic: str) -> MqttServiceInfo:
    """Build what HA's MQTT discovery hands to async_step_mqtt."""
    return MqttServiceInfo(
        topic=topic,
        payload=payload,
        qos=0,
        retain=False,
        subscribed_topic=subscribed_topic,
        timestamp=time.time(),
    )


def fields(result: dict[str, Any]) -> list[str]:
    """Return the field names of a form, in order."""
    schema: vol.Schema = result["data_schema"]
    return [str(key) for key in schema.schema]


def suggested_values(result: dict[str, Any]) -> dict[str, Any]:
    """Return {field: suggested value} of a form's schema."""
    schema: vol.Schema = result["data_schema"]
    return {str(key): (key.description or {}).get("suggested_value") for key in schema.schema}


def assert_translated(
    result: dict[str, Any], section: str = "config", *, described: bool = True
) -> None:
    """The step, its fields (and, if `described`, their descriptions) and errors have texts."""
    texts = TRANSLATIONS[section]
    step = texts["step"][result["step_id"]]
    assert step["title"]
    for field in fields(result):
        assert step["data"][field], field
        if described:
            assert step["data_description"][field], field
    for error in (result.get("errors") or {}).values():
        assert texts["error"][error], error


def assert_abort_translated(result: dict[str, Any]) -> None:
    """The flow aborted with a reason that has a text."""
    assert result["type"] is FlowResultType.ABORT
    assert TRANSLATIONS["config"]["abort"][result["reason"]]
