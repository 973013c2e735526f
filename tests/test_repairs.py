"""Repair issues: stale devices offered for removal, statuses not retained, Janus admin path."""

from __future__ import annotations

from datetime import timedelta
from http import HTTPStatus
import string
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.components.repairs import ConfirmRepairFlow, repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.translation import async_get_translations
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_fire_mqtt_message,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.mqtt_fleet import async_remove_config_entry_device, repairs
from custom_components.mqtt_fleet.admission import Refusal
from custom_components.mqtt_fleet.const import CONF_STALE_DEVICE_DAYS, DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.issues import (
    ADMISSION_PREFIX,
    DEVICES_WAITING,
    JANUS_WRONG_PATH,
    RETAINED_DROPPED,
    STALE_DEVICE,
    STATUS_NOT_RETAINED,
)
from custom_components.mqtt_fleet.upkeep import RETAINED_STATUS_GRACE, SAVE_DELAY, store_key

from .common import (
    START,
    TRANSLATIONS,
    Fire,
    Loader,
    default_options,
    device_by_identifier,
    entry_id_for,
    publishes,
)
from .families.autocore.helpers import BOARD_A, BOARD_B, status_a, status_b, telemetry_a
from .families.container_logs.helpers import WEB, fire as fire_log, log, logs_entry
from .families.janus.helpers import (
    SERVER,
    call_list_sessions,
    error,
    janus_entry,
    reply,
    status,
    success,
    wait_request,
)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
GRACE = timedelta(seconds=RETAINED_STATUS_GRACE)
TOPIC_A = f"autocore/{BOARD_A}/status"
TOPIC_B = f"autocore/devices/{BOARD_B}/status"
TITLE = "AutoCore"  # the entry under its family's default base
# What every issue's texts may use, by kind; the tests below check each raised issue's.
PLACEHOLDERS = {
    JANUS_WRONG_PATH: {"device", "entry", "base_topic"},
    STATUS_NOT_RETAINED: {"device", "entry", "base_topic"},
    STALE_DEVICE: {"device", "entry", "base_topic", "days"},
}
# Issues about an entry rather than one device (tests/test_admission.py raises them).
ENTRY_PLACEHOLDERS = {
    f"{ADMISSION_PREFIX}{Refusal.MAX_DEVICES}": {"entry", "base_topic", "limit"},
    f"{ADMISSION_PREFIX}{Refusal.NEW_DEVICES_PER_MINUTE}": {"entry", "base_topic", "limit"},
    f"{ADMISSION_PREFIX}{Refusal.MAX_EXTRA_SENSORS}": {"entry", "base_topic", "limit"},
    RETAINED_DROPPED: {"entry", "base_topic", "missing", "known"},
}


# --- helpers ----------------------------------------------------------------------------


async def pass_time(hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta) -> None:
    """Move the frozen clock on at once and run the timers due by then (one run each)."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


async def retained(hass: HomeAssistant, topic: str, payload: str) -> None:
    """Deliver a retained message, as the broker replays it to a new subscription."""
    async_fire_mqtt_message(hass, topic, payload, retain=True)
    await hass.async_block_till_done()


async def reload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED


def fleet_issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    """Return this integration's active issues by id."""
    return {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.active
    }


def issue_id(kind: str, entry: MockConfigEntry, device: str) -> str:
    return f"{kind}.{entry.entry_id}.{device}"


def registry_device(hass: HomeAssistant, entry: MockConfigEntry, device: str) -> dr.DeviceEntry:
    found = device_by_identifier(dr.async_get(hass), f"{entry.entry_id}/{device}")
    assert found is not None, device
    return found


def entity_ids(hass: HomeAssistant, registry_id: str) -> list[str]:
    """Return the entity ids of a registry device, disabled ones included."""
    entries = er.async_entries_for_device(
        er.async_get(hass), registry_id, include_disabled_entities=True
    )
    return sorted(entry.entity_id for entry in entries)


def stored_last_seen(hass_storage: dict[str, Any], entry: MockConfigEntry) -> dict[str, float]:
    data: dict[str, float] = hass_storage[store_key(entry.entry_id)]["data"]
    return data


def text_fields(text: str) -> set[str]:
    """Return the placeholders a translated text uses."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


@pytest.fixture
async def autocore(loaded: Loader, config_entry: MockConfigEntry) -> MockConfigEntry:
    """The AutoCore entry of conftest, with its default 30 stale days, set up at START."""
    return await loaded(config_entry)


# --- stale devices ----------------------------------------------------------------------


@pytest.mark.parametrize("days", [30, 2])
async def test_stale_device_offered_for_removal_after_the_configured_days(
    hass: HomeAssistant,
    loaded: Loader,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fire: Fire,
    days: int,
) -> None:
    """Not an hour before the stale time; at the hourly check that reaches it, one issue."""
    options = dict(config_entry.options)
    if days != 30:
        options[CONF_STALE_DEVICE_DAYS] = days
    else:  # 30 is the default: an entry from before the option has the same
        del options[CONF_STALE_DEVICE_DAYS]
    entry = await loaded(
        MockConfigEntry(
            domain=DOMAIN,
            title=config_entry.title,
            data=dict(config_entry.data),
            options=options,
            unique_id=config_entry.unique_id,
            entry_id=entry_id_for(config_entry.unique_id),
        )
    )
    assert entry.runtime_data.upkeep.stale_after == days * 86400
    await fire(TOPIC_A, status_a())  # at START
    await pass_time(hass, freezer, GRACE)  # the first check
    assert not fleet_issues(hass)

    await pass_time(hass, freezer, days * DAY - HOUR - GRACE)  # an hourly check
    assert not fleet_issues(hass)
    await pass_time(hass, freezer, HOUR)  # silent for exactly `days` at this check
    stale_id = issue_id(STALE_DEVICE, entry, BOARD_A)
    assert list(fleet_issues(hass)) == [stale_id]
    issue = fleet_issues(hass)[stale_id]
    assert issue.translation_key == "stale_device"
    assert issue.translation_placeholders == {
        "device": BOARD_A,
        "entry": TITLE,
        "base_topic": "autocore",
        "days": str(days),
    }
    assert issue.is_fixable is True
    assert issue.is_persistent is False
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.data == {"entry_id": entry.entry_id, "device_id": BOARD_A}
    assert {
        wire_id for wire_id, device in entry.runtime_data.devices.items() if device.stale_reported
    } == {BOARD_A}
    assert entry.runtime_data.devices[BOARD_A].stale_reported is True

    # The next check keeps it (and the set of stale devices) as it is.
    await pass_time(hass, freezer, HOUR)
    assert list(fleet_issues(hass)) == [stale_id]
    assert {
        wire_id for wire_id, device in entry.runtime_data.devices.items() if device.stale_reported
    } == {BOARD_A}


async def test_stale_issue_withdrawn_when_the_device_speaks_again(
    hass: HomeAssistant, autocore: MockConfigEntry, freezer: FrozenDateTimeFactory, fire: Fire
) -> None:
    """A message it sends withdraws the offer; a retained replay does not."""
    hub = autocore.runtime_data
    await fire(TOPIC_A, status_a())
    await pass_time(hass, freezer, 30 * DAY + GRACE)
    stale_id = issue_id(STALE_DEVICE, autocore, BOARD_A)
    assert list(fleet_issues(hass)) == [stale_id]

    await retained(hass, TOPIC_A, status_a())  # e.g. the broker after a reconnect
    assert list(fleet_issues(hass)) == [stale_id]
    await fire(f"autocore/{BOARD_A}/telemetry", telemetry_a())
    assert not fleet_issues(hass)
    assert not any(device.stale_reported for device in hub.devices.values())
    assert hub.devices[BOARD_A].stale_reported is False

    # Silent again for the stale time: offered again.
    await pass_time(hass, freezer, 30 * DAY)
    assert list(fleet_issues(hass)) == [stale_id]


async def test_stale_issue_withdrawn_when_the_clock_goes_back(
    hass: HomeAssistant, autocore: MockConfigEntry, freezer: FrozenDateTimeFactory, fire: Fire
) -> None:
    """A wall clock set back (e.g. by NTP) puts the device inside the stale time again."""
    await fire(TOPIC_A, status_a())
    await pass_time(hass, freezer, 30 * DAY + GRACE)
    assert fleet_issues(hass)
    freezer.move_to(START + DAY)
    # What the hourly check does (the frozen loop clock went back as well: no timer is due).
    autocore.runtime_data.upkeep.async_check_stale()
    assert not fleet_issues(hass)
    assert not any(device.stale_reported for device in autocore.runtime_data.devices.values())


async def test_fix_flow_removes_the_device_which_returns_when_it_speaks(
    hass: HomeAssistant, autocore: MockConfigEntry, freezer: FrozenDateTimeFactory, fire: Fire
) -> None:
    """Through HA's repairs flow manager: the device, its entities and its issue go."""
    hub = autocore.runtime_data
    await fire(TOPIC_A, status_a())
    await fire(f"autocore/{BOARD_A}/telemetry", telemetry_a())
    await fire(TOPIC_B, status_b())  # another board, which keeps talking
    board = registry_device(hass, autocore, BOARD_A)
    entities = entity_ids(hass, board.id)
    assert len(entities) >= 5
    await pass_time(hass, freezer, 30 * DAY + GRACE - HOUR)
    await fire(TOPIC_B, status_b())
    await pass_time(hass, freezer, HOUR)
    stale_id = issue_id(STALE_DEVICE, autocore, BOARD_A)
    assert list(fleet_issues(hass)) == [stale_id]

    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": stale_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "confirm"
    assert result["description_placeholders"] == {
        "device": BOARD_A,
        "entry": TITLE,
        "base_topic": "autocore",
        "days": "30",
    }
    assert BOARD_A in hub.devices  # nothing happens before the user confirms

    result = await manager.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert not fleet_issues(hass)
    assert BOARD_A not in hub.devices
    assert not any(device.stale_reported for device in hub.devices.values())
    assert dr.async_get(hass).async_get(board.id) is None
    assert entity_ids(hass, board.id) == []
    for entity_id in entities:
        assert hass.states.get(entity_id) is None, entity_id
    assert BOARD_B in hub.devices  # the other board stays
    registry_device(hass, autocore, BOARD_B)

    # It comes back, with its entities, when it speaks again.
    await fire(TOPIC_A, status_a())
    await fire(f"autocore/{BOARD_A}/telemetry", telemetry_a())
    assert BOARD_A in hub.devices
    back = registry_device(hass, autocore, BOARD_A)
    assert entity_ids(hass, back.id) == entities
    temperature = hass.states.get(f"sensor.{BOARD_A.lower()}_temperature")
    assert temperature is not None
    assert temperature.state == "25.6"


async def test_fix_flow_through_the_frontend_api(
    hass: HomeAssistant,
    autocore: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fire: Fire,
    hass_client: ClientSessionGenerator,
    hass_admin_user: MockUser,
) -> None:
    """The HTTP endpoints the repairs dashboard uses: the form, then the removal."""
    await fire(TOPIC_A, status_a())
    await pass_time(hass, freezer, 30 * DAY + GRACE)
    stale_id = issue_id(STALE_DEVICE, autocore, BOARD_A)
    assert await async_setup_component(hass, "repairs", {})
    # A token issued at the frozen time (the fixture's is refused: 401 at this clock).
    refresh_token = await hass.auth.async_create_refresh_token(hass_admin_user, "test")
    client = await hass_client(hass.auth.async_create_access_token(refresh_token))

    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": stale_id}
    )
    assert response.status == HTTPStatus.OK
    form = await response.json()
    assert form["type"] == "form"
    assert form["step_id"] == "confirm"
    assert form["description_placeholders"]["device"] == BOARD_A
    assert form["description_placeholders"]["days"] == "30"

    response = await client.post(f"/api/repairs/issues/fix/{form['flow_id']}", json={})
    assert response.status == HTTPStatus.OK
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert BOARD_A not in autocore.runtime_data.devices
    assert not fleet_issues(hass)


@pytest.mark.parametrize("meanwhile", ["device_spoke", "entry_unloaded", "entry_deleted"])
async def test_fix_flow_removes_nothing_when_the_device_is_no_longer_stale(
    hass: HomeAssistant,
    autocore: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fire: Fire,
    meanwhile: str,
) -> None:
    """The dialog was open while the device spoke or its entry went away: it aborts."""
    await fire(TOPIC_A, status_a())
    await pass_time(hass, freezer, 30 * DAY + GRACE)
    stale_id = issue_id(STALE_DEVICE, autocore, BOARD_A)
    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": stale_id})
    assert result["type"] is FlowResultType.FORM

    if meanwhile == "device_spoke":
        await fire(f"autocore/{BOARD_A}/telemetry", telemetry_a())
    elif meanwhile == "entry_unloaded":
        assert await hass.config_entries.async_unload(autocore.entry_id)
    else:
        assert await hass.config_entries.async_remove(autocore.entry_id)
    await hass.async_block_till_done()
    assert not fleet_issues(hass)  # withdrawn (or dropped with the entry) already

    result = await manager.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "not_stale"
    assert result["description_placeholders"] == {"device": BOARD_A}
    if meanwhile != "entry_deleted":
        registry_device(hass, autocore, BOARD_A)  # still there


async def test_last_seen_survives_a_reload(
    hass: HomeAssistant,
    autocore: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fire: Fire,
    hass_storage: dict[str, Any],
) -> None:
    """A device silent before a reload keeps ageing; the broker's replay does not count."""
    await fire(TOPIC_A, status_a())  # at START
    await pass_time(hass, freezer, 20 * DAY)
    await reload(hass, autocore)  # e.g. an options change or a restart
    assert stored_last_seen(hass_storage, autocore) == {BOARD_A: START.timestamp()}
    hub = autocore.runtime_data
    assert hub.devices[BOARD_A].restored
    await retained(hass, TOPIC_A, status_a())  # what the broker kept: no sign of life
    assert hub.devices[BOARD_A].online is True
    await pass_time(hass, freezer, GRACE)
    assert not fleet_issues(hass)  # 20 days

    await pass_time(hass, freezer, 10 * DAY - GRACE)  # 30 days since it spoke
    assert list(fleet_issues(hass)) == [issue_id(STALE_DEVICE, autocore, BOARD_A)]

    # Unloading drops the issues; the next start raises it again at its first check.
    await reload(hass, autocore)
    assert not fleet_issues(hass)
    await retained(hass, TOPIC_A, status_a())
    await pass_time(hass, freezer, GRACE)
    assert list(fleet_issues(hass)) == [issue_id(STALE_DEVICE, autocore, BOARD_A)]


async def test_a_device_without_a_stored_time_ages_from_the_start(
    hass: HomeAssistant,
    autocore: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fire: Fire,
    hass_storage: dict[str, Any],
) -> None:
    """Devices known from before the store existed are not offered at once."""
    await fire(TOPIC_A, status_a())
    assert await hass.config_entries.async_unload(autocore.entry_id)
    hass_storage.pop(store_key(autocore.entry_id))
    await pass_time(hass, freezer, 40 * DAY)
    assert await hass.config_entries.async_setup(autocore.entry_id)
    await hass.async_block_till_done()
    await retained(hass, TOPIC_A, status_a())
    await pass_time(hass, freezer, GRACE)
    assert not fleet_issues(hass)
    await pass_time(hass, freezer, 30 * DAY - HOUR)
    assert not fleet_issues(hass)
    await pass_time(hass, freezer, HOUR)
    assert list(fleet_issues(hass)) == [issue_id(STALE_DEVICE, autocore, BOARD_A)]


async def test_last_seen_written_when_home_assistant_stops(
    hass: HomeAssistant,
    autocore: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fire: Fire,
    hass_storage: dict[str, Any],
) -> None:
    """Entries are not unloaded at a stop: the final write carries the latest times."""
    await fire(TOPIC_A, status_a())
    await pass_time(hass, freezer, GRACE)  # the first check
    await pass_time(hass, freezer, timedelta(seconds=SAVE_DELAY))  # and its save
    assert stored_last_seen(hass_storage, autocore) == {BOARD_A: START.timestamp()}
    heard = START + GRACE + timedelta(seconds=SAVE_DELAY + 60)
    freezer.move_to(heard)
    await fire(TOPIC_A, status_a())
    hass.set_state(CoreState.stopping)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert stored_last_seen(hass_storage, autocore) == {BOARD_A: heard.timestamp()}
    hass.set_state(CoreState.running)


async def test_deleting_the_entry_deletes_its_last_seen_times(
    hass: HomeAssistant, autocore: MockConfigEntry, fire: Fire, hass_storage: dict[str, Any]
) -> None:
    await fire(TOPIC_A, status_a())
    assert await hass.config_entries.async_unload(autocore.entry_id)
    assert store_key(autocore.entry_id) in hass_storage
    assert await hass.config_entries.async_setup(autocore.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_remove(autocore.entry_id)
    await hass.async_block_till_done()
    assert store_key(autocore.entry_id) not in hass_storage


async def test_no_checks_while_the_broker_is_away(
    hass: HomeAssistant, autocore: MockConfigEntry, freezer: FrozenDateTimeFactory, fire: Fire
) -> None:
    """Silence during an outage is not the devices' fault; after it they get a grace."""
    await fire(TOPIC_A, status_a())
    await fire(TOPIC_B, status_b())
    await pass_time(hass, freezer, GRACE)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await pass_time(hass, freezer, 31 * DAY)  # an hourly check, skipped
    await pass_time(hass, freezer, HOUR - timedelta(seconds=10))
    assert not fleet_issues(hass)

    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await pass_time(hass, freezer, timedelta(seconds=15))  # an hourly check within the grace
    assert not fleet_issues(hass)
    await fire(TOPIC_A, status_a())  # board A is alive; board B is not
    await pass_time(hass, freezer, GRACE)
    assert list(fleet_issues(hass)) == [issue_id(STALE_DEVICE, autocore, BOARD_B)]


# --- statuses that are not retained -----------------------------------------------------


async def test_status_not_retained_raised_for_a_restored_device(
    hass: HomeAssistant,
    autocore: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fire: Fire,
    mqtt_mock: Any,
) -> None:
    """A known board without a status, after it was asked; not one whose status came."""
    await fire(TOPIC_A, status_a())
    await fire(TOPIC_B, status_b())
    await pass_time(hass, freezer, GRACE)
    assert not fleet_issues(hass)  # devices found since the start are not checked

    await reload(hass, autocore)
    await retained(hass, TOPIC_A, status_a())  # board A's status is retained, B's is not
    await fire("autocore/ESP32_009/telemetry", telemetry_a(device_id="ESP32_009"))  # new
    await pass_time(hass, freezer, GRACE - timedelta(seconds=1))
    assert not fleet_issues(hass)
    mqtt_mock.async_publish.reset_mock()
    await pass_time(hass, freezer, timedelta(seconds=1))
    assert not fleet_issues(hass)  # board B (firmware v2) is asked for its status first
    assert [call[0] for call in publishes(mqtt_mock)] == [
        f"autocore/devices/{BOARD_B}/commands/status"
    ]
    await pass_time(hass, freezer, timedelta(seconds=1))  # the request is out
    assert not fleet_issues(hass)
    await pass_time(hass, freezer, GRACE)  # and a grace for the answer passed
    not_retained = issue_id(STATUS_NOT_RETAINED, autocore, BOARD_B)
    assert list(fleet_issues(hass)) == [not_retained]
    issue = fleet_issues(hass)[not_retained]
    assert issue.translation_key == "status_not_retained"
    assert issue.translation_placeholders == {
        "device": BOARD_B,
        "entry": TITLE,
        "base_topic": "autocore",
    }
    assert issue.is_fixable is False
    assert issue.severity is ir.IssueSeverity.WARNING

    # Checked once per start: a reconnect does not raise it again or more.
    await fire(TOPIC_B, status_b())
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await pass_time(hass, freezer, GRACE)
    assert list(fleet_issues(hass)) == [not_retained]

    # The next start finds the status retained: no issue.
    await reload(hass, autocore)
    assert not fleet_issues(hass)
    await retained(hass, TOPIC_A, status_a())
    await retained(hass, TOPIC_B, status_b())
    await retained(hass, "autocore/ESP32_009/status", status_a(device_id="ESP32_009"))
    await pass_time(hass, freezer, GRACE)
    assert not fleet_issues(hass)


async def test_status_check_waits_for_the_broker(
    hass: HomeAssistant, autocore: MockConfigEntry, freezer: FrozenDateTimeFactory, fire: Fire
) -> None:
    """A broker that connects late (or drops in the grace) does not make statuses look lost."""
    await fire(TOPIC_A, status_a())
    await fire(TOPIC_B, status_b())
    await reload(hass, autocore)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    await pass_time(hass, freezer, 2 * GRACE)
    assert not fleet_issues(hass)

    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await retained(hass, TOPIC_A, status_a())
    await pass_time(hass, freezer, GRACE - timedelta(seconds=1))
    assert not fleet_issues(hass)
    await pass_time(hass, freezer, timedelta(seconds=1))
    assert not fleet_issues(hass)  # asked for its status, board B gets another grace
    await pass_time(hass, freezer, timedelta(seconds=1))  # the request is out
    assert not fleet_issues(hass)
    await pass_time(hass, freezer, GRACE)  # and a grace for the answer passed
    assert list(fleet_issues(hass)) == [issue_id(STATUS_NOT_RETAINED, autocore, BOARD_B)]


async def test_log_sources_have_no_status_but_do_go_stale(
    hass: HomeAssistant, loaded: Loader, freezer: FrozenDateTimeFactory
) -> None:
    """Container log sources are never online or offline; silent ones are still offered."""
    entry = await loaded(logs_entry())
    await fire_log(hass, "1/web/info", log())
    await reload(hass, entry)
    assert entry.runtime_data.devices[WEB].restored
    await pass_time(hass, freezer, GRACE)
    assert not fleet_issues(hass)
    await pass_time(hass, freezer, 30 * DAY)
    stale_id = issue_id(STALE_DEVICE, entry, WEB)
    assert list(fleet_issues(hass)) == [stale_id]
    placeholders = fleet_issues(hass)[stale_id].translation_placeholders
    assert placeholders is not None
    assert placeholders["base_topic"] == "container-manager/logs"


# --- Janus admin topics wired as API topics ---------------------------------------------


async def test_janus_wrong_path_raised_by_a_457_and_cleared_by_a_listing(
    hass: HomeAssistant, loaded: Loader, mqtt_mock: Any
) -> None:
    entry = await loaded(janus_entry())
    await status(hass, SERVER, "online")
    wrong_path = issue_id(JANUS_WRONG_PATH, entry, SERVER)

    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await reply(hass, SERVER, error(body["transaction"], 457, "Request not handled at path"))
    with pytest.raises(HomeAssistantError):
        await call
    assert list(fleet_issues(hass)) == [wrong_path]
    issue = fleet_issues(hass)[wrong_path]
    assert issue.translation_key == "janus_wrong_path"
    assert issue.translation_placeholders == {
        "device": SERVER,
        "entry": "Janus",
        "base_topic": "janus",
    }
    assert issue.is_fixable is False

    # Fixed on the server: the next successful listing clears it.
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    await reply(hass, SERVER, success(body["transaction"], [1]))
    assert await call == {"server": SERVER, "count": 1, "sessions": [1]}
    assert not fleet_issues(hass)

    # Wrong again, then the user deletes the server: its issue goes with it.
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 3)
    await reply(hass, SERVER, error(body["transaction"], 457, "Request not handled at path"))
    with pytest.raises(HomeAssistantError):
        await call
    assert list(fleet_issues(hass)) == [wrong_path]
    device = registry_device(hass, entry, SERVER)
    assert await async_remove_config_entry_device(hass, entry, device)
    assert not fleet_issues(hass)


# --- texts and the fix flow factory -----------------------------------------------------


async def test_issue_texts_exist_with_their_placeholders(hass: HomeAssistant) -> None:
    """Every kind has a title and a description or a fix flow, using known placeholders."""
    issues = TRANSLATIONS["issues"]
    assert set(issues) == {*PLACEHOLDERS, *ENTRY_PLACEHOLDERS, DEVICES_WAITING}
    for kind, provided in ENTRY_PLACEHOLDERS.items():
        for text in (issues[kind]["title"], issues[kind]["description"]):
            assert text.strip(), kind
            assert text_fields(text) <= provided, (kind, text)
    waiting = issues[DEVICES_WAITING]
    assert text_fields(waiting["title"]) == {"entry"}
    assert text_fields(waiting["fix_flow"]["step"]["init"]["description"]) == {
        "entry",
        "waiting",
        "listed",
    }
    for kind, provided in PLACEHOLDERS.items():
        texts = [issues[kind]["title"]]
        if kind == STALE_DEVICE:
            confirm = issues[kind]["fix_flow"]["step"]["confirm"]
            texts += [confirm["title"], confirm["description"]]
            abort = issues[kind]["fix_flow"]["abort"]["not_stale"]
            assert text_fields(abort) == {"device"}
        else:
            texts.append(issues[kind]["description"])
        for text in texts:
            assert text.strip(), kind
            assert text_fields(text) <= provided, (kind, text)
        assert "device" in text_fields(texts[0]), kind
    assert "days" in text_fields(issues[STALE_DEVICE]["title"])

    # Home Assistant itself resolves them.
    loaded = await async_get_translations(hass, "en", "issues", {DOMAIN})
    prefix = f"component.{DOMAIN}.issues"
    for kind in PLACEHOLDERS:
        assert loaded[f"{prefix}.{kind}.title"], kind
    assert loaded[f"{prefix}.stale_device.fix_flow.step.confirm.description"]
    assert loaded[f"{prefix}.stale_device.fix_flow.abort.not_stale"]


async def test_only_stale_devices_get_a_removal_flow(hass: HomeAssistant) -> None:
    data = {"entry_id": "e1", "device_id": "d1"}
    flow = await repairs.async_create_fix_flow(hass, "stale_device.e1.d1", data)
    assert isinstance(flow, repairs.StaleDeviceRepairFlow)
    for other, other_data in (("janus_wrong_path.e1.d1", data), ("stale_device.e1.d1", None)):
        flow = await repairs.async_create_fix_flow(hass, other, other_data)
        assert type(flow) is ConfirmRepairFlow


def test_every_family_has_the_option() -> None:
    for family in FAMILIES:
        assert default_options(family)[CONF_STALE_DEVICE_DAYS] == 30, family
