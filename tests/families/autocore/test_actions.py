"""The send_command action: validation, device resolution and the published command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import yaml

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.autocore import actions
from custom_components.mqtt_fleet.families.autocore.actions import SERVICE_SEND_COMMAND
from custom_components.mqtt_fleet.families.autocore.hub import LAYOUT_MODELS
from custom_components.mqtt_fleet.protocol.autocore import Layout

from ...common import Fire, device_by_identifier, publishes
from .helpers import BOARD_B, status_a, status_b


def _device_id(hass: HomeAssistant, identifier: str) -> str:
    device = device_by_identifier(dr.async_get(hass), identifier)
    assert device is not None
    return device.id


async def _send(hass: HomeAssistant, data: dict[str, Any]) -> None:
    await hass.services.async_call(DOMAIN, SERVICE_SEND_COMMAND, data, blocking=True)


@pytest.mark.parametrize("command", ["status", "reboot", "reset"])
async def test_send_command_to_firmware_v2(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire, command: str
) -> None:
    """A v2 board gets the command on its commands topic at QoS 1."""
    await fire("autocore/devices/board-b1/status", status_b())
    mqtt_mock.async_publish.reset_mock()
    await _send(
        hass,
        {"device_id": _device_id(hass, "entry_autocore_autocore/board-b1"), "command": command},
    )
    assert publishes(mqtt_mock) == [
        (
            f"autocore/devices/board-b1/commands/{command}",
            f'{{"protocol_version":"2.2","command":"{command}"}}'.encode(),
            1,
            False,
        )
    ]


async def test_layout_a_board_takes_no_commands(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """Layout A defines no command topic: a clear validation error, nothing published."""
    await fire("autocore/ESP32_001/status", status_a())
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(ServiceValidationError) as error:
        await _send(
            hass,
            {
                "device_id": _device_id(hass, "entry_autocore_autocore/ESP32_001"),
                "command": "reboot",
            },
        )
    assert error.value.translation_key == "command_not_supported"
    assert error.value.translation_placeholders == {"device": "ESP32_001", "command": "reboot"}
    mqtt_mock.async_publish.assert_not_called()


@pytest.mark.parametrize(
    ("data", "key"),
    [
        pytest.param({"device_id": "nope", "command": "status"}, "device_not_found", id="unknown"),
        pytest.param({"command": "status"}, "invalid_action_data", id="missing-device"),
        pytest.param({"device_id": ["x"], "command": "status"}, "invalid_action_data", id="list"),
        pytest.param({"device_id": "x", "command": "ota"}, "invalid_action_data", id="command"),
        pytest.param({"device_id": "x", "command": 3}, "invalid_action_data", id="type"),
    ],
)
async def test_bad_action_data(
    hass: HomeAssistant, setup_entry: MockConfigEntry, data: dict[str, Any], key: str
) -> None:
    """Bad input raises a translated ServiceValidationError."""
    with pytest.raises(ServiceValidationError) as error:
        await _send(hass, data)
    assert error.value.translation_key == key


async def test_hub_device_and_unloaded_entry_are_not_fleet_devices(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The hub itself and boards of an unloaded entry cannot take commands."""
    await fire("autocore/devices/board-b1/status", status_b())
    hub_device = _device_id(hass, "entry_autocore_autocore")
    board = _device_id(hass, "entry_autocore_autocore/board-b1")
    with pytest.raises(ServiceValidationError) as error:
        await _send(hass, {"device_id": hub_device, "command": "status"})
    assert error.value.translation_key == "device_not_found"
    assert await hass.config_entries.async_unload(setup_entry.entry_id)
    with pytest.raises(ServiceValidationError) as error:
        await _send(hass, {"device_id": board, "command": "status"})
    assert error.value.translation_key == "device_not_found"


async def test_send_command_takes_the_boards_own_id_too(
    hass: HomeAssistant, setup_entry: MockConfigEntry, mqtt_mock: Any, fire: Fire
) -> None:
    """YAML may name the board by its uuid rather than by the device selector's id."""
    await fire("autocore/devices/board-b1/status", status_b(board_id=1))
    mqtt_mock.async_publish.reset_mock()
    await _send(hass, {"device_id": BOARD_B, "command": "status"})
    assert [topic for topic, *_ in publishes(mqtt_mock)] == [
        "autocore/devices/board-b1/commands/status"
    ]


def test_the_device_selector_offers_firmware_v2_boards() -> None:
    """The selector filters on the registry model firmware v2 boards get."""
    services = yaml.safe_load(
        (Path(actions.__file__).parents[2] / "services.yaml").read_text("utf-8")
    )
    selector = services[SERVICE_SEND_COMMAND]["fields"]["device_id"]["selector"]["device"]
    assert selector == {
        "filter": {"integration": DOMAIN, "model": LAYOUT_MODELS[Layout.FIRMWARE_V2]}
    }
