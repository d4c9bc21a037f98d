"""The answers of ``n`` calls as one stream: each event with the index of its call, in the
order they come.

Each call runs in a task of its own for its whole life (a provider's ``asyncio.timeout``
works as for a single call), a couple of events ahead at most: a slow client slows every call
down rather than filling memory. The first failure ends them all and is raised to the reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TypeVar

T = TypeVar("T")

AHEAD = 2
"""Events each call may have waiting for the reader."""


class _Done:
    pass


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


async def merged(streams: Sequence[AsyncIterator[T]]) -> AsyncGenerator[tuple[int, T], None]:
    """``(index, event)`` of every stream, interleaved; close it to close them all."""
    queue: asyncio.Queue[tuple[int, T | _Done | _Failed]] = asyncio.Queue(AHEAD * len(streams))

    async def pump(index: int, events: AsyncIterator[T]) -> None:
        try:
            async for event in events:
                await queue.put((index, event))
        except Exception as exc:  # noqa: BLE001 - handed over: the reader raises it in its task
            await queue.put((index, _Failed(exc)))
        else:
            await queue.put((index, _Done()))

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(pump(index, events)) for index, events in enumerate(streams)]
    try:
        running = len(tasks)
        while running:
            index, item = await queue.get()
            if isinstance(item, _Done):
                running -= 1
            elif isinstance(item, _Failed):
                raise item.error
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for events in streams:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
