"""Bad input: counted, kept as a dead letter, logged rate-limited; never raised or wiping."""

from __future__ import annotations

from datetime import timedelta
import logging
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from .common import dumps, relay_a, telemetry_a
from .conftest import Fire

TEMPERATURE = "sensor.esp32_001_temperature"

BAD_TELEMETRY = [
    pytest.param(b"{not json", "invalid JSON", id="invalid-json"),
    pytest.param(b'{"temperature": true}', "temperature: expected a number", id="bool"),
    pytest.param(b'{"temperature": {"c": 30}}', "temperature: expected a number", id="object"),
    pytest.param(b'{"temperature": NaN}', "NaN or Infinity", id="nan"),
    pytest.param(b'{"temperature": -Infinity}', "NaN or Infinity", id="infinity"),
    pytest.param(b'{"temperature": 1e400}', "NaN or Infinity", id="overflow"),
    pytest.param(b'{"temperature": "30.1"}', "number sent as a string", id="string-number"),
    pytest.param(
        b'{"temperature": 30, "pad": "' + b"x" * 65536 + b'"}', "exceeds 64 KiB", id="oversized"
    ),
    pytest.param(b'{"temperature": 3\xff0}', "not valid UTF-8", id="non-utf8"),
    pytest.param(b"[25.0]", "expected a JSON object", id="array"),
]


def _our_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and record.name == "custom_components.mqtt_fleet"
    ]


@pytest.mark.parametrize(("payload", "reason"), BAD_TELEMETRY)
async def test_bad_telemetry_is_counted_and_keeps_the_good_value(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire, payload: bytes, reason: str
) -> None:
    """Every bad variant of the general rules: counted once, good value kept."""
    hub = setup_entry.runtime_data
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get(TEMPERATURE).state == "25.6"

    await fire("autocore/ESP32_001/telemetry", payload)
    assert hass.states.get(TEMPERATURE).state == "25.6"
    assert hub.messages_received == 2
    assert hub.invalid_messages == 1
    (letter,) = hub.dead_letters
    assert letter.topic == "autocore/ESP32_001/telemetry"
    assert reason in letter.reason
    assert len(letter.payload.encode()) <= 512 * 3  # cut to 512 bytes, then decoded


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "a+b", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="wildcard-in-uuid",
        ),
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "a/b", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="slash-in-uuid",
        ),
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "a\u0000b", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="nul-in-uuid",
        ),
        pytest.param(
            "autocore/telemetry/relays/data",
            dumps({"uuid": "", "event": "relay_change", "channel": 1, "state": True}),
            "uuid",
            id="empty-uuid",
        ),
        pytest.param(
            "autocore/ESP32_001/relay/01/status", relay_a(1, True), "relay index", id="index"
        ),
    ],
)
async def test_unsafe_ids_never_become_devices(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    mqtt_mock: object,
    fire: Fire,
    topic: str,
    payload: str,
    reason: str,
) -> None:
    """Ids with + # / NUL or empty ids are refused before any device or topic is made."""
    hub = setup_entry.runtime_data
    await fire(topic, payload)
    assert hub.devices == {}
    assert hub.invalid_messages == 1
    assert reason in hub.dead_letters[0].reason


async def test_partly_bad_message_applies_its_good_fields(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """One bad field makes the message invalid, but the other fields still apply."""
    hub = setup_entry.runtime_data
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    await fire("autocore/ESP32_001/telemetry", dumps({"temperature": "30", "humidity": 50.5}))
    assert hass.states.get(TEMPERATURE).state == "25.6"
    assert hass.states.get("sensor.esp32_001_humidity").state == "50.5"
    assert hub.invalid_messages == 1
    assert hub.dead_letters[0].reason == "temperature: number sent as a string"


async def test_bad_relay_status_keeps_the_relay_state(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """A relay status without a boolean state changes nothing."""
    await fire("autocore/ESP32_001/relay/0/status", relay_a(0, False))
    await fire("autocore/ESP32_001/relay/0/status", dumps({"state": "on"}))
    assert hass.states.get("switch.esp32_001_relay_0").state == STATE_OFF
    assert setup_entry.runtime_data.invalid_messages == 1


async def test_invalid_messages_are_logged_rate_limited(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One warning per minute at most; the next one says how many were suppressed."""
    caplog.set_level(logging.WARNING, logger="custom_components.mqtt_fleet")
    for _ in range(5):
        await fire("autocore/ESP32_001/telemetry", "garbage")
    warnings = _our_warnings(caplog)
    assert len(warnings) == 1
    assert "Ignored invalid message on autocore/ESP32_001/telemetry" in warnings[0].getMessage()

    freezer.tick(timedelta(seconds=61))
    async_fire_time_changed(hass)
    await fire("autocore/ESP32_001/telemetry", "garbage")
    warnings = _our_warnings(caplog)
    assert len(warnings) == 2
    assert "(4 more invalid messages since the last report)" in warnings[1].getMessage()


async def test_dead_letters_keep_the_last_50_and_cut_payloads(
    hass: HomeAssistant, setup_entry: MockConfigEntry, fire: Fire
) -> None:
    """The dead-letter queue is bounded and payloads are cut to 512 bytes."""
    hub = setup_entry.runtime_data
    for number in range(60):
        await fire("autocore/ESP32_001/telemetry", f"{number:03d}" + "x" * 1000)
    assert hub.invalid_messages == 60
    assert len(hub.dead_letters) == 50
    assert hub.dead_letters[0].payload.startswith("010")
    assert len(hub.dead_letters[-1].payload) == 512


async def test_a_bug_in_handling_is_contained(
    hass: HomeAssistant,
    setup_entry: MockConfigEntry,
    fire: Fire,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected error never reaches HA's MQTT loop: logged, counted, and HA goes on."""
    hub = setup_entry.runtime_data
    with patch.object(type(hub.protocol), "parse", side_effect=RuntimeError("boom")):
        await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hub.invalid_messages == 1
    assert hub.dead_letters[0].reason == "internal error"
    assert "Unexpected error handling a message on autocore/ESP32_001/telemetry" in caplog.text
    await fire("autocore/ESP32_001/telemetry", telemetry_a())
    assert hass.states.get(TEMPERATURE).state == "25.6"
