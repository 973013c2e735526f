"""Fixtures for the real-broker tier: a private mosquitto, the simulator and HA's real MQTT.

Setup order: broker, then our own wire recorder, then HA (the MQTT entry, then the AutoCore
entry, whose subscriptions are live on the broker before the fixture returns), then the
simulator. The simulator comes last so that HA and the recorder both see its traffic from the
first message: most of it (telemetry, display interactions) is not retained, and tests compare
HA's view with the recorder's message by message.

Another family's module overrides `config_entry` (its entry), `wire_topics` (what the
recorder follows), `simulator_options` (its devices) and `simulator_stop_signal`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tools.mosquitto import HOST, stop_process, tail

from .helpers import (
    BASE,
    PROBE_TOPIC,
    REPO_ROOT,
    SIMULATOR,
    SIMULATOR_DEFAULTS,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Broker,
    Fleet,
    Simulator,
    Wire,
    read_line,
    wait_for,
)

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator

    from homeassistant.components.mqtt.models import ReceiveMessage


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this directory `broker`, so `-m "not broker"` leaves the tier out.

    tryfirst: the marks are on the items before `-m` selects among them.
    """
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.broker)


@pytest.fixture
def broker(tmp_path: Path, socket_enabled: None) -> Generator[Broker]:
    """Start mosquitto on a free 127.0.0.1 port for one test; stop it afterwards."""
    mosquitto = Broker(tmp_path)
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def wire_topics() -> tuple[str, ...]:
    """Topic filters the wire recorder subscribes to: override per test module."""
    return (f"{BASE}/#",)


@pytest.fixture
def wire(broker: Broker, wire_topics: tuple[str, ...]) -> Generator[Wire]:
    """Record the traffic under the base topic with our own paho client."""
    recorder = Wire(broker.port, wire_topics)
    yield recorder
    recorder.close()


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Override AutoCore entry options per test: parametrize `entry_options`."""
    return {}


@pytest.fixture
async def fleet(
    hass: HomeAssistant,
    socket_enabled: None,
    broker: Broker,
    config_entry: MockConfigEntry,
    entry_options: dict[str, Any],
) -> AsyncGenerator[Fleet]:
    """Set up HA's MQTT integration against the broker, then the AutoCore entry.

    Returns once the entry's subscriptions are live on the broker: HA debounces subscribes,
    so a retained probe is published first and subscribed to last; the broker handles one
    client's packets in order, so when the probe arrives every earlier SUBSCRIBE is done.
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

        config_entry.add_to_hass(hass)
        if entry_options:
            hass.config_entries.async_update_entry(
                config_entry, options={**config_entry.options, **entry_options}
            )
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        assert config_entry.state is ConfigEntryState.LOADED

        probed = asyncio.Event()

        @callback
        def _probe_received(_msg: ReceiveMessage) -> None:
            probed.set()

        await mqtt.async_publish(hass, PROBE_TOPIC, "probe", qos=1, retain=True)
        unsubscribe = await mqtt.async_subscribe(hass, PROBE_TOPIC, _probe_received)
        await wait_for(probed.is_set, START_TIMEOUT, "HA's subscriptions to be live")
        unsubscribe()

        yield Fleet(hass=hass, entry=config_entry, mqtt_entry=mqtt_entry)

        # Unload in order while the broker is up: the MQTT entry disconnects paho, and the
        # socket close stops HA's MQTT misc timer (else the harness reports it lingering).
        for entry in (config_entry, mqtt_entry):
            if entry.state is ConfigEntryState.LOADED:
                assert await hass.config_entries.async_unload(entry.entry_id)
        await wait_for(lambda: not mqtt.is_connected(hass), STOP_TIMEOUT, "MQTT disconnect")
        await hass.async_block_till_done()


@pytest.fixture
def simulator_options() -> dict[str, Any]:
    """Override simulator options per test: `@pytest.mark.parametrize("simulator_options", ...)`."""
    return {}


@pytest.fixture
def simulator_stop_signal() -> int:
    """The signal that stops the simulator after a test (then SIGKILL if it lingers).

    SIGTERM lets it say goodbye; a module whose devices only vanish like a power cut anyway
    (Janus, SpotFi) may override this with SIGKILL, which skips paho's 1 s loop shutdown.
    """
    return signal.SIGTERM


@pytest.fixture
def simulator(
    broker: Broker,
    wire: Wire,
    fleet: Fleet,
    simulator_options: dict[str, Any],
    simulator_stop_signal: int,
    tmp_path: Path,
) -> Generator[Simulator]:
    """Run the simulator until its READY line; stop it with SIGTERM (then kill) afterwards."""
    options = SIMULATOR_DEFAULTS | simulator_options
    args = [sys.executable, str(SIMULATOR), "--host", HOST, "--port", str(broker.port)]
    args += ["--base", BASE, "--log-level", "debug"]
    for name, value in options.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):  # a switch such as --spotfi-garbage: given or left out
            args += [flag] if value else []
        else:
            args += [flag, str(value)]
    log = tmp_path / "simulator.log"
    with log.open("ab") as stderr:
        proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, cwd=REPO_ROOT
        )
    assert proc.stdout is not None
    try:
        rest = bytearray()
        line = read_line(proc, START_TIMEOUT, rest)
        if not line.startswith("READY "):
            pytest.fail(f"simulator did not get ready ({line!r}):\n{tail(log)}")
        devices = json.loads(line.removeprefix("READY "))
        yield Simulator(
            proc,
            devices["layout_a"],
            devices["layout_b"],
            log,
            janus=devices.get("janus", []),
            spotfi=devices.get("spotfi", []),
            logs=devices.get("logs", []),
            stdout_rest=rest,
        )
    finally:
        stop_process(proc, simulator_stop_signal)
        proc.stdout.close()
