"""Config flow: pick a family and base topic by hand, or confirm one MQTT discovery found."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
)
import voluptuous as vol

from .const import (
    CONF_BASE_TOPIC,
    CONF_FAMILY,
    CONF_OFFLINE_TIMEOUT,
    CONF_RELAY_COMMAND_TOPIC,
    DEFAULT_BASE_TOPICS,
    DEFAULT_OFFLINE_TIMEOUT,
    DOMAIN,
    FAMILY_TITLES,
    MAX_OFFLINE_TIMEOUT,
    MIN_OFFLINE_TIMEOUT,
    Family,
)
from .protocol.autocore import (
    DEFAULT_RELAY_COMMAND_TOPIC,
    AutoCoreProtocol,
    DeviceStatus,
    relay_topic_template_problem,
)
from .protocol.payload import InvalidMessage
from .protocol.topics import base_topic_problem

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

# The manifest's discovery topics: family, and how many levels follow the base topic.
DISCOVERY_TOPICS: Final[dict[str, tuple[Family, int]]] = {
    "autocore/+/status": (Family.AUTOCORE, 2),
    "autocore/devices/+/status": (Family.AUTOCORE, 3),
}
SUPPORTED_FAMILIES: Final = frozenset({Family.AUTOCORE})


def default_options(family: Family) -> dict[str, Any]:
    """Return the options a new entry of `family` starts with."""
    options: dict[str, Any] = {CONF_OFFLINE_TIMEOUT: DEFAULT_OFFLINE_TIMEOUT[family]}
    if family is Family.AUTOCORE:
        options[CONF_RELAY_COMMAND_TOPIC] = DEFAULT_RELAY_COMMAND_TOPIC
    return options


def entry_title(family: Family, base: str) -> str:
    """Return the title of an entry: the family and its base topic."""
    return f"{FAMILY_TITLES[family]} ({base})"


class MqttFleetConfigFlow(ConfigFlow, domain=DOMAIN):
    """One entry per family and base topic."""

    VERSION = 1
    MINOR_VERSION = 1

    _family: Family
    _base: str
    _device: str

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> MqttFleetOptionsFlow:
        """Return the options flow."""
        return MqttFleetOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Offer the families."""
        if not await mqtt.async_wait_for_mqtt_client(self.hass):
            return self.async_abort(reason="mqtt_not_configured")
        return self.async_show_menu(
            step_id="user", menu_options=[family.value for family in Family]
        )

    async def async_step_autocore(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the AutoCore base topic."""
        return await self._async_step_base_topic(Family.AUTOCORE, user_input)

    async def async_step_janus(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Janus gateways are not supported yet."""
        return self.async_abort(reason="family_not_available")

    async def async_step_spotfi(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """SpotFi routers are not supported yet."""
        return self.async_abort(reason="family_not_available")

    async def async_step_container_logs(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Container log streams are not supported yet."""
        return self.async_abort(reason="family_not_available")

    async def _async_step_base_topic(
        self, family: Family, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        errors: dict[str, str] = {}
        if user_input is not None:
            base = user_input[CONF_BASE_TOPIC].strip(" ")
            if (problem := base_topic_problem(base)) is not None:
                errors[CONF_BASE_TOPIC] = f"base_topic_{problem}"
            elif self._overlaps_an_entry(family, base):
                errors[CONF_BASE_TOPIC] = "base_topic_overlaps"
            else:
                self._family, self._base = family, base
                await self.async_set_unique_id(f"{family}:{base}")
                self._abort_if_unique_id_configured()
                return self._async_create_entry()
        schema = vol.Schema(
            {vol.Required(CONF_BASE_TOPIC, default=DEFAULT_BASE_TOPICS[family]): TextSelector()}
        )
        return self.async_show_form(
            step_id=family.value,
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
        )

    def _overlaps_an_entry(self, family: Family, base: str) -> bool:
        """Return True when `base` nests inside (or holds) another entry's base of `family`.

        Equal bases are left to the unique id check, which aborts with a clearer reason.
        """
        for entry in self._async_current_entries(include_ignore=False):
            other = entry.data.get(CONF_BASE_TOPIC)
            if (
                entry.data.get(CONF_FAMILY) == family
                and isinstance(other, str)
                and (base.startswith(f"{other}/") or other.startswith(f"{base}/"))
            ):
                return True
        return False

    async def async_step_mqtt(self, discovery_info: MqttServiceInfo) -> ConfigFlowResult:
        """Work out family and base from a discovery topic, then ask the user."""
        if (known := DISCOVERY_TOPICS.get(discovery_info.subscribed_topic)) is None:
            return self.async_abort(reason="invalid_discovery_info")
        family, depth = known
        levels = discovery_info.topic.split("/")
        base = "/".join(levels[:-depth])
        payload = discovery_info.payload
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        try:
            status = AutoCoreProtocol(base).parse(discovery_info.topic, raw)
        except InvalidMessage:
            return self.async_abort(reason="invalid_discovery_info")
        # A status whose online state reads is AutoCore traffic, even with an odd field.
        if not isinstance(status, DeviceStatus) or status.online is None:
            return self.async_abort(reason="invalid_discovery_info")
        self._family, self._base = family, base
        await self.async_set_unique_id(f"{family}:{base}")
        self._abort_if_unique_id_configured()
        self.context["title_placeholders"] = {"name": entry_title(family, base)}
        self._device = status.device_id
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm a discovered stream."""
        if user_input is not None:
            return self._async_create_entry()
        self._set_confirm_only()
        return self.async_show_form(
            step_id="discovery_confirm",
            description_placeholders={
                "family": FAMILY_TITLES[self._family],
                "base_topic": self._base,
                "device": self._device,
            },
        )

    def _async_create_entry(self) -> ConfigFlowResult:
        return self.async_create_entry(
            title=entry_title(self._family, self._base),
            data={CONF_FAMILY: self._family.value, CONF_BASE_TOPIC: self._base},
            options=default_options(self._family),
        )


class MqttFleetOptionsFlow(OptionsFlow):
    """Tunables of one entry; saving them reloads the entry."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and validate the options."""
        family = Family(self.config_entry.data[CONF_FAMILY])
        errors: dict[str, str] = {}
        if user_input is not None:
            options = {**user_input, CONF_OFFLINE_TIMEOUT: int(user_input[CONF_OFFLINE_TIMEOUT])}
            template = options.get(CONF_RELAY_COMMAND_TOPIC)
            if template is not None and (problem := relay_topic_template_problem(template)):
                errors[CONF_RELAY_COMMAND_TOPIC] = f"template_{problem}"
            else:
                return self.async_create_entry(data=options)
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_OFFLINE_TIMEOUT): NumberSelector(
                NumberSelectorConfig(
                    min=MIN_OFFLINE_TIMEOUT,
                    max=MAX_OFFLINE_TIMEOUT,
                    step=1,
                    unit_of_measurement="s",
                    mode=NumberSelectorMode.BOX,
                )
            )
        }
        if family is Family.AUTOCORE:
            fields[vol.Required(CONF_RELAY_COMMAND_TOPIC)] = TextSelector()
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields),
                {**default_options(family), **self.config_entry.options, **(user_input or {})},
            ),
            errors=errors,
        )
