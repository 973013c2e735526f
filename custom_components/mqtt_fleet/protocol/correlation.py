"""Request/reply correlation: replies awaited by key, one future each (asyncio only).

A Janus admin request is answered under its `transaction`, a SpotFi RPC request under its
`id`. The transport stays outside: `async_request` is handed a coroutine function that
publishes the request, and whoever receives messages hands each parsed reply to `resolve`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["PendingReplies", "retrieve_failure"]


class PendingReplies[T]:
    """Match replies to requests; a reply nobody waits for is reported, not raised."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start with nothing pending."""
        self._loop = loop
        self._futures: dict[str, asyncio.Future[T]] = {}

    def __len__(self) -> int:
        """Return how many requests wait for a reply (diagnostics show it)."""
        return len(self._futures)

    async def async_request(
        self, key: str, send: Callable[[], Awaitable[None]], seconds: float
    ) -> T:
        """Send, then wait for the reply under `key`; TimeoutError after `seconds`.

        The key is forgotten however the wait ends, so a late reply finds nobody.
        """
        if key in self._futures:
            raise ValueError(f"a request {key!r} is already pending")
        future: asyncio.Future[T] = self._loop.create_future()
        self._futures[key] = future
        try:
            await send()
            async with asyncio.timeout(seconds):
                return await future
        finally:
            del self._futures[key]
            retrieve_failure(future)

    def resolve(self, key: str | None, reply: T) -> bool:
        """Hand a reply to its request; False when nobody waits for it."""
        future = self._futures.get(key) if key is not None else None
        if future is None or future.done():
            return False
        future.set_result(reply)
        return True

    def fail_all(self, error: Exception) -> None:
        """Fail every waiting request with `error` (e.g. when the connection is shut down)."""
        for future in self._futures.values():
            if not future.done():
                future.set_exception(error)


def retrieve_failure(future: asyncio.Future[Any]) -> None:
    """Mark a failure as seen, so it is not logged as "never retrieved".

    A failure set while the request was still being sent is never awaited when the sender
    is then cancelled (as on shutdown).
    """
    if future.done() and not future.cancelled():
        future.exception()
