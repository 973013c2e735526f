"""Form fields several families' options share: timeouts, stale days, lists, secrets, caps."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol

from .admission import (
    DEFAULT_MAX_DEVICES,
    DEFAULT_NEW_DEVICES_PER_MINUTE,
    MAX_DEVICES_LIMIT,
    MAX_NEW_DEVICES_PER_MINUTE_LIMIT,
)
from .const import (
    CONF_KNOWN_DEVICES_ONLY,
    CONF_MAX_DEVICES,
    CONF_NEW_DEVICES_PER_MINUTE,
    CONF_OFFLINE_TIMEOUT,
    CONF_STALE_DEVICE_DAYS,
    DEFAULT_STALE_DEVICE_DAYS,
    MAX_OFFLINE_TIMEOUT,
    MAX_STALE_DEVICE_DAYS,
    MIN_OFFLINE_TIMEOUT,
    MIN_STALE_DEVICE_DAYS,
)

SECRET_SELECTOR: Final = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
LIST_SELECTOR: Final = TextSelector(TextSelectorConfig(multiple=True))
STALE_DAYS_SELECTOR: Final = NumberSelector(
    NumberSelectorConfig(
        min=MIN_STALE_DEVICE_DAYS,
        max=MAX_STALE_DEVICE_DAYS,
        step=1,
        unit_of_measurement="d",
        mode=NumberSelectorMode.BOX,
    )
)


# Every family's entry has these; a hub reads the same defaults when an option is missing.
ADMISSION_DEFAULTS: Final = {
    CONF_MAX_DEVICES: DEFAULT_MAX_DEVICES,
    CONF_NEW_DEVICES_PER_MINUTE: DEFAULT_NEW_DEVICES_PER_MINUTE,
    CONF_KNOWN_DEVICES_ONLY: False,
}


def count_selector(maximum: int) -> NumberSelector:
    """Return a box for a whole number from 1 to `maximum`."""
    return NumberSelector(
        NumberSelectorConfig(min=1, max=maximum, step=1, mode=NumberSelectorMode.BOX)
    )


def admission_fields() -> dict[vol.Marker, Any]:
    """Return the admission caps every family's options end with (absent: the defaults)."""
    return {
        vol.Optional(CONF_MAX_DEVICES): count_selector(MAX_DEVICES_LIMIT),
        vol.Optional(CONF_NEW_DEVICES_PER_MINUTE): count_selector(MAX_NEW_DEVICES_PER_MINUTE_LIMIT),
        vol.Optional(CONF_KNOWN_DEVICES_ONLY): BooleanSelector(),
    }


def seconds_selector(minimum: float, maximum: float, step: float = 1) -> NumberSelector:
    """Return a box for a number of seconds (whole seconds unless `step` says otherwise)."""
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement="s",
            mode=NumberSelectorMode.BOX,
        )
    )


def offline_timeout_field() -> dict[vol.Marker, Any]:
    """Return the offline timeout field of a family whose devices have connectivity."""
    return {
        vol.Required(CONF_OFFLINE_TIMEOUT): seconds_selector(
            MIN_OFFLINE_TIMEOUT, MAX_OFFLINE_TIMEOUT
        )
    }


def stale_days_field() -> dict[vol.Marker, Any]:
    """Return the field for the days after which a silent device is offered for removal."""
    return {
        vol.Optional(CONF_STALE_DEVICE_DAYS, default=DEFAULT_STALE_DEVICE_DAYS): STALE_DAYS_SELECTOR
    }
