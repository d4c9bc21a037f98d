"""A budget of slots that a task takes several at a time: the images in flight of one server.

An image request holds all ``n`` of its images until its answer is written, so its slots are
taken together, first come first served: taking them one by one could leave two requests each
holding half of what the other waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Slots:
    """``total`` slots; ``take(n)`` waits until ``n`` are free and no earlier taker waits."""

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError("Slots needs at least one slot")
        self.total = total
        self.free = total
        self._waiting: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def take(self, count: int) -> AsyncIterator[None]:
        """``count`` slots (at least one, at most all of them: a taker of more takes all)."""
        count = max(1, min(count, self.total))
        if self._waiting or self.free < count:
            await self._wait(count)
        else:
            self.free -= count
        try:
            yield
        finally:
            self._release(count)

    async def _wait(self, count: int) -> None:
        entry = (count, asyncio.get_running_loop().create_future())
        self._waiting.append(entry)
        try:
            await entry[1]
        except asyncio.CancelledError:
            if entry[1].done() and not entry[1].cancelled():
                self._release(count)  # granted, then cancelled before it could use them
            else:
                with contextlib.suppress(ValueError):  # _grant may have dropped it already
                    self._waiting.remove(entry)
                self._grant()  # a smaller taker behind this one may fit now
            raise

    def _release(self, count: int) -> None:
        self.free += count
        self._grant()

    def _grant(self) -> None:
        while self._waiting:
            count, future = self._waiting[0]
            if future.done():  # cancelled, its task not yet resumed to leave the queue
                self._waiting.popleft()
                continue
            if count > self.free:
                return
            self._waiting.popleft()
            self.free -= count
            future.set_result(None)
