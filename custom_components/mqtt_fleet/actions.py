"""What every family's actions share: input checks, and finding the device a call means.

Each family registers its own actions (from `async_setup`, through its spec).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import orjson
import probatio as vol

from .const import DOMAIN
from .protocol.topics import is_safe_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from homeassistant.core import HomeAssistant, ServiceCall

    from .hub import FleetConfigEntry, FleetHub

ATTR_TIMEOUT: Final = "timeout"


def _not_bool(value: Any) -> Any:
    """Refuse true/false where text or a number belongs (cv.string and Coerce take them)."""
    if isinstance(value, bool):
        raise vol.Invalid("expected text or a number, not true/false")
    return value


def _encodable(value: str) -> str:
    """Refuse text with no UTF-8 form (a lone surrogate): it could not be sent."""
    try:
        value.encode()
    except UnicodeEncodeError as err:
        raise vol.Invalid("text must be valid Unicode") from err
    return value


def number(kind: type[float], minimum: float, maximum: float) -> vol.All[float]:
    """Accept a number (or its text, as templates render) in a range; never true/false."""
    return vol.All(_not_bool, vol.Coerce(kind), vol.Range(min=minimum, max=maximum))


def json_args(value: dict[str, Any]) -> dict[str, Any]:
    """Accept arguments a request carries as they are: plain JSON, no NaN or Infinity."""
    try:
        orjson.dumps(value)  # text keys, integers within 64 bits, at most 254 levels
        json.dumps(value, allow_nan=False)  # no NaN or Infinity (orjson writes null)
    except (TypeError, ValueError) as err:  # orjson.JSONEncodeError is a TypeError
        raise vol.Invalid(f"args are not plain JSON: {err}") from err
    return value


# Text and ids: numbers read as their text, as everywhere in HA (templates render them).
TEXT: Final = vol.All(_not_bool, cv.string, _encodable)
QOS: Final = vol.All(_not_bool, vol.Coerce(int), vol.In([0, 1, 2]))


def validate(schema: vol.Schema, call: ServiceCall) -> dict[str, Any]:
    """Validate action data, raising a translated ServiceValidationError on bad input.

    The message names each field in plain words and says what it must be, instead of the
    validator's own text (`length of value must be at least 1 for dictionary value`).
    """
    try:
        return schema(dict(call.data))  # type: ignore[no-any-return]
    except vol.Invalid as err:
        errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_action_data",
            translation_placeholders={
                "action": call.service,
                "error": "; ".join(friendly_error(schema, error) for error in errors),
            },
        ) from err


def friendly_error(schema: vol.Schema, error: vol.Invalid) -> str:
    """Return `<field> <what it must be>` for one validation error."""
    path = [str(part) for part in error.path]
    field = " ".join(part.replace("_", " ") for part in path) or "the data"
    validators = list(_validators(_field_schema(schema, error.path)))
    return f"{field} {_reason(error, validators)}"


def _field_schema(schema: vol.Schema, path: list[Any]) -> Any:
    """Return the validator a top-level field's value goes through (None if unknown)."""
    if not path:
        return None
    for marker, validator in schema.schema.items():
        if str(marker) == str(path[0]):
            return validator
    return None


def _validators(validator: Any) -> Iterable[Any]:
    """Yield a validator and those it combines (`vol.All`, `vol.Any`)."""
    yield validator
    for inner in getattr(validator, "validators", ()):
        yield from _validators(inner)


def _reason(error: vol.Invalid, validators: list[Any]) -> str:
    """Say what the value must be, from the error's kind and the field's validators."""
    ranges = [v for v in validators if isinstance(v, vol.Range)]
    lengths = [v for v in validators if isinstance(v, vol.Length)]
    choices = [v for v in validators if isinstance(v, vol.In)]
    match error.code:
        case "required":
            return "is required"
        case "extra_keys_not_allowed":
            return "is not a field of this action"
        case "range" | "coerce" | "type" | "not_valid" if ranges:
            return _range_text(ranges[0].min, ranges[0].max)
        case "length" if lengths:
            return _length_text(lengths[0].min, lengths[0].max)
        case "not_in_list" if choices:
            return "must be one of: " + ", ".join(str(choice) for choice in choices[0].container)
        case "not_in_list":
            return "is not a known value"
        case "coerce" | "type" | "not_valid":
            return "has the wrong type"
        case None:  # raised by our own checks (above): their text is written for users
            return f"is not valid: {error.error_message}"
        case _:
            return "is not valid"


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"must be a number from {minimum} to {maximum}"
    if minimum is not None:
        return f"must be a number of at least {minimum}"
    return f"must be a number of at most {maximum}"


def _length_text(minimum: int | None, maximum: int | None) -> str:
    at_least = "must not be empty" if minimum == 1 else f"must have at least {minimum} characters"
    if minimum is not None and maximum is not None:
        return f"{at_least} and have at most {maximum} characters"
    if minimum is not None:
        return at_least
    return f"must have at most {maximum} characters"


def loaded_hubs(hass: HomeAssistant) -> list[FleetHub[Any]]:
    """Return the hubs of the loaded entries."""
    entries: list[FleetConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    return [entry.runtime_data for entry in entries]


def resolve_device[HubT: FleetHub[Any]](
    hass: HomeAssistant, hub_type: type[HubT], reference: str
) -> tuple[HubT, Any]:
    """Find a device of a family by its HA device id, or by its own id (server, router).

    An own id present in several entries of the family is ambiguous. Only a device whose id
    can be a topic level is found (not a stray registry entry): the actions publish under it.
    """
    hubs = [hub for hub in loaded_hubs(hass) if isinstance(hub, hub_type)]
    if (device_entry := dr.async_get(hass).async_get(reference)) is not None:
        for hub in hubs:
            if device_entry.config_entry_id == hub.entry.entry_id and (
                is_safe_id(wire_id := hub.wire_id_from_identifiers(device_entry.identifiers))
                and (device := hub.devices.get(wire_id)) is not None
            ):
                return hub, device
    found = [
        (hub, hub.devices[reference])
        for hub in hubs
        if reference in hub.devices and is_safe_id(reference)
    ]
    if len(found) > 1:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_ambiguous",
            translation_placeholders={"device_id": reference},
        )
    if not found:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="device_not_found",
            translation_placeholders={"device_id": reference},
        )
    return found[0]
