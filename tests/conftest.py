"""Shared fixtures for the MQTT Fleet tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
import os
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.components.mqtt.models import DATA_MQTT
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from hypothesis import settings
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import MqttMockHAClient
from syrupy.assertion import SnapshotAssertion

# Import before the `hass` fixture runs: otherwise HA's loader binds `custom_components`
# to the test plugin's own testing_config and reports "Integration not found".
import custom_components.mqtt_fleet  # noqa: F401
from custom_components.mqtt_fleet.config_flow import default_options
from custom_components.mqtt_fleet.const import CONF_BASE_TOPIC, CONF_FAMILY, DOMAIN, Family

from .report import Reliability

# CI runs the same examples every time (a failure can be rerun); HYPOTHESIS_PROFILE=explore
# draws new ones.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

type Fire = Callable[[str, str | bytes], Coroutine[Any, Any, None]]


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/mqtt_fleet in every test."""


@pytest.fixture
async def mqtt_mock(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> AsyncGenerator[Any]:
    """HA's mocked MQTT client, with its timers stopped at the end of the test.

    The mocked paho client never closes its socket, which is what stops the misc timer.
    Our entries are unloaded first, so their unsubscribes do not arm the unsubscribe
    cooldown after the check for lingering timers has begun.
    """
    yield mqtt_mock
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            await hass.config_entries.async_unload(entry.entry_id)
    client = hass.data[DATA_MQTT].client
    if client._misc_timer is not None:
        client._misc_timer.cancel()
    client._subscribe_debouncer._async_cancel_timer()
    client._unsubscribe_debouncer._async_cancel_timer()


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialize HA objects (states, registry entries) without volatile ids and times."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities that are disabled by default as enabled (as HA core's tests do)."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def config_entry() -> MockConfigEntry:
    """An AutoCore entry under the default base topic."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="AutoCore (autocore)",
        data={CONF_FAMILY: Family.AUTOCORE.value, CONF_BASE_TOPIC: "autocore"},
        options=default_options(Family.AUTOCORE),
        unique_id="autocore:autocore",
        version=1,
        minor_version=1,
    )


@pytest.fixture
async def setup_entry(
    hass: HomeAssistant, mqtt_mock: Any, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set up MQTT (mocked client) and the AutoCore entry."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
def fire(hass: HomeAssistant) -> Fire:
    """Deliver one MQTT message through HA's MQTT layer and let HA settle."""

    async def _fire(topic: str, payload: str | bytes) -> None:
        async_fire_mqtt_message(hass, topic, payload)
        await hass.async_block_till_done()

    return _fire


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Reliability:
    """Record this test's row of RELIABILITY.md (tests/report.py)."""
    return Reliability(request.node.nodeid)
