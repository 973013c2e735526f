"""The frontend can render every flow, action, selector, trigger and repair text.

Home Assistant's frontend formats these texts as ICU messages: `{name}` is a placeholder the
flow must supply, `<name>` opens a tag and `'{` quotes. A text it cannot parse or fill shows
"Translation error" instead of the text.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.mqtt_fleet import config_flow
from custom_components.mqtt_fleet.const import DOMAIN
from custom_components.mqtt_fleet.families import FAMILIES

from .common import default_options, entry_id_for

TRANSLATIONS: dict[str, Any] = json.loads(
    (Path(config_flow.__file__).parent / "translations" / "en.json").read_text("utf-8")
)
ARGUMENT = re.compile(r"\{([^{}]*)\}")
PLAIN_NAME = re.compile(r"\w+")
TAG = re.compile(r"<[A-Za-z/]")
QUOTE = re.compile(r"'[{}<>'#]")
# What each family's base topic step shows, once the frontend fills its placeholders.
RENDERED_PATTERNS = {
    "autocore": "`{base}/{device_id}/...` and firmware v2's `{base}/devices/<uuid>/...`",
    "janus": "`{base}/<server>/status`",
    "spotfi": "`{base}/<router>/status` and `{base}/<router>/metrics`",
    "container_logs": "`{base}/<app>/<service>/<level>`",
}


def texts(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every string under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from texts(value, f"{path}.{key}" if path else key)
    elif isinstance(node, str):
        yield path, node


def icu_problems(text: str) -> list[str]:
    """Return why the frontend's ICU parser would refuse `text` (empty when it parses)."""
    problems = [
        f"`{{{argument}}}` is not a plain placeholder"
        for argument in ARGUMENT.findall(text)
        if not PLAIN_NAME.fullmatch(argument)
    ]
    if TAG.search(text):
        problems.append("a `<` before a letter or `/` opens a tag")
    if QUOTE.search(text):
        problems.append("an apostrophe before `{`, `}`, `<`, `>`, `'` or `#` quotes")
    if {"{", "}"} & set(ARGUMENT.sub("", text)):
        problems.append("an unpaired brace")
    return problems


def placeholders_of(*nodes: Any) -> set[str]:
    """Return the placeholder names the texts under `nodes` use."""
    return {name for node in nodes for _, text in texts(node) for name in ARGUMENT.findall(text)}


def render(text: str, placeholders: dict[str, str]) -> str:
    """Fill `text` the way the frontend does: every `{name}` by its value, as is."""
    return ARGUMENT.sub(lambda match: placeholders[match[1]], text)


# The sections the frontend formats; exception texts and entity names are formatted by HA.
@pytest.mark.parametrize(
    "section", ["config", "options", "services", "selector", "device_automation", "issues"]
)
def test_frontend_texts_parse_as_icu_messages(section: str) -> None:
    """No tag, quote or non-plain argument in any text the frontend formats."""
    refused = {
        path: problems
        for path, text in texts(TRANSLATIONS[section])
        if (problems := icu_problems(text))
    }
    assert refused == {}


@pytest.mark.parametrize(
    "text",
    [
        "`{base}/<router>/status`",
        "as `<topic>/batch` with `{count, logs}`",
        "an unbalanced `{` or `}`",
        "not `{relay:02d}`",
        "returns {server, count, sessions}.",
        "firmware v2''s",
    ],
)
def test_the_check_refuses_what_the_frontend_cannot_parse(text: str) -> None:
    """The texts this check once caught are refused."""
    assert icu_problems(text)


async def base_topic_step(hass: HomeAssistant, family: str) -> dict[str, Any]:
    """Open the family's base topic step from the menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": family}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == family
    return dict(result)


@pytest.mark.usefixtures("mqtt_mock")
@pytest.mark.parametrize("family", list(FAMILIES))
async def test_base_topic_step_fills_every_placeholder(hass: HomeAssistant, family: str) -> None:
    """The step, its fields and the config errors only use placeholders the step supplies."""
    result = await base_topic_step(hass, family)
    step = TRANSLATIONS["config"]["step"][family]
    assert placeholders_of(step, TRANSLATIONS["config"]["error"]) <= set(
        result["description_placeholders"]
    )
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.usefixtures("mqtt_mock")
@pytest.mark.parametrize(("family", "pattern"), RENDERED_PATTERNS.items())
async def test_base_topic_step_shows_the_topics(
    hass: HomeAssistant, family: str, pattern: str
) -> None:
    """Once filled, the description shows the family's topics as users will read them."""
    result = await base_topic_step(hass, family)
    step = TRANSLATIONS["config"]["step"][family]
    assert pattern in render(step["description"], result["description_placeholders"])
    hass.config_entries.flow.async_abort(result["flow_id"])


@pytest.mark.parametrize("family", list(FAMILIES))
async def test_options_step_fills_every_placeholder(hass: HomeAssistant, family: str) -> None:
    """The options step, its fields and its errors only use placeholders it supplies."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=f"{family}:{FAMILIES[family].default_base}",
        entry_id=entry_id_for(f"{family}:{FAMILIES[family].default_base}"),
        data={"family": family, "base_topic": FAMILIES[family].default_base},
        options=default_options(family),
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == family  # one step per family: its title and field texts
    supplied = result["description_placeholders"]
    options = TRANSLATIONS["options"]
    assert placeholders_of(options["step"][family], options["error"]) <= set(supplied)
    assert render(options["error"]["template_placeholder_format"], supplied).endswith(
        "(for example {relay}, not {relay:02d})."
    )
    hass.config_entries.options.async_abort(result["flow_id"])


# The frontend renders Markdown in step descriptions, field descriptions (data_description)
# and abort texts; titles, field labels, menu options and errors are shown as plain text,
# where a backtick would show as it is.
# Texts right under these keys are labels or errors: plain text.
PLAIN_TEXT_PARENTS = {"data", "menu_options", "error", "trigger_type", "info"}


def plain_texts(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every text the frontend shows without Markdown."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from plain_texts(value, (*path, key))
    elif isinstance(node, str) and (
        path[-1] in {"title", "name"} or (len(path) > 1 and path[-2] in PLAIN_TEXT_PARENTS)
    ):
        yield ".".join(path), node


@pytest.mark.parametrize("section", ["config", "options", "device_automation", "system_health"])
def test_no_backticks_where_the_frontend_shows_plain_text(section: str) -> None:
    shown = {path: text for path, text in plain_texts(TRANSLATIONS[section]) if "`" in text}
    assert shown == {}


@pytest.mark.parametrize("section", ["services", "exceptions"])
def test_no_backticks_in_action_texts_and_errors(section: str) -> None:
    """Action forms and error toasts show their texts as they are, Markdown unrendered."""
    shown = {
        ".".join(path): text for path, text in _all_texts(TRANSLATIONS[section]) if "`" in text
    }
    assert shown == {}


def _all_texts(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _all_texts(value, (*path, key))
    elif isinstance(node, str):
        yield path, node


def test_the_plain_text_check_sees_errors_titles_and_labels() -> None:
    node = {
        "step": {"x": {"title": "`a`", "description": "`b`", "data": {"f": "`c`"}}},
        "error": {"e": "`d`"},
        "abort": {"a": "`e`"},
    }
    node["step"]["x"]["data_description"] = {"f": "`g`"}
    assert {path for path, _ in plain_texts(node)} == {"step.x.title", "step.x.data.f", "error.e"}


@pytest.mark.usefixtures("mqtt_mock")
async def test_reconfigure_fills_every_placeholder(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="autocore:autocore",
        entry_id=entry_id_for("autocore:autocore"),
        data={"family": "autocore", "base_topic": "autocore"},
        options=default_options("autocore"),
    )
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    step = TRANSLATIONS["config"]["step"]["reconfigure"]
    errors = {
        key: TRANSLATIONS["config"]["error"][key]
        for key in ("base_topic_in_use", "base_topic_overlaps")
    }
    assert placeholders_of(step, errors) <= set(result["description_placeholders"])
    hass.config_entries.flow.async_abort(result["flow_id"])
