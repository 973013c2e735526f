"""A real Janus gateway end to end: Debian's janus -> mosquitto -> HA, no simulator.

tools/janus.py runs Janus 1.1.2 with its MQTT transport configured as README.md recommends
(admin API, retained status, the disconnect message as Last Will) on a private mosquitto.
What HA shows is checked against what the gateway itself answers: its sessions are created
over Janus's own API and listed over its admin API by our own paho client (`wire`).

The tier is skipped, with the reason, where the janus package is not installed
(scripts/setup installs it on Debian and Ubuntu).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from pathlib import Path
from typing import Any
from unittest.mock import patch
import uuid

from homeassistant.components import mqtt
from homeassistant.config_entries import (
    SOURCE_MQTT,
    SOURCE_REAUTH,
    SOURCE_USER,
    ConfigEntryState,
    ConfigFlowResult,
)
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.janus.hub import ADMIN_REPLY_TIMEOUT
from tools.janus import OFFLINE, ONLINE, Janus, find_janus, find_modules
from tools.mosquitto import HOST

from ..common import default_options, device_by_identifier
from .helpers import (
    JANUS_BASE,
    JANUS_UID,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Broker,
    Fleet,
    Wire,
    WireMessage,
    shown,
    wait_for,
)

pytestmark = [pytest.mark.broker, pytest.mark.janus]

SERVER = "janus-01"
SECRET = "gateway-secret"
POLL_INTERVAL = 2  # seconds, the option's minimum
# Seconds for a poll's reply to show: a request whose reply was lost (one sent before HA's
# reply subscription was live) times out first, then the next polls come.
POLLED = ADMIN_REPLY_TIMEOUT + 2 * POLL_INTERVAL + 5


# --- the gateway on the wire ----------------------------------------------------------------


def reply_to(wire: Wire, topic: str, transaction: str) -> dict[str, Any] | None:
    """Return the gateway's reply to one transaction on `topic`, as seen on the wire."""
    for message in wire.messages(topic):
        if (reply := message.json()).get("transaction") == transaction:
            return reply  # type: ignore[no-any-return]
    return None


async def ask(wire: Wire, gateway: Janus, leaf: str, request: dict[str, Any]) -> dict[str, Any]:
    """Send a request to the gateway ourselves (`to-janus` or `to-janus-admin`); its reply."""
    transaction = uuid.uuid4().hex
    wire.publish(gateway.topic(leaf), {**request, "transaction": transaction})
    reply_topic = gateway.topic(leaf.replace("to-", "from-"))
    reply = await wait_for(
        lambda: reply_to(wire, reply_topic, transaction),
        START_TIMEOUT,
        f"the gateway's reply to {request['janus']}",
    )
    assert reply is not None
    return reply


async def create_sessions(wire: Wire, gateway: Janus, count: int) -> list[int]:
    """Create sessions over Janus's plain API, as WebRTC clients do; return their ids."""
    ids = []
    for _ in range(count):
        reply = await ask(wire, gateway, "to-janus", {"janus": "create"})
        assert reply["janus"] == "success", reply
        ids.append(reply["data"]["id"])
    return ids


async def gateway_sessions(wire: Wire, gateway: Janus) -> list[int]:
    """Return the sessions the gateway itself lists over its admin API."""
    reply = await ask(
        wire,
        gateway,
        "to-janus-admin",
        {"janus": "list_sessions", "admin_secret": gateway.admin_secret},
    )
    assert reply["janus"] == "success", reply
    return sorted(reply["sessions"])


async def gateway_version(wire: Wire, gateway: Janus) -> str:
    """Return the version the gateway reports to `info`."""
    reply = await ask(wire, gateway, "to-janus-admin", {"janus": "info"})
    return str(reply["version_string"])


def statuses(wire: Wire, gateway: Janus, since: int) -> list[WireMessage]:
    """Return the status messages on the wire since a mark."""
    return wire.messages(gateway.topic("status"), since)


async def list_sessions(hass: HomeAssistant, server: str) -> dict[str, Any]:
    """Call the list_sessions action."""
    response = await hass.services.async_call(
        DOMAIN, "list_sessions", {"server": server}, blocking=True, return_response=True
    )
    assert response is not None
    return dict(response)


async def sessions_agree(hass: HomeAssistant, uid: str, wire: Wire, gateway: Janus) -> list[int]:
    """Wait until the sessions sensor shows the gateway's count; check the action's answer.

    Returns the gateway's sessions.
    """
    sessions = await gateway_sessions(wire, gateway)
    await wait_for(
        lambda: shown(hass, uid, gateway.server, "sessions") == str(len(sessions)),
        POLLED,
        f"the sessions sensor to show the gateway's {len(sessions)}",
    )
    response = await list_sessions(hass, gateway.server)
    assert response["server"] == gateway.server
    assert response["count"] == len(sessions)
    assert sorted(response["sessions"]) == sessions
    return sessions


# --- flows -----------------------------------------------------------------------------------


def flows(hass: HomeAssistant, source: str) -> list[Any]:
    """Return this integration's flows in progress from one source."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == source
    ]


async def discovery_flow(hass: HomeAssistant) -> ConfigFlowResult:
    """Wait for the discovery flow the gateway's status starts; return its form."""
    (flow,) = await wait_for(lambda: flows(hass, SOURCE_MQTT), START_TIMEOUT, "a discovery flow")
    assert flow["context"]["unique_id"] == f"janus:{JANUS_BASE}"
    form = await hass.config_entries.flow.async_configure(flow["flow_id"])  # shown again
    assert form["type"] is FlowResultType.FORM
    assert form["step_id"] == "discovery_confirm"
    assert (form.get("description_placeholders") or {}).get("device") == SERVER
    return form


def refused(result: ConfigFlowResult) -> bool:
    """Tell whether a step showed its form again with invalid_auth as its only error."""
    errors = set((result.get("errors") or {}).values())
    return result["type"] is FlowResultType.FORM and errors == {"invalid_auth"}


def server_device(hass: HomeAssistant, uid: str) -> dr.DeviceEntry | None:
    """Return the server's device registry entry."""
    return device_by_identifier(dr.async_get(hass), f"{uid}/{SERVER}")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def janus_install() -> tuple[str, Path]:
    """Janus's executable and modules folder; skip the test where the package is missing."""
    executable, modules = find_janus(), find_modules()
    if executable is None or modules is None:
        pytest.skip(
            "Janus is not installed (no `janus` executable with the MQTT transport):"
            " run scripts/setup, or `apt-get install janus`, for the real-gateway tests"
        )
    return executable, modules


@pytest.fixture
def wire_topics() -> tuple[str, ...]:
    """Record everything under the Janus base: status, both APIs' requests and replies."""
    return (f"{JANUS_BASE}/#",)


@pytest.fixture
def gateway(
    janus_install: tuple[str, Path], broker: Broker, wire: Wire, tmp_path: Path
) -> Generator[Janus]:
    """Start Janus against the broker; return once it listens on its admin topic."""
    executable, modules = janus_install
    janus = Janus(
        executable,
        modules,
        tmp_path / SERVER,
        broker_port=broker.port,
        base=JANUS_BASE,
        server=SERVER,
        admin_secret=SECRET,
    )
    if not janus.start(START_TIMEOUT):
        pytest.fail(f"Janus did not start:\n{janus.logtail()}")
    yield janus
    janus.kill()  # quicker than the SIGTERM goodbye, which no test reads any more


@pytest.fixture
def config_entry(gateway: Janus) -> MockConfigEntry:
    """The Janus entry under the base, polling every 2 s; the gateway runs before HA starts."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Janus ({JANUS_BASE})",
        data={"family": "janus", "base_topic": JANUS_BASE, "admin_secret": SECRET},
        options=default_options("janus") | {"poll_interval": POLL_INTERVAL},
        unique_id=f"janus:{JANUS_BASE}",
        entry_id=JANUS_UID,
        version=2,
        minor_version=1,
    )


@pytest.fixture
async def mqtt_only(
    hass: HomeAssistant, socket_enabled: None, broker: Broker, gateway: Janus
) -> AsyncGenerator[HomeAssistant]:
    """HA's MQTT integration on the broker, with no entry of ours: MQTT discovery runs.

    Afterwards the entries the test made are unloaded before MQTT, while the broker is up.
    """
    mqtt_entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        data={"broker": HOST, "port": broker.port},
        version=2,
        minor_version=2,
    )
    # No configuration.yaml in the test config dir: MQTT reads its YAML at setup.
    with patch("homeassistant.config.load_yaml_config_file", return_value={}):
        mqtt_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(mqtt_entry.entry_id)
        await wait_for(lambda: mqtt.is_connected(hass), START_TIMEOUT, "HA's MQTT client")
        yield hass
        for entry in [*hass.config_entries.async_entries(DOMAIN), mqtt_entry]:
            if entry.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(entry.entry_id)
        await wait_for(lambda: not mqtt.is_connected(hass), STOP_TIMEOUT, "MQTT disconnect")
        await hass.async_block_till_done()


# --- discovery and the flows -------------------------------------------------------------------


async def test_discovery_creates_entry_with_the_server(
    mqtt_only: HomeAssistant, gateway: Janus, wire: Wire
) -> None:
    """The gateway's retained status starts discovery; the right secret makes the entry.

    The server is a device of the new entry at once, online, without waiting for a poll.
    """
    hass = mqtt_only
    (status,) = await wait_for(lambda: statuses(wire, gateway, 0), what="the gateway's status")
    assert (status.json(), status.retain) == (ONLINE, True)
    form = await discovery_flow(hass)

    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {"admin_secret": SECRET}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    assert (entry.data["base_topic"], entry.data["admin_secret"]) == (JANUS_BASE, SECRET)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    device = server_device(hass, entry.entry_id)
    assert device is not None, "the discovered server is no device of the new entry"
    assert device.name == SERVER
    await wait_for(
        lambda: shown(hass, entry.entry_id, SERVER, "connectivity") == STATE_ON,
        START_TIMEOUT,
        "the server to be online",
    )
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_user_flow_while_discovery_is_pending(
    mqtt_only: HomeAssistant, gateway: Janus
) -> None:
    """Adding the discovered base by hand works: the pending discovery does not block it."""
    hass = mqtt_only
    await discovery_flow(hass)

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "janus"}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "janus")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"base_topic": JANUS_BASE, "admin_secret": SECRET}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    # The discovery of the same base ended with the entry.
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    await wait_for(
        lambda: shown(hass, entry.entry_id, SERVER, "connectivity") == STATE_ON,
        START_TIMEOUT,
        "the server's retained status to reach the new entry",
    )


async def test_wrong_secret_is_refused_inline(mqtt_only: HomeAssistant, gateway: Janus) -> None:
    """The gateway refuses a wrong secret (403): the form says invalid_auth, no entry is made.

    In the discovery's confirmation and in the step by hand; the right secret then works.
    """
    hass = mqtt_only
    form = await discovery_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {"admin_secret": "not-the-secret"}
    )
    assert refused(result), result
    assert result["step_id"] == "discovery_confirm"

    by_hand = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    by_hand = await hass.config_entries.flow.async_configure(
        by_hand["flow_id"], {"next_step_id": "janus"}
    )
    by_hand = await hass.config_entries.flow.async_configure(
        by_hand["flow_id"], {"base_topic": JANUS_BASE, "admin_secret": "not-the-secret"}
    )
    assert refused(by_hand), by_hand
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        form["flow_id"], {"admin_secret": SECRET}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    assert result["result"].data["admin_secret"] == SECRET
    await hass.async_block_till_done()


# --- an entry polling the gateway ------------------------------------------------------------


async def test_reauth_after_the_gateway_secret_changed(
    fleet: Fleet, gateway: Janus, wire: Wire
) -> None:
    """The gateway's secret changes: the hub asks for reauthentication, which checks it."""
    hass = fleet.hass
    entry = fleet.entry
    await sessions_agree(hass, JANUS_UID, wire, gateway)
    assert not flows(hass, SOURCE_REAUTH)

    await hass.async_add_executor_job(gateway.stop)
    gateway.admin_secret = "changed-on-the-gateway"
    assert await hass.async_add_executor_job(gateway.start, START_TIMEOUT), gateway.logtail()

    (flow,) = await wait_for(lambda: flows(hass, SOURCE_REAUTH), POLLED, "a reauth flow")
    assert flow["context"]["entry_id"] == entry.entry_id
    assert shown(hass, JANUS_UID, SERVER, "admin_state") == "unauthorized"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"admin_secret": SECRET}
    )
    assert refused(result), result
    assert result["step_id"] == "reauth_confirm"
    assert entry.data["admin_secret"] == SECRET

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {"admin_secret": gateway.admin_secret}
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "reauth_successful")
    assert entry.data["admin_secret"] == gateway.admin_secret
    await wait_for(
        lambda: shown(hass, JANUS_UID, SERVER, "admin_state") == "ok",
        POLLED,
        "the next poll to succeed",
    )
    await sessions_agree(hass, JANUS_UID, wire, gateway)
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)


async def test_sessions_match_the_gateway(fleet: Fleet, gateway: Janus, wire: Wire) -> None:
    """The sessions sensor and list_sessions follow the sessions the gateway really has."""
    hass = fleet.hass
    assert await sessions_agree(hass, JANUS_UID, wire, gateway) == []
    version = await gateway_version(wire, gateway)
    await wait_for(
        lambda: (
            (device := server_device(hass, JANUS_UID)) is not None and device.sw_version == version
        ),
        POLLED,
        f"the server's device info to show the gateway's firmware {version}",
    )

    created = await create_sessions(wire, gateway, 3)
    assert await sessions_agree(hass, JANUS_UID, wire, gateway) == sorted(created)

    destroyed = {"janus": "destroy", "session_id": created[0]}
    assert (await ask(wire, gateway, "to-janus", destroyed))["janus"] == "success"
    assert await sessions_agree(hass, JANUS_UID, wire, gateway) == sorted(created[1:])
    assert shown(hass, JANUS_UID, SERVER, "admin_state") == "ok"


async def test_restart_counts_the_new_process(fleet: Fleet, gateway: Janus, wire: Wire) -> None:
    """SIGTERM: the gateway says it goes offline; started again, HA counts its new sessions."""
    hass = fleet.hass
    old = await create_sessions(wire, gateway, 2)
    assert await sessions_agree(hass, JANUS_UID, wire, gateway) == sorted(old)

    mark = wire.mark()
    await hass.async_add_executor_job(gateway.stop)
    (goodbye,) = await wait_for(
        lambda: statuses(wire, gateway, mark), STOP_TIMEOUT, "the gateway's goodbye"
    )
    assert (goodbye.json(), goodbye.retain) == (OFFLINE, True)
    await wait_for(
        lambda: shown(hass, JANUS_UID, SERVER, "connectivity") == STATE_OFF,
        STOP_TIMEOUT,
        "the server to go offline",
    )
    assert shown(hass, JANUS_UID, SERVER, "sessions") == STATE_UNAVAILABLE

    assert await hass.async_add_executor_job(gateway.start, START_TIMEOUT), gateway.logtail()
    await wait_for(
        lambda: shown(hass, JANUS_UID, SERVER, "connectivity") == STATE_ON,
        START_TIMEOUT,
        "the server to come back online",
    )
    new = await create_sessions(wire, gateway, 1)
    assert await sessions_agree(hass, JANUS_UID, wire, gateway) == new
    assert not set(new) & set(old)


async def test_last_will_takes_the_server_offline(fleet: Fleet, gateway: Janus, wire: Wire) -> None:
    """SIGKILL: Janus says nothing, the broker publishes its Last Will, HA shows it offline."""
    hass = fleet.hass
    await create_sessions(wire, gateway, 1)
    await sessions_agree(hass, JANUS_UID, wire, gateway)

    mark = wire.mark()
    await hass.async_add_executor_job(gateway.kill)
    (will,) = await wait_for(
        lambda: statuses(wire, gateway, mark), STOP_TIMEOUT, "the gateway's Last Will"
    )
    assert (will.json(), will.qos, will.retain) == (OFFLINE, 1, True)
    await wait_for(
        lambda: shown(hass, JANUS_UID, SERVER, "connectivity") == STATE_OFF,
        STOP_TIMEOUT,
        "the server to go offline",
    )
    assert shown(hass, JANUS_UID, SERVER, "sessions") == STATE_UNAVAILABLE
    assert fleet.entry.state is ConfigEntryState.LOADED
