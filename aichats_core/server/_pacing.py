"""Waiting for a provider's next event while time passes: keep-alives and shutdown.

A provider may be silent for a long while (a slow first token, a long image). The handlers
need to know when to send a keep-alive comment, and when the server's shutdown grace period
ran out, without cancelling the provider's pending read each time (that would kill it).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


class Tick(enum.Enum):
    """What happened instead of an event."""

    KEEPALIVE = "keepalive"
    """``interval`` seconds passed without an event."""
    CLOSING = "closing"
    """The server's shutdown grace period ran out; the iteration ends after this."""


async def paced(
    events: AsyncIterator[T], *, interval: float | None, closing: asyncio.Future[None]
) -> AsyncGenerator[T | Tick, None]:
    """``events``, with a ``Tick`` whenever ``interval`` passes in silence or ``closing`` is done.

    Close it (``contextlib.aclosing``): that cancels a pending read and closes ``events``,
    which releases the provider's connection.
    """
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(_next(events))
            done, _ = await asyncio.wait(
                (pending, closing), timeout=interval, return_when=asyncio.FIRST_COMPLETED
            )
            if pending in done:
                finished, pending = pending, None
                try:
                    item = finished.result()
                except StopAsyncIteration:
                    return
                yield item
            elif closing.done():
                yield Tick.CLOSING
                return
            else:
                yield Tick.KEEPALIVE
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.wait((pending,))
            if not pending.cancelled():
                pending.exception()  # retrieved: a failure after we stopped listening is moot
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _next(events: AsyncIterator[T]) -> T:
    return await anext(events)
