"""A private mosquitto, the publisher process and a real Home Assistant in this process.

Home Assistant comes from pytest-homeassistant-custom-component's async_test_home_assistant,
but with the registries and restore state on disk in the run's config directory (the
harness would keep them in memory), so a second instance on the same directory starts the
way Home Assistant does after a restart. Its MQTT integration is the real one, with paho
talking to the private broker.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass
import json
from pathlib import Path
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from homeassistant import bootstrap, loader
from homeassistant.components import mqtt
from homeassistant.components.mqtt.models import DATA_MQTT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import (
    area_registry as ar,
    category_registry as cr,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    frame,
    issue_registry as ir,
    label_registry as lr,
    restore_state as rs,
)
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_test_home_assistant,
)

from tools.mosquitto import HOST, RECOMMENDED_SETTINGS, Mosquitto, find_mosquitto, tail

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Sequence

    from homeassistant.components.mqtt.models import ReceiveMessage

REPO_ROOT = Path(__file__).resolve().parents[2]
MQTT_ENTRY_ID = "bench_mqtt_entry"
PROBE_TOPIC = "mqtt_fleet_bench/probe"
START_TIMEOUT = 30.0


class BenchError(Exception):
    """A phase could not complete (lost messages, a timeout, a process that failed)."""


class Broker(Mosquitto):
    """mosquitto on a free loopback port: recommended settings, default TCP unless nodelay.

    The settings are tools/mosquitto.py's RECOMMENDED_SETTINGS (README's "Broker settings")
    unless told otherwise (DEFAULT_SETTINGS: what a user who skipped them runs).
    """

    def __init__(
        self, workdir: Path, *, nodelay: bool, settings: Sequence[str] = RECOMMENDED_SETTINGS
    ) -> None:
        """Find mosquitto; nothing runs before start()."""
        if (executable := find_mosquitto()) is None:
            raise BenchError("mosquitto is not installed: run scripts/setup")
        super().__init__(executable, workdir, nodelay=nodelay, settings=settings)

    def start(self) -> None:
        """Start on a free port, or raise BenchError."""
        if not self.try_start(START_TIMEOUT):
            raise BenchError(f"mosquitto did not start:\n{tail(self.log)}")


@dataclass(frozen=True)
class Sent:
    """What a publisher run reported: messages and CLOCK_MONOTONIC start and end."""

    sent: int
    start: float
    end: float


class Publisher:
    """One run of tools/bench/publisher.py: started, READY, then GO on demand."""

    def __init__(self, port: int, n: int, mix: Sequence[int], mode: str, **options: Any) -> None:
        """Start the process; it builds its payloads and connects before READY."""
        args = [sys.executable, "-m", "tools.bench.publisher", "--port", str(port)]
        args += ["--n", str(n), "--mix", ":".join(map(str, mix)), "--mode", mode]
        for name, value in options.items():
            flag = f"--{name.replace('_', '-')}"
            if isinstance(value, bool):
                args += [flag] if value else []
            elif value is not None:
                args += [flag, str(value)]
        self.proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
            args,
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.count = 0

    async def ready(self) -> int:
        """Wait for READY; return how many messages it will send."""
        line = await self._line()
        if not line.startswith("READY "):
            raise BenchError(f"publisher did not get ready: {line!r}")
        self.count = int(line.split()[1])
        return self.count

    def go(self) -> None:
        """Start publishing."""
        if self.proc.stdin is None:
            raise BenchError("the publisher has no stdin")
        self.proc.stdin.write("GO\n")
        self.proc.stdin.flush()

    async def done(self) -> Sent:
        """Wait for DONE and the process to exit."""
        line = await self._line()
        if not line.startswith("DONE "):
            raise BenchError(f"publisher failed: {line!r}")
        report = json.loads(line.removeprefix("DONE "))
        await asyncio.get_running_loop().run_in_executor(None, self.proc.wait)
        return Sent(report["sent"], report["start"], report["end"])

    def stop(self) -> None:
        """Kill the process if it is still running."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def _line(self) -> str:
        if self.proc.stdout is None:
            raise BenchError("the publisher has no stdout")
        line = await asyncio.get_running_loop().run_in_executor(None, self.proc.stdout.readline)
        return line.strip() or f"(exit status {self.proc.poll()})"


async def publish(port: int, n: int, mix: Sequence[int], mode: str, **options: Any) -> Sent:
    """Run a publisher to the end right away (setup phases that are not measured)."""
    publisher = Publisher(port, n, mix, mode, **options)
    try:
        await publisher.ready()
        publisher.go()
        return await publisher.done()
    finally:
        publisher.stop()


async def _load_registries(hass: HomeAssistant) -> None:
    """Load every registry and restore state from the config directory, as HA starts."""
    await ar.async_load(hass)
    await cr.async_load(hass)
    dr.async_setup(hass)  # HA 2026.10+: before anything loads it
    await dr.async_load(hass)
    await er.async_load(hass)
    await fr.async_load(hass)
    await ir.async_load(hass)
    await lr.async_load(hass)
    await rs.async_load(hass)
    hass.data[bootstrap.DATA_REGISTRIES_LOADED] = None


@asynccontextmanager
async def home_assistant(config_dir: Path) -> AsyncIterator[HomeAssistant]:
    """Run Home Assistant on `config_dir`; stopping it writes registries and last states."""
    async with async_test_home_assistant(config_dir=str(config_dir), load_registries=False) as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)  # load custom_components/ from the repo
        frame.async_setup(hass)  # as HA's bootstrap does: usage reports log, never raise
        await _load_registries(hass)
        try:
            yield hass
        finally:
            await hass.async_stop(force=True)
            # HA leaves its broker connection open at shutdown (the process ends there);
            # close it, or the broker's later stop is logged as a lost connection.
            if (data := hass.data.get(DATA_MQTT)) is not None:
                data.client._mqttc.disconnect()  # noqa: SLF001
                await asyncio.sleep(0.1)


async def wait_until[T](
    predicate: Callable[[], T], limit: float, what: str, interval: float = 0.05
) -> T:
    """Poll `predicate` for up to `limit` s while HA's loop runs; return its first truthy result."""
    deadline = time.monotonic() + limit
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {limit:g} s waiting for {what}")
        await asyncio.sleep(interval)
    return result


async def setup_mqtt(hass: HomeAssistant, port: int) -> MockConfigEntry:
    """Set up HA's MQTT integration against the broker and wait until it is connected."""
    entry = MockConfigEntry(
        domain=mqtt.DOMAIN,
        data={"broker": HOST, "port": port},
        version=1,
        minor_version=2,
        entry_id=MQTT_ENTRY_ID,
    )
    # No configuration.yaml in the config dir: MQTT reads its YAML at setup.
    with patch("homeassistant.config.load_yaml_config_file", return_value={}):
        entry.add_to_hass(hass)
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise BenchError("the MQTT entry did not set up")
    await wait_until(lambda: mqtt.is_connected(hass), START_TIMEOUT, "HA's MQTT client")
    return entry


async def subscriptions_live(hass: HomeAssistant) -> None:
    """Return once every subscription HA made so far is active on the broker.

    HA debounces subscribes; the broker handles one client's packets in order, so when a
    retained probe subscribed last arrives, every earlier SUBSCRIBE is done.
    """
    probed = asyncio.Event()

    @callback
    def _probe(_msg: ReceiveMessage) -> None:
        probed.set()

    await mqtt.async_publish(hass, PROBE_TOPIC, "probe", qos=1, retain=True)
    unsubscribe = await mqtt.async_subscribe(hass, PROBE_TOPIC, _probe)
    try:
        await asyncio.wait_for(probed.wait(), START_TIMEOUT)
    finally:
        unsubscribe()


async def flush_registries(hass: HomeAssistant) -> None:
    """Write the registries now, so their delayed save does not land in a measured phase."""
    for registry in (dr.async_get(hass), er.async_get(hass)):
        store = registry._store  # noqa: SLF001 - no public API flushes a delayed save
        if store._data is not None:  # noqa: SLF001
            await store._async_handle_write_data()  # type: ignore[no-untyped-call]  # noqa: SLF001
    await hass.async_block_till_done()
