"""Every translated text the code refers to exists, in the shape Home Assistant reads."""

from __future__ import annotations

import ast
import json
from pathlib import Path
import string

from homeassistant.core import HomeAssistant
from homeassistant.helpers.translation import (
    async_get_exception_message,
    async_load_integrations,
)
import pytest
import yaml

from custom_components.mqtt_fleet.const import DOMAIN

PACKAGE = Path(__file__).parents[1] / "custom_components" / DOMAIN
TRANSLATIONS = json.loads((PACKAGE / "translations" / "en.json").read_text())


def _exception_keys() -> dict[str, set[str]]:
    """Map each exception translation key raised in the package to its placeholders."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            keywords = {keyword.arg: keyword.value for keyword in node.keywords}
            if "translation_domain" not in keywords or "translation_key" not in keywords:
                continue
            placeholders = keywords.get("translation_placeholders")
            names = (
                {key.value for key in placeholders.keys if isinstance(key, ast.Constant)}
                if isinstance(placeholders, ast.Dict)
                else set()
            )
            for value in ast.walk(keywords["translation_key"]):
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    found.setdefault(value.value, set()).update(names)
    return found


EXCEPTION_KEYS = _exception_keys()


def test_the_package_raises_translated_exceptions() -> None:
    assert {"relay_not_confirmed", "rpc_not_allowed", "janus_no_reply"} <= set(EXCEPTION_KEYS)


@pytest.mark.parametrize("key", sorted(EXCEPTION_KEYS))
async def test_exception_is_translated(hass: HomeAssistant, key: str) -> None:
    """HA resolves the message, and the text uses only placeholders the code passes."""
    message = TRANSLATIONS["exceptions"][key]["message"]
    used = {field for _, field, _, _ in string.Formatter().parse(message) if field}
    assert used <= EXCEPTION_KEYS[key], (key, used, EXCEPTION_KEYS[key])
    placeholders = {name: f"<{name}>" for name in EXCEPTION_KEYS[key]}
    hass.config.components.add(DOMAIN)  # HA reads the cached texts of set-up integrations
    await async_load_integrations(hass, {DOMAIN})
    expected = message.format(**placeholders).rstrip(".")
    assert async_get_exception_message(DOMAIN, key, placeholders) == expected


def test_no_unused_exception_texts() -> None:
    assert set(TRANSLATIONS["exceptions"]) == set(EXCEPTION_KEYS)


def test_actions_are_described() -> None:
    """services.yaml, the translations and the icons name the same actions and fields."""
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    icons = json.loads((PACKAGE / "icons.json").read_text())
    assert set(services) == set(TRANSLATIONS["services"]) == set(icons["services"])
    for action, spec in services.items():
        assert set(spec["fields"]) == set(TRANSLATIONS["services"][action]["fields"]), action
