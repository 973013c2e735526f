"""Admission and scale safety: caps on devices, their rate, known devices only, extra sensors,
flapping devices, log throttles, dropped retained statuses and paced status requests.

Every entry caps what a publisher on its base topic can make Home Assistant create, write
and log; what is refused is counted, kept as a dead letter and reported by one entry issue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import timedelta
import logging
from typing import Any, NamedTuple
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_mqtt_message,
)

from custom_components.mqtt_fleet import admission as admission_module
from custom_components.mqtt_fleet.admission import (
    DEFAULT_MAX_DEVICES,
    DEFAULT_NEW_DEVICES_PER_MINUTE,
    HELD_FOR,
    MAX_DEVICES_LIMIT,
    MAX_NEW_DEVICES_PER_MINUTE_LIMIT,
    Admission,
    DeviceRefused,
    HeldMessage,
    Refusal,
)
from custom_components.mqtt_fleet.const import (
    CONF_KNOWN_DEVICES_ONLY,
    CONF_MAX_DEVICES,
    CONF_NEW_DEVICES_PER_MINUTE,
    CONF_OFFLINE_TIMEOUT,
    DOMAIN,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)
from custom_components.mqtt_fleet.device import FLAP_BURST, FLAP_PERIOD
from custom_components.mqtt_fleet.diagnostics import async_get_config_entry_diagnostics
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.autocore.hub import (
    CONF_MAX_EXTRA_SENSORS,
    STATUS_REQUESTS_PER_SECOND,
)
from custom_components.mqtt_fleet.families.janus.hub import CONF_SERVERS
from custom_components.mqtt_fleet.flow_fields import ADMISSION_DEFAULTS
from custom_components.mqtt_fleet.hub import (
    CONNECTIVITY_LOG_BURST,
    CONNECTIVITY_LOG_PERIOD,
    DISCOVERED_LOG_BURST,
    DISCOVERED_LOG_PERIOD,
)
from custom_components.mqtt_fleet.issues import (
    ADMISSION_PREFIX,
    DEVICES_WAITING,
    RETAINED_DROPPED,
    STATUS_NOT_RETAINED,
    async_raise_entry,
)
from custom_components.mqtt_fleet.throttle import Throttle
from custom_components.mqtt_fleet.upkeep import MANY_MISSING_STATUSES, RETAINED_STATUS_GRACE

from .clock import advance, settle
from .common import Loader, default_options, device_by_identifier, dumps, publishes
from .families.autocore.helpers import autocore_entry, status_a, status_b, telemetry_a
from .families.container_logs.helpers import log, logs_entry
from .families.janus.helpers import janus_entry
from .families.spotfi.helpers import METRICS, spotfi_entry

type Message = tuple[str, str]


class Shows(NamedTuple):
    """An entity of (platform, key) showing `value`: its state, else the attribute named."""

    platform: Platform
    key: str
    value: str
    attribute: str | None = None


LOGGER_NAME = "custom_components.mqtt_fleet"
MAX_DEVICES_ISSUE = f"{ADMISSION_PREFIX}{Refusal.MAX_DEVICES}"
RATE_ISSUE = f"{ADMISSION_PREFIX}{Refusal.NEW_DEVICES_PER_MINUTE}"
EXTRA_SENSORS_ISSUE = f"{ADMISSION_PREFIX}{Refusal.MAX_EXTRA_SENSORS}"
CONNECTIVITY_FAMILIES = [
    family for family in FAMILIES if FAMILIES[family].hub_type.has_connectivity
]


# --- each family's messages -------------------------------------------------------------


def _autocore_id(n: int) -> str:
    return f"ESP32_{n:03d}"


def _container_id(n: int) -> str:
    return f"{n}:svc{n}"


def _container_log(n: int, level: str, text: str) -> Message:
    body = log(text, level, serviceName=f"svc{n}", serviceId=n * 1000 + 1)
    return f"container-manager/logs/{n}/svc{n}/{level}", dumps(body)


@dataclass(frozen=True)
class Fleet:
    """One family's device number `n`: its id, what makes it known and what changes it.

    `first` shows `shown`; `change` then shows `changed`.
    `status` is the family's online/offline status (None: its devices have no connectivity).
    """

    wire_id: Callable[[int], str]
    first: Callable[[int], Message]
    shown: Shows
    change: Callable[[int], Message]
    changed: Shows
    status: Callable[[int, bool], Message] | None


FLEETS: dict[str, Fleet] = {
    "autocore": Fleet(
        wire_id=_autocore_id,
        first=lambda n: (
            f"autocore/{_autocore_id(n)}/status",
            status_a(device_id=_autocore_id(n)),
        ),
        shown=Shows(Platform.SENSOR, "ip_address", "192.168.1.100"),
        change=lambda n: (
            f"autocore/{_autocore_id(n)}/telemetry",
            telemetry_a(device_id=_autocore_id(n), temperature=30.5),
        ),
        changed=Shows(Platform.SENSOR, "temperature", "30.5"),
        status=lambda n, online: (
            f"autocore/{_autocore_id(n)}/status",
            status_a("online" if online else "offline", device_id=_autocore_id(n)),
        ),
    ),
    "janus": Fleet(
        wire_id=lambda n: f"gw{n}",
        first=lambda n: (f"janus/gw{n}/status", "online"),
        shown=Shows(Platform.BINARY_SENSOR, "connectivity", "on"),
        change=lambda n: (f"janus/gw{n}/status", "offline"),
        changed=Shows(Platform.BINARY_SENSOR, "connectivity", "off"),
        status=lambda n, online: (f"janus/gw{n}/status", "online" if online else "offline"),
    ),
    "spotfi": Fleet(
        wire_id=lambda n: f"rtr-{n}",
        first=lambda n: (f"spotfi/router/rtr-{n}/metrics", METRICS),
        shown=Shows(Platform.SENSOR, "cpu_load", "12.5"),
        change=lambda n: (f"spotfi/router/rtr-{n}/status", "OFFLINE"),
        changed=Shows(Platform.BINARY_SENSOR, "connectivity", "off"),
        status=lambda n, online: (
            f"spotfi/router/rtr-{n}/status",
            "ONLINE" if online else "OFFLINE",
        ),
    ),
    "container_logs": Fleet(
        wire_id=_container_id,
        first=lambda n: _container_log(n, "info", "Server started"),
        shown=Shows(Platform.SENSOR, "info_logs", "1"),
        change=lambda n: _container_log(n, "warn", "disk full"),
        # A warning is shown at once by the source's problem event entity.
        changed=Shows(Platform.EVENT, "problem", "disk full", attribute="first_line"),
        status=None,
    ),
}


def test_every_family_has_its_messages() -> None:
    assert set(FLEETS) == set(FAMILIES)
    assert {family for family, fleet in FLEETS.items() if fleet.status} == set(
        CONNECTIVITY_FAMILIES
    )


# --- helpers ----------------------------------------------------------------------------


def make_entry(family: str, **options: Any) -> MockConfigEntry:
    """An entry of `family` under its default base topic, with `options` on the defaults."""
    if family != "autocore":
        return {"janus": janus_entry, "spotfi": spotfi_entry, "container_logs": logs_entry}[family](
            **options
        )
    template = autocore_entry()
    return MockConfigEntry(
        domain=DOMAIN,
        title=template.title,
        data=dict(template.data),
        options=default_options("autocore") | options,
        unique_id=template.unique_id,
        entry_id=template.entry_id,
        version=2,
        minor_version=1,
    )


@pytest.fixture(autouse=True)
def platforms() -> Generator[None]:
    """Load the connectivity, event and sensor platforms only, for every setup and reload."""
    with patch(
        "custom_components.mqtt_fleet.PLATFORMS",
        [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR],
    ):
        yield


async def deliver(hass: HomeAssistant, message: Message, *, retain: bool = False) -> None:
    """Deliver one message through HA's MQTT layer and let HA settle."""
    async_fire_mqtt_message(hass, *message, retain=retain)
    await settle(hass)


async def flood(hass: HomeAssistant, messages: list[Message]) -> None:
    """Deliver many messages at the same instant, then let HA settle once."""
    for message in messages:
        async_fire_mqtt_message(hass, *message)
    await settle(hass)


async def reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


def fleet_issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    """This integration's active issues by id."""
    return {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.active
    }


def entity_id(
    hass: HomeAssistant, entry: MockConfigEntry, wire_id: str, platform: Platform, key: str
) -> str | None:
    return er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{entry.entry_id}/{wire_id}/{key}"
    )


def shown(hass: HomeAssistant, entry: MockConfigEntry, wire_id: str, what: Shows) -> bool:
    """Whether the device's entity of (platform, key) shows the value."""
    if (entity := entity_id(hass, entry, wire_id, what.platform, what.key)) is None:
        return False
    if (current := hass.states.get(entity)) is None:
        return False
    if what.attribute is None:
        return current.state == what.value
    return current.attributes.get(what.attribute) == what.value


def registry_device(hass: HomeAssistant, entry: MockConfigEntry, wire_id: str) -> Any:
    return device_by_identifier(dr.async_get(hass), f"{entry.entry_id}/{wire_id}")


def fleet_logs(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(LOGGER_NAME)
        and record.levelno == level
        and text in record.getMessage()
    ]


def entry_placeholders(entry: MockConfigEntry, **more: str) -> dict[str, str]:
    return {"entry": entry.title, "base_topic": entry.data["base_topic"], **more}


# --- max_devices ------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_max_devices_refuses_new_ids_beyond_the_limit(
    hass: HomeAssistant,
    loaded: Loader,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    family: str,
) -> None:
    """The 4th and later ids make nothing; one issue, one warning a minute; known ones work."""
    fleet = FLEETS[family]
    entry = await loaded(make_entry(family, **{CONF_MAX_DEVICES: 3}))
    hub = entry.runtime_data
    await flood(hass, [fleet.first(n) for n in range(1, 4)])
    known = {fleet.wire_id(n) for n in range(1, 4)}
    assert set(hub.devices) == known
    caplog.clear()

    await flood(hass, [fleet.first(n) for n in range(4, 104)])
    assert set(hub.devices) == known
    for n in (4, 50, 103):
        assert registry_device(hass, entry, fleet.wire_id(n)) is None
    assert hub.admission.refused == Counter({Refusal.MAX_DEVICES: 100})
    assert not hub.admission.held  # nothing is kept for ids that cannot be admitted
    last = hub.dead_letters[-1]
    assert last.topic == fleet.first(103)[0]
    assert fleet.wire_id(103) in last.reason
    assert "has 3 devices" in last.reason  # the limit
    assert list(fleet_issues(hass)) == [f"{MAX_DEVICES_ISSUE}.{entry.entry_id}"]
    issue = fleet_issues(hass)[f"{MAX_DEVICES_ISSUE}.{entry.entry_id}"]
    assert issue.translation_key == MAX_DEVICES_ISSUE
    assert issue.translation_placeholders == entry_placeholders(entry, limit="3")
    assert issue.is_fixable is False
    assert len(fleet_logs(caplog, logging.WARNING, fleet.wire_id(4))) == 1
    assert len(fleet_logs(caplog, logging.WARNING, "")) == 1

    # Within the minute nothing more is logged; after it, one line with what it held back.
    await advance(hass, freezer, 59, step=5)
    await deliver(hass, fleet.first(104))
    assert len(fleet_logs(caplog, logging.WARNING, "")) == 1
    await advance(hass, freezer, 2, step=1)
    await deliver(hass, fleet.first(105))
    warnings = fleet_logs(caplog, logging.WARNING, "")
    assert len(warnings) == 2
    assert fleet.wire_id(105) in warnings[1]
    assert "(100 more refused or held messages since the last report)" in warnings[1]
    assert hub.admission.refused[Refusal.MAX_DEVICES] == 102
    assert len(fleet_issues(hass)) == 1

    # The known devices keep working.
    await deliver(hass, fleet.change(1))
    assert shown(hass, entry, fleet.wire_id(1), fleet.changed)


# --- new_devices_per_minute -------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_new_devices_beyond_the_rate_are_held_then_admitted_with_their_messages(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory, family: str
) -> None:
    """A minute's worth at once, the rest at the rate; nothing they sent meanwhile is lost."""
    fleet = FLEETS[family]
    options: dict[str, Any] = {CONF_NEW_DEVICES_PER_MINUTE: 10}
    if fleet.status is not None:  # the first ones stay fresh while the last are admitted
        options[CONF_OFFLINE_TIMEOUT] = 3600
    entry = await loaded(make_entry(family, **options))
    hub = entry.runtime_data
    ids = [fleet.wire_id(n) for n in range(1, 26)]
    await flood(hass, [fleet.first(n) for n in range(1, 26)])
    assert set(hub.devices) == set(ids[:10])
    assert list(hub.admission.held) == ids[10:]  # in the order they came
    assert hub.admission.refused == Counter({Refusal.NEW_DEVICES_PER_MINUTE: 15})
    assert registry_device(hass, entry, ids[10]) is None
    rate_issue = f"{RATE_ISSUE}.{entry.entry_id}"
    assert list(fleet_issues(hass)) == [rate_issue]
    assert fleet_issues(hass)[rate_issue].translation_placeholders == entry_placeholders(
        entry, limit="10"
    )
    assert "held" in hub.dead_letters[-1].reason

    # One every 6 s: after 30 s five more (a timer a hair late may leave one for later).
    await advance(hass, freezer, 30, step=1)
    assert 14 <= len(hub.devices) <= 15
    assert set(ids[:14]) <= set(hub.devices)
    assert rate_issue in fleet_issues(hass)
    for wire_id in ids[10:14]:
        assert shown(hass, entry, wire_id, fleet.shown), wire_id  # its held message applied

    await advance(hass, freezer, 62, step=2)
    assert set(hub.devices) == set(ids)
    assert not hub.admission.held
    assert hub.admission.held_bytes == 0
    for wire_id in ids:
        assert registry_device(hass, entry, wire_id) is not None
        assert shown(hass, entry, wire_id, fleet.shown), wire_id
    assert rate_issue not in fleet_issues(hass)  # withdrawn once nothing is held
    assert hub.admission.refused == Counter({Refusal.NEW_DEVICES_PER_MINUTE: 15})


async def test_held_messages_keep_the_latest_per_topic_and_the_retain_flag(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """An AutoCore board held back: its last status and telemetry are applied on admission."""
    entry = await loaded(make_entry("autocore", **{CONF_NEW_DEVICES_PER_MINUTE: 1}))
    hub = entry.runtime_data
    await deliver(hass, FLEETS["autocore"].first(1))  # spends the only token
    board = _autocore_id(2)
    status_topic = f"autocore/{board}/status"
    old = status_a(device_id=board, ip_address="10.0.0.1")
    new = status_a(device_id=board, ip_address="10.0.0.2")
    telemetry = telemetry_a(device_id=board, temperature=20.5)
    await deliver(hass, (f"autocore/{board}/telemetry", telemetry), retain=True)
    await deliver(hass, (status_topic, old), retain=True)
    await deliver(hass, (status_topic, new))  # live, after the broker's replay
    assert list(hub.admission.held) == [board]
    held = hub.admission.held[board]
    assert list(held) == [f"autocore/{board}/telemetry", status_topic]
    assert held[status_topic] == HeldMessage(status_topic, new.encode(), retained=False)
    assert held[f"autocore/{board}/telemetry"].retained is True
    assert hub.admission.held_bytes == len(new) + len(telemetry)
    assert board not in hub.devices

    await advance(hass, freezer, 61, step=1)
    device = hub.devices[board]
    assert device.online is True
    assert shown(hass, entry, board, Shows(Platform.SENSOR, "ip_address", "10.0.0.2"))
    assert shown(hass, entry, board, Shows(Platform.SENSOR, "temperature", "20.5"))
    assert device.last_live is not None  # the live status counts as a sign of life
    assert not hub.admission.held
    assert hub.admission.held_bytes == 0


async def test_retained_replay_stays_a_replay(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """A held retained status says nothing of the device being alive once admitted."""
    entry = await loaded(make_entry("autocore", **{CONF_NEW_DEVICES_PER_MINUTE: 1}))
    hub = entry.runtime_data
    await deliver(hass, FLEETS["autocore"].first(1))
    await deliver(hass, FLEETS["autocore"].first(2), retain=True)
    await advance(hass, freezer, 61, step=1)
    device = hub.devices[_autocore_id(2)]
    assert device.online is True
    assert device.heard is True
    assert device.last_live is None


async def test_a_held_id_speaking_again_keeps_its_messages_in_order(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """A held board that speaks when a token is there does not get its old status replayed.

    Its newer status (offline, another address) must win over the one it held.
    """
    entry = await loaded(make_entry("autocore", **{CONF_NEW_DEVICES_PER_MINUTE: 1}))
    hub = entry.runtime_data
    await deliver(hass, FLEETS["autocore"].first(1))
    board = _autocore_id(2)
    topic = f"autocore/{board}/status"
    await deliver(hass, (topic, status_a(device_id=board, ip_address="10.0.0.1")))
    assert list(hub.admission.held) == [board]

    # A token is there; the board speaks before the admission timer runs.
    freezer.tick(timedelta(seconds=61))
    async_fire_mqtt_message(
        hass, topic, status_a("offline", device_id=board, ip_address="10.0.0.2")
    )
    await settle(hass)
    device = hub.devices[board]
    assert device.online is False
    assert device.values["ip_address"] == "10.0.0.2"

    # Whatever the admission timer does later, the older status must not come back.
    await advance(hass, freezer, 125, step=5)
    assert device.online is False
    assert device.values["ip_address"] == "10.0.0.2"
    assert not hub.admission.held


async def test_the_hold_is_bounded_in_devices(
    hass: HomeAssistant,
    loaded: Loader,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beyond HELD_DEVICES the newest are refused, not kept; they are admitted when they
    speak again."""
    monkeypatch.setattr(admission_module, "HELD_DEVICES", 3)
    fleet = FLEETS["autocore"]
    entry = await loaded(make_entry("autocore", **{CONF_NEW_DEVICES_PER_MINUTE: 1}))
    hub = entry.runtime_data
    await flood(hass, [fleet.first(n) for n in range(1, 7)])
    assert list(hub.devices) == [_autocore_id(1)]
    assert list(hub.admission.held) == [_autocore_id(n) for n in (2, 3, 4)]
    assert hub.admission.refused == Counter({Refusal.NEW_DEVICES_PER_MINUTE: 5})
    reasons = [letter.reason for letter in hub.dead_letters]
    assert [f"new device {_autocore_id(n)} held" in reasons[n - 2] for n in range(2, 7)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert f"new device {_autocore_id(5)} refused" in reasons[3]

    await advance(hass, freezer, 3 * 60 + 5, step=5)
    assert set(hub.devices) == {_autocore_id(n) for n in range(1, 5)}
    assert not hub.admission.held
    await advance(hass, freezer, 60, step=5)
    await deliver(hass, fleet.first(5))  # it speaks again, and a token is there
    assert _autocore_id(5) in hub.devices
    assert shown(hass, entry, _autocore_id(5), fleet.shown)


async def test_the_hold_is_bounded_in_bytes(
    hass: HomeAssistant,
    loaded: Loader,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = FLEETS["autocore"]
    size = len(fleet.first(2)[1])
    monkeypatch.setattr(admission_module, "HELD_BYTES", 2 * size + 1)
    entry = await loaded(make_entry("autocore", **{CONF_NEW_DEVICES_PER_MINUTE: 1}))
    hub = entry.runtime_data
    await flood(hass, [fleet.first(n) for n in range(1, 5)])
    assert list(hub.admission.held) == [_autocore_id(2), _autocore_id(3)]
    assert hub.admission.held_bytes == 2 * size
    assert "refused" in hub.dead_letters[-1].reason


async def test_held_ids_past_max_devices_are_dropped(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """The rate admits held ids until the device cap; the rest are refused for good."""
    fleet = FLEETS["autocore"]
    entry = await loaded(
        make_entry("autocore", **{CONF_NEW_DEVICES_PER_MINUTE: 10, CONF_MAX_DEVICES: 12})
    )
    hub = entry.runtime_data
    await flood(hass, [fleet.first(n) for n in range(1, 26)])
    assert len(hub.devices) == 10
    assert len(hub.admission.held) == 15

    await advance(hass, freezer, 20, step=1)
    assert len(hub.devices) == 12
    assert not hub.admission.held
    assert hub.admission.held_bytes == 0
    assert hub.admission.refused == Counter(
        {Refusal.NEW_DEVICES_PER_MINUTE: 15, Refusal.MAX_DEVICES: 13}
    )
    issue_ids = set(fleet_issues(hass))
    assert f"{MAX_DEVICES_ISSUE}.{entry.entry_id}" in issue_ids
    assert f"{RATE_ISSUE}.{entry.entry_id}" not in issue_ids


async def test_unloading_stops_admitting_held_ids(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """The admission timer goes with the entry, and so do its issues."""
    fleet = FLEETS["autocore"]
    entry = await loaded(make_entry("autocore", **{CONF_NEW_DEVICES_PER_MINUTE: 1}))
    hub = entry.runtime_data
    await flood(hass, [fleet.first(n) for n in range(1, 4)])
    assert len(hub.admission.held) == 2
    assert fleet_issues(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert not fleet_issues(hass)
    await advance(hass, freezer, 130, step=10)
    assert list(hub.devices) == [_autocore_id(1)]
    assert registry_device(hass, entry, _autocore_id(2)) is None


# --- known devices only -----------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_known_devices_only_admits_restored_devices_and_holds_new_ones(
    hass: HomeAssistant, loaded: Loader, family: str
) -> None:
    """Devices in the registry keep working; new ids wait for the user in a fixable issue."""
    fleet = FLEETS[family]
    entry = await loaded(make_entry(family))
    await flood(hass, [fleet.first(n) for n in (1, 2)])
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_KNOWN_DEVICES_ONLY: True}
    )
    await reload(hass, entry)
    hub = entry.runtime_data
    assert hub.admission.known_devices_only is True

    await deliver(hass, fleet.change(1))
    assert shown(hass, entry, fleet.wire_id(1), fleet.changed)
    await flood(hass, [fleet.first(n) for n in (3, 4, 5)])
    assert set(hub.devices) == {fleet.wire_id(1), fleet.wire_id(2)}
    assert list(hub.admission.held) == [fleet.wire_id(n) for n in (3, 4, 5)]
    assert registry_device(hass, entry, fleet.wire_id(3)) is None
    assert hub.admission.refused == Counter({Refusal.KNOWN_DEVICES_ONLY: 3})
    waiting_id = f"{DEVICES_WAITING}.{entry.entry_id}"
    assert list(fleet_issues(hass)) == [waiting_id]
    issue = fleet_issues(hass)[waiting_id]
    assert issue.is_fixable is True
    assert issue.translation_key == DEVICES_WAITING
    assert issue.data == {"entry_id": entry.entry_id}
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["entry"] == entry.title
    assert "accept it under Repairs" in hub.dead_letters[-1].reason


async def test_known_devices_only_admits_the_configured_janus_servers(
    hass: HomeAssistant, loaded: Loader
) -> None:
    entry = await loaded(
        make_entry("janus", **{CONF_KNOWN_DEVICES_ONLY: True, CONF_SERVERS: ["gw1"]})
    )
    hub = entry.runtime_data
    assert list(hub.devices) == ["gw1"]
    fleet = FLEETS["janus"]
    await deliver(hass, fleet.first(1))
    assert shown(hass, entry, "gw1", fleet.shown)
    await deliver(hass, fleet.first(2))
    assert list(hub.devices) == ["gw1"]
    assert list(hub.admission.held) == ["gw2"]


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_accepting_waiting_devices_in_the_fix_flow(
    hass: HomeAssistant, loaded: Loader, family: str
) -> None:
    """Through HA's repairs flow manager: the picked ids become devices with what they sent."""
    fleet = FLEETS[family]
    entry = await loaded(make_entry(family, **{CONF_KNOWN_DEVICES_ONLY: True}))
    hub = entry.runtime_data
    await flood(hass, [fleet.first(n) for n in (1, 2, 3)])
    assert not hub.devices
    waiting_id = f"{DEVICES_WAITING}.{entry.entry_id}"
    assert list(fleet_issues(hass)) == [waiting_id]

    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": waiting_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    assert result["description_placeholders"] == {
        "entry": entry.title,
        "waiting": "3",
        "listed": "3",
    }
    assert not hub.devices  # nothing happens before the user picks

    picked = [fleet.wire_id(1), fleet.wire_id(3)]
    result = await manager.async_configure(result["flow_id"], {"devices": picked})
    await settle(hass)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == {"accepted": 2}
    assert set(hub.devices) == set(picked)
    for wire_id in picked:
        assert registry_device(hass, entry, wire_id) is not None
        assert shown(hass, entry, wire_id, fleet.shown), wire_id
    assert list(hub.admission.held) == [fleet.wire_id(2)]  # the rest stay held

    # The one left is offered again when it next speaks.
    await deliver(hass, fleet.first(2))
    assert list(fleet_issues(hass)) == [waiting_id]
    assert fleet.wire_id(2) not in hub.devices


async def test_accepting_every_waiting_device_withdraws_the_issue(
    hass: HomeAssistant, loaded: Loader
) -> None:
    fleet = FLEETS["autocore"]
    entry = await loaded(make_entry("autocore", **{CONF_KNOWN_DEVICES_ONLY: True}))
    hub = entry.runtime_data
    await flood(hass, [fleet.first(n) for n in (1, 2)])
    assert fleet_issues(hass)
    assert hub.async_accept([_autocore_id(1), _autocore_id(2), "never-seen"]) == 2
    await settle(hass)
    assert not fleet_issues(hass)
    assert not hub.admission.held
    assert set(hub.devices) == {_autocore_id(1), _autocore_id(2)}


@pytest.mark.parametrize("reason", ["none_waiting", "entry_not_loaded"])
async def test_fix_flow_aborts_when_none_wait_or_the_entry_is_gone(
    hass: HomeAssistant, loaded: Loader, reason: str
) -> None:
    """An issue left open while every id was accepted meanwhile, or the entry unloaded."""
    entry = await loaded(make_entry("autocore", **{CONF_KNOWN_DEVICES_ONLY: True}))
    waiting_id = f"{DEVICES_WAITING}.{entry.entry_id}"
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    if reason == "entry_not_loaded":
        assert await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
    async_raise_entry(hass, DEVICES_WAITING, entry.entry_id, entry_placeholders(entry))
    result = await manager.async_init(DOMAIN, data={"issue_id": waiting_id})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason
    assert waiting_id in fleet_issues(hass)  # an abort leaves the issue to HA


# --- AutoCore extra sensors -------------------------------------------------------------


async def test_autocore_caps_extra_sensors_per_board(hass: HomeAssistant, loaded: Loader) -> None:
    """3 of 5 new keys become sensors; the cap counts restored keys after a reload."""
    entry = await loaded(make_entry("autocore", **{CONF_MAX_EXTRA_SENSORS: 3}))
    hub = entry.runtime_data
    board = _autocore_id(1)
    topic = f"autocore/{board}/telemetry"
    extra = {"pressure": 1013.2, "co2": 412, "lux": 80, "noise": 31, "pm25": 7}
    await deliver(hass, (topic, telemetry_a(device_id=board, **extra)))

    def extra_sensors() -> set[str]:
        return {
            key
            for key in extra
            if entity_id(hass, entry, board, Platform.SENSOR, f"telemetry_{key}") is not None
        }

    assert extra_sensors() == {"pressure", "co2", "lux"}
    assert shown(hass, entry, board, Shows(Platform.SENSOR, "temperature", "25.6"))  # not capped
    assert hub.admission.refused == Counter({Refusal.MAX_EXTRA_SENSORS: 2})
    reasons = [letter.reason for letter in hub.dead_letters]
    assert len(reasons) == 2
    assert "telemetry_noise" in reasons[0]
    assert "telemetry_pm25" in reasons[1]
    assert all(board in reason and "has 3 extra sensors" in reason for reason in reasons)
    assert all(letter.topic == topic for letter in hub.dead_letters)
    extra_issue = f"{EXTRA_SENSORS_ISSUE}.{entry.entry_id}"
    assert list(fleet_issues(hass)) == [extra_issue]
    assert fleet_issues(hass)[extra_issue].translation_placeholders == entry_placeholders(
        entry, limit="3"
    )

    # The same telemetry again: the known keys update, the others are refused again.
    await deliver(hass, (topic, telemetry_a(device_id=board, **(extra | {"pressure": 1001}))))
    assert shown(hass, entry, board, Shows(Platform.SENSOR, "telemetry_pressure", "1001"))
    assert hub.admission.refused[Refusal.MAX_EXTRA_SENSORS] == 4
    assert list(fleet_issues(hass)) == [extra_issue]

    # Another board has its own allowance.
    other = _autocore_id(2)
    await deliver(hass, (f"autocore/{other}/telemetry", telemetry_a(device_id=other, noise=5)))
    assert entity_id(hass, entry, other, Platform.SENSOR, "telemetry_noise") is not None

    # After a reload the restored keys count against the cap.
    await reload(hass, entry)
    hub = entry.runtime_data
    await deliver(hass, (topic, telemetry_a(device_id=board, rain=2, lux=95)))
    assert entity_id(hass, entry, board, Platform.SENSOR, "telemetry_rain") is None
    assert shown(hass, entry, board, Shows(Platform.SENSOR, "telemetry_lux", "95"))
    assert hub.admission.refused == Counter({Refusal.MAX_EXTRA_SENSORS: 1})
    assert list(fleet_issues(hass)) == [extra_issue]


# --- flapping devices -------------------------------------------------------------------


@pytest.mark.parametrize("family", CONNECTIVITY_FAMILIES)
async def test_a_flapping_device_is_damped(
    hass: HomeAssistant,
    loaded: Loader,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    family: str,
) -> None:
    """100 status flips in 2 s write its connectivity a handful of times; the last one wins."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    fleet = FLEETS[family]
    assert fleet.status is not None
    entry = await loaded(make_entry(family))
    await deliver(hass, fleet.first(1))
    await deliver(hass, fleet.status(1, True))
    wire_id = fleet.wire_id(1)
    connectivity = entity_id(hass, entry, wire_id, Platform.BINARY_SENSOR, "connectivity")
    assert connectivity is not None
    assert hass.states.get(connectivity).state == "on"
    await advance(hass, freezer, FLAP_PERIOD, step=1)  # a full burst again

    writes: list[str] = []
    edges: list[str] = []

    def written(event: Event[Any]) -> None:
        if event.data["entity_id"] == connectivity:
            writes.append(event.data["new_state"].state)

    unsubscribes = [
        hass.bus.async_listen("state_changed", written),
        hass.bus.async_listen(EVENT_DEVICE_ONLINE, lambda event: edges.append("online")),
        hass.bus.async_listen(EVENT_DEVICE_OFFLINE, lambda event: edges.append("offline")),
    ]
    flips = [True, False] * 50  # the last says offline
    for online in flips:
        async_fire_mqtt_message(hass, *fleet.status(1, online))
        freezer.tick(timedelta(seconds=0.02))
    await settle(hass)
    assert 1 <= len(writes) <= FLAP_BURST + 1
    assert len(edges) <= FLAP_BURST + 1

    await advance(hass, freezer, FLAP_PERIOD + 1, step=1)
    assert hass.states.get(connectivity).state == "off"  # the last status wins
    assert entry.runtime_data.devices[wire_id].online is False
    assert len(writes) <= FLAP_BURST + 2
    assert len(edges) <= FLAP_BURST + 2
    assert edges[-1] == "offline"
    held_back = fleet_logs(caplog, logging.INFO, "more changes of this device held back")
    assert len(held_back) == 1
    assert wire_id in held_back[0]
    for unsubscribe in unsubscribes:
        unsubscribe()


async def test_a_paced_write_does_not_outlive_the_entry(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """Unloading while a flapping device's latest state waits cancels that write."""
    fleet = FLEETS["autocore"]
    assert fleet.status is not None
    entry = await loaded(make_entry("autocore"))
    await deliver(hass, fleet.first(1))
    await advance(hass, freezer, FLAP_PERIOD, step=1)
    edges: list[str] = []
    unsubscribes = [
        hass.bus.async_listen(EVENT_DEVICE_ONLINE, lambda event: edges.append("online")),
        hass.bus.async_listen(EVENT_DEVICE_OFFLINE, lambda event: edges.append("offline")),
    ]
    await flood(hass, [fleet.status(1, online) for online in [True, False] * 5])
    device = entry.runtime_data.devices[_autocore_id(1)]
    assert device.online is False  # the last status ...
    assert edges[-1] == "online"  # ... waits for its paced write
    shown_edges = len(edges)

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    await advance(hass, freezer, FLAP_PERIOD + 1, step=1)
    assert len(edges) == shown_edges  # nothing is written or fired for the unloaded entry
    for unsubscribe in unsubscribes:
        unsubscribe()


# --- log throttles ----------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_discovery_log_lines_are_throttled(
    hass: HomeAssistant,
    loaded: Loader,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    family: str,
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    fleet = FLEETS[family]
    entry = await loaded(make_entry(family))
    await flood(hass, [fleet.first(n) for n in range(1, 51)])
    assert len(entry.runtime_data.devices) == 50
    assert len(fleet_logs(caplog, logging.INFO, "Discovered")) == DISCOVERED_LOG_BURST

    await advance(hass, freezer, DISCOVERED_LOG_PERIOD, step=1)
    await deliver(hass, fleet.first(51))
    lines = fleet_logs(caplog, logging.INFO, "Discovered")
    assert len(lines) == DISCOVERED_LOG_BURST + 1
    assert fleet.wire_id(51) in lines[-1]
    assert lines[-1].endswith(
        f"({50 - DISCOVERED_LOG_BURST} more devices discovered since the last report)"
    )


async def test_connectivity_log_lines_are_throttled(
    hass: HomeAssistant,
    loaded: Loader,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Many devices dropping at once (a broker outage) log a burst, then a summary."""
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    fleet = FLEETS["autocore"]
    assert fleet.status is not None
    entry = await loaded(make_entry("autocore"))
    await flood(hass, [fleet.status(n, True) for n in range(1, 31)])
    await flood(hass, [fleet.status(n, False) for n in range(1, 31)])
    assert not any(device.connected for device in entry.runtime_data.devices.values())
    assert len(fleet_logs(caplog, logging.INFO, "is unavailable")) == CONNECTIVITY_LOG_BURST

    await advance(hass, freezer, CONNECTIVITY_LOG_PERIOD, step=1)
    await deliver(hass, fleet.status(1, True))
    back = fleet_logs(caplog, logging.INFO, "is available again")
    assert len(back) == 1
    assert back[0].endswith(
        f"({30 - CONNECTIVITY_LOG_BURST} more availability changes since the last report)"
    )


# --- retained statuses the broker dropped -----------------------------------------------


@pytest.mark.parametrize("missing", [25, 3])
async def test_many_missing_statuses_blame_the_broker_once(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory, missing: int
) -> None:
    """25 of 30 missing: one entry issue; 3 missing: one issue per device."""
    fleet = FLEETS["autocore"]
    entry = await loaded(make_entry("autocore"))
    await flood(hass, [fleet.first(n) for n in range(1, 31)])
    await reload(hass, entry)
    hub = entry.runtime_data
    assert len(hub.devices) == 30
    assert all(device.restored for device in hub.devices.values())
    for n in range(1, 31 - missing):
        await deliver(hass, fleet.first(n), retain=True)
    await advance(hass, freezer, RETAINED_STATUS_GRACE + 1, step=5)

    dropped = f"{RETAINED_DROPPED}.{entry.entry_id}"
    raised = fleet_issues(hass)
    per_device = {issue_id for issue_id in raised if issue_id.startswith(STATUS_NOT_RETAINED)}
    if missing > MANY_MISSING_STATUSES:
        assert list(raised) == [dropped]
        assert raised[dropped].translation_placeholders == entry_placeholders(
            entry, missing=str(missing), known="30"
        )
        assert raised[dropped].is_fixable is False
    else:
        assert dropped not in raised
        assert per_device == {
            f"{STATUS_NOT_RETAINED}.{entry.entry_id}.{_autocore_id(n)}"
            for n in range(31 - missing, 31)
        }

    # The next start checks afresh: the issues go with the hub.
    await reload(hass, entry)
    assert not fleet_issues(hass)


async def test_janus_servers_are_judged_after_the_poll_round(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """Janus retains no status: its servers are judged once the poll round reached them."""
    fleet = FLEETS["janus"]
    entry = await loaded(make_entry("janus"))
    await flood(hass, [fleet.first(n) for n in range(1, 31)])
    await reload(hass, entry)
    hub = entry.runtime_data
    assert len(hub.devices) == 30
    await advance(hass, freezer, RETAINED_STATUS_GRACE + 1, step=5)
    assert not fleet_issues(hass)  # the round (10 s, twice for `info`) is still asking them
    await advance(hass, freezer, 2 * 10 + RETAINED_STATUS_GRACE, step=5)
    # No server answered a poll: their statuses are missing, and the entry says so once.
    assert list(fleet_issues(hass)) == [f"{RETAINED_DROPPED}.{entry.entry_id}"]


# --- paced status requests --------------------------------------------------------------


async def test_status_requests_are_paced(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory, mqtt_mock: Any
) -> None:
    """120 firmware v2 boards without a status are each asked once, 50 a second at most."""
    boards = [f"board-{n:03d}" for n in range(120)]
    entry = await loaded(make_entry("autocore"))
    await flood(
        hass,
        [
            (f"autocore/devices/{board}/status", status_b(uuid=board, board_id=str(n)))
            for n, board in enumerate(boards)
        ],
    )
    await reload(hass, entry)
    hub = entry.runtime_data
    assert all(
        device.layout is not None and device.layout.value == "firmware_v2"
        for device in hub.devices.values()
    ), {device.layout for device in hub.devices.values()}
    await advance(hass, freezer, RETAINED_STATUS_GRACE - 1, step=5)
    mqtt_mock.async_publish.reset_mock()

    asked: list[int] = []  # requests sent by the end of each 0.2 s step
    for _ in range(5 + 5 * 5):
        await advance(hass, freezer, 0.2, step=0.2)
        asked.append(
            sum(1 for call in publishes(mqtt_mock) if call[0].endswith("/commands/status"))
        )
    topics = [call[0] for call in publishes(mqtt_mock) if call[0].endswith("/commands/status")]
    assert sorted(topics) == [f"autocore/devices/{board}/commands/status" for board in boards]
    per_second = [later - earlier for earlier, later in zip(asked, asked[5:], strict=False)]
    assert max(per_second) <= STATUS_REQUESTS_PER_SECOND
    assert asked[0] == 0  # nothing within the grace

    # They did not answer: after they had time, the broker is blamed once.
    await advance(hass, freezer, RETAINED_STATUS_GRACE + 3, step=5)
    assert list(fleet_issues(hass)) == [f"{RETAINED_DROPPED}.{entry.entry_id}"]


async def test_status_requests_stop_when_the_broker_refuses_a_publish(
    hass: HomeAssistant,
    loaded: Loader,
    freezer: FrozenDateTimeFactory,
    mqtt_mock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed publish ends the round of requests quietly; the statuses are judged anyway."""
    boards = [f"board-{n:03d}" for n in range(30)]
    entry = await loaded(make_entry("autocore"))
    await flood(
        hass,
        [
            (f"autocore/devices/{board}/status", status_b(uuid=board, board_id=str(n)))
            for n, board in enumerate(boards)
        ],
    )
    await reload(hass, entry)
    real_publish = mqtt_mock.async_publish._mock_wraps
    sent: list[str] = []

    async def publish(topic: str, payload: bytes, qos: int, retain: bool, **kwargs: Any) -> None:
        sent.append(topic)
        if len(sent) == 12:
            raise HomeAssistantError("broker gone")
        await real_publish(topic, payload, qos, retain, **kwargs)

    mqtt_mock.async_publish.side_effect = publish
    await advance(hass, freezer, RETAINED_STATUS_GRACE + 3, step=0.5)
    assert len(sent) == 12  # one round, then the first of the next, which failed
    assert all(topic.endswith("/commands/status") for topic in sent)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    await advance(hass, freezer, RETAINED_STATUS_GRACE, step=5)
    assert len(sent) == 12
    assert list(fleet_issues(hass)) == [f"{RETAINED_DROPPED}.{entry.entry_id}"]


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_options_have_the_admission_fields(
    hass: HomeAssistant, loaded: Loader, family: str
) -> None:
    """Every family's options end with the caps, at their defaults; out of range is refused."""
    entry = await loaded(make_entry(family))
    assert not {CONF_MAX_DEVICES, CONF_NEW_DEVICES_PER_MINUTE} & set(entry.options)
    admission = entry.runtime_data.admission  # an entry without them has the defaults
    assert (admission.max_devices, admission.new_devices_per_minute) == (
        DEFAULT_MAX_DEVICES,
        DEFAULT_NEW_DEVICES_PER_MINUTE,
    )
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema = result["data_schema"].schema
    names = [str(marker) for marker in schema]
    assert names[-3:] == [CONF_MAX_DEVICES, CONF_NEW_DEVICES_PER_MINUTE, CONF_KNOWN_DEVICES_ONLY]
    suggested = {
        str(marker): (marker.description or {}).get("suggested_value") for marker in schema
    }
    assert {key: suggested[key] for key in ADMISSION_DEFAULTS} == ADMISSION_DEFAULTS
    assert ADMISSION_DEFAULTS == {
        CONF_MAX_DEVICES: DEFAULT_MAX_DEVICES,
        CONF_NEW_DEVICES_PER_MINUTE: DEFAULT_NEW_DEVICES_PER_MINUTE,
        CONF_KNOWN_DEVICES_ONLY: False,
    }
    valid = {key: value for key, value in suggested.items() if value is not None}

    for field, value in (
        (CONF_MAX_DEVICES, 0),
        (CONF_MAX_DEVICES, MAX_DEVICES_LIMIT + 1),
        (CONF_NEW_DEVICES_PER_MINUTE, 0),
        (CONF_NEW_DEVICES_PER_MINUTE, MAX_NEW_DEVICES_PER_MINUTE_LIMIT + 1),
    ):
        with pytest.raises(InvalidData) as refused:
            await hass.config_entries.options.async_configure(
                result["flow_id"], valid | {field: value}
            )
        assert field in refused.value.schema_errors, (field, value)

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        valid | {CONF_MAX_DEVICES: 40.0, CONF_NEW_DEVICES_PER_MINUTE: 7.0},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_MAX_DEVICES] == 40
    assert type(result["data"][CONF_MAX_DEVICES]) is int
    await hass.async_block_till_done()
    hub = entry.runtime_data
    assert hub.admission.max_devices == 40
    assert hub.admission.new_devices_per_minute == 7
    assert hub.admission.known_devices_only is False


# --- diagnostics ------------------------------------------------------------------------


async def test_diagnostics_show_the_admission(hass: HomeAssistant, loaded: Loader) -> None:
    fleet = FLEETS["autocore"]
    entry = await loaded(
        make_entry(
            "autocore",
            **{CONF_MAX_DEVICES: 5, CONF_NEW_DEVICES_PER_MINUTE: 2, CONF_MAX_EXTRA_SENSORS: 1},
        )
    )
    messages = [fleet.first(n) for n in range(1, 5)]
    await flood(hass, messages)
    board = _autocore_id(1)
    await deliver(hass, (f"autocore/{board}/telemetry", telemetry_a(device_id=board, a=1, b=2)))
    expected = {
        "max_devices": 5,
        "new_devices_per_minute": 2,
        "known_devices_only": False,
        "refused": {"new_devices_per_minute": 2, "max_extra_sensors": 1},
        "waiting_devices": 2,
        "waiting_bytes": len(messages[2][1]) + len(messages[3][1]),
    }
    assert entry.runtime_data.as_diagnostics()["admission"] == expected
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["hub"]["admission"] == expected
    assert [letter["topic"] for letter in diagnostics["dead_letters"]] == [
        messages[2][0],
        messages[3][0],
        f"autocore/{board}/telemetry",
    ]


# --- admission.py and throttle.py -------------------------------------------------------


def test_throttle_bursts_then_refills_at_its_rate() -> None:
    throttle = Throttle(3, 2.0, now=100.0)
    assert [throttle.allow(100.0) for _ in range(4)] == [True, True, True, False]
    assert throttle.wait(100.0) == pytest.approx(2.0)
    assert throttle.wait(101.0) == pytest.approx(1.0)
    assert throttle.allow(101.0) is False
    assert throttle.allow(102.0) is True
    assert throttle.wait(102.0) == pytest.approx(2.0)
    # It never holds more than its burst, however long it was idle.
    assert throttle.wait(1000.0) == 0.0
    assert [throttle.allow(1000.0) for _ in range(4)] == [True, True, True, False]


def test_throttle_counts_what_it_refused_until_taken() -> None:
    throttle = Throttle(1, 10.0, now=0.0)
    assert throttle.allow(0.0)
    assert throttle.take_suppressed() == 0
    for _ in range(5):
        assert throttle.allow(1.0) is False
    assert throttle.suppressed == 5
    assert throttle.take_suppressed() == 5
    assert throttle.take_suppressed() == 0
    assert throttle.allow(10.0) is True
    assert throttle.suppressed == 0


def _admission(**caps: Any) -> Admission:
    settings: dict[str, Any] = {
        "max_devices": 100,
        "new_devices_per_minute": 60,
        "known_devices_only": False,
        "now": 0.0,
    }
    return Admission(**(settings | caps))


def test_admission_starts_with_a_minute_of_new_devices_then_the_rate() -> None:
    admission = _admission(new_devices_per_minute=3)
    assert [admission.check("new", 0, 0.0) for _ in range(4)] == [
        None,
        None,
        None,
        Refusal.NEW_DEVICES_PER_MINUTE,
    ]
    assert admission.check("new", 3, 19.0) is Refusal.NEW_DEVICES_PER_MINUTE
    assert admission.check("new", 3, 20.0) is None  # one every 20 s


def test_admission_checks_known_only_then_the_cap_then_the_rate() -> None:
    admission = _admission(max_devices=2, new_devices_per_minute=1, known_devices_only=True)
    assert admission.check("new", 0, 0.0) is Refusal.KNOWN_DEVICES_ONLY
    assert admission.check("new", 5, 0.0) is Refusal.KNOWN_DEVICES_ONLY
    admission.known_devices_only = False
    assert admission.check("new", 2, 0.0) is Refusal.MAX_DEVICES
    assert admission.check("new", 1, 0.0) is None  # neither refusal above spent the token
    assert admission.check("new", 1, 0.0) is Refusal.NEW_DEVICES_PER_MINUTE
    assert admission.check("new", 2, 0.0) is Refusal.MAX_DEVICES  # the cap before the rate


def test_new_ids_queue_behind_the_waiting_ones() -> None:
    """While ids wait, a new one waits too, even with a token: the waiting go first."""
    admission = _admission(new_devices_per_minute=60)
    assert admission.hold("first", "t/first/status", b"1", retained=True)
    assert admission.check("later", 0, 0.0) is Refusal.NEW_DEVICES_PER_MINUTE
    assert admission.check("first", 0, 0.0) is None  # a waiting id that speaks goes in


def test_admission_holds_the_latest_message_per_topic_and_counts_bytes() -> None:
    admission = _admission()
    assert admission.hold("a", "t/a/status", b"12345", retained=True)
    assert admission.hold("a", "t/a/status", b"123", retained=False)
    assert admission.hold("a", "t/a/telemetry", b"1234567", retained=False)
    assert admission.hold("b", "t/b/status", b"xy", retained=True)
    assert admission.held_bytes == 3 + 7 + 2
    assert admission.release("a") == [
        HeldMessage("t/a/status", b"123", retained=False),
        HeldMessage("t/a/telemetry", b"1234567", retained=False),
    ]
    assert admission.held_bytes == 2
    assert admission.release("a") == []
    assert admission.release("b") == [HeldMessage("t/b/status", b"xy", retained=True)]
    assert admission.held_bytes == 0
    assert admission.held == {}


def test_admission_hold_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admission_module, "HELD_DEVICES", 2)
    monkeypatch.setattr(admission_module, "HELD_BYTES", 10)
    admission = _admission()
    assert admission.hold("a", "a/1", b"1234", retained=False)
    assert admission.hold("b", "b/1", b"1234", retained=False)
    assert not admission.hold("c", "c/1", b"1", retained=False)  # a third id
    assert "c" not in admission.held
    assert not admission.hold("a", "a/2", b"123", retained=False)  # 11 bytes
    assert admission.hold("a", "a/2", b"12", retained=False)  # exactly 10
    assert not admission.hold("a", "a/1", b"12345", retained=False)  # growing past it
    assert admission.held["a"]["a/1"].payload == b"1234"  # the one kept stays
    assert admission.hold("a", "a/1", b"1", retained=False)  # shrinking is fine
    assert admission.held_bytes == 1 + 2 + 4
    assert admission.release("b") == [HeldMessage("b/1", b"1234", retained=False)]
    assert admission.hold("c", "c/1", b"123", retained=False)  # room again
    assert admission.held_bytes == 1 + 2 + 3


def test_admission_drops_an_id_that_held_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id whose first message does not fit is not left behind as waiting."""
    monkeypatch.setattr(admission_module, "HELD_BYTES", 4)
    admission = _admission()
    assert not admission.hold("a", "a/1", b"12345", retained=False)
    assert admission.held == {}
    assert admission.held_bytes == 0


def test_refusals_and_what_is_held_for_them() -> None:
    assert {refusal.value for refusal in Refusal} == {
        CONF_MAX_DEVICES,
        CONF_NEW_DEVICES_PER_MINUTE,
        CONF_KNOWN_DEVICES_ONLY,
        CONF_MAX_EXTRA_SENSORS,
    }
    assert {Refusal.NEW_DEVICES_PER_MINUTE, Refusal.KNOWN_DEVICES_ONLY} == HELD_FOR
    refused = DeviceRefused(Refusal.MAX_DEVICES, "dev-1")
    assert refused.refusal is Refusal.MAX_DEVICES
    assert refused.wire_id == "dev-1"
    assert "dev-1" in str(refused)
