"""The list_sessions action: by server name or device, replies, errors, timeouts, unload."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import random
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, selector
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_mqtt_message
import yaml

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.janus import actions
from custom_components.mqtt_fleet.families.janus.actions import SERVICE_LIST_SESSIONS
from custom_components.mqtt_fleet.families.janus.hub import MODEL, JanusHub

from ...clock import until as _until
from ...common import default_options, device_by_identifier, entry_id_for
from .helpers import (
    ADMIN_STATE,
    BASE,
    SECRET,
    SERVER,
    SESSIONS,
    advance,
    call_list_sessions,
    came_online,
    device_entry,
    error,
    janus_entry,
    published,
    reauth_flows,
    reply,
    requests,
    status,
    success,
    wait_request,
)


async def test_list_sessions_for_an_offline_server_fails_at_once(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    """Its Last Will said offline: no request is sent, the action says why."""
    await status(hass, SERVER, '{"online": false}')
    mqtt_mock.async_publish.reset_mock()
    with pytest.raises(HomeAssistantError) as err:
        await call_list_sessions(hass, {"server": SERVER})
    assert err.value.translation_key == "device_offline"
    assert err.value.translation_placeholders == {"device": SERVER}
    assert requests(mqtt_mock, SERVER) == []


async def test_list_sessions_by_server_name_and_by_device_id(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    await came_online(hass, mqtt_mock)
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    assert body["admin_secret"] == SECRET
    assert published(mqtt_mock)[0].args[2:] == (1, False)
    await reply(hass, SERVER, success(body["transaction"], [123, 456]))
    assert await call == {"server": SERVER, "count": 2, "sessions": [123, 456]}
    # The live answer also updates the sensors.
    assert hass.states.get(SESSIONS).state == "2"
    assert hass.states.get(ADMIN_STATE).state == "ok"

    call = call_list_sessions(hass, {"server": device_entry(hass, SERVER).id, "timeout": 2})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 2)
    await reply(hass, SERVER, success(body["transaction"], [7]))
    assert await call == {"server": SERVER, "count": 1, "sessions": [7]}
    assert len(janus.runtime_data.pending) == 0


async def test_list_sessions_success_without_sessions(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    await came_online(hass, mqtt_mock)
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await reply(hass, SERVER, success(body["transaction"]))
    assert await call == {"server": SERVER, "count": 0, "sessions": []}
    assert hass.states.get(SESSIONS).state == "2"  # a reply without sessions is no count


async def test_list_sessions_timeout(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await came_online(hass, mqtt_mock)
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await advance(hass, freezer, 4)
    assert not call.done()
    await advance(hass, freezer, 1)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert type(err.value) is HomeAssistantError
    assert err.value.translation_domain == DOMAIN
    assert err.value.translation_key == "janus_no_reply"
    assert err.value.translation_placeholders == {"server": SERVER, "timeout": "5"}
    assert hass.states.get(ADMIN_STATE).state == "ok"  # only the poller judges the admin API
    assert len(janus.runtime_data.pending) == 0
    # A late reply is ignored.
    await reply(hass, SERVER, success(body["transaction"], [1]))
    assert janus.runtime_data.invalid_messages == 0
    assert hass.states.get(SESSIONS).state == "2"


async def test_list_sessions_custom_timeout(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    await came_online(hass, mqtt_mock)
    call = call_list_sessions(hass, {"server": SERVER, "timeout": "1.5"})
    await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await advance(hass, freezer, 2)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_placeholders == {"server": SERVER, "timeout": "1.5"}


@pytest.mark.parametrize(
    ("code", "key"),
    [(403, "janus_unauthorized"), (458, "janus_error"), (457, "janus_error")],
)
async def test_list_sessions_error_replies(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, code: int, key: str
) -> None:
    await came_online(hass, mqtt_mock)
    call = call_list_sessions(hass, {"server": SERVER})
    body = await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    await reply(hass, SERVER, error(body["transaction"], code, "Denied"))
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert type(err.value) is HomeAssistantError
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == {
        "server": SERVER,
        "code": str(code),
        "reason": "Denied",
    }
    await hass.async_block_till_done()
    assert len(reauth_flows(hass)) == (1 if code == 403 else 0)


async def test_list_sessions_unknown_server(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    await came_online(hass, mqtt_mock)
    hub_device = device_by_identifier(dr.async_get(hass), "entry_janus_janus")
    for reference in ("gw-nope", hub_device.id, "0123456789abcdef"):
        with pytest.raises(ServiceValidationError) as err:
            await call_list_sessions(hass, {"server": reference})
        assert err.value.translation_key == "device_not_found"
        assert err.value.translation_placeholders == {"device_id": reference}
    mqtt_mock.async_publish.assert_not_called()


async def test_list_sessions_of_an_unloaded_entry(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    await came_online(hass, mqtt_mock)
    assert await hass.config_entries.async_unload(janus.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call_list_sessions(hass, {"server": SERVER})
    assert err.value.translation_key == "device_not_found"


async def test_list_sessions_ambiguous_server(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    """A server name in two Janus entries is ambiguous; its device id is not."""
    other = janus_entry("site-b")
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    await hass.async_block_till_done()
    await came_online(hass, mqtt_mock)
    async_fire_mqtt_message(hass, f"site-b/{SERVER}/status", "online")
    await hass.async_block_till_done()
    mqtt_mock.async_publish.reset_mock()  # its first poll

    with pytest.raises(ServiceValidationError) as err:
        await call_list_sessions(hass, {"server": SERVER})
    assert err.value.translation_key == "device_ambiguous"
    assert err.value.translation_placeholders == {"device_id": SERVER}
    mqtt_mock.async_publish.assert_not_called()

    call = call_list_sessions(hass, {"server": device_entry(hass, SERVER, "entry_janus_site_b").id})
    await _until(lambda: mqtt_mock.async_publish.called)
    topic, payload = mqtt_mock.async_publish.call_args.args[:2]
    assert topic == f"site-b/{SERVER}/to-janus-admin"
    async_fire_mqtt_message(
        hass, f"site-b/{SERVER}/from-janus-admin", success(json.loads(payload)["transaction"], [])
    )
    assert await call == {"server": SERVER, "count": 0, "sessions": []}


async def test_list_sessions_does_not_find_spotfi_routers(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    spotfi = MockConfigEntry(
        domain=DOMAIN,
        title="SpotFi (spotfi/router)",
        unique_id="spotfi:spotfi/router",
        entry_id=entry_id_for("spotfi:spotfi/router"),
        data={"family": "spotfi", "base_topic": "spotfi/router"},
        options=default_options("spotfi"),
    )
    spotfi.add_to_hass(hass)
    assert await hass.config_entries.async_setup(spotfi.entry_id)
    await hass.async_block_till_done()
    async_fire_mqtt_message(hass, "spotfi/router/rtr1/status", "ONLINE")
    await hass.async_block_till_done()
    router = device_by_identifier(dr.async_get(hass), "entry_spotfi_spotfi_router/rtr1")
    assert router is not None
    for reference in ("rtr1", router.id):
        with pytest.raises(ServiceValidationError) as err:
            await call_list_sessions(hass, {"server": reference})
        assert err.value.translation_key == "device_not_found"
    mqtt_mock.async_publish.assert_not_called()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="missing-server"),
        pytest.param({"server": SERVER, "timeout": "soon"}, id="timeout-text"),
        pytest.param({"server": SERVER, "timeout": 0.4}, id="timeout-low"),
        pytest.param({"server": SERVER, "timeout": 61}, id="timeout-high"),
        pytest.param({"server": SERVER, "timeout": None}, id="timeout-none"),
        pytest.param({"server": ["gw1"]}, id="server-list"),
        pytest.param({"server": SERVER, "extra": 1}, id="extra-key"),
    ],
)
async def test_list_sessions_bad_data(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, data: dict[str, Any]
) -> None:
    await came_online(hass, mqtt_mock)
    with pytest.raises(ServiceValidationError) as err:
        await call_list_sessions(hass, data)
    assert err.value.translation_key == "invalid_action_data"
    assert err.value.translation_placeholders["action"] == SERVICE_LIST_SESSIONS
    mqtt_mock.async_publish.assert_not_called()


async def test_list_sessions_needs_return_response(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    await came_online(hass, mqtt_mock)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, SERVICE_LIST_SESSIONS, {"server": SERVER}, blocking=True
        )
    assert err.value.translation_domain == "homeassistant"
    assert err.value.translation_key == "service_lacks_response_request"
    mqtt_mock.async_publish.assert_not_called()


SERVERS = [f"gw{index}" for index in range(5)]


@pytest.mark.parametrize("janus_options", [{"servers": SERVERS}])
async def test_concurrent_list_sessions_get_their_own_answers(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any, freezer: FrozenDateTimeFactory
) -> None:
    hub: JanusHub = janus.runtime_data
    first_polls = len(hub.pending)  # none: new servers wait for their turn in the round
    calls = [call_list_sessions(hass, {"server": SERVERS[index % 5]}) for index in range(20)]
    await _until(lambda: len(published(mqtt_mock)) == 20)
    requests_sent = [
        (call.args[0].split("/")[1], json.loads(call.args[1])["transaction"])
        for call in published(mqtt_mock)
    ]
    assert len({transaction for _, transaction in requests_sent}) == 20
    assert len(hub.pending) == first_polls + 20

    # Each reply carries sessions that name its own request.
    answers = {
        transaction: [number, number + 1000]
        for number, (_, transaction) in enumerate(requests_sent)
    }
    order = list(requests_sent)
    random.Random(4).shuffle(order)  # noqa: S311 - a repeatable order, not a secret
    for server, transaction in order:
        async_fire_mqtt_message(
            hass, f"{BASE}/{server}/from-janus-admin", success(transaction, answers[transaction])
        )
    results = await asyncio.gather(*calls)

    for index, result in enumerate(results):
        server = SERVERS[index % 5]
        assert result["server"] == server
        assert result["count"] == 2
        number = result["sessions"][0]
        assert result["sessions"] == [number, number + 1000]
        # The answer is the one sent to this call's own request.
        assert requests_sent[number][0] == server
    assert sorted(result["sessions"][0] for result in results) == list(range(20))
    assert len(hub.pending) == first_polls
    assert hub.invalid_messages == 0

    # A late reply after a timeout is ignored.
    call = call_list_sessions(hass, {"server": "gw0", "timeout": 1})
    await _until(lambda: len(published(mqtt_mock)) == 21)
    late = json.loads(published(mqtt_mock)[-1].args[1])["transaction"]
    await advance(hass, freezer, 1)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "janus_no_reply"
    assert len(hub.pending) == first_polls
    before = hass.states.get("sensor.gw0_sessions").state
    await reply(hass, "gw0", success(late, [1, 2, 3, 4, 5, 6, 7]))
    assert hass.states.get("sensor.gw0_sessions").state == before
    assert hub.invalid_messages == 0


async def test_unload_while_list_sessions_waits(
    hass: HomeAssistant, janus: MockConfigEntry, mqtt_mock: Any
) -> None:
    hub: JanusHub = janus.runtime_data
    await came_online(hass, mqtt_mock)
    call = call_list_sessions(hass, {"server": SERVER})
    await wait_request(mqtt_mock, SERVER, "list_sessions", 1)
    assert len(hub.pending) == 1
    assert await hass.config_entries.async_unload(janus.entry_id)
    with pytest.raises(HomeAssistantError) as err:
        await call
    assert err.value.translation_key == "unloaded_while_waiting"
    assert err.value.translation_placeholders == {"device": janus.title}
    assert len(hub.pending) == 0


def test_the_server_field_picks_among_janus_servers() -> None:
    """The UI offers the devices Janus servers get; YAML may still give a server's name."""
    services = yaml.safe_load(
        (Path(actions.__file__).parents[2] / "services.yaml").read_text("utf-8")
    )
    selector_config = services["list_sessions"]["fields"]["server"]["selector"]
    assert selector_config == {
        "device": {
            "filter": [
                {"integration": DOMAIN, "manufacturer": JanusHub.manufacturer, "model": MODEL}
            ]
        }
    }
    selector.validate_selector(selector_config)
