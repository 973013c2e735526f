"""Config flow: pick a family and base topic by hand, or confirm one MQTT discovery found."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from homeassistant.components import mqtt
from homeassistant.config_entries import ConfigFlow, ConfigFlowResult, OptionsFlowWithReload
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol

from .const import (
    CONF_ADMIN_SECRET,
    CONF_BASE_TOPIC,
    CONF_BATCH_INTERVAL,
    CONF_BATCH_LOGS,
    CONF_BATCH_MAX,
    CONF_FAMILY,
    CONF_FORWARD_HA_LEVEL,
    CONF_FORWARD_HA_LOGS,
    CONF_LOG_EVENT_LEVEL,
    CONF_OFFLINE_TIMEOUT,
    CONF_POLL_INTERVAL,
    CONF_RELAY_COMMAND_TOPIC,
    CONF_RPC_ALLOW_LIST,
    CONF_SERVERS,
    CONF_STALE_DEVICE_DAYS,
    CONF_TERMINAL_ENABLED,
    DEFAULT_BASE_TOPICS,
    DEFAULT_OFFLINE_TIMEOUT,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_STALE_DEVICE_DAYS,
    DOMAIN,
    FAMILY_TITLES,
    MAX_OFFLINE_TIMEOUT,
    MAX_POLL_INTERVAL,
    MAX_STALE_DEVICE_DAYS,
    MIN_OFFLINE_TIMEOUT,
    MIN_POLL_INTERVAL,
    MIN_STALE_DEVICE_DAYS,
    Family,
)
from .families.container_logs import DEFAULT_BATCH_INTERVAL, DEFAULT_BATCH_MAX
from .protocol.autocore import (
    DEFAULT_RELAY_COMMAND_TOPIC,
    AutoCoreProtocol,
    DeviceStatus,
    relay_topic_template_problem,
)
from .protocol.container_logs import ContainerLogsProtocol, Level
from .protocol.janus import JanusProtocol, ServerStatus
from .protocol.payload import InvalidMessage
from .protocol.spotfi import (
    DEFAULT_RPC_ALLOW_LIST,
    RouterStatus,
    SpotFiProtocol,
    is_allow_pattern,
)
from .protocol.topics import base_topic_problem, is_safe_id

if TYPE_CHECKING:
    from homeassistant.helpers.service_info.mqtt import MqttServiceInfo

    from .hub import FleetConfigEntry

# The manifest's discovery topics: the family and base topic each one finds.
# Log streams are found by the manager's own logs: a filter over every log would start a
# discovery flow per log line.
DISCOVERY_TOPICS: Final[dict[str, tuple[Family, str]]] = {
    "autocore/+/status": (Family.AUTOCORE, "autocore"),
    "autocore/devices/+/status": (Family.AUTOCORE, "autocore"),
    "janus/+/status": (Family.JANUS, "janus"),
    "spotfi/router/+/status": (Family.SPOTFI, "spotfi/router"),
    "container-manager/logs/manager/#": (Family.CONTAINER_LOGS, "container-manager/logs"),
}
SECRET_SELECTOR: Final = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
LEVEL_SELECTOR: Final = SelectSelector(
    SelectSelectorConfig(
        options=[level.value for level in Level],
        translation_key="log_level",
        mode=SelectSelectorMode.DROPDOWN,
    )
)
# HA's own debug records include the event bus handling our events: never forwarded.
FORWARD_LEVEL_SELECTOR: Final = SelectSelector(
    SelectSelectorConfig(
        options=[level.value for level in Level if level is not Level.DEBUG],
        translation_key="log_level",
        mode=SelectSelectorMode.DROPDOWN,
    )
)
LIST_SELECTOR: Final = TextSelector(TextSelectorConfig(multiple=True))
# The frontend reads flow texts as ICU messages, where `{name}` is a placeholder and `<name>`
# a tag: the texts show topic levels and template syntax through these placeholders instead.
TEXT_PLACEHOLDERS: Final[dict[str, str]] = {
    "base": "{base}",
    "device_id": "{device_id}",
    "relay": "{relay}",
    "relay_with_format": "{relay:02d}",
    "open_brace": "{",
    "close_brace": "}",
    "batch_payload": "{count, logs}",
    **{level: f"<{level}>" for level in ("uuid", "server", "router", "app", "service", "level")},
    "relay_number": "<n>",
    "topic": "<topic>",
}
STALE_DAYS_SELECTOR: Final = NumberSelector(
    NumberSelectorConfig(
        min=MIN_STALE_DEVICE_DAYS,
        max=MAX_STALE_DEVICE_DAYS,
        step=1,
        unit_of_measurement="d",
        mode=NumberSelectorMode.BOX,
    )
)


def default_options(family: Family) -> dict[str, Any]:
    """Return the options a new entry of `family` starts with."""
    if family is Family.CONTAINER_LOGS:  # log sources have no connectivity to time out
        return {
            CONF_BATCH_LOGS: True,
            CONF_BATCH_INTERVAL: DEFAULT_BATCH_INTERVAL,
            CONF_BATCH_MAX: DEFAULT_BATCH_MAX,
            CONF_FORWARD_HA_LOGS: False,
            CONF_FORWARD_HA_LEVEL: Level.WARN.value,
            CONF_LOG_EVENT_LEVEL: Level.WARN.value,
            CONF_STALE_DEVICE_DAYS: DEFAULT_STALE_DEVICE_DAYS,
        }
    options: dict[str, Any] = {
        CONF_OFFLINE_TIMEOUT: DEFAULT_OFFLINE_TIMEOUT[family],
        CONF_STALE_DEVICE_DAYS: DEFAULT_STALE_DEVICE_DAYS,
    }
    if family is Family.AUTOCORE:
        options[CONF_RELAY_COMMAND_TOPIC] = DEFAULT_RELAY_COMMAND_TOPIC
    elif family is Family.JANUS:
        options[CONF_POLL_INTERVAL] = DEFAULT_POLL_INTERVAL
        options[CONF_SERVERS] = []
    elif family is Family.SPOTFI:
        options[CONF_RPC_ALLOW_LIST] = list(DEFAULT_RPC_ALLOW_LIST)
        options[CONF_TERMINAL_ENABLED] = False
    return options


def entry_title(family: Family, base: str) -> str:
    """Return the title of an entry: the family and its base topic."""
    return f"{FAMILY_TITLES[family]} ({base})"


def discovered_device(family: Family, base: str, topic: str, payload: bytes) -> str | None:
    """Return the device id of a valid status message of `family`, else None.

    A status whose online state reads is the family's traffic, even with an odd field.
    """
    try:
        match family:
            case Family.AUTOCORE:
                status = AutoCoreProtocol(base).parse(topic, payload)
                if isinstance(status, DeviceStatus) and status.online is not None:
                    return status.device_id
            case Family.JANUS:
                if isinstance(server := JanusProtocol(base).parse(topic, payload), ServerStatus):
                    return server.server
            case Family.SPOTFI:
                if isinstance(router := SpotFiProtocol(base).parse(topic, payload), RouterStatus):
                    return router.router
            case Family.CONTAINER_LOGS:
                stream = ContainerLogsProtocol(base).parse(topic, payload)
                return stream.source if stream.logs else None
    except InvalidMessage:
        return None
    return None


class MqttFleetConfigFlow(ConfigFlow, domain=DOMAIN):
    """One entry per family and base topic."""

    VERSION = 1
    MINOR_VERSION = 1

    _family: Family
    _base: str
    _device: str

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: FleetConfigEntry) -> MqttFleetOptionsFlow:
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
        """Ask for the Janus base topic and admin secret."""
        return await self._async_step_base_topic(Family.JANUS, user_input)

    async def async_step_spotfi(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the SpotFi base topic."""
        return await self._async_step_base_topic(Family.SPOTFI, user_input)

    async def async_step_container_logs(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the container-log base topic."""
        return await self._async_step_base_topic(Family.CONTAINER_LOGS, user_input)

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
                return self._async_create_entry(user_input.get(CONF_ADMIN_SECRET))
        fields: dict[vol.Marker, Any] = {
            vol.Required(CONF_BASE_TOPIC, default=DEFAULT_BASE_TOPICS[family]): TextSelector()
        }
        if family is Family.JANUS:
            fields[vol.Optional(CONF_ADMIN_SECRET)] = SECRET_SELECTOR
        schema = vol.Schema(fields)
        return self.async_show_form(
            step_id=family.value,
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders=TEXT_PLACEHOLDERS,
        )

    def _overlaps_an_entry(self, family: Family, base: str, moving: str | None = None) -> bool:
        """Return True when `base` nests inside (or holds) another entry's base of `family`.

        Equal bases are left to the unique id check, which aborts with a clearer reason.
        The entry being moved (`moving`, an entry id) does not count.
        """
        for entry in self._async_current_entries(include_ignore=False):
            other = entry.data.get(CONF_BASE_TOPIC)
            if (
                entry.entry_id != moving
                and entry.data.get(CONF_FAMILY) == family
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
        if (known := DISCOVERY_TOPICS.get(discovery_info.subscribed_topic)) is None:
            return self.async_abort(reason="invalid_discovery_info")
        family, base = known
        await self.async_set_unique_id(f"{family}:{base}")
        self._abort_if_unique_id_configured()
        payload = discovery_info.payload
        raw = payload.encode() if isinstance(payload, str) else bytes(payload)
        if (device := discovered_device(family, base, discovery_info.topic, raw)) is None:
            return self.async_abort(reason="invalid_discovery_info")
        self._family, self._base, self._device = family, base, device
        self.context["title_placeholders"] = {"name": entry_title(family, base)}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm a discovered stream; Janus also asks for its admin secret."""
        if user_input is not None:
            return self._async_create_entry(user_input.get(CONF_ADMIN_SECRET))
        fields: dict[vol.Marker, Any] = {}
        if self._family is Family.JANUS:
            fields[vol.Optional(CONF_ADMIN_SECRET)] = SECRET_SELECTOR
        return self.async_show_form(
            step_id="discovery_confirm",
            data_schema=vol.Schema(fields),
            description_placeholders={
                "family": FAMILY_TITLES[self._family],
                "base_topic": self._base,
                "device": self._device,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the entry to another base topic, or change the Janus admin secret.

        The devices and entities move with it: their ids and history are kept.
        """
        entry = self._get_reconfigure_entry()
        family = Family(entry.data[CONF_FAMILY])
        errors: dict[str, str] = {}
        if user_input is not None:
            base = user_input[CONF_BASE_TOPIC].strip(" ")
            if (problem := base_topic_problem(base)) is not None:
                errors[CONF_BASE_TOPIC] = f"base_topic_{problem}"
            elif self._overlaps_an_entry(family, base, moving=entry.entry_id):
                errors[CONF_BASE_TOPIC] = "base_topic_overlaps"
            else:
                unique_id = f"{family}:{base}"
                if unique_id != entry.unique_id:
                    await self.async_set_unique_id(unique_id)
                    self._abort_if_unique_id_configured()
                    _move_registry_entries(self.hass, entry, unique_id)
                data = {CONF_BASE_TOPIC: base}
                if secret := user_input.get(CONF_ADMIN_SECRET):
                    data[CONF_ADMIN_SECRET] = secret
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=unique_id,
                    title=entry_title(family, base),
                    data_updates=data,
                )
        fields: dict[vol.Marker, Any] = {vol.Required(CONF_BASE_TOPIC): TextSelector()}
        if family is Family.JANUS:
            fields[vol.Optional(CONF_ADMIN_SECRET)] = SECRET_SELECTOR
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(fields),
                {CONF_BASE_TOPIC: entry.data[CONF_BASE_TOPIC], **(user_input or {})},
            ),
            errors=errors,
            description_placeholders={"family": FAMILY_TITLES[family]},
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

    def _async_create_entry(self, admin_secret: str | None) -> ConfigFlowResult:
        data: dict[str, Any] = {CONF_FAMILY: self._family.value, CONF_BASE_TOPIC: self._base}
        if self._family is Family.JANUS:
            data[CONF_ADMIN_SECRET] = admin_secret or ""
        return self.async_create_entry(
            title=entry_title(self._family, self._base),
            data=data,
            options=default_options(self._family),
        )


def _move_registry_entries(hass: HomeAssistant, entry: FleetConfigEntry, unique_id: str) -> None:
    """Re-key the entry's devices and entities from its old unique id to `unique_id`."""
    old = entry.unique_id or entry.entry_id

    def moved(key: str) -> str | None:
        if key == old:
            return unique_id
        return f"{unique_id}/{key.removeprefix(f'{old}/')}" if key.startswith(f"{old}/") else None

    device_registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id):
        identifiers = {
            (domain, moved(key) or key) if domain == DOMAIN else (domain, key)
            for domain, key in device.identifiers
        }
        if identifiers != device.identifiers:
            device_registry.async_update_device(device.id, new_identifiers=identifiers)
    entity_registry = er.async_get(hass)
    for entity in er.async_entries_for_config_entry(entity_registry, entry.entry_id):
        if (new_unique_id := moved(entity.unique_id)) is not None:
            entity_registry.async_update_entity(entity.entity_id, new_unique_id=new_unique_id)


class MqttFleetOptionsFlow(OptionsFlowWithReload):
    """Tunables of one entry; saving changed options reloads the entry (HA does it)."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Show and validate the options of the entry's family."""
        family = Family(self.config_entry.data[CONF_FAMILY])
        errors: dict[str, str] = {}
        if user_input is not None:
            options = _clean_options(user_input)
            errors = _options_errors(options)
            if not errors:
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                vol.Schema(_options_fields(family)),
                {**default_options(family), **self.config_entry.options, **(user_input or {})},
            ),
            errors=errors,
            description_placeholders=TEXT_PLACEHOLDERS,
        )


def _options_fields(family: Family) -> dict[vol.Marker, Any]:
    if family is Family.CONTAINER_LOGS:
        return {
            vol.Required(CONF_BATCH_LOGS): BooleanSelector(),
            vol.Required(CONF_BATCH_INTERVAL): NumberSelector(
                NumberSelectorConfig(
                    min=0.1, max=60, step=0.1, unit_of_measurement="s", mode=NumberSelectorMode.BOX
                )
            ),
            vol.Required(CONF_BATCH_MAX): NumberSelector(
                NumberSelectorConfig(min=1, max=1000, step=1, mode=NumberSelectorMode.BOX)
            ),
            vol.Required(CONF_FORWARD_HA_LOGS): BooleanSelector(),
            vol.Required(CONF_FORWARD_HA_LEVEL): FORWARD_LEVEL_SELECTOR,
            vol.Required(CONF_LOG_EVENT_LEVEL): LEVEL_SELECTOR,
            vol.Optional(
                CONF_STALE_DEVICE_DAYS, default=DEFAULT_STALE_DEVICE_DAYS
            ): STALE_DAYS_SELECTOR,
        }
    fields: dict[vol.Marker, Any] = {
        vol.Required(CONF_OFFLINE_TIMEOUT): _seconds(MIN_OFFLINE_TIMEOUT, MAX_OFFLINE_TIMEOUT),
        vol.Optional(
            CONF_STALE_DEVICE_DAYS, default=DEFAULT_STALE_DEVICE_DAYS
        ): STALE_DAYS_SELECTOR,
    }
    if family is Family.AUTOCORE:
        fields[vol.Required(CONF_RELAY_COMMAND_TOPIC)] = TextSelector()
    elif family is Family.JANUS:
        fields[vol.Required(CONF_POLL_INTERVAL)] = _seconds(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)
        fields[vol.Optional(CONF_SERVERS)] = LIST_SELECTOR
    elif family is Family.SPOTFI:
        fields[vol.Optional(CONF_RPC_ALLOW_LIST)] = LIST_SELECTOR
        fields[vol.Required(CONF_TERMINAL_ENABLED)] = BooleanSelector()
    return fields


def _seconds(minimum: int, maximum: int) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum, max=maximum, step=1, unit_of_measurement="s", mode=NumberSelectorMode.BOX
        )
    )


def _clean_options(user_input: dict[str, Any]) -> dict[str, Any]:
    """Whole seconds, and lists without blank or repeated entries."""
    options = dict(user_input)
    for key in (CONF_OFFLINE_TIMEOUT, CONF_POLL_INTERVAL, CONF_BATCH_MAX, CONF_STALE_DEVICE_DAYS):
        if key in options:
            options[key] = int(options[key])
    if CONF_BATCH_INTERVAL in options:
        options[CONF_BATCH_INTERVAL] = float(options[CONF_BATCH_INTERVAL])
    for key in (CONF_SERVERS, CONF_RPC_ALLOW_LIST):
        if key in options:
            options[key] = list(
                dict.fromkeys(item.strip() for item in options[key] if item.strip())
            )
    return options


def _options_errors(options: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    template = options.get(CONF_RELAY_COMMAND_TOPIC)
    if template is not None and (problem := relay_topic_template_problem(template)):
        errors[CONF_RELAY_COMMAND_TOPIC] = f"template_{problem}"
    poll_interval = options.get(CONF_POLL_INTERVAL)
    if poll_interval is not None and poll_interval >= options.get(CONF_OFFLINE_TIMEOUT, 0):
        errors[CONF_POLL_INTERVAL] = "poll_interval_too_long"
    if not all(is_safe_id(server) for server in options.get(CONF_SERVERS, [])):
        errors[CONF_SERVERS] = "servers_invalid"
    if not all(is_allow_pattern(pattern) for pattern in options.get(CONF_RPC_ALLOW_LIST, [])):
        errors[CONF_RPC_ALLOW_LIST] = "allow_list_invalid"
    return errors
