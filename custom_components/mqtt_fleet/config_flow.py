"""Config flow: pick a family and base topic by hand, or confirm one MQTT discovery found.

The steps read the families' specs; a family only adds its own fields and checks.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.core import callback
from homeassistant.helpers.selector import NumberSelector, TextSelector
import probatio as vol

from .const import CONF_ADMIN_SECRET, CONF_BASE_TOPIC, CONF_FAMILY, DOMAIN
from .families import FAMILIES
from .flow_fields import ADMISSION_DEFAULTS, LIST_SELECTOR, SECRET_SELECTOR, admission_fields
from .hub import async_rename_hub_device
from .protocol.topics import base_topic_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from homeassistant.components.mqtt import ReceiveMessage
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

    from .family import FamilySpec
    from .hub import FleetConfigEntry

# The manifest's discovery topics: the family each one finds, under its default base.
DISCOVERY_TOPICS: Final[dict[str, FamilySpec]] = {
    topic: spec for spec in FAMILIES.values() for topic in spec.discovery_topics
}
# The frontend reads flow texts as ICU messages, where `{name}` is a placeholder and `<name>`
# a tag: the texts show topic levels and template syntax through these placeholders instead.
TEXT_PLACEHOLDERS: Final[dict[str, str]] = {
    "base": "{base}",
    "open_brace": "{",
    "close_brace": "}",
    "topic": "<topic>",
    **{key: text for spec in FAMILIES.values() for key, text in spec.text_placeholders.items()},
}
# How long the user step listens under a new base topic before calling it silent.
PROBE_SECONDS: Final = 3.0


def entry_title(spec: FamilySpec, base: str) -> str:
    """Return the title of an entry: the family, and its base topic unless the default.

    The hub device is named after it, and its entities' ids after the device: the family's
    name alone keeps `sensor.autocore_devices_online` free of a repeated family.
    """
    return spec.title if base == spec.default_base else f"{spec.title} ({base})"


def legacy_entry_title(spec: FamilySpec, base: str) -> str:
    """Return the title entries got before minor version 2: always with the base."""
    return f"{spec.title} ({base})"


def entry_unique_id(spec: FamilySpec, base: str) -> str:
    """Return an entry's unique id: one entry per family and base topic."""
    return f"{spec.key}:{base}"


async def async_heard_under(hass: HomeAssistant, base: str) -> bool:
    """Return True once anything is heard under `base` within PROBE_SECONDS.

    A retained message arrives as soon as the subscription is made, so a fleet that keeps
    its status retained answers at once; a silent base costs at most the probe's bound.
    """
    heard = asyncio.Event()

    @callback
    def _async_heard(_msg: ReceiveMessage) -> None:
        heard.set()

    unsubscribe = await mqtt.async_subscribe(hass, f"{base}/#", _async_heard, qos=0)
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            await heard.wait()
    except TimeoutError:
        return False
    finally:
        unsubscribe()
    return True


class MqttFleetConfigFlow(ConfigFlow, domain=DOMAIN):
    """One entry per family and base topic."""

    VERSION = 2
    MINOR_VERSION = 2

    _spec: FamilySpec
    _base: str
    _device: str
    # A base the probe found silent: submitting it again adds it anyway.
    _silent_base: str | None = None

    def __getattr__(
        self, name: str
    ) -> Callable[[dict[str, Any] | None], Awaitable[ConfigFlowResult]]:
        """Answer `async_step_<family>`: the menu's step for each family asks its base topic."""
        if name.startswith("async_step_") and (
            spec := FAMILIES.get(name.removeprefix("async_step_"))
        ):
            return partial(self._async_step_base_topic, spec)
        raise AttributeError(name)

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: FleetConfigEntry) -> MqttFleetOptionsFlow:
        """Return the options flow."""
        return MqttFleetOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer the families."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_configured")
        return self.async_show_menu(step_id="user", menu_options=list(FAMILIES))

    async def _async_step_base_topic(
        self, spec: FamilySpec, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Ask the base topic (and the family's fields); warn once about a silent base.

        A discovery flow of the same entry may be waiting: this flow does not abort on it,
        and HA aborts it when this one creates the entry.
        """
        errors: dict[str, str] = {}
        placeholders = {**TEXT_PLACEHOLDERS, "other_entry": "", "base_topic": ""}
        if user_input is not None:
            base = user_input[CONF_BASE_TOPIC].strip(" ")
            errors = self._base_topic_errors(spec, base, placeholders)
            if not errors and spec.validate_entry is not None:
                errors = await spec.validate_entry(self.hass, base, user_input)
            if (
                not errors
                and base != self._silent_base
                and not await async_heard_under(self.hass, base)
            ):
                self._silent_base = placeholders["base_topic"] = base
                errors[CONF_BASE_TOPIC] = "base_topic_silent"
            if not errors:
                self._spec, self._base = spec, base
                await self.async_set_unique_id(entry_unique_id(spec, base), raise_on_progress=False)
                return self._async_create_entry(user_input, options={})
        schema = vol.Schema(
            {
                vol.Required(CONF_BASE_TOPIC, default=spec.default_base): TextSelector(),
                **spec.entry_fields(),
            }
        )
        return self.async_show_form(
            step_id=spec.key,
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders=placeholders,
        )

    def _base_topic_errors(
        self,
        spec: FamilySpec,
        base: str,
        placeholders: dict[str, str],
        moving: str | None = None,
    ) -> dict[str, str]:
        """Check a base topic: its form, then the family's other entries (named in the error).

        The entry being moved (`moving`, an entry id) does not count.
        """
        if (problem := base_topic_problem(base)) is not None:
            return {CONF_BASE_TOPIC: f"base_topic_{problem}"}
        for entry in self._async_current_entries(include_ignore=False):
            other = entry.data.get(CONF_BASE_TOPIC)
            if (
                entry.entry_id == moving
                or entry.data.get(CONF_FAMILY) != spec.key
                or not isinstance(other, str)
            ):
                continue
            if other == base:
                placeholders["other_entry"] = entry.title
                return {CONF_BASE_TOPIC: "base_topic_in_use"}
            if base.startswith(f"{other}/") or other.startswith(f"{base}/"):
                placeholders["other_entry"] = entry.title
                return {CONF_BASE_TOPIC: "base_topic_overlaps"}
        return {}

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """Work out family and base from a discovery topic, then ask the user.

        HA starts a flow for every new payload on these topics (a status changes with
        each report), so a configured entry aborts before the payload is parsed.
        """
        if (spec := DISCOVERY_TOPICS.get(discovery_info.subscribed_topic)) is None:
            return self.async_abort(reason="invalid_discovery_info")
        base = spec.default_base
        await self.async_set_unique_id(entry_unique_id(spec, base))
        self._abort_if_unique_id_configured()
        payload = discovery_info.payload
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        if (device := spec.discovered_device(base, discovery_info.topic, raw)) is None:
            return self.async_abort(reason="invalid_discovery_info")
        self._spec, self._base, self._device = spec, base, device
        self.context["title_placeholders"] = {"name": entry_title(spec, base)}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm a discovered entry; Janus also asks for its admin secret."""
        spec = self._spec
        errors: dict[str, str] = {}
        if user_input is not None:
            options = spec.discovery_options(self._device)
            if spec.validate_entry is not None:  # the discovered device is asked too
                known = _with_known_devices(spec, user_input, options)
                errors = await spec.validate_entry(self.hass, self._base, known)
            if not errors:
                return self._async_create_entry(user_input, options=options)
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(spec.entry_fields()), user_input
            ),
            errors=errors,
            description_placeholders={
                "family": spec.title,
                "base_topic": self._base,
                "device": self._device,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the entry to another base topic, or change what the family asks with it.

        Registry ids do not contain the base topic: devices, entities and history stay.
        The title follows the base, and so do the hub device's name and the entity ids
        made from it, unless the user named them.
        """
        entry = self._get_reconfigure_entry()
        spec = FAMILIES[entry.data[CONF_FAMILY]]
        errors: dict[str, str] = {}
        placeholders = {"family": spec.title, "other_entry": ""}
        if user_input is not None:
            base = user_input[CONF_BASE_TOPIC].strip(" ")
            errors = self._base_topic_errors(spec, base, placeholders, moving=entry.entry_id)
            data = {CONF_BASE_TOPIC: base}
            for field in spec.entry_fields():  # a blank secret keeps the stored one
                if value := user_input.get(field.schema):
                    data[field.schema] = value
            if not errors and spec.validate_entry is not None:
                merged = {**entry.data, **data}
                known = _with_known_devices(spec, merged, entry.data, entry.options)
                errors = await spec.validate_entry(self.hass, base, known)
            if not errors:
                title = entry.title
                if title == entry_title(spec, entry.data[CONF_BASE_TOPIC]):
                    title = entry_title(spec, base)  # a title the user chose stays
                    async_rename_hub_device(self.hass, entry, title)
                # The entry's update listener reloads it when the base or a field changed.
                return self.async_update_and_abort(
                    entry,
                    unique_id=entry_unique_id(spec, base),
                    title=title,
                    data_updates=data,
                )
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_BASE_TOPIC): TextSelector(),
            **spec.entry_fields(),
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields),
                {CONF_BASE_TOPIC: entry.data[CONF_BASE_TOPIC], **(user_input or {})},
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reauth(self, entry_data: dict[str, Any]) -> ConfigFlowResult:
        """Janus refused the admin secret (403): ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Store the new secret once it checks; the hub uses it without a reload."""
        entry = self._get_reauth_entry()
        spec = FAMILIES[entry.data[CONF_FAMILY]]
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_ADMIN_SECRET: user_input[CONF_ADMIN_SECRET]}
            if spec.validate_entry is not None:
                errors = await spec.validate_entry(self.hass, entry.data[CONF_BASE_TOPIC], data)
            if not errors:
                self.hass.config_entries.async_update_entry(entry, data=data)
                return self.async_abort(reason="reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_ADMIN_SECRET): SECRET_SELECTOR}),
            errors=errors,
            description_placeholders={"name": entry.title},
        )

    def _async_create_entry(
        self, user_input: dict[str, Any], options: dict[str, Any]
    ) -> ConfigFlowResult:
        spec = self._spec
        data: dict[str, Any] = {CONF_FAMILY: spec.key, CONF_BASE_TOPIC: self._base}
        for field in spec.entry_fields():
            data[field.schema] = user_input.get(field.schema) or ""
        return self.async_create_entry(
            title=entry_title(spec, self._base),
            data=data,
            options={**spec.default_options, **options},
        )


class MqttFleetOptionsFlow(OptionsFlow):
    """Tunables of one entry, one step per family (its own title and field texts).

    Saving does not reload the entry: the hub applies what it can in place, so that
    entities do not go unavailable and come back (see `async_options_updated`).
    """

    def __getattr__(
        self, name: str
    ) -> Callable[[dict[str, Any] | None], Awaitable[ConfigFlowResult]]:
        """Answer `async_step_<family>`, the step the entry's family's form submits to."""
        if name.startswith("async_step_") and (
            spec := FAMILIES.get(name.removeprefix("async_step_"))
        ):
            return partial(self._async_step_options, spec)
        raise AttributeError(name)

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show the options of the entry's family."""
        return await self._async_step_options(FAMILIES[self.config_entry.data[CONF_FAMILY]], None)

    async def _async_step_options(
        self, spec: FamilySpec, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Show and validate the options of a family."""
        fields = {**spec.option_fields(), **admission_fields()}
        errors: dict[str, str] = {}
        if user_input is not None:
            options = _clean_options(fields, user_input)
            errors = spec.options_errors(options)
            if not errors:
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id=spec.key,
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields),
                {
                    **ADMISSION_DEFAULTS,
                    **spec.default_options,
                    **self.config_entry.options,
                    **(user_input or {}),
                },
            ),
            errors=errors,
            description_placeholders={**TEXT_PLACEHOLDERS, "family": spec.title},
        )


def _with_known_devices(
    spec: FamilySpec, data: Mapping[str, Any], *more: Mapping[str, Any]
) -> dict[str, Any]:
    """Return `data` for the entry check, with the devices `more` names too.

    A list field (Janus's known servers) can be in the form, the entry's data and its
    options, or come from discovery: the check asks the devices of all of them.
    """
    merged = {**data}
    for field in spec.entry_fields():
        key = field.schema
        lists = [value for source in (data, *more) if isinstance(value := source.get(key), list)]
        if lists:
            merged[key] = list(dict.fromkeys(item for value in lists for item in value))
    return merged


def _clean_options(fields: dict[vol.Marker, Any], user_input: dict[str, Any]) -> dict[str, Any]:
    """Whole numbers where the field steps by one, and lists without blank or repeated items."""
    options = dict(user_input)
    for marker, selector in fields.items():
        if (key := marker.schema) not in options:
            continue
        if isinstance(selector, NumberSelector):
            whole = selector.config.get("step", 1) == 1
            options[key] = int(options[key]) if whole else float(options[key])
        elif selector is LIST_SELECTOR:
            options[key] = list(
                dict.fromkeys(item.strip() for item in options[key] if item.strip())
            )
    return options
