"""Form fields several families' options share: timeouts, stale days, lists, secrets."""

from __future__ import annotations

from typing import Any, Final

from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio as vol

from .const import (
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
