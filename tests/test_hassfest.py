"""Offline hassfest-style checks: manifest, services.yaml against the registered actions, and
a translation for every flow step, error, abort, entity, selector and trigger the code uses.

The second half re-states, in this project's own code, the rules the newest hassfest
(home-assistant/core script/hassfest/) applies to a custom integration's manifest.json,
services.yaml, translations/en.json, icons.json and quality_scale.yaml, and the rules Home
Assistant's brands integration and the home-assistant/brands validation apply to brand images.
Each block names the file its rules come from. Every checker has a negative control below
(test_checkers_reject_a_broken_copy), so none of them can pass vacuously."""

from __future__ import annotations

import ast
from collections.abc import Callable
import copy
from http import HTTPStatus
import importlib
from importlib.resources import files
import json
from pathlib import Path
import re
import string
import tomllib
from typing import Any
from urllib.parse import urlparse

from awesomeversion import AwesomeVersion, AwesomeVersionException, AwesomeVersionStrategy
from homeassistant import components as ha_components
from homeassistant.components.brands.const import ALLOWED_IMAGES, IMAGE_FALLBACKS
from homeassistant.const import Platform, __version__ as HA_VERSION
from homeassistant.core import HomeAssistant, SupportsResponse
from homeassistant.helpers import config_validation as cv, selector, service as ha_service
from homeassistant.setup import async_setup_component
from PIL import Image
import probatio as vol
from probatio.humanize import humanize_error
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
import yaml

from custom_components.mqtt_fleet import device_trigger
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES
from custom_components.mqtt_fleet.families.container_logs.keys import LOG_COUNTS
from custom_components.mqtt_fleet.protocol.container_logs import Level

PACKAGE = Path(__file__).parents[1] / "custom_components" / DOMAIN
MANIFEST = json.loads((PACKAGE / "manifest.json").read_text("utf-8"))
SERVICES = yaml.safe_load((PACKAGE / "services.yaml").read_text("utf-8"))
TRANSLATIONS = json.loads((PACKAGE / "translations" / "en.json").read_text("utf-8"))
HACS = json.loads((PACKAGE.parents[1] / "hacs.json").read_text("utf-8"))
PLATFORMS = ("binary_sensor", "event", "sensor", "switch")
# Where entities are defined: the shared classes and each family's own.
ENTITY_FILES = sorted((PACKAGE / "entities").glob("*.py")) + sorted(
    (PACKAGE / "families").glob("*/entities.py")
)
# Where flow texts' errors come from: the config flow and each family's option checks.
FLOW_FILES = [PACKAGE / "config_flow.py", *sorted((PACKAGE / "families").glob("*/__init__.py"))]
# Entity base classes, per platform, as entity classes name them.
PLATFORM_BASES = {
    "binary_sensor": "BinarySensorEntity",
    "event": "EventEntity",
    "sensor": "SensorEntity",
    "switch": "SwitchEntity",
}


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
    """The minimum Home Assistant HACS installs on is not newer than the one tested here."""
    assert HACS["name"] == MANIFEST["name"]
    assert AwesomeVersion(HACS["homeassistant"]) <= AwesomeVersion(HA_VERSION)


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


def action_schema(action: str) -> vol.Schema:
    """The schema of an action, from the actions module of the family that has it."""
    found = [
        getattr(module, f"{action.upper()}_SCHEMA")
        for path in sorted((PACKAGE / "families").glob("*/actions.py"))
        if hasattr(
            module := importlib.import_module(
                f"custom_components.{DOMAIN}.families.{path.parent.name}.actions"
            ),
            f"{action.upper()}_SCHEMA",
        )
    ]
    assert len(found) == 1, action
    return found[0]


@pytest.mark.parametrize("action", sorted(SERVICES))
def test_services_yaml_fields_match_the_schema(action: str) -> None:
    """Each field: same name, required flag, default and choices as the action's schema."""
    schema = action_schema(action)
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
    config_steps = (steps - {"init"}) | set(FAMILIES)  # each family's step is its key
    assert config_steps <= set(TRANSLATIONS["config"]["step"])
    assert set(TRANSLATIONS["options"]["step"]) == set(FAMILIES)  # one options step each
    aborts = literal_keywords(flow, "reason") | {
        "already_configured",  # _abort_if_unique_id_configured
        "already_in_progress",
        "reauth_successful",
        "reconfigure_successful",  # async_update_reload_and_abort
    }
    assert aborts <= set(TRANSLATIONS["config"]["abort"])
    literal_errors = {
        text
        for path in FLOW_FILES
        for node in ast.walk(ast.parse(path.read_text("utf-8")))
        for text in error_literals(node)
    }
    base_errors = {f"base_topic_{problem}" for problem in BASE_TOPIC_PROBLEMS}
    # A template always yields a topic with the device and relay in it: never an empty one.
    template_errors = {f"template_{problem}" for problem in TEMPLATE_PROBLEMS - {"empty"}}
    assert len(base_errors) == 6
    assert len(template_errors) == 9
    entry_errors = {"base_topic_overlaps", "base_topic_in_use", "base_topic_silent"}
    assert base_errors | entry_errors <= set(TRANSLATIONS["config"]["error"])
    options_errors = literal_errors - base_errors - entry_errors
    assert options_errors | template_errors == set(TRANSLATIONS["options"]["error"])


def error_literals(node: ast.AST) -> list[str]:
    """Form errors a node sets: `errors[field] = "..."` or `return {field: "..."}`."""
    if (
        isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Subscript)
        and isinstance(node.targets[0].value, ast.Name)
        and node.targets[0].value.id == "errors"
        and isinstance(node.value, ast.Constant)
    ):
        return [node.value.value]
    if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
        return [v.value for v in node.value.values if isinstance(v, ast.Constant)]
    return []


def entity_translation_keys(platform: str) -> set[str]:
    """Literal translation keys of a platform's entities, wherever they are defined.

    Sensor descriptions (and their `replace`d copies) pass `translation_key=`; entity
    classes of the platform set `_attr_translation_key`.
    """
    keys: set[str] = set()
    for path in ENTITY_FILES:
        tree = ast.parse(path.read_text("utf-8"))
        if platform == "sensor":
            keys |= {
                k.value.value
                for call in ast.walk(tree)
                if isinstance(call, ast.Call)
                and ast.unparse(call.func).endswith(("SensorDescription", "replace"))
                for k in call.keywords
                if k.arg == "translation_key" and isinstance(k.value, ast.Constant)
            }
        for cls in ast.walk(tree):
            if isinstance(cls, ast.ClassDef) and PLATFORM_BASES[platform] in {
                ast.unparse(base) for base in cls.bases
            }:
                keys |= {
                    node.value.value
                    for node in cls.body
                    if isinstance(node, ast.Assign)
                    and isinstance(node.targets[0], ast.Name)
                    and node.targets[0].id == "_attr_translation_key"
                    and isinstance(node.value, ast.Constant)
                }
    return keys


@pytest.mark.parametrize("platform", PLATFORMS)
def test_entity_translation_keys(platform: str) -> None:
    """Every key an entity of the platform can carry has a name, and no text is unused."""
    keys = entity_translation_keys(platform)
    if platform == "sensor":
        keys |= {LOG_COUNTS[level] for level in Level}
    texts = TRANSLATIONS["entity"][platform]
    assert keys == set(texts)
    assert all(text.get("name") for text in texts.values())


def test_selector_translation_keys() -> None:
    used = {key for path in FLOW_FILES for key in literal_keywords(path, "translation_key")} | {
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
    # One line per family in use, under the family's key.
    assert keys | set(FAMILIES) == set(TRANSLATIONS["system_health"]["info"])


# === The newest hassfest's rules for a custom integration, re-stated ============================
#
# hassfest validates with probatio (Home Assistant's voluptuous successor), and so do the checks
# below: Home Assistant's own validators (cv.slug, cv.string_with_no_html, selectors) raise
# probatio.Invalid. A checker returns the problems it found; a test asserts there are none.

QUALITY_SCALE = yaml.safe_load((PACKAGE / "quality_scale.yaml").read_text("utf-8"))
ICONS = json.loads((PACKAGE / "icons.json").read_text("utf-8"))
BRAND = PACKAGE / "brand"
HA_COMPONENTS = Path(ha_components.__file__).parent

type Validator = Callable[[Any], Any]


def problems(schema: Validator, data: Any) -> list[str]:
    """What `schema` finds wrong with `data`, one readable line per problem."""
    try:
        schema(data)
    except vol.MultipleInvalid as err:
        errors = err.errors
    except vol.Invalid as err:
        errors = [err]
    else:
        return []
    return [humanize_error(data, error)[:300] for error in errors]


def keyed(value_schema: Any, key: Validator | None = None) -> Validator:
    """A mapping whose keys are translation keys (or pass `key`)."""
    return cv.schema_with_slug_keys(value_schema, slug_validator=key or translation_key)


# --- manifest.json: script/hassfest/manifest.py ----------------------------------------------
#
# The probatio version (2026): CUSTOM_INTEGRATION_MANIFEST_SCHEMA (no unknown keys), a custom
# documentation URL (https, not under the core pages), a version AwesomeVersion accepts,
# an IoT class, no clash with a core domain (a warning there), a code owner from silver on.

INTEGRATION_TYPES = ("device", "entity", "hardware", "helper", "hub", "service", "system")
QUALITY_SCALES = (
    "bronze",
    "silver",
    "gold",
    "platinum",
    "custom",
    "no_score",
    "internal",
    "legacy",
)
IOT_CLASSES = (
    "assumed_state",
    "calculated",
    "cloud_polling",
    "cloud_push",
    "local_polling",
    "local_push",
)
CORE_DOCUMENTATION = "https://www.home-assistant.io/integrations"
VERSION_STRATEGIES = [
    AwesomeVersionStrategy.CALVER,
    AwesomeVersionStrategy.SEMVER,
    AwesomeVersionStrategy.SIMPLEVER,
    AwesomeVersionStrategy.BUILDVER,
    AwesomeVersionStrategy.PEP440,
]


def custom_documentation(value: str) -> str:
    """An https page of the custom integration's own, not the core documentation."""
    if urlparse(value).scheme != "https":
        raise vol.Invalid("documentation must be an https URL")
    if value.startswith(CORE_DOCUMENTATION):
        raise vol.Invalid("a custom integration documents itself, not under the core pages")
    return value


def release_version(value: str) -> str:
    """A version AwesomeVersion reads as CalVer, SemVer, SimpleVer, BuildVer or PEP 440."""
    try:
        AwesomeVersion(value, ensure_strategy=VERSION_STRATEGIES)
    except AwesomeVersionException as err:
        raise vol.Invalid(f"{value!r} is not a valid version") from err
    return value


def lower(value: str) -> str:
    if value != value.lower():
        raise vol.Invalid("must be lowercase")
    return value


def upper(value: str) -> str:
    if value != value.upper():
        raise vol.Invalid("must be uppercase")
    return value


def wildcard(value: str) -> str:
    if "*" not in value:
        raise vol.Invalid("a matcher needs a wildcard")
    return value


MANIFEST_SCHEMA = vol.Schema(
    {
        vol.Required("domain"): str,
        vol.Required("name"): str,
        vol.Required("codeowners"): [str],
        vol.Required("documentation"): vol.All(vol.Url(), custom_documentation),
        vol.Optional("version"): vol.All(str, release_version),
        vol.Optional("issue_tracker"): vol.Url(),
        vol.Optional("integration_type"): vol.In(INTEGRATION_TYPES),
        vol.Optional("config_flow"): bool,
        vol.Optional("single_config_entry"): bool,
        vol.Optional("import_executor"): bool,
        vol.Optional("iot_class"): vol.In(IOT_CLASSES),
        vol.Optional("quality_scale"): vol.In(QUALITY_SCALES),
        vol.Optional("requirements"): [str],
        vol.Optional("dependencies"): [str],
        vol.Optional("after_dependencies"): [str],
        vol.Optional("loggers"): [str],
        vol.Optional("disabled"): str,
        vol.Optional("mqtt"): [str],
        vol.Optional("zeroconf"): [
            vol.Any(
                str,
                {
                    vol.Required("type"): str,
                    vol.Optional("macaddress"): vol.All(str, upper, wildcard),
                    vol.Optional("manufacturer"): vol.All(str, lower),
                    vol.Optional("model"): vol.All(str, lower),
                    vol.Optional("name"): vol.All(str, lower),
                    vol.Optional("properties"): {str: lower},
                },
            )
        ],
        vol.Optional("ssdp"): [vol.All(vol.Schema({}, extra=vol.ALLOW_EXTRA), vol.Length(min=1))],
        vol.Optional("bluetooth"): [
            {
                vol.Optional("connectable"): bool,
                vol.Optional("service_uuid"): vol.All(str, lower),
                vol.Optional("service_data_uuid"): vol.All(str, lower),
                vol.Optional("local_name"): str,
                vol.Optional("manufacturer_id"): int,
                vol.Optional("manufacturer_data_start"): [int],
            }
        ],
        vol.Optional("homekit"): {vol.Optional("models"): [str]},
        vol.Optional("dhcp"): [
            {
                vol.Optional("macaddress"): vol.All(str, upper, wildcard),
                vol.Optional("hostname"): vol.All(str, lower),
                vol.Optional("registered_devices"): cv.boolean,
            }
        ],
        vol.Optional("usb"): [
            {
                vol.Optional("vid"): vol.All(str, upper),
                vol.Optional("pid"): vol.All(str, upper),
                vol.Optional("serial_number"): vol.All(str, lower),
                vol.Optional("manufacturer"): vol.All(str, lower),
                vol.Optional("description"): vol.All(str, lower),
                vol.Optional("known_devices"): [str],
            }
        ],
        vol.Optional("preview_features"): {
            cv.slug: {
                vol.Optional("feedback_url"): vol.Url(),
                vol.Optional("learn_more_url"): vol.Url(),
                vol.Optional("report_issue_url"): vol.Url(),
            }
        },
    }
)


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """hassfest's manifest plugin for a custom integration (errors and the collision warning)."""
    found = problems(MANIFEST_SCHEMA, manifest)
    if not manifest.get("version"):
        found.append("a custom integration needs a version")
    if "iot_class" not in manifest:
        found.append("the domain is missing an IoT class")
    if (HA_COMPONENTS / manifest.get("domain", "")).exists():
        found.append("the domain collides with a built-in integration")
    scale = manifest.get("quality_scale")
    if scale in TIERS[TIERS.index("silver") :] and not manifest.get("codeowners"):
        found.append(f"a {scale} integration needs a code owner")
    return found


def test_manifest_passes_hassfest() -> None:
    assert manifest_problems(MANIFEST) == []


# --- services.yaml: script/hassfest/services.py ----------------------------------------------
#
# CUSTOM_INTEGRATION_SERVICES_SCHEMA (slug action names; fields with a valid selector, no empty
# example/default, a filter only on targeted actions, unique names across sections) and a
# select selector's translation_key present under `selector` in translations/en.json.


def not_none(value: Any) -> Any:
    if value is None:
        raise vol.Invalid("must not be empty")
    return value


def fields_unique_across_sections(fields: dict[str, Any]) -> dict[str, Any]:
    names = [
        name
        for key, field in fields.items()
        for name in (field["fields"] if field and "fields" in field else [key])
    ]
    if len(names) != len(set(names)):
        raise vol.Invalid("a field name is used twice in the action")
    return fields


def service_schema(*, targeted: bool) -> Validator:
    texts = {vol.Optional("name"): str, vol.Optional("description"): str}  # custom only
    field: dict[Any, Any] = {
        vol.Optional("example"): not_none,
        vol.Optional("default"): not_none,
        vol.Optional("required"): bool,
        vol.Optional("advanced"): bool,
        vol.Optional("selector"): selector.validate_selector,
        **texts,
    }
    if targeted:  # a filter narrows the target, so only a targeted action has one
        field[vol.Optional("filter")] = {
            vol.Exclusive("attribute", "filter"): {
                vol.Required(str): [vol.All(str, ha_service.validate_attribute_option)]
            },
            vol.Exclusive("supported_features", "filter"): [
                vol.All(str, ha_service.validate_supported_feature)
            ],
        }
    section = {vol.Optional("collapsed"): bool, vol.Required("fields"): {str: field}, **texts}
    schema: dict[Any, Any] = {
        vol.Optional("fields"): vol.All(
            vol.Schema({str: vol.Any(field, section)}), fields_unique_across_sections
        ),
        **texts,
    }
    if targeted:
        schema[vol.Required("target")] = vol.Any(selector.TargetSelector.CONFIG_SCHEMA, None)
    return vol.Schema(schema)


SERVICES_SCHEMA = vol.Schema(
    {cv.slug: vol.Any(service_schema(targeted=True), service_schema(targeted=False), None)}
)


def services_problems(services_yaml: Any, translations: dict[str, Any]) -> list[str]:
    found = problems(SERVICES_SCHEMA, services_yaml)
    found += [
        f"{action}.{name}: selector translation_key {key} is not under selector in en.json"
        for action, spec in (services_yaml or {}).items()
        for name, field in ((spec or {}).get("fields") or {}).items()
        if isinstance(field, dict)
        and (key := (field.get("selector") or {}).get("select", {}).get("translation_key"))
        and key not in translations.get("selector", {})
    ]
    return found


def test_services_yaml_passes_hassfest() -> None:
    assert services_problems(SERVICES, TRANSLATIONS) == []


# --- translations/en.json: script/hassfest/translations.py -----------------------------------
#
# gen_strings_schema and translation_value_validator, which hassfest applies to a custom
# integration's translations/en.json. Where Home Assistant 2026.10's own translations show the
# rule moved on from the translations.py read (flow `step` optional, issue `short_title`,
# optional descriptions of trigger and condition fields), the checks follow 2026.10.

TRANSLATION_KEY = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
URL = re.compile(
    r"(?:(?:ftps?|scp|https?|mqtts?|socket|socks5)://|www\.)[a-z0-9]+(?:[-.][a-z0-9]+)*\.[a-z]{2,5}",
    re.IGNORECASE,
)
QUOTED_PLACEHOLDER = re.compile(r"'\{\w+\}'")
COMBINED_REFERENCE = re.compile(r".\[%|%\].")


def translation_key(value: Any) -> str:
    """Lowercase letters, digits, and single `-`/`_` between them."""
    if not isinstance(value, str) or not TRANSLATION_KEY.fullmatch(value):
        raise vol.Invalid(f"{value!r} is not a translation key")
    return value


def text(*, placeholders: bool = True, urls: bool = False) -> Validator:
    """A translated string: no HTML, URL, combined reference, outer spaces or bad placeholder."""

    def validate(value: Any) -> str:
        value = cv.string_with_no_html(value)
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(value) if field]
        except ValueError as err:
            raise vol.Invalid("unbalanced braces") from err
        if fields and not placeholders:
            raise vol.Invalid("placeholders are not supported here")
        if not all(field.isidentifier() for field in fields):
            raise vol.Invalid("a placeholder must be a Python identifier")
        if QUOTED_PLACEHOLDER.search(value):
            raise vol.Invalid("a placeholder must not be in single quotes")
        if COMBINED_REFERENCE.search(value):
            raise vol.Invalid("a reference must be the whole string")
        if value != value.strip():
            raise vol.Invalid("leading or trailing whitespace")
        if not urls and URL.search(value):
            raise vol.Invalid("a URL belongs in a description placeholder")
        return value

    return validate


TEXT = text()
PLAIN = text(placeholders=False)


def data_descriptions_describe_data(flow: dict[str, Any]) -> dict[str, Any]:
    for step_id, step in flow.get("step", {}).items():
        if extra := set(step.get("data_description", {})) - set(step.get("data", {})):
            raise vol.Invalid(f"step {step_id}: data_description for {sorted(extra)}, not in data")
    return flow


def flow_schema(*, title: bool = False, subentry: bool = False) -> Validator:
    """config, options, a subentry flow or a repair's fix_flow."""
    data = {vol.Optional("data"): {str: TEXT}, vol.Optional("data_description"): {str: TEXT}}
    step = {
        vol.Optional("title"): TEXT,
        vol.Optional("description"): TEXT,
        vol.Optional("menu_options"): {str: TEXT},
        vol.Optional("menu_option_descriptions"): {str: TEXT},
        vol.Optional("submit"): TEXT,
        vol.Optional("sections"): {
            str: {vol.Optional("name"): TEXT, vol.Optional("description"): TEXT, **data}
        },
        **data,
    }
    schema: dict[Any, Any] = {
        vol.Optional("step"): {str: step},
        vol.Optional("flow_title"): TEXT,
        **{vol.Optional(key): {str: TEXT} for key in ("error", "abort", "progress")},
        vol.Optional("create_entry"): {str: TEXT},
    }
    if subentry:
        schema[vol.Required("entry_type")] = TEXT
        schema[vol.Required("initiate_flow")] = {vol.Required("user"): TEXT, str: TEXT}
    else:
        schema[vol.Optional("initiate_flow")] = {vol.Required("user"): TEXT}
    if title:  # config.title moved to the root; for a custom integration only a warning
        schema[vol.Optional("title")] = TEXT
    return vol.All(vol.Schema(schema), data_descriptions_describe_data)


def config_panel(value: Any) -> Any:
    if isinstance(value, dict):
        return vol.Schema({vol.Any("_", translation_key): config_panel})(value)
    return TEXT(value)


def described(*, action: bool) -> dict[Any, Any]:
    """An action, trigger or condition: a name, a description, its fields' texts."""
    field = {
        vol.Required("name"): str,
        vol.Required("description") if action else vol.Optional("description"): TEXT,
        vol.Optional("example"): TEXT,
    }
    return {
        vol.Required("name"): TEXT,
        vol.Required("description"): TEXT,
        vol.Optional("fields"): keyed(field),
    }


ENTITY_TEXTS = {
    vol.Optional("name"): TEXT,
    vol.Optional("state"): keyed(PLAIN),
    vol.Optional("state_attributes"): keyed(
        {vol.Optional("name"): PLAIN, vol.Optional("state"): keyed(PLAIN)}
    ),
    vol.Optional("unit_of_measurement"): PLAIN,
}
TRANSLATIONS_SCHEMA = vol.Schema(
    {
        vol.Optional("title"): TEXT,
        vol.Optional("config"): flow_schema(title=True),
        vol.Optional("config_subentries"): keyed(flow_schema(subentry=True), vol.Any("_", cv.slug)),
        vol.Optional("options"): flow_schema(),
        vol.Optional("preview_features"): keyed(
            {
                vol.Required("name"): TEXT,
                vol.Required("description"): text(urls=True),
                vol.Optional("enable_confirmation"): TEXT,
                vol.Optional("disable_confirmation"): TEXT,
            }
        ),
        vol.Optional("selector"): keyed(
            {
                vol.Optional("choices"): keyed(TEXT),
                vol.Optional("options"): keyed(TEXT),
                vol.Optional("unit_of_measurement"): keyed(TEXT),
                vol.Optional("fields"): vol.Any(
                    cv.schema_with_slug_keys(str),
                    keyed({vol.Required("name"): str, vol.Required("description"): TEXT}),
                ),
            },
            vol.Any("_", cv.slug),
        ),
        vol.Optional("device_automation"): {
            vol.Optional(key): {str: TEXT}
            for key in (
                "action_type",
                "condition_type",
                "trigger_type",
                "trigger_subtype",
                "extra_fields",
                "extra_fields_descriptions",
            )
        },
        vol.Optional("system_health"): {vol.Optional("info"): keyed(TEXT)},
        vol.Optional("config_panel"): config_panel,
        vol.Optional("application_credentials"): {vol.Optional("description"): TEXT},
        vol.Optional("issues"): {
            str: {
                vol.Required("title"): TEXT,
                vol.Optional("short_title"): TEXT,
                vol.Exclusive("description", "fixable"): TEXT,
                vol.Exclusive("fix_flow", "fixable"): flow_schema(),
            }
        },
        vol.Optional("entity_component"): keyed(
            {
                vol.Optional("name"): str,
                vol.Optional("state"): keyed(PLAIN),
                vol.Optional("state_attributes"): keyed(
                    {vol.Optional("name"): str, vol.Optional("state"): keyed(PLAIN)}
                ),
            },
            vol.Any("_", cv.slug),
        ),
        vol.Optional("device"): keyed({vol.Optional("name"): TEXT}),
        vol.Optional("entity"): keyed(keyed(ENTITY_TEXTS), cv.slug),
        vol.Optional("exceptions"): keyed({vol.Optional("message"): TEXT}, cv.slug),
        vol.Optional("services"): keyed(
            {
                **described(action=True),
                vol.Optional("sections"): keyed(
                    {vol.Required("name"): str, vol.Optional("description"): TEXT}
                ),
            }
        ),
        vol.Optional("conditions"): keyed(described(action=False), cv.underscore_slug),
        vol.Optional("triggers"): keyed(described(action=False), cv.underscore_slug),
        vol.Optional("conversation"): {vol.Required("agent"): {vol.Required("done"): TEXT}},
        vol.Optional("common"): {cv.slug: TEXT},
    }
)


def test_translations_pass_hassfest() -> None:
    assert problems(TRANSLATIONS_SCHEMA, TRANSLATIONS) == []
    assert not (PACKAGE / ".translations").exists()  # the pre-0.112 directory name


# --- icons.json: script/hassfest/icons.py ----------------------------------------------------
#
# icon_schema for a non-entity integration type: `mdi:` icons under translation keys; actions as
# {"service": icon, "sections": ...}; no entity_component. Data entry icons sit under
# `sections`, as in 2026.10's own icons.json files.


def mdi_icon(value: Any) -> str:
    value = cv.string_with_no_html(value)
    if not value.startswith("mdi:"):
        raise vol.Invalid("an icon is a Material Design Icon, `mdi:<name>`")
    return value


def number(value: Any) -> str:
    try:
        float(value)
    except (TypeError, ValueError) as err:
        raise vol.Invalid(f"{value!r} is not a number") from err
    return value


def states_differ_from_default(icons: dict[str, Any]) -> dict[str, Any]:
    for key, spec in icons.items():
        for state, icon in spec.get("state", {}).items():
            if icon == spec.get("default"):
                raise vol.Invalid(f"{key}.{state} repeats the default icon: drop it")
    return icons


STATE_ICONS = keyed(mdi_icon)
DATA_ENTRY_ICONS = {"step": {str: {"sections": {str: mdi_icon}}}}
ENTITY_ICONS = keyed(
    {
        vol.Optional("default"): mdi_icon,
        vol.Optional("state"): STATE_ICONS,
        vol.Optional("range"): {number: mdi_icon},
        # hassfest applies this to attribute states only (for entity states it is a no-op).
        vol.Optional("state_attributes"): vol.All(
            keyed({vol.Optional("default"): mdi_icon, vol.Optional("state"): STATE_ICONS}),
            states_differ_from_default,
        ),
    }
)
ICONS_SCHEMA = vol.Schema(
    {
        vol.Optional("config"): DATA_ENTRY_ICONS,
        vol.Optional("options"): DATA_ENTRY_ICONS,
        vol.Optional("issues"): {str: {"fix_flow": DATA_ENTRY_ICONS}},
        vol.Optional("services"): keyed(
            {vol.Optional("service"): mdi_icon, vol.Optional("sections"): STATE_ICONS}
        ),
        vol.Optional("triggers"): keyed(
            {vol.Optional("trigger"): mdi_icon, vol.Optional("sections"): STATE_ICONS},
            cv.underscore_slug,
        ),
        vol.Optional("conditions"): keyed(
            {vol.Optional("condition"): mdi_icon, vol.Optional("sections"): STATE_ICONS},
            cv.underscore_slug,
        ),
        # entity_component belongs to entity, helper and system integrations only.
        vol.Optional("entity"): keyed(ENTITY_ICONS, cv.slug),
    }
)


def all_icons(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {icon for value in node.values() for icon in all_icons(value)}
    return {node}


def test_icons_pass_hassfest() -> None:
    assert MANIFEST["integration_type"] not in {"entity", "helper", "system"}
    assert problems(ICONS_SCHEMA, ICONS) == []


def test_icons_exist_in_the_frontend() -> None:
    """Every icon is in the MDI list of the pinned frontend (hassfest's mdi_icons.py source)."""
    icon_list = files("hass_frontend") / "static" / "mdi" / "iconList.json"
    known = {f"mdi:{icon['name']}" for icon in json.loads(icon_list.read_text("utf-8"))}
    assert all_icons(ICONS) - known == set()


def test_icons_name_real_entities_and_actions() -> None:
    """Project rule: an icon for a key nothing uses would silently never show."""
    for platform, keys in ICONS["entity"].items():
        assert set(keys) <= set(TRANSLATIONS["entity"].get(platform, {})), platform
    assert set(ICONS["services"]) == set(SERVICES)


# --- brand/: homeassistant/components/brands (served names) + home-assistant/brands rules -----
#
# hassfest's brand.py validates core's homeassistant/brands/<brand>.json, which a custom
# integration does not have. A custom integration's images (HA 2026.3+) are served from
# custom_components/<domain>/brand/ by the brands integration (ALLOWED_IMAGES, with
# IMAGE_FALLBACKS ending in icon.png) and must meet the home-assistant/brands image rules
# (its validation script): PNG; icons exactly 256x256 / 512x512; a logo's shortest side
# 128-256 / 256-512; an @2x image needs its 1x one; no image may duplicate the one it falls
# back to. Transparency and trimming are "preferred" there, not required, so not checked.

ICON_SIZES = {"icon.png": 256, "dark_icon.png": 256, "icon@2x.png": 512, "dark_icon@2x.png": 512}
LOGO_SHORTEST = {
    "logo.png": (128, 256),
    "dark_logo.png": (128, 256),
    "logo@2x.png": (256, 512),
    "dark_logo@2x.png": (256, 512),
}


def same_image_elsewhere(name: str) -> set[str]:
    """The images an identical `name` would duplicate: its icon, light or 1x counterpart."""
    icon, light, normal = (
        name.replace("logo", "icon"),
        name.removeprefix("dark_"),
        name.replace("@2x", ""),
    )
    return {icon, light, normal} - {name}


def brand_problems(folder: Path) -> list[str]:
    if not (folder / "icon.png").is_file():
        return ["brand/icon.png is missing: every other image falls back to it"]
    names = {path.name for path in folder.iterdir()}
    found = [f"{name}: not a brand image Home Assistant serves" for name in names - ALLOWED_IMAGES]
    for name in sorted(names & ALLOWED_IMAGES):
        with Image.open(folder / name) as image:
            kind, (width, height) = image.format, image.size
        if kind != "PNG":
            found.append(f"{name}: {kind}, not PNG")
        if name in ICON_SIZES and (width, height) != (ICON_SIZES[name],) * 2:
            found.append(f"{name}: {width}x{height}, must be {ICON_SIZES[name]} square")
        if name in LOGO_SHORTEST:
            low, high = LOGO_SHORTEST[name]
            if not low <= min(width, height) <= high:
                found.append(f"{name}: shortest side {min(width, height)}, not {low}-{high}")
        if "@2x" in name and name.replace("@2x", "") not in names:
            found.append(f"{name}: the hDPI image needs {name.replace('@2x', '')}")
    found += [
        f"{name} is identical to {other}: remove it"
        for name in sorted(names & ALLOWED_IMAGES)
        for other in sorted(same_image_elsewhere(name) & names)
        if (folder / name).read_bytes() == (folder / other).read_bytes()
    ]
    return found


def test_brand_images_pass_the_brands_rules() -> None:
    assert brand_problems(BRAND) == []


def test_minimum_home_assistant_shows_the_brand() -> None:
    """Home Assistant serves a custom integration's brand/ from 2026.3 on; older shows none."""
    assert AwesomeVersion(HACS["homeassistant"]) >= AwesomeVersion("2026.3.0")


async def test_home_assistant_serves_the_brand_images(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """The brands integration finds brand/ and serves each name from it, never the CDN."""
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    for name in sorted(ALLOWED_IMAGES):
        chain = [name, *IMAGE_FALLBACKS.get(name, [])]
        expected = next(BRAND / each for each in chain if (BRAND / each).is_file())
        response = await client.get(f"/api/brands/integration/{DOMAIN}/{name}?placeholder=no")
        assert response.status == HTTPStatus.OK, name
        assert await response.read() == expected.read_bytes(), name


# --- quality_scale.yaml: script/hassfest/quality_scale.py -------------------------------------
#
# ALL_RULES of home-assistant/core script/hassfest/quality_scale.py (dev, 2026), by tier. Since
# core PR 175777 (2026-07) every rule must be listed; docs-conditions and docs-triggers joined
# bronze in 2026. SCHEMA: a status is todo or done, or a mapping with a comment; exempt only as a
# mapping with a comment. For a rule marked done, quality_scale_validation/<rule>.py checks the
# code. hassfest returns early for a custom integration; the project holds itself to the core
# rules anyway.

TIERS = ("bronze", "silver", "gold", "platinum")
RULES = {
    "bronze": (
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ),
    "silver": (
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ),
    "gold": (
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ),
    "platinum": ("async-dependency", "inject-websession", "strict-typing"),
}
ALL_RULES = [rule for tier in TIERS for rule in RULES[tier]]

QUALITY_SCALE_SCHEMA = vol.Schema(
    {
        vol.Required("rules"): {
            vol.Required(rule): vol.Any(
                vol.In(["todo", "done"]),
                {vol.Required("status"): vol.In(["todo", "done"]), vol.Required("comment"): str},
                {vol.Required("status"): "exempt", vol.Required("comment"): str},
            )
            for rule in ALL_RULES
        }
    }
)


def statuses(quality_scale: Any) -> dict[str, str]:
    """Each listed rule's status (a broken entry reads as no status)."""
    rules = quality_scale.get("rules") if isinstance(quality_scale, dict) else None
    return {
        rule: str(value.get("status") if isinstance(value, dict) else value)
        for rule, value in (rules if isinstance(rules, dict) else {}).items()
    }


def module(package: Path, name: str) -> ast.Module:
    return ast.parse((package / f"{name}.py").read_text("utf-8"))


def top_level_async(tree: ast.Module, name: str) -> ast.AsyncFunctionDef | None:
    return next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.AsyncFunctionDef) and node.name == name
        ),
        None,
    )


def defines_async(tree: ast.Module, names: set[str]) -> bool:
    return any(
        isinstance(node, ast.AsyncFunctionDef) and node.name in names for node in ast.walk(tree)
    )


def calls_method(tree: ast.AST, name: str) -> bool:
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == name
        for node in ast.walk(tree)
    )


DISCOVERY_KEYS = {"bluetooth", "dhcp", "homekit", "mqtt", "ssdp", "usb", "zeroconf"}
DISCOVERY_STEPS = {f"async_step_{key}" for key in DISCOVERY_KEYS | {"discovery", "hassio"}}
SETUP_FAILURES = {"ConfigEntryNotReady", "ConfigEntryAuthFailed", "ConfigEntryError"}
TYPED_ENTRY = re.compile(r"[A-Za-z]+ConfigEntry")
# Where hassfest's runtime-data rule wants the typed entry: module -> functions (argument no.).
ENTRY_ARGUMENTS = {
    "__init__": (
        "async_migrate_entry",
        "async_remove_config_entry_device",
        "async_remove_entry",
        "async_setup_entry",
        "async_unload_entry",
    ),
    "diagnostics": ("async_get_config_entry_diagnostics", "async_get_device_diagnostics"),
    **{platform.value: ("async_setup_entry",) for platform in Platform},
}


def raised_name(node: ast.expr | None) -> str | None:
    while isinstance(node, ast.Call | ast.Attribute):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def untyped_entries(package: Path) -> list[str]:
    """Functions whose config entry argument is not annotated `<Name>ConfigEntry`."""

    def typed(function: ast.FunctionDef | ast.AsyncFunctionDef, position: int) -> bool:
        args = function.args.args
        annotation = args[position - 1].annotation if len(args) >= position else None
        return isinstance(annotation, ast.Name) and bool(TYPED_ENTRY.fullmatch(annotation.id))

    found = [
        f"{name}.{function}"
        for name, functions in ENTRY_ARGUMENTS.items()
        if (package / f"{name}.py").is_file()
        for function in functions
        if (node := top_level_async(module(package, name), function)) and not typed(node, 2)
    ]
    found += [
        f"config_flow.{cls.name}.{node.name}"
        for cls in module(package, "config_flow").body
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, ast.FunctionDef)
        and node.name == "async_get_options_flow"
        and not typed(node, 1)
    ]
    return found


def rule_problems(rule: str, done: set[str], manifest: dict[str, Any], package: Path) -> list[str]:
    """The checks hassfest runs for a rule marked done (quality_scale_validation/<rule>.py)."""
    flow = module(package, "config_flow") if (package / "config_flow.py").is_file() else None
    match rule:
        case "config-flow":
            return [] if manifest.get("config_flow") and flow else ["no config flow"]
        case "discovery":
            found = flow and (
                DISCOVERY_KEYS & set(manifest) or defines_async(flow, DISCOVERY_STEPS)
            )
            return [] if found else ["no discovery in the manifest or the config flow"]
        case "reconfiguration-flow":
            found = flow and defines_async(flow, {"async_step_reconfigure"})
            return [] if found else ["no async_step_reconfigure"]
        case "unique-config-entry":
            found = manifest.get("single_config_entry") or (
                flow
                and (
                    calls_method(flow, "_async_abort_entries_match")
                    or (
                        calls_method(flow, "async_set_unique_id")
                        and calls_method(flow, "_abort_if_unique_id_configured")
                    )
                )
            )
            return [] if found else ["the flow does not stop a second entry for the same thing"]
        case "runtime-data":
            setup = top_level_async(module(package, "__init__"), "async_setup_entry")
            entry = setup.args.args[1].arg if setup and len(setup.args.args) == 2 else None
            stores = setup and any(
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == entry
                and node.attr == "runtime_data"
                and isinstance(node.ctx, ast.Store)
                for node in ast.walk(setup)
            )
            found = [] if stores else ["async_setup_entry does not set entry.runtime_data"]
            if "strict-typing" in done:
                found += [f"{name}: untyped config entry" for name in untyped_entries(package)]
            return found
        case "test-before-setup":
            setup = top_level_async(module(package, "__init__"), "async_setup_entry")
            refreshes = setup and calls_method(setup, "async_config_entry_first_refresh")
            raises = any(
                isinstance(node, ast.Raise) and raised_name(node.exc) in SETUP_FAILURES
                for path in package.rglob("*.py")
                for node in ast.walk(ast.parse(path.read_text("utf-8")))
            )
            return [] if refreshes or raises else ["setup never raises ConfigEntryNotReady & co."]
        case "strict-typing":  # core: listed in .strict-typing; here: mypy --strict on the package
            pyproject = package.parents[1] / "pyproject.toml"
            mypy = tomllib.loads(pyproject.read_text("utf-8")).get("tool", {}).get("mypy", {})
            target = f"{package.parent.name}/{package.name}"
            strict = mypy.get("strict") and target in mypy.get("files", [])
            return [] if strict else ["mypy does not check the package strictly"]
    return []


def quality_scale_problems(
    quality_scale: Any, manifest: dict[str, Any], package: Path = PACKAGE
) -> list[str]:
    found = problems(QUALITY_SCALE_SCHEMA, quality_scale)
    status = statuses(quality_scale)
    found += [
        f"{rule}: an exemption needs a reason"
        for rule, value in quality_scale.get("rules", {}).items()
        if status[rule] == "exempt"
        and not (isinstance(value, dict) and str(value.get("comment", "")).strip())
    ]
    done = {rule for rule, value in status.items() if value == "done"}
    found += [
        f"{rule}: {problem}"
        for rule in sorted(done)
        for problem in rule_problems(rule, done, manifest, package)
    ]
    if (declared := manifest.get("quality_scale")) in TIERS:
        met = done | {rule for rule, value in status.items() if value == "exempt"}
        found += [
            f"{declared} needs {rule} done or exempt"
            for tier in TIERS[: TIERS.index(declared) + 1]
            for rule in RULES[tier]
            if rule not in met
        ]
    return found


def test_quality_scale_passes_hassfest() -> None:
    assert quality_scale_problems(QUALITY_SCALE, MANIFEST) == []


def test_rule_list_matches_home_assistant() -> None:
    """The rules above are the ones every quality_scale.yaml of the installed core lists."""
    core = [
        set(yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)["rules"])
        for path in HA_COMPONENTS.glob("*/quality_scale.yaml")
    ]
    assert len(core) > 100
    assert all(rules == set(ALL_RULES) for rules in core)
    assert len(ALL_RULES) == len(set(ALL_RULES))


def test_brands_rule_is_done_with_images() -> None:
    """The project ships its own brand images, so `brands` is done, and they are there."""
    assert statuses(QUALITY_SCALE)["brands"] == "done"
    assert (BRAND / "icon.png").is_file()


# --- every checker can fail ---------------------------------------------------------------


def changed(data: Any, path: str, value: Any) -> Any:
    """A deep copy of `data` with the item at the dotted `path` set (or removed, for ...)."""
    copied = copy.deepcopy(data)
    *parents, last = path.split(".")
    target = copied
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return copied


def new_problems(check: Callable[[Any], list[str]], data: Any, broken: Any) -> set[str]:
    """What `check` finds in `broken` that it does not find in `data`."""
    return set(check(broken)) - set(check(data))


def check_services(data: Any) -> list[str]:
    return services_problems(data, TRANSLATIONS)


def check_translations(data: Any) -> list[str]:
    return problems(TRANSLATIONS_SCHEMA, data)


def check_icons(data: Any) -> list[str]:
    return problems(ICONS_SCHEMA, data)


def check_quality_scale(data: Any) -> list[str]:
    return quality_scale_problems(data, MANIFEST)


def broken_manifest(path: str, value: Any) -> set[str]:
    return new_problems(manifest_problems, MANIFEST, changed(MANIFEST, path, value))


def broken_services(path: str, value: Any) -> set[str]:
    return new_problems(check_services, SERVICES, changed(SERVICES, path, value))


def broken_translations(path: str, value: Any) -> set[str]:
    return new_problems(check_translations, TRANSLATIONS, changed(TRANSLATIONS, path, value))


def broken_icons(path: str, value: Any) -> set[str]:
    return new_problems(check_icons, ICONS, changed(ICONS, path, value))


def broken_quality_scale(path: str, value: Any) -> set[str]:
    return new_problems(check_quality_scale, QUALITY_SCALE, changed(QUALITY_SCALE, path, value))


BROKEN: dict[str, Callable[[], set[str]]] = {
    "manifest: unknown key": lambda: broken_manifest("platforms", []),
    "manifest: core docs URL": lambda: broken_manifest(
        "documentation", f"{CORE_DOCUMENTATION}/{DOMAIN}"
    ),
    "manifest: http docs URL": lambda: broken_manifest("documentation", "http://example.com"),
    "manifest: bad version": lambda: broken_manifest("version", "one"),
    "manifest: no version": lambda: broken_manifest("version", ...),
    "manifest: no iot_class": lambda: broken_manifest("iot_class", ...),
    "manifest: bad integration_type": lambda: broken_manifest("integration_type", "bridge"),
    "manifest: core domain": lambda: broken_manifest("domain", "mqtt"),
    "manifest: silver, no owner": lambda: new_problems(
        manifest_problems,
        changed(MANIFEST, "quality_scale", "silver"),
        changed(changed(MANIFEST, "quality_scale", "silver"), "codeowners", []),
    ),
    "services: bad selector": lambda: broken_services(
        "rpc_call.fields.path.selector", {"texty": None}
    ),
    "services: empty example": lambda: broken_services("rpc_call.fields.path.example", None),
    "services: filter untargeted": lambda: broken_services(
        "rpc_call.fields.path.filter", {"supported_features": []}
    ),
    "services: bad action name": lambda: broken_services("Rpc Call", None),
    "services: untranslated selector": lambda: new_problems(
        lambda translations: services_problems(SERVICES, translations),
        TRANSLATIONS,
        changed(TRANSLATIONS, "selector.log_level", ...),
    ),
    "translations: URL": lambda: broken_translations(
        "config.abort.already_configured", "See https://example.com"
    ),
    "translations: HTML": lambda: broken_translations(
        "config.abort.already_configured", "<b>Hi</b>"
    ),
    "translations: placeholder in state": lambda: broken_translations(
        "entity.sensor.admin_state.state.ok", "{x}"
    ),
    "translations: bad placeholder": lambda: broken_translations(
        "exceptions.janus_error.message", "{1x}"
    ),
    "translations: spaces": lambda: broken_translations("services.rpc_call.name", "RPC "),
    "translations: orphan description": lambda: broken_translations(
        "options.step.autocore.data_description.nothing", "Nothing."
    ),
    "translations: issue of both kinds": lambda: broken_translations(
        "issues.stale_device.description", "Gone."
    ),
    "translations: action lacks description": lambda: broken_translations(
        "services.rpc_call.description", ...
    ),
    "translations: bad key": lambda: broken_translations("system_health.info.Last_Message", "Last"),
    "translations: unknown section": lambda: broken_translations("labels", {}),
    "icons: not mdi": lambda: broken_icons("entity.sensor.cpu_load.default", "timer"),
    "icons: attribute state repeats default": lambda: broken_icons(
        "entity.sensor.cpu_load.state_attributes",
        {"since": {"default": "mdi:timer", "state": {"boot": "mdi:timer"}}},
    ),
    "icons: entity_component in a hub": lambda: broken_icons(
        "entity_component", {"_": {"default": "mdi:gauge"}}
    ),
    "quality scale: missing rule": lambda: broken_quality_scale("rules.docs-actions", ...),
    "quality scale: unknown rule": lambda: broken_quality_scale("rules.docs-everything", "done"),
    "quality scale: bad status": lambda: broken_quality_scale("rules.docs-actions", "partly"),
    "quality scale: bare exempt": lambda: broken_quality_scale("rules.docs-actions", "exempt"),
    "quality scale: blank reason": lambda: broken_quality_scale(
        "rules.docs-actions", {"status": "exempt", "comment": " "}
    ),
    "quality scale: done rule without its code": lambda: new_problems(
        lambda manifest: quality_scale_problems(QUALITY_SCALE, manifest),
        MANIFEST,
        changed(MANIFEST, "config_flow", False),
    ),
    "quality scale: tier not met": lambda: new_problems(
        lambda manifest: quality_scale_problems(
            changed(QUALITY_SCALE, "rules.docs-actions", "todo"), manifest
        ),
        MANIFEST,
        changed(MANIFEST, "quality_scale", "bronze"),
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_checkers_reject_a_broken_copy(case: str) -> None:
    """Each checker finds the one thing broken in an otherwise unchanged copy."""
    assert BROKEN[case]()


CHECKED_RULES = (
    "config-flow",
    "discovery",
    "reconfiguration-flow",
    "runtime-data",
    "strict-typing",
    "test-before-setup",
    "unique-config-entry",
)


def test_rule_checks_reject_a_bare_integration(tmp_path: Path) -> None:
    """Each done-rule check fails for an integration that lacks what it looks for."""
    package = tmp_path / "custom_components" / "bare"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "async def async_setup_entry(hass, entry: ConfigEntry):\n    hass.data[1] = entry\n"
    )
    (package / "config_flow.py").write_text(
        "class Flow:\n"
        "    async def async_step_user(self, user_input):\n        return None\n"
        "    def async_get_options_flow(entry: ConfigEntry):\n        return None\n"
    )
    (tmp_path / "pyproject.toml").write_text("[tool.mypy]\nfiles = ['custom_components/bare']\n")
    manifest = {"domain": "bare", "config_flow": False}
    for rule in CHECKED_RULES:
        assert rule_problems(rule, {"strict-typing"}, manifest, package), rule
    assert len(rule_problems("runtime-data", {"strict-typing"}, manifest, package)) == 3
    assert all(rule_problems(rule, set(), MANIFEST, PACKAGE) == [] for rule in CHECKED_RULES)


def test_brand_checker_rejects_bad_images(tmp_path: Path) -> None:
    assert brand_problems(tmp_path) != []  # no icon.png
    Image.new("RGBA", (256, 256)).save(tmp_path / "icon.png")
    Image.new("RGBA", (256, 255)).save(tmp_path / "dark_icon.png")
    Image.new("RGBA", (512, 100)).save(tmp_path / "logo.png")
    Image.new("RGBA", (512, 512)).save(tmp_path / "logo@2x.png", format="GIF")
    (tmp_path / "icon@2x.png").write_bytes((tmp_path / "icon.png").read_bytes())
    (tmp_path / "favicon.png").write_bytes(b"")
    found = brand_problems(tmp_path)
    for name in ("dark_icon.png", "logo.png", "logo@2x.png", "icon@2x.png", "favicon.png"):
        assert any(problem.startswith(name) for problem in found), name
