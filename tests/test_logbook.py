"""Logbook lines for our events, named after the device."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import Event, HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet import logbook
from custom_components.mqtt_fleet.const import (
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)
from custom_components.mqtt_fleet.families.autocore.hub import EVENT_SYSTEM_MESSAGE


@pytest.fixture
def describers(hass: HomeAssistant) -> dict[str, Callable[[Event], dict[str, str]]]:
    found: dict[str, Callable[[Event], dict[str, str]]] = {}

    def register(domain: str, event_type: str, describe: Callable[[Event], dict[str, str]]) -> None:
        assert domain == DOMAIN
        found[event_type] = describe

    logbook.async_describe_events(hass, register)
    return found


@pytest.fixture
def device_id(hass: HomeAssistant) -> str:
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "x/ESP32_001")}, name="ESP32_001"
    )
    dr.async_get(hass).async_update_device(device.id, name_by_user="Kitchen board")
    return device.id


@pytest.mark.parametrize(
    ("event_type", "data", "message"),
    [
        (EVENT_DEVICE_DISCOVERED, {"family": "autocore"}, "was discovered (autocore)"),
        (
            EVENT_SYSTEM_MESSAGE,
            {"kind": "safety_shutoff", "reason": "overcurrent"},
            "reported safety_shutoff: overcurrent",
        ),
        (
            EVENT_SYSTEM_MESSAGE,
            {"kind": "error", "error_type": "sensor_fault"},
            "reported error: sensor_fault",
        ),
        (EVENT_SYSTEM_MESSAGE, {"kind": "boot"}, "reported boot"),
    ],
)
async def test_descriptions(
    hass: HomeAssistant,
    describers: dict[str, Callable[[Event], dict[str, str]]],
    device_id: str,
    event_type: str,
    data: dict[str, Any],
    message: str,
) -> None:
    event = Event(event_type, {**data, "device_id": device_id, "device": "ESP32_001"})
    assert describers[event_type](event) == {"name": "Kitchen board", "message": message}


def test_online_and_offline_are_not_described(
    describers: dict[str, Callable[[Event], dict[str, str]]],
) -> None:
    """The connectivity entity's state change is the logbook entry of an edge."""
    assert EVENT_DEVICE_ONLINE not in describers
    assert EVENT_DEVICE_OFFLINE not in describers


async def test_a_removed_device_is_named_by_its_own_id(
    hass: HomeAssistant, describers: dict[str, Callable[[Event], dict[str, str]]]
) -> None:
    event = Event(EVENT_DEVICE_DISCOVERED, {"device_id": "gone", "device": "janus-01"})
    assert describers[EVENT_DEVICE_DISCOVERED](event) == {
        "name": "janus-01",
        "message": "was discovered (unknown)",
    }
