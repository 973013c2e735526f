"""Input checks every family's actions share: friendly, translated messages."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
import probatio as vol
import pytest

from custom_components.mqtt_fleet.actions import QOS, TEXT, number, validate
from custom_components.mqtt_fleet.const import DOMAIN

from .common import TRANSLATIONS

SCHEMA = vol.Schema(
    {
        vol.Required("command"): vol.All(TEXT, vol.Length(min=1, max=10)),
        vol.Optional("relay"): number(int, 0, 15),
        vol.Optional("qos"): QOS,
        vol.Optional("level"): vol.In(["info", "warn"]),
        vol.Optional("source_name"): vol.All(TEXT, vol.Length(min=1)),
    }
)


def error_of(hass: HomeAssistant, data: dict[str, Any]) -> str:
    """The {error} placeholder of the message a call with `data` gets."""
    call = ServiceCall(hass, DOMAIN, "send", data)
    with pytest.raises(ServiceValidationError) as err:
        validate(SCHEMA, call)
    assert err.value.translation_key == "invalid_action_data"
    assert TRANSLATIONS["exceptions"]["invalid_action_data"]["message"]
    placeholders = err.value.translation_placeholders or {}
    assert placeholders["action"] == "send"
    return str(placeholders["error"])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"command": ""}, "command must not be empty and have at most 10 characters"),
        ({}, "command is required"),
        ({"command": "x", "relay": 16}, "relay must be a number from 0 to 15"),
        ({"command": "x", "relay": "two"}, "relay must be a number from 0 to 15"),
        ({"command": "x", "qos": 3}, "qos must be one of: 0, 1, 2"),
        ({"command": "x", "level": "loud"}, "level must be one of: info, warn"),
        ({"command": "x", "source_name": ""}, "source name must not be empty"),
        ({"command": "x", "colour": "red"}, "colour is not a field of this action"),
        ({"command": True}, "command is not valid: expected text or a number, not true/false"),
    ],
)
async def test_messages_name_the_field_and_say_what_it_must_be(
    hass: HomeAssistant, data: dict[str, Any], error: str
) -> None:
    assert error_of(hass, data) == error


async def test_every_problem_is_named(hass: HomeAssistant) -> None:
    error = error_of(hass, {"command": "", "relay": 99})
    assert set(error.split("; ")) == {
        "command must not be empty and have at most 10 characters",
        "relay must be a number from 0 to 15",
    }
    assert "dictionary value" not in error
    assert "@ data" not in error
