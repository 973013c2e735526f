"""Letting the event loop and a frozen clock run, for the HA tests (no fixed sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import async_fire_time_changed_exact


async def until(predicate: Callable[[], bool], tries: int = 500) -> None:
    """Let the event loop run until `predicate` holds, for at most `tries` iterations."""
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not reached")


async def settle(hass: HomeAssistant) -> None:
    """Run everything ready to run, e.g. a publish waiting for its (mocked) PUBACK."""
    for _ in range(10):
        await hass.async_block_till_done()
        await asyncio.sleep(0)


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, step: float = 0.5
) -> None:
    """Move the frozen clock on in steps of at most `step` seconds, firing timers on the way."""
    await settle(hass)
    while seconds > 0:
        tick = min(seconds, step)
        seconds -= tick
        freezer.tick(timedelta(seconds=tick))
        async_fire_time_changed_exact(hass)
        await settle(hass)
