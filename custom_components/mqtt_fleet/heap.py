"""Keeping a fleet's long-lived objects out of CPython's full garbage collections.

A hub adds thousands of long-lived objects (devices, entities, their states), and CPython
runs a full collection, which walks every tracked object of the process, each time
long-lived objects grew by a quarter: with a few thousand devices that is a pause of
seconds in the middle of a restart, and of hundreds of milliseconds on the message path
later. gc.freeze() moves what exists into a generation no collection walks: the
registries, the restored states and the entities a hub just added, all of which live as
long as Home Assistant runs.

Freezing is a constant-time move of the collector's lists. Frozen objects are still freed
when their last reference goes; only a reference cycle among them is not reclaimed while
they are frozen. Unloading a hub (a reload, a removal) is when such cycles appear, so every
unload thaws everything (gc.unfreeze()): the next full collection reclaims them, and the
next setup or growth freezes again.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Final

from homeassistant.core import callback
from homeassistant.helpers.debounce import Debouncer

from .const import LOGGER

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

# Seconds after new entities were added before freezing: a burst of new devices (a fleet's
# first start) is frozen once it is over, not object by object.
FREEZE_AFTER_GROWTH: Final = 5.0


@callback
def freeze_long_lived_objects() -> None:
    """Leave every object that exists now out of later collections."""
    gc.freeze()


def thaw() -> None:
    """Return every frozen object to the collector (a hub unloads)."""
    gc.unfreeze()


def growth_freezer(hass: HomeAssistant) -> Debouncer[None]:
    """Return a debouncer that freezes once new entities stopped coming for a while."""
    return Debouncer(
        hass,
        LOGGER,
        cooldown=FREEZE_AFTER_GROWTH,
        immediate=False,
        function=freeze_long_lived_objects,
    )
