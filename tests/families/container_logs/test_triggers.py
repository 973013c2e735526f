"""Container logs device triggers: a log source logged a warning, or an error."""

from __future__ import annotations

from homeassistant.components import automation
from homeassistant.components.device_automation import (
    DeviceAutomationType,
    async_get_device_automations,
)
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from custom_components.mqtt_fleet.const import DOMAIN

from .helpers import WEB, fire, log, registry_device


@pytest.fixture
def calls(hass: HomeAssistant) -> list[ServiceCall]:
    """The calls of the automations' `test.automation` action."""
    return async_mock_service(hass, "test", "automation")


@pytest.mark.usefixtures("container_logs")
async def test_a_log_source_offers_a_warning_and_an_error_trigger(hass: HomeAssistant) -> None:
    await fire(hass, "1/web/info", log())
    found = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, [registry_device(hass, WEB).id]
    )
    (triggers,) = found.values()
    assert sorted(trigger["type"] for trigger in triggers if trigger["domain"] == DOMAIN) == [
        "logged_error",
        "logged_warning",
    ]


@pytest.mark.usefixtures("container_logs")
async def test_triggers_fire_per_level_for_their_source_only(
    hass: HomeAssistant, calls: list[ServiceCall]
) -> None:
    await fire(hass, "1/web/info", log())
    await fire(hass, "2/db/info", log(serviceId=2001, serviceName="db"))
    device_id = registry_device(hass, WEB).id
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
                        "data_template": {
                            "kind": kind,
                            "first_line": "{{ trigger.event.data.first_line }}",
                        },
                    },
                }
                for kind in ("logged_warning", "logged_error")
            ]
        },
    )
    await fire(hass, "2/db/error", log("db down", "error", serviceId=2001, serviceName="db"))
    await fire(hass, "1/web/info", log("fine"))
    await fire(hass, "1/web/debug", log("details", "debug"))
    assert calls == []

    await fire(hass, "1/web/warn", log("disk 91% full", "warn"))
    await fire(hass, "1/web/error", log("Traceback (most recent call last):\n  boom", "fatal"))
    assert [(call.data["kind"], call.data["first_line"]) for call in calls] == [
        ("logged_warning", "disk 91% full"),
        ("logged_error", "Traceback (most recent call last):…"),
    ]


async def test_a_trigger_keeps_firing_after_a_reload(
    hass: HomeAssistant, calls: list[ServiceCall], container_logs: MockConfigEntry
) -> None:
    """The trigger listens on the bus by device id: the reloaded hub's events reach it."""
    await fire(hass, "1/web/info", log())
    device_id = registry_device(hass, WEB).id
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: {
                "trigger": {
                    "platform": "device",
                    "domain": DOMAIN,
                    "device_id": device_id,
                    "type": "logged_error",
                },
                "action": {"action": "test.automation"},
            }
        },
    )
    assert await hass.config_entries.async_reload(container_logs.entry_id)
    await hass.async_block_till_done()
    await fire(hass, "1/web/error", log("after reload", "error"))
    assert len(calls) == 1
