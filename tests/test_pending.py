"""Replies awaited by key: failures set while a request is still being sent."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from custom_components.mqtt_fleet.pending import PendingReplies


async def test_failure_during_send_then_cancel_is_not_reported_as_lost() -> None:
    """An unload fails the request while it sends, then cancels it: nothing is logged."""
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    pending: PendingReplies[str] = PendingReplies(loop)
    sending = asyncio.Event()

    async def send() -> None:
        sending.set()
        await asyncio.Event().wait()  # a publish waiting for its PUBACK

    request = asyncio.create_task(pending.async_request("t1", send, 5))
    await sending.wait()
    pending.fail_all(RuntimeError("unloaded"))
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    del request
    gc.collect()
    await asyncio.sleep(0)
    assert len(pending) == 0
    assert unhandled == []
    loop.set_exception_handler(None)


async def test_a_second_request_under_a_pending_key_is_refused() -> None:
    """Keys are unique while pending (transactions and request ids are random)."""
    loop = asyncio.get_running_loop()
    pending: PendingReplies[str] = PendingReplies(loop)

    async def send() -> None:
        return None

    first = asyncio.create_task(pending.async_request("t1", send, 5))
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="already pending"):
        await pending.async_request("t1", send, 5)
    assert pending.resolve("t1", "reply")
    assert await first == "reply"
    assert not pending.resolve("t1", "late")
