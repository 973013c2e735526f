"""Keeping a restart's long-lived objects out of CPython's garbage collections until it is over.

CPython runs a full collection, which walks every tracked object of the process, each time
long-lived objects grew by a quarter, and spends time on the old objects in the collections
between. A restart with thousands of restored devices grows them that much: measured with
5,000 devices, setting the hubs up took twice as long while the collector kept walking the
registries and restored states Home Assistant had loaded.

So each hub's setup freezes what exists (gc.freeze(): a constant-time move into a
generation no collection walks), and everything is thawed (gc.unfreeze()) once Home
Assistant has started, or at once when a hub is set up later. Frozen objects are still freed
when their last reference goes; only one in a reference cycle is not reclaimed while frozen
(Home Assistant's states are in cycles: state, context, event), and thawing lets the next
full collection reclaim those. An unload thaws too, in case Home Assistant never finished
starting.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers.start import async_at_started

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant


@callback
def async_freeze_until_started(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Freeze what exists now; thaw once Home Assistant has started or `entry` unloads."""
    gc.freeze()
    entry.async_on_unload(_thaw)
    entry.async_on_unload(async_at_started(hass, _async_thaw_started))


@callback
def _async_thaw_started(hass: HomeAssistant) -> None:
    _thaw()


def _thaw() -> None:
    gc.unfreeze()
