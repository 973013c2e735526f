"""Config flow: pick a family and base topic by hand, or confirm one MQTT discovery found.

The steps read the families' specs; a family only adds its own fields and checks.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlowWithReload
from homeassistant.core import callback
from homeassistant.helpers.selector import NumberSelector, TextSelector
import probatio as vol

from .const import CONF_ADMIN_SECRET, CONF_BASE_TOPIC, CONF_FAMILY, DOMAIN
from .families import FAMILIES
from .flow_fields import ADMISSION_DEFAULTS, LIST_SELECTOR, SECRET_SELECTOR, admission_fields
from .protocol.topics import base_topic_problem

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

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


def entry_title(spec: FamilySpec, base: str) -> str:
    """Return the title of an entry: the family and its base topic."""
    return f"{spec.title} ({base})"


def entry_unique_id(spec: FamilySpec, base: str) -> str:
    """Return an entry's unique id: one entry per family and base topic."""
    return f"{spec.key}:{base}"


class MqttFleetConfigFlow(ConfigFlow, domain=DOMAIN):
    """One entry per family and base topic."""

    VERSION = 2
    MINOR_VERSION = 1

    _spec: FamilySpec
    _base: str
    _device: str

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
        errors: dict[str, str] = {}
        if user_input is not None:
            base = user_input[CONF_BASE_TOPIC].strip(" ")
            if (problem := base_topic_problem(base)) is not None:
                errors[CONF_BASE_TOPIC] = f"base_topic_{problem}"
            elif self._overlaps_an_entry(spec, base):
                errors[CONF_BASE_TOPIC] = "base_topic_overlaps"
            else:
                self._spec, self._base = spec, base
                await self.async_set_unique_id(entry_unique_id(spec, base))
                self._abort_if_unique_id_configured()
                return self._async_create_entry(user_input)
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
            description_placeholders=TEXT_PLACEHOLDERS,
        )

    def _overlaps_an_entry(self, spec: FamilySpec, base: str, moving: str | None = None) -> bool:
        """Return True when `base` nests inside (or holds) another entry's base of the family.

        Equal bases are left to the unique id check, which aborts with a clearer reason.
        The entry being moved (`moving`, an entry id) does not count.
        """
        for entry in self._async_current_entries(include_ignore=False):
            other = entry.data.get(CONF_BASE_TOPIC)
            if (
                entry.entry_id != moving
                and entry.data.get(CONF_FAMILY) == spec.key
                and isinstance(other, str)
                and (base.startswith(f"{other}/") or other.startswith(f"{base}/"))
            ):
                return True
        return False

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """Work out family and base from a discovery topic, then ask the user.

        HA starts a flow for every new payload on these topics (a status changes with
        each report), so a configured stream aborts before the payload is parsed.
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
        """Confirm a discovered stream; Janus also asks for its admin secret."""
        if user_input is not None:
            return self._async_create_entry(user_input)
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=vol.Schema(self._spec.entry_fields()),
            description_placeholders={
                "family": self._spec.title,
                "base_topic": self._base,
                "device": self._device,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the entry to another base topic, or change what the family asks with it.

        Registry ids do not contain the base topic: devices, entities and history stay.
        """
        entry = self._get_reconfigure_entry()
        spec = FAMILIES[entry.data[CONF_FAMILY]]
        errors: dict[str, str] = {}
        if user_input is not None:
            base = user_input[CONF_BASE_TOPIC].strip(" ")
            if (problem := base_topic_problem(base)) is not None:
                errors[CONF_BASE_TOPIC] = f"base_topic_{problem}"
            elif self._overlaps_an_entry(spec, base, moving=entry.entry_id):
                errors[CONF_BASE_TOPIC] = "base_topic_overlaps"
            else:
                unique_id = entry_unique_id(spec, base)
                if unique_id != entry.unique_id:
                    await self.async_set_unique_id(unique_id)
                    self._abort_if_unique_id_configured()
                data = {CONF_BASE_TOPIC: base}
                for field in spec.entry_fields():  # a blank secret keeps the stored one
                    if value := user_input.get(field.schema):
                        data[field.schema] = value
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=unique_id,
                    title=entry_title(spec, base),
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
            description_placeholders={"family": spec.title},
        )

    async def async_step_reauth(self, entry_data: dict[str, Any]) -> ConfigFlowResult:
        """Janus refused the admin secret (403): ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Store the new secret; the hub uses it from its next request, without a reload."""
        entry = self._get_reauth_entry()
        if user_input is not None:
            self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_ADMIN_SECRET: user_input[CONF_ADMIN_SECRET]}
            )
            return self.async_abort(reason="reauth_successful")
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=vol.Schema({vol.Required(CONF_ADMIN_SECRET): SECRET_SELECTOR}),
            description_placeholders={"name": entry.title},
        )

    def _async_create_entry(self, user_input: dict[str, Any]) -> ConfigFlowResult:
        spec = self._spec
        data: dict[str, Any] = {CONF_FAMILY: spec.key, CONF_BASE_TOPIC: self._base}
        for field in spec.entry_fields():
            data[field.schema] = user_input.get(field.schema) or ""
        return self.async_create_entry(
            title=entry_title(spec, self._base), data=data, options=dict(spec.default_options)
        )


class MqttFleetOptionsFlow(OptionsFlowWithReload):
    """Tunables of one entry; saving changed options reloads the entry (HA does it)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and validate the options of the entry's family."""
        spec = FAMILIES[self.config_entry.data[CONF_FAMILY]]
        fields = {**spec.option_fields(), **admission_fields()}
        errors: dict[str, str] = {}
        if user_input is not None:
            options = _clean_options(fields, user_input)
            errors = spec.options_errors(options)
            if not errors:
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="init",
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
            description_placeholders=TEXT_PLACEHOLDERS,
        )


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
