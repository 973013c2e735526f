"""Device triggers: what a family adds (display use for AutoCore), per registry model.

Online and offline are no longer offered (the connectivity entity has state triggers), but
automations that use them still attach.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
    async_mock_service,
)

from custom_components.mqtt_fleet import device_trigger
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES

from .common import Fire, default_options, device_by_identifier, dumps, entry_id_for
from .families.autocore.helpers import BOARD_A, status_a

INTERACTION = {"screen": "main", "element": "button_1", "action": "press"}


def board(hass: HomeAssistant, device_id: str = BOARD_A) -> dr.DeviceEntry:
    device = device_by_identifier(dr.async_get(hass), f"entry_autocore_autocore/{device_id}")
    assert device is not None
    return device


def registry_device(hass: HomeAssistant, family: str, base: str, identifier: str) -> str:
    """Add an (unloaded) entry of `family` and a registry device under it; return its id."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"{family}:{base}",
        entry_id=entry_id_for(f"{family}:{base}"),
        data={"family": family, "base_topic": base},
        options=default_options(family),
    )
    entry.add_to_hass(hass)
    return (
        dr.async_get(hass)
        .async_get_or_create(config_entry_id=entry.entry_id, identifiers={(DOMAIN, identifier)})
        .id
    )


async def fleet_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """Our device triggers (entity platforms such as sensor add their own)."""
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, device_id)
    return [trigger for trigger in triggers if trigger["domain"] == DOMAIN]


def expected(device_id: str, *types: str) -> list[dict[str, Any]]:
    return [
        {
            "platform": "device",
            "domain": DOMAIN,
            "device_id": device_id,
            "type": kind,
            "metadata": {},
        }
        for kind in types
    ]


@pytest.fixture
def calls(hass: HomeAssistant) -> list[ServiceCall]:
    return async_mock_service(hass, "test", "automation")


async def test_autocore_board_triggers(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    await fire(f"autocore/{BOARD_A}/status", status_a())
    device_id = board(hass).id
    triggers = await fleet_triggers(hass, device_id)
    assert triggers == expected(device_id, "display_interaction")


async def test_hubs_have_no_triggers(hass: HomeAssistant, setup_entry: MockConfigEntry) -> None:
    hub = device_by_identifier(dr.async_get(hass), "entry_autocore_autocore")
    assert hub is not None
    assert await fleet_triggers(hass, hub.id) == []


@pytest.mark.parametrize(
    ("family", "base", "identifier"),
    [
        ("janus", "janus", "entry_janus_janus/janus-01"),
        ("spotfi", "spotfi/router", "entry_spotfi_spotfi_router/r1"),
        ("container_logs", "logs", "entry_container_logs_logs/1:web"),
    ],
)
async def test_online_and_offline_are_not_offered(
    hass: HomeAssistant, mqtt_mock: Any, family: str, base: str, identifier: str
) -> None:
    """The connectivity entity's own triggers say it; ours would be duplicates."""
    device_id = registry_device(hass, family, base, identifier)
    kinds = {trigger["type"] for trigger in await fleet_triggers(hass, device_id)}
    assert kinds == set(FAMILIES[family].trigger_events)
    assert not kinds & {"online", "offline"}


@pytest.mark.parametrize(
    ("model", "offered"),
    [("plain", []), ("with display", ["display_interaction"]), (None, [])],
)
def test_a_family_offers_triggers_per_model(model: str | None, offered: list[str]) -> None:
    spec = replace(
        FAMILIES["autocore"],
        triggers_for_model=lambda model: ["display_interaction"] if model == "with display" else [],
    )
    assert device_trigger.device_triggers(spec, model) == offered
    assert device_trigger.device_triggers(replace(spec, triggers_for_model=None), model) == list(
        spec.trigger_events
    )


async def test_triggers_fire_for_their_device_only(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire, calls: list[ServiceCall]
) -> None:
    """Online and offline, no longer offered, still attach for the automations using them."""
    await fire(f"autocore/{BOARD_A}/status", status_a())
    await fire("autocore/ESP32_002/status", status_a())
    device_id = board(hass).id
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "trigger": {
                        "platform": "device",
                        "domain": DOMAIN,
                        "device_id": device_id,
                        "type": kind,
                    },
                    "action": {
                        "action": "test.automation",
                        "data_template": {"kind": kind, "data": "{{ trigger.event.data }}"},
                    },
                }
                for kind in ("online", "offline", "display_interaction")
            ]
        },
    )
    await fire("autocore/ESP32_002/status", status_a("offline"))
    await fire("autocore/ESP32_002/display/interaction", dumps(INTERACTION))
    assert calls == []

    await fire(f"autocore/{BOARD_A}/status", status_a("offline"))
    await fire(f"autocore/{BOARD_A}/status", status_a())
    await fire(f"autocore/{BOARD_A}/display/interaction", dumps(INTERACTION))
    assert [call.data["kind"] for call in calls] == ["offline", "online", "display_interaction"]
    assert calls[2].data["data"] == {
        **INTERACTION,
        "device_id": device_id,
        "device": BOARD_A,
        "family": "autocore",
    }


async def test_unknown_device_has_no_triggers(hass: HomeAssistant, mqtt_mock: Any) -> None:
    assert await device_trigger.async_get_triggers(hass, "not-a-device") == []


async def test_another_integrations_device_has_none(hass: HomeAssistant, mqtt_mock: Any) -> None:
    other = MockConfigEntry(domain="other")
    other.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other", "x")}
    )
    assert await device_trigger.async_get_triggers(hass, device.id) == []
