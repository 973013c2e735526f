"""Offline hassfest-style checks: manifest, services.yaml against the registered actions, and
a translation for every flow step, error, abort, entity, selector and trigger the code uses."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from awesomeversion import AwesomeVersion
from homeassistant.core import HomeAssistant, SupportsResponse
from homeassistant.setup import async_setup_component
import pytest
import voluptuous as vol
import yaml

from custom_components.mqtt_fleet import device_trigger, services
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families.container_logs import count_key
from custom_components.mqtt_fleet.protocol.container_logs import Level

PACKAGE = Path(__file__).parents[1] / "custom_components" / DOMAIN
MANIFEST = json.loads((PACKAGE / "manifest.json").read_text("utf-8"))
SERVICES = yaml.safe_load((PACKAGE / "services.yaml").read_text("utf-8"))
TRANSLATIONS = json.loads((PACKAGE / "translations" / "en.json").read_text("utf-8"))
PLATFORM_FILES = ("binary_sensor", "event", "sensor", "switch")


def calls_with(path: Path, keyword: str) -> list[ast.Call]:
    """The calls in a module that pass `keyword`."""
    return [
        node
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        if isinstance(node, ast.Call) and any(k.arg == keyword for k in node.keywords)
    ]


def literal_keywords(path: Path, keyword: str) -> set[str]:
    """The string literals passed as `keyword` in a module (not to translated exceptions)."""
    return {
        k.value.value
        for call in calls_with(path, keyword)
        if not any(k.arg == "translation_domain" for k in call.keywords)
        for k in call.keywords
        if k.arg == keyword and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)
    }


def returned_codes(path: Path, function: str) -> set[str]:
    """The string literals a function returns (its problem codes)."""
    tree = ast.parse(path.read_text("utf-8"))
    body = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    return {
        node.value.value
        for node in ast.walk(body)
        if isinstance(node, ast.Return)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


BASE_TOPIC_PROBLEMS = returned_codes(PACKAGE / "protocol" / "topics.py", "base_topic_problem")
TEMPLATE_PROBLEMS = BASE_TOPIC_PROBLEMS | returned_codes(
    PACKAGE / "protocol" / "autocore.py", "relay_topic_template_problem"
)


# --- manifest -----------------------------------------------------------------------------


def test_manifest_keys_and_order() -> None:
    """hassfest: domain and name first, then the rest sorted; a custom integration's keys."""
    keys = list(MANIFEST)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert set(keys) == {
        "domain",
        "name",
        "codeowners",
        "config_flow",
        "dependencies",
        "documentation",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "mqtt",
        "requirements",
        "version",
    }
    assert MANIFEST["domain"] == DOMAIN == PACKAGE.name
    assert MANIFEST["config_flow"] is True
    assert MANIFEST["dependencies"] == ["mqtt"]
    assert MANIFEST["iot_class"] == "local_push"
    assert MANIFEST["integration_type"] == "hub"
    assert AwesomeVersion(MANIFEST["version"]).valid
    assert all(owner.startswith("@") for owner in MANIFEST["codeowners"])
    for topic in MANIFEST["mqtt"]:
        levels = topic.split("/")
        assert "#" not in levels[:-1], topic
        assert all(levels), topic


def test_hacs_manifest() -> None:
    hacs = json.loads((PACKAGE.parents[1] / "hacs.json").read_text("utf-8"))
    assert hacs["name"] == MANIFEST["name"]
    assert AwesomeVersion(hacs["homeassistant"]) <= AwesomeVersion("2025.4.4")


# --- services.yaml against the registered actions -------------------------------------------


async def test_services_yaml_names_the_registered_actions(
    hass: HomeAssistant, mqtt_mock: Any
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    registered = hass.services.async_services_for_domain(DOMAIN)
    assert set(SERVICES) == set(registered)
    for name, service in registered.items():
        responds = service.supports_response is not SupportsResponse.NONE
        assert responds == (name in {"list_sessions", "rpc_call", "terminal_exec"}), name


@pytest.mark.parametrize("action", sorted(SERVICES))
def test_services_yaml_fields_match_the_schema(action: str) -> None:
    """Each field: same name, required flag, default and choices as the action's schema."""
    schema: vol.Schema = getattr(services, f"{action.upper()}_SCHEMA")
    markers = {str(marker): marker for marker in schema.schema}
    fields = SERVICES[action]["fields"]
    assert set(fields) == set(markers)
    for name, field in fields.items():
        marker = markers[name]
        assert field.get("required", False) is isinstance(marker, vol.Required), name
        if "default" in field:
            assert marker.default() == field["default"], name
        if options := field.get("selector", {}).get("select", {}).get("options"):
            validator = schema.schema[marker]
            (choices,) = [
                v
                for v in (validator.validators if isinstance(validator, vol.All) else [validator])
                if isinstance(v, vol.In)
            ]
            assert sorted(map(str, options)) == sorted(str(choice) for choice in choices.container)


# --- translations for what the code uses -----------------------------------------------------


def test_flow_steps_errors_and_aborts_are_translated() -> None:
    flow = PACKAGE / "config_flow.py"
    steps = literal_keywords(flow, "step_id")
    config_steps = steps - {"init"}
    assert config_steps <= set(TRANSLATIONS["config"]["step"])
    assert "init" in TRANSLATIONS["options"]["step"]
    aborts = literal_keywords(flow, "reason") | {
        "already_configured",  # _abort_if_unique_id_configured
        "already_in_progress",
        "reauth_successful",
        "reconfigure_successful",  # async_update_reload_and_abort
    }
    assert aborts <= set(TRANSLATIONS["config"]["abort"])
    literal_errors = {
        node.value.value
        for node in ast.walk(ast.parse(flow.read_text("utf-8")))
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Subscript)
        and isinstance(node.targets[0].value, ast.Name)
        and node.targets[0].value.id == "errors"
        and isinstance(node.value, ast.Constant)
    }
    base_errors = {f"base_topic_{problem}" for problem in BASE_TOPIC_PROBLEMS}
    # A template always yields a topic with the device and relay in it: never an empty one.
    template_errors = {f"template_{problem}" for problem in TEMPLATE_PROBLEMS - {"empty"}}
    assert len(base_errors) == 6
    assert len(template_errors) == 9
    assert base_errors | {"base_topic_overlaps"} == set(TRANSLATIONS["config"]["error"])
    options_errors = literal_errors - base_errors - {"base_topic_overlaps"}
    assert options_errors | template_errors == set(TRANSLATIONS["options"]["error"])


@pytest.mark.parametrize("platform", PLATFORM_FILES)
def test_entity_translation_keys(platform: str) -> None:
    """Every key an entity of the platform can carry has a name, and no text is unused."""
    path = PACKAGE / f"{platform}.py"
    keys = literal_keywords(path, "translation_key")
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "_attr_translation_key"
            and isinstance(node.value, ast.Constant)
        ):
            keys.add(node.value.value)
    if platform == "sensor":
        keys |= {count_key(level) for level in Level}
    texts = TRANSLATIONS["entity"][platform]
    assert keys == set(texts)
    assert all(text.get("name") for text in texts.values())


def test_selector_translation_keys() -> None:
    used = literal_keywords(PACKAGE / "config_flow.py", "translation_key") | {
        field["selector"]["select"]["translation_key"]
        for spec in SERVICES.values()
        for field in spec["fields"].values()
        if "translation_key" in field.get("selector", {}).get("select", {})
    }
    assert used == set(TRANSLATIONS["selector"])
    for key, texts in TRANSLATIONS["selector"].items():
        assert all(texts["options"].values()), key


def test_device_triggers_are_translated() -> None:
    assert set(device_trigger.TRIGGER_EVENTS) == set(
        TRANSLATIONS["device_automation"]["trigger_type"]
    )


def test_system_health_keys_are_translated() -> None:
    source = (PACKAGE / "system_health.py").read_text("utf-8")
    returned = next(
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict)
    )
    keys = {key.value for key in returned.keys if isinstance(key, ast.Constant)}
    assert keys == set(TRANSLATIONS["system_health"]["info"])
