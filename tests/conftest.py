"""Shared fixtures for the MQTT Fleet tests."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from datetime import timedelta
import logging
import os
from typing import Any
from unittest.mock import AsyncMock, PropertyMock, patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame
from homeassistant.util import dt as dt_util
from hypothesis import settings
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import MqttMockHAClient
from syrupy.assertion import SnapshotAssertion

# Import before the `hass` fixture runs: otherwise HA's loader binds `custom_components`
# to the test plugin's own testing_config and reports "Integration not found".
import custom_components.mqtt_fleet  # noqa: F401
from custom_components.mqtt_fleet.const import DOMAIN

from .common import START, Fire, Loader
from .families.autocore.helpers import autocore_entry
from .report import Reliability

# CI runs the same examples every time (a failure can be rerun); HYPOTHESIS_PROFILE=explore
# draws new ones.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Longer than HA's MQTT subscribe and unsubscribe cooldowns.
MQTT_COOLDOWN_MARGIN = 10


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/mqtt_fleet in every test."""


@pytest.fixture(autouse=True)
def base_topic_heard() -> Generator[None]:
    """Let the user step hear something under any base topic at once.

    The step listens under a new base for up to a few seconds and warns when it heard
    nothing (tests/test_config_flow.py runs that check for real).
    """
    with patch(
        "custom_components.mqtt_fleet.config_flow.async_heard_under", AsyncMock(return_value=True)
    ):
        yield


class _FrameReports(logging.Handler):
    """Collects HA's frame-helper reports about this integration (deprecated API use)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reports: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if f"custom integration '{DOMAIN}'" in (message := record.getMessage()):
            self.reports.append(message)


@pytest.fixture(autouse=True)
def fail_on_deprecated_api() -> Generator[None]:
    """Fail the test when HA reports that this integration uses a deprecated API.

    HA only logs such a report for a custom integration, so a new deprecation would otherwise
    pass unseen until the API is removed.
    """
    handler = _FrameReports()
    logger = logging.getLogger(frame.__name__)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if handler.reports:
        pytest.fail("HA reported deprecated API use:\n" + "\n".join(handler.reports))


@pytest.fixture
async def mqtt_mock(hass: HomeAssistant, mqtt_mock: MqttMockHAClient) -> AsyncGenerator[Any]:
    """HA's mocked MQTT client; our entries are unloaded at the end of the test.

    Unloading also cancels a pending setup retry. It unsubscribes, which arms the MQTT
    client's unsubscribe cooldown; time is then moved past it, so that no MQTT timer is left
    for the check for lingering timers.
    """
    yield mqtt_mock
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            await hass.config_entries.async_unload(entry.entry_id)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=MQTT_COOLDOWN_MARGIN))
    await hass.async_block_till_done()


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
    return autocore_entry()


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
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep created entries from setting up a hub (config flow tests)."""
    with patch("custom_components.mqtt_fleet.async_setup_entry", return_value=True) as mock_setup:
        yield mock_setup


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


@pytest.fixture
def loaded(hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory) -> Loader:
    """Set up entries at a frozen START (after MQTT: it cannot import under a frozen clock)."""
    freezer.move_to(START)

    async def setup(entry: MockConfigEntry) -> MockConfigEntry:
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        return entry

    return setup
