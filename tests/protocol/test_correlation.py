"""Tests for protocol/correlation.py: replies awaited by key, and failures while sending."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from custom_components.mqtt_fleet.protocol.correlation import PendingReplies, retrieve_failure


async def _sent() -> None:
    return None


async def test_failure_during_send_then_cancel_is_not_reported_as_lost() -> None:
    """Shutdown fails the request while it sends, then cancels it: nothing is logged."""
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
    # The key was forgotten: a late reply finds nobody, and the key can be used again.
    assert not pending.resolve("t1", "late")
    again = asyncio.create_task(pending.async_request("t1", _sent, 5))
    await asyncio.sleep(0)
    assert pending.resolve("t1", "reply")
    assert await again == "reply"


async def test_a_second_request_under_a_pending_key_is_refused() -> None:
    """Keys are unique while pending (transactions and request ids are random)."""
    loop = asyncio.get_running_loop()
    pending: PendingReplies[str] = PendingReplies(loop)

    first = asyncio.create_task(pending.async_request("t1", _sent, 5))
    await asyncio.sleep(0)
    assert len(pending) == 1
    with pytest.raises(ValueError, match="already pending"):
        await pending.async_request("t1", _sent, 5)
    assert len(pending) == 1  # the refused request did not replace the first
    assert pending.resolve("t1", "reply")
    assert await first == "reply"
    assert len(pending) == 0
    assert not pending.resolve("t1", "late")


async def test_replies_nobody_waits_for_are_reported_not_raised() -> None:
    """No key, an unknown key and a repeated reply all find nobody."""
    pending: PendingReplies[str] = PendingReplies(asyncio.get_running_loop())
    waiter = asyncio.create_task(pending.async_request("t1", _sent, 5))
    await asyncio.sleep(0)
    assert not pending.resolve(None, "reply")
    assert not pending.resolve("t2", "reply")
    assert pending.resolve("t1", "reply")
    assert not pending.resolve("t1", "again")  # answered, not yet collected
    pending.fail_all(RuntimeError("shutdown"))  # a done future is left alone
    assert await waiter == "reply"


async def test_a_request_without_a_reply_times_out_and_is_forgotten() -> None:
    pending: PendingReplies[str] = PendingReplies(asyncio.get_running_loop())
    with pytest.raises(TimeoutError):
        await pending.async_request("t1", _sent, 0.01)
    assert len(pending) == 0
    assert not pending.resolve("t1", "late")


async def test_fail_all_fails_every_waiting_request() -> None:
    pending: PendingReplies[str] = PendingReplies(asyncio.get_running_loop())
    waiters = [asyncio.create_task(pending.async_request(key, _sent, 5)) for key in ("t1", "t2")]
    await asyncio.sleep(0)
    assert len(pending) == 2
    error = RuntimeError("shutdown")
    pending.fail_all(error)
    for waiter in waiters:
        with pytest.raises(RuntimeError) as raised:
            await waiter
        assert raised.value is error
    assert len(pending) == 0
    assert not pending.resolve("t1", "late")


async def test_a_failed_send_forgets_the_key() -> None:
    pending: PendingReplies[str] = PendingReplies(asyncio.get_running_loop())

    async def send() -> None:
        raise ConnectionError("broker gone")

    with pytest.raises(ConnectionError):
        await pending.async_request("t1", send, 5)
    assert len(pending) == 0
    assert not pending.resolve("t1", "late")


async def test_retrieve_failure_marks_a_failure_seen_and_leaves_the_rest() -> None:
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    failed: asyncio.Future[None] = loop.create_future()
    failed.set_exception(RuntimeError("lost"))
    retrieve_failure(failed)
    cancelled: asyncio.Future[None] = loop.create_future()
    cancelled.cancel()
    retrieve_failure(cancelled)  # no exception to retrieve: nothing raised
    waiting: asyncio.Future[None] = loop.create_future()
    retrieve_failure(waiting)  # not done: nothing to do
    assert not waiting.done()
    del failed, cancelled, waiting
    gc.collect()
    await asyncio.sleep(0)
    assert unhandled == []
    loop.set_exception_handler(None)
