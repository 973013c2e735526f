"""Family-agnostic helpers shared by the HA tests: entries, registry look-ups, publishes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet.config_flow import entry_title as spec_entry_title
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES

PACKAGE = Path(__file__).parents[1] / "custom_components" / DOMAIN
TRANSLATIONS: dict[str, Any] = json.loads((PACKAGE / "translations" / "en.json").read_text("utf-8"))

# The `fire` fixture (tests/conftest.py): deliver one MQTT message and let HA settle.
type Fire = Callable[[str, str | bytes], Coroutine[Any, Any, None]]


def entry_id_for(unique_id: str) -> str:
    """A fixed, readable entry id for a test entry (HA makes a random one).

    Registry identifiers start with the entry id, so tests can name devices by it.
    """
    return "entry_" + re.sub(r"[^a-z0-9]+", "_", unique_id)


def default_options(family: str) -> dict[str, Any]:
    """The options a new entry of `family` starts with (a copy to extend)."""
    return dict(FAMILIES[family].default_options)


def entry_title(family: str, base: str) -> str:
    """The title the config flow gives an entry of `family` under `base`."""
    return spec_entry_title(FAMILIES[family], base)


def device_by_identifier(registry: dr.DeviceRegistry, identifier: str) -> dr.DeviceEntry | None:
    """Our registry device with this identifier, if any (each is held by one entry only)."""
    found = registry.async_get_devices(identifiers={(DOMAIN, identifier)})
    assert len(found) <= 1, found
    return found[0] if found else None


def publishes(mqtt_mock: Any) -> list[tuple[Any, ...]]:
    """(topic, payload, qos, retain) of each publish through HA's mocked MQTT client.

    HA adds keyword arguments to the client's publish over time; these four are the contract.
    """
    return [tuple(call.args[:4]) for call in mqtt_mock.async_publish.call_args_list]


def dumps(payload: dict[str, Any]) -> str:
    """Encode a payload the way the devices do."""
    return json.dumps(payload)


# A frozen start for tests that move the clock (stale devices, admission rates).
START = datetime.fromisoformat("2026-01-02T03:04:05+00:00")
type Loader = Callable[[MockConfigEntry], Awaitable[MockConfigEntry]]
