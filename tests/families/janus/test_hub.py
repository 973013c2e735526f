"""Janus hub: status and connectivity, the admin API poller, reauth, restore, reconnects."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.mqtt import MQTT_CONNECTION_STATE
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_mqtt_message,
)

from custom_components.mqtt_fleet.const import (
    DOMAIN,
    EVENT_DEVICE_DISCOVERED,
    EVENT_DEVICE_OFFLINE,
    EVENT_DEVICE_ONLINE,
)
from custom_components.mqtt_fleet.families.janus.hub import JanusHub
from custom_components.mqtt_fleet.protocol.correlation import PendingReplies

from ...clock import settle, until as _until
from ...common import device_by_identifier
from .helpers import (
    ADMIN_STATE,
    BASE,
    CONNECTIVITY,
    SECRET,
    SERVER,
    SESSIONS,
    TRANSACTION,
    advance,
    call_list_sessions,
    device_entry,
    error,
    first_poll,
    janus_entry,
    published,
    reauth_flows,
    replies_subscribed,
    reply,
    requests,
    server_info,
    status,
    success,
    wait_request,
)

# --- status and connectivity ------------------------------------------------------------


@pytest.mark.parametrize("online", ['{"online": true}', "online"])
async def test_status_creates_the_server_and_follows_its_connectivity(
    hass: HomeAssistant, janus: MockConfigEntry, online: str
) -> None:
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    back = async_capture_events(hass, EVENT_DEVICE_ONLINE)
    hub: JanusHub = janus.runtime_data
    assert hub.protocol.subscriptions == ("janus/+/status", "janus/+/from-janus-admin")

    await status(hass, SERVER, online)
    device = device_entry(hass, SERVER)
    hub_device = device_by_identifier(dr.async_get(hass), "entry_janus_janus")
    assert hub_device is not None
    assert device.model == "Janus WebRTC Server"
    assert device.manufacturer == "Meetecho"
    assert device.name == SERVER
    assert device.via_device_id == hub_device.id
    assert device.config_entry_id == janus.entry_id
    state = hass.states.get(CONNECTIVITY)
    assert state.state == STATE_ON
    assert state.attributes["device_class"] == "connectivity"
    assert [event.data for event in discovered] == [
        {"device_id": device.id, "device": SERVER, "family": "janus"}
    ]
    assert offline == back == []

    # The Last Will.
    await status(hass, SERVER, '{"online": false}')
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert [event.data for event in offline] == [
        {"device_id": device.id, "device": SERVER, "family": "janus"}
    ]
    assert back == []

    await status(hass, SERVER, online)
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert [event.data for event in back] == [
        {"device_id": device.id, "device": SERVER, "family": "janus"}
    ]
    assert len(offline) == 1
    assert len(discovered) == 1
    assert hub.invalid_messages == 0


@pytest.mark.parametrize("payload", ["offline", "false", "true", "OFFLINE", " Online "])
async def test_plain_status_words(
    hass: HomeAssistant, janus: MockConfigEntry, payload: str
) -> None:
    await status(hass, SERVER, payload)
    expected = STATE_ON if payload.strip().lower() in ("online", "true") else STATE_OFF
    assert hass.states.get(CONNECTIVITY).state == expected


@pytest.mark.parametrize("payload", ["maybe", '{"online": "yes"}', "{}", "[true]"])
async def test_invalid_status_is_counted_and_creates_nothing(
    hass: HomeAssistant, janus: MockConfigEntry, payload: str
) -> None:
    hub: JanusHub = janus.runtime_data
    await status(hass, SERVER, payload)
    assert hub.invalid_messages == 1
    assert SERVER not in hub.devices
    assert hass.states.get(CONNECTIVITY) is None


# --- configured servers and the poller --------------------------------------------------


@pytest.mark.parametrize("janus_options", [{"servers": ["gw1", "gw2"]}])
async def test_configured_servers_exist_before_any_message_and_are_polled(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    hub: JanusHub = janus.runtime_data
    assert set(hub.devices) == {"gw1", "gw2"}
    for server in ("gw1", "gw2"):
        assert device_entry(hass, server).model == "Janus WebRTC Server"
        # Unknown until the server speaks: neither on nor off.
        assert hass.states.get(f"binary_sensor.{server}_connectivity").state == "unknown"
    mqtt_mock.async_publish.assert_not_called()

    # New to the entry, nothing restored to replace: each at its own offset in the round.
    await advance(hass, freezer, 5)
    info = await wait_request(mqtt_mock, "gw1", "info", 1)
    assert requests(mqtt_mock, "gw2") == []
    # A reply proves the server runs.
    await reply(hass, "gw1", server_info(info["transaction"]))
    assert hass.states.get("binary_sensor.gw1_connectivity").state == STATE_ON
    await advance(hass, freezer, 5)
    await wait_request(mqtt_mock, "gw2", "info", 1)

    # Known after a reload: both are asked once the replies can arrive.
    assert await hass.config_entries.async_reload(janus.entry_id)
    await replies_subscribed(hass, freezer)
    assert len(janus.runtime_data.pending) == 2


@pytest.mark.parametrize(
    "entry", [janus_entry(data_servers=["gw4", "gw1", "a/b"], servers=["gw1", "gw2"])]
)
async def test_known_servers_come_from_the_entry_data_and_its_options(
    hass: HomeAssistant, janus: MockConfigEntry
) -> None:
    """Servers typed when the entry was added count like those of the options."""
    hub: JanusHub = janus.runtime_data
    assert hub.known_servers == ["gw1", "gw2", "gw4"]
    assert set(hub.devices) == {"gw1", "gw2", "gw4"}


@pytest.mark.parametrize("entry", [janus_entry(data_servers="")])  # type: ignore[arg-type]
async def test_blank_servers_in_the_entry_data(hass: HomeAssistant, janus: MockConfigEntry) -> None:
    """A flow stores a blank text for an empty list: no server."""
    assert janus.runtime_data.known_servers == []


async def test_a_live_online_status_means_a_new_count(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Janus restarted within the offline timeout: no `offline` came, only a new `online`.

    The old process's count is not shown as current; the new process is asked at once.
    """
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)
    assert hass.states.get(SESSIONS).state == "2"
    await advance(hass, freezer, 10)
    lost = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)  # the old process's
    await status(hass, SERVER, '{"online": true}')
    assert hass.states.get(SESSIONS).state == STATE_UNAVAILABLE
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    info = await wait_request(mqtt_mock, SERVER, "info", 2)  # at once, not after 5 s
    await reply(hass, SERVER, server_info(info["transaction"], "1.3.0"))
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 3)
    assert body["transaction"] != lost["transaction"]
    await reply(hass, SERVER, success(body["transaction"], []))
    assert hass.states.get(SESSIONS).state == "0"
    assert device_entry(hass, SERVER).sw_version == "1.3.0"
    # The same count as before the restart makes the sensor available again too.
    await status(hass, SERVER, '{"online": true}')
    await first_poll(hass, freezer, mqtt_mock, sessions=[])
    assert hass.states.get(SESSIONS).state == "0"


@pytest.mark.parametrize("janus_options", [{"servers": ["gw3"]}])
async def test_poller_requests(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """At once, then every poll interval: list_sessions (QoS 1, secret, fresh transaction).

    `info` goes first until a server answered it, and again after it was offline.
    """
    await status(hass, "gw1", '{"online": true}')
    await status(hass, "gw2", '{"online": false}')  # known offline: never polled
    info = await wait_request(mqtt_mock, "gw1", "info", 1)  # at once
    assert requests(mqtt_mock, "gw1") == [info]  # list_sessions waits for the info reply
    assert info == {"janus": "info", "transaction": info["transaction"]}  # no secret
    assert TRANSACTION.fullmatch(info["transaction"])
    (call,) = published(mqtt_mock, "gw1")
    assert call.args[2:] == (1, False)

    await reply(hass, "gw1", server_info(info["transaction"]))
    first = await wait_request(mqtt_mock, "gw1", "list_sessions", 1)
    assert first == {
        "janus": "list_sessions",
        "transaction": first["transaction"],
        "admin_secret": SECRET,
    }
    assert TRANSACTION.fullmatch(first["transaction"])
    assert first["transaction"] != info["transaction"]
    assert published(mqtt_mock, "gw1", "list_sessions")[0].args == (
        "janus/gw1/to-janus-admin",
        json.dumps(first, separators=(",", ":")).encode(),
        1,
        False,
    )
    await reply(hass, "gw1", success(first["transaction"], [1, 2, 3]))

    # The next polls ask for sessions only; each with a fresh transaction.
    transactions = {info["transaction"], first["transaction"]}
    for count in (2, 3):
        await advance(hass, freezer, 10)
        body = await wait_request(mqtt_mock, "gw1", "list_sessions", count)
        assert body["admin_secret"] == SECRET
        assert body["transaction"] not in transactions
        assert TRANSACTION.fullmatch(body["transaction"])
        transactions.add(body["transaction"])
        await reply(hass, "gw1", success(body["transaction"], [1]))
    assert len(requests(mqtt_mock, "gw1", "info")) == 1
    assert requests(mqtt_mock, "gw3", "info")  # never answered: asked again
    assert requests(mqtt_mock, "gw2") == []

    # Offline and back: the info is asked for again, at once.
    await status(hass, "gw1", '{"online": false}')
    await advance(hass, freezer, 10)
    assert len(requests(mqtt_mock, "gw1")) == 4
    await status(hass, "gw1", "online")
    info = await wait_request(mqtt_mock, "gw1", "info", 2)
    assert "admin_secret" not in info
    await reply(hass, "gw1", server_info(info["transaction"]))
    await wait_request(mqtt_mock, "gw1", "list_sessions", 4)
    assert requests(mqtt_mock, "gw2") == []


async def test_poll_replies_make_sensors(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    await status(hass, SERVER, '{"online": true}')
    await first_poll(hass, freezer, mqtt_mock, sessions=[5, 6, 7], version="1.3.1")

    sessions = hass.states.get(SESSIONS)
    assert sessions.state == "3"
    assert sessions.attributes["state_class"] == "measurement"
    assert "unit_of_measurement" not in sessions.attributes
    assert device_entry(hass, SERVER).sw_version == "1.3.1"
    admin = hass.states.get(ADMIN_STATE)
    assert admin.state == "ok"
    assert admin.attributes["options"] == ["ok", "unauthorized", "no_reply", "wrong_path", "error"]
    assert janus.runtime_data.invalid_messages == 0

    # The next count replaces the last one.
    await advance(hass, freezer, 10)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    await reply(hass, SERVER, success(body["transaction"], []))
    assert hass.states.get(SESSIONS).state == "0"


@pytest.mark.parametrize(
    ("code", "state"),
    [(403, "unauthorized"), (457, "wrong_path"), (458, "error"), (456, "error"), (None, "error")],
)
async def test_admin_state_from_error_replies(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    code: int | None,
    state: str,
) -> None:
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)
    assert hass.states.get(ADMIN_STATE).state == "ok"
    await advance(hass, freezer, 10)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    await reply(
        hass,
        SERVER,
        json.dumps(
            {
                "janus": "error",
                "transaction": body["transaction"],
                "error": {"reason": "x"} | ({} if code is None else {"code": code}),
            }
        ),
    )
    assert hass.states.get(ADMIN_STATE).state == state
    # The last count stays: an error is no new count.
    assert hass.states.get(SESSIONS).state == "2"
    assert janus.runtime_data.invalid_messages == 0


async def test_admin_state_no_reply_after_5_seconds(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)
    await advance(hass, freezer, 10)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    await advance(hass, freezer, 4)
    assert hass.states.get(ADMIN_STATE).state == "ok"
    assert len(janus.runtime_data.pending) == 1
    await advance(hass, freezer, 1)
    assert hass.states.get(ADMIN_STATE).state == "no_reply"
    assert len(janus.runtime_data.pending) == 0
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    # The late reply finds nobody: ignored, not invalid.
    await reply(hass, SERVER, success(body["transaction"], [1, 2, 3, 4]))
    assert hass.states.get(SESSIONS).state == "2"
    assert hass.states.get(ADMIN_STATE).state == "no_reply"
    assert janus.runtime_data.invalid_messages == 0
    # The next answered poll: ok again.
    await advance(hass, freezer, 5)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 3)
    await reply(hass, SERVER, success(body["transaction"], [1]))
    assert hass.states.get(ADMIN_STATE).state == "ok"
    assert hass.states.get(SESSIONS).state == "1"


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(success(None, [1, 2, 3, 4, 5]), id="missing"),
        pytest.param(success("", [1, 2, 3, 4, 5]), id="empty"),
        pytest.param(success("0" * 24, [1, 2, 3, 4, 5]), id="unknown"),
        pytest.param(error("f" * 24, 403), id="unknown-403"),
        pytest.param(json.dumps({"janus": "success", "transaction": 7}), id="not-a-string"),
    ],
)
async def test_reply_without_a_known_transaction_is_ignored(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
    payload: str,
) -> None:
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)
    await advance(hass, freezer, 10)
    await wait_request(mqtt_mock, SERVER, "list_sessions", 2)  # one request is pending
    hub: JanusHub = janus.runtime_data
    before = {key: hass.states.get(key).state for key in (SESSIONS, ADMIN_STATE, CONNECTIVITY)}

    await reply(hass, SERVER, payload)
    await reply(hass, "gw-unknown", payload)
    assert hub.invalid_messages == 0
    assert hub.messages_received == 1 + 2 + 2  # status, two replies, these two
    assert len(hub.pending) == 1
    assert {key: hass.states.get(key).state for key in before} == before
    assert "gw-unknown" not in hub.devices
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_invalid_admin_replies_are_counted(
    hass: HomeAssistant, janus: MockConfigEntry
) -> None:
    hub: JanusHub = janus.runtime_data
    for payload in ("not json", "[]", '{"janus": "weird"}', '{"transaction": "x"}'):
        await reply(hass, SERVER, payload)
    assert hub.invalid_messages == 4
    assert not hub.devices


async def test_sessions_go_stale_without_admin_replies(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    """No admin reply for the offline timeout: the count is unavailable, the server on."""
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)  # the last reply at +10 s
    assert hass.states.get(SESSIONS).state == "2"

    await advance(hass, freezer, 55)  # +65 s: unanswered polls, not stale yet
    assert hass.states.get(SESSIONS).state == "2"
    assert hass.states.get(ADMIN_STATE).state == "no_reply"
    await advance(hass, freezer, 6)  # +71 s
    assert hass.states.get(SESSIONS).state == STATE_UNAVAILABLE
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert device_entry(hass, SERVER).sw_version == "1.2.3"
    assert hass.states.get(ADMIN_STATE).state == "no_reply"

    # A status is no admin reply: still stale.
    await status(hass, SERVER, "online")
    assert hass.states.get(SESSIONS).state == STATE_UNAVAILABLE

    count = len(requests(mqtt_mock, SERVER, "list_sessions"))
    await advance(hass, freezer, 9)  # +80 s: the next poll
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", count + 1)
    await reply(hass, SERVER, success(body["transaction"], [9]))
    assert hass.states.get(SESSIONS).state == "1"
    assert hass.states.get(ADMIN_STATE).state == "ok"
    assert hass.states.get(CONNECTIVITY).state == STATE_ON


async def test_refused_polls_do_not_keep_a_count_fresh(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    """403 replies prove the server runs, but the count they leave is old: it goes stale."""
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)  # a count at +10 s
    for _ in range(6):  # +20 s .. +70 s: every poll refused
        count = len(requests(mqtt_mock, SERVER, "list_sessions"))
        await advance(hass, freezer, 10)
        body = await wait_request(mqtt_mock, SERVER, "list_sessions", count + 1)
        await reply(hass, SERVER, error(body["transaction"], 403))
    assert hass.states.get(ADMIN_STATE).state == "unauthorized"
    assert hass.states.get(SESSIONS).state == STATE_UNAVAILABLE
    assert hass.states.get(CONNECTIVITY).state == STATE_ON


async def test_offline_server_values_unavailable_and_back(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)
    await status(hass, SERVER, '{"online": false}')
    for entity_id in (SESSIONS, ADMIN_STATE):
        assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    # Back: maybe a new process, whose sessions the old count does not tell.
    await status(hass, SERVER, '{"online": true}')
    assert hass.states.get(SESSIONS).state == STATE_UNAVAILABLE
    assert device_entry(hass, SERVER).sw_version == "1.2.3"
    assert hass.states.get(ADMIN_STATE).state == "ok"
    await first_poll(hass, freezer, mqtt_mock, sessions=[5])  # asked at once
    assert hass.states.get(SESSIONS).state == "1"


async def test_unload_stops_polling(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    hub: JanusHub = janus.runtime_data
    await status(hass, SERVER, "online")
    await wait_request(mqtt_mock, SERVER, "info", 1)
    assert len(hub.pending) == 1
    assert await hass.config_entries.async_unload(janus.entry_id)
    mqtt_mock.async_publish.reset_mock()
    await advance(hass, freezer, 30)
    mqtt_mock.async_publish.assert_not_called()
    assert len(hub.pending) == 0


# --- reauth -----------------------------------------------------------------------------


async def test_403_starts_one_reauth_and_the_new_secret_is_used_without_reload(
    hass: HomeAssistant,
    janus: MockConfigEntry,
    mqtt_mock: Any,
    freezer: FrozenDateTimeFactory,
) -> None:
    hub: JanusHub = janus.runtime_data
    await status(hass, SERVER, "online")
    info = await wait_request(mqtt_mock, SERVER, "info", 1)
    await reply(hass, SERVER, server_info(info["transaction"]))
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await reply(hass, SERVER, error(body["transaction"], 403, "Unauthorized request"))
    await hass.async_block_till_done()
    assert hass.states.get(ADMIN_STATE).state == "unauthorized"
    (flow,) = reauth_flows(hass)
    assert flow["step_id"] == "reauth_confirm"
    assert flow["context"]["entry_id"] == janus.entry_id

    # Repeated 403s: still exactly one flow.
    for count in (2, 3):
        await advance(hass, freezer, 10)
        body = await wait_request(mqtt_mock, SERVER, "list_sessions", count)
        assert body["admin_secret"] == SECRET
        await reply(hass, SERVER, error(body["transaction"], 403))
        await hass.async_block_till_done()
        assert [f["flow_id"] for f in reauth_flows(hass)] == [flow["flow_id"]]

    configure = asyncio.create_task(
        hass.config_entries.flow.async_configure(flow["flow_id"], {"admin_secret": "n3w"})
    )
    # The flow checks the new secret on the entry's server before it saves it.
    check = await wait_request(mqtt_mock, SERVER, "list_sessions", 4)
    assert check["admin_secret"] == "n3w"
    await reply(hass, SERVER, success(check["transaction"], [1]))
    result = await configure
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert janus.data["admin_secret"] == "n3w"
    assert dict(janus.data) == {"family": "janus", "base_topic": BASE, "admin_secret": "n3w"}
    assert janus.state is ConfigEntryState.LOADED
    assert janus.runtime_data is hub  # not reloaded
    assert not reauth_flows(hass)

    await advance(hass, freezer, 10)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 5)
    assert body["admin_secret"] == "n3w"
    await reply(hass, SERVER, success(body["transaction"], [1]))
    assert hass.states.get(ADMIN_STATE).state == "ok"
    assert hass.states.get(SESSIONS).state == "1"


async def test_a_403_to_the_replaced_secret_starts_no_new_reauth(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    """A poll sent with the old secret while reauth checked the new one: its 403 is stale."""
    await status(hass, SERVER, "online")
    await first_poll(hass, None, mqtt_mock)
    stale = call_list_sessions(hass, {"server": SERVER})  # sent with the old secret
    old = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    assert old["admin_secret"] == SECRET
    hass.config_entries.async_update_entry(janus, data={**janus.data, "admin_secret": "n3w"})
    await hass.async_block_till_done()

    await reply(hass, SERVER, error(old["transaction"], 403, "Unauthorized request"))
    with pytest.raises(HomeAssistantError):
        await stale  # the request itself was refused
    await hass.async_block_till_done()
    assert not reauth_flows(hass)
    assert hass.states.get(ADMIN_STATE).state == "ok"

    # A 403 to the entry's current secret still asks for a new one.
    current = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 3)
    assert body["admin_secret"] == "n3w"
    await reply(hass, SERVER, error(body["transaction"], 403, "Unauthorized request"))
    with pytest.raises(HomeAssistantError):
        await current
    await hass.async_block_till_done()
    assert len(reauth_flows(hass)) == 1
    assert hass.states.get(ADMIN_STATE).state == "unauthorized"


async def test_no_request_before_the_reply_subscription_is_made(
    hass: HomeAssistant, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A server's retained status comes at once; its poll waits until replies can arrive."""
    entry = janus_entry()
    entry.add_to_hass(hass)
    with patch("custom_components.mqtt_fleet.PLATFORMS", []):
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, f"{BASE}/{SERVER}/status", "online", retain=True)
    await settle(hass)
    assert SERVER in entry.runtime_data.devices
    assert requests(mqtt_mock, SERVER) == []  # the reply would be lost

    await replies_subscribed(hass, freezer)
    info = await wait_request(mqtt_mock, SERVER, "info", 1)  # at once, not a round later
    await reply(hass, SERVER, server_info(info["transaction"]))
    listing = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await reply(hass, SERVER, success(listing["transaction"], [7]))
    assert entry.runtime_data.devices[SERVER].values["sessions"] == 1


@pytest.mark.usefixtures("mqtt_mock")
async def test_the_retired_version_sensor_is_removed(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """The firmware shows in the device info; the old Version sensor goes at setup."""
    entry = janus_entry()
    entry.add_to_hass(hass)
    unique_id = f"{entry.entry_id}/{SERVER}/version"
    entity_registry.async_get_or_create("sensor", DOMAIN, unique_id, config_entry=entry)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entity_registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None


async def test_poll_interval_and_servers_apply_without_a_reload(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """Saving the options changes no entity state; the new interval and server take effect."""
    hub: JanusHub = janus.runtime_data
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)
    changes = async_capture_events(hass, EVENT_STATE_CHANGED)

    hass.config_entries.async_update_entry(
        janus, options={**janus.options, "poll_interval": 2, "servers": ["gw2"]}
    )
    await hass.async_block_till_done()
    assert janus.runtime_data is hub  # not reloaded
    changed = [event.data["entity_id"] for event in changes if event.data["old_state"]]
    assert changed == []  # only gw2's new entities appeared
    assert "gw2" in hub.devices  # a device at once
    assert device_entry(hass, "gw2").model == "Janus WebRTC Server"

    await advance(hass, freezer, 2)
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)  # 2 s on, not 10
    await reply(hass, SERVER, success(body["transaction"], [11, 22]))
    assert hub.as_diagnostics()["poll_interval_effective"] == 2


@pytest.mark.parametrize("entry", [janus_entry(secret="")])
async def test_empty_secret_is_not_sent(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    await status(hass, SERVER, "online")
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    assert body == {"janus": "list_sessions", "transaction": body["transaction"]}
    await reply(hass, SERVER, success(body["transaction"], []))
    assert await call == {"server": SERVER, "count": 0, "sessions": []}


# --- restore, replies and reconnects ----------------------------------------------------


async def test_restore_after_reload(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock, sessions=[1, 2, 3], version="1.3.1")
    registry_id = device_entry(hass, SERVER).id
    discovered = async_capture_events(hass, EVENT_DEVICE_DISCOVERED)

    assert await hass.config_entries.async_reload(janus.entry_id)
    await replies_subscribed(hass, freezer)
    hub: JanusHub = janus.runtime_data
    assert set(hub.devices) == {SERVER}
    device = hub.devices[SERVER]
    assert device.restored
    assert device.online is None
    assert device.registry_id == registry_id
    assert device_entry(hass, SERVER).sw_version == "1.3.1"
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    assert hass.states.get(SESSIONS).state == "3"
    # What the admin API said before the reload is not shown as current.
    assert hass.states.get(ADMIN_STATE).state == STATE_UNAVAILABLE
    assert discovered == []

    # The restored server is polled at once, not one interval later (info first).
    info = await wait_request(mqtt_mock, SERVER, "info", 2)
    await reply(hass, SERVER, server_info(info["transaction"], "1.3.1"))
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    await reply(hass, SERVER, error(body["transaction"], 403))
    assert hass.states.get(ADMIN_STATE).state == "unauthorized"


async def test_restored_offline_server_stays_off(
    hass: HomeAssistant, janus: MockConfigEntry
) -> None:
    await status(hass, SERVER, "offline")
    assert await hass.config_entries.async_reload(janus.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF


async def test_info_replies_without_a_version(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """An info answered without version_string (or with a bare success) sets no version."""
    await status(hass, SERVER, "online")
    info = await wait_request(mqtt_mock, SERVER, "info", 1)
    await reply(
        hass, SERVER, json.dumps({"janus": "server_info", "transaction": info["transaction"]})
    )
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await reply(hass, SERVER, success(body["transaction"], [1]))
    assert device_entry(hass, SERVER).sw_version is None

    await status(hass, SERVER, "offline")
    await status(hass, SERVER, "online")
    info = await wait_request(mqtt_mock, SERVER, "info", 2)
    await reply(hass, SERVER, success(info["transaction"], [1, 2, 3]))  # not a count
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    assert hass.states.get(SESSIONS).state == STATE_UNAVAILABLE  # no count since it came back
    assert device_entry(hass, SERVER).sw_version is None
    await reply(hass, SERVER, success(body["transaction"], [1, 2]))
    assert hass.states.get(SESSIONS).state == "2"
    assert janus.runtime_data.invalid_messages == 0


async def test_publish_failure(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A refused publish fails the action and leaves nothing pending; polling goes on."""
    hub: JanusHub = janus.runtime_data
    with patch(
        "homeassistant.components.mqtt.async_publish",
        side_effect=HomeAssistantError("not connected"),
    ) as publish:
        await status(hass, SERVER, "online")
        await settle(hass)
        assert publish.call_count == 2  # the poll at once fails quietly: info, list_sessions
        with pytest.raises(HomeAssistantError, match="not connected"):
            await call_list_sessions(hass, {"server": SERVER})
        assert publish.call_count == 3
        assert len(hub.pending) == 0
    assert hub.messages_sent == 0
    await advance(hass, freezer, 10)
    info = await wait_request(mqtt_mock, SERVER, "info", 1)  # not answered yet: asked again
    await reply(hass, SERVER, server_info(info["transaction"]))
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await reply(hass, SERVER, success(body["transaction"], [4]))
    assert hass.states.get(SESSIONS).state == "1"
    assert hub.messages_sent == 2


async def test_pending_replies() -> None:
    """The transaction map: one waiter per key, forgotten however the wait ends."""
    loop = asyncio.get_running_loop()
    pending: PendingReplies[str] = PendingReplies(loop)
    sent: list[str] = []

    async def send() -> None:
        sent.append("sent")

    waiter = asyncio.create_task(pending.async_request("t1", send, 5))
    await _until(lambda: bool(sent))
    assert len(pending) == 1
    with pytest.raises(ValueError, match="already pending"):
        await pending.async_request("t1", send, 5)
    assert sent == ["sent"]
    assert not pending.resolve(None, "reply")
    assert not pending.resolve("t2", "reply")
    assert pending.resolve("t1", "reply")
    assert not pending.resolve("t1", "again")  # answered: a repeat finds nobody
    pending.fail_all(RuntimeError("unload"))  # a done future is left alone
    assert await waiter == "reply"
    assert len(pending) == 0


@pytest.mark.parametrize("janus_options", [{"servers": [SERVER]}])
async def test_unanswered_info_is_asked_again(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await advance(hass, freezer, 10)  # first poll: the configured server is still down
    await wait_request(mqtt_mock, SERVER, "info", 1)
    await advance(hass, freezer, 10)  # info and list_sessions time out
    await status(hass, SERVER, '{"online": true}')  # the server starts: asked at once
    await wait_request(mqtt_mock, SERVER, "info", len(requests(mqtt_mock, SERVER, "info")))
    assert requests(mqtt_mock, SERVER)[-1]["janus"] == "info"


async def test_restored_server_that_never_answers_goes_off(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await status(hass, SERVER, "online")
    assert await hass.config_entries.async_reload(janus.entry_id)
    await hass.async_block_till_done()
    offline = async_capture_events(hass, EVENT_DEVICE_OFFLINE)
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    await advance(hass, freezer, 61)  # polls go unanswered
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    assert [event.data["device"] for event in offline] == [SERVER]


async def test_a_reconnect_drops_the_lost_poll_and_polls_again(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    """A poll whose reply the outage lost is dropped; a new one goes out once resubscribed."""
    hub: JanusHub = janus.runtime_data
    await status(hass, SERVER, "online")
    await first_poll(hass, freezer, mqtt_mock)
    await advance(hass, freezer, 10)
    await wait_request(mqtt_mock, SERVER, "list_sessions", 2)  # in flight when the link drops
    assert len(hub.pending) == 1
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    await settle(hass)
    assert len(hub.pending) == 0  # not waiting out the 5 s for a reply that cannot come
    await advance(hass, freezer, 1)
    assert len(requests(mqtt_mock, SERVER, "list_sessions")) == 2
    await advance(hass, freezer, 1)  # resubscribed by now: ask again, well before the next poll
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 3)
    await reply(hass, SERVER, success(body["transaction"], [1, 2, 3]))
    assert hass.states.get(SESSIONS).state == "3"
    # A second outage replaces the pending re-poll; unloading cancels it.
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, False)
    async_dispatcher_send(hass, MQTT_CONNECTION_STATE, True)
    assert await hass.config_entries.async_unload(janus.entry_id)
    await advance(hass, freezer, 3)
    assert len(requests(mqtt_mock, SERVER, "list_sessions")) == 3
