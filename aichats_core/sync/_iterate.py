"""``SyncResultStream``: a plain iterator over a ``ResultStream`` that runs on the sync loop.

A producer task on the loop reads the async stream and hands events over through a buffer, so
the caller pays a thread hop only when it has to wait, not one per event. The producer stays
at most ``BUFFERED`` events ahead (a slow consumer of a huge answer does not buffer all of it)
and resumes once the consumer has taken half of them.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import TYPE_CHECKING, Self

from aichats_core._models import ImageResponse, TextChunk
from aichats_core.errors import StreamInterruptedError
from aichats_core.sync._closing import Closing

if TYPE_CHECKING:
    from aichats_core._calls import Event
    from aichats_core._models import Usage
    from aichats_core._stream import ResultStream
    from aichats_core.pricing import Cost, PriceTable
    from aichats_core.sync._loop import BackgroundLoop

BUFFERED = 64
"""Events the producer may read ahead of the consumer."""


class SyncResultStream(Closing):
    """The events of one call, as a plain iterator. ``with`` it to close it the moment you
    leave; breaking out of a ``for`` loop also releases the connection, as soon as the
    abandoned stream is garbage-collected (at once in CPython when nothing else refers to it).

    >>> for event in aichats_core.sync.stream("aichats", "Hello"):  # doctest: +SKIP
    ...     print(event)
    """

    def __init__(self, events: ResultStream, home: BackgroundLoop) -> None:
        self._events = events
        self._home = home
        self._channel: _Channel | None = None
        self._closed = False

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> Event:
        channel = self._channel
        if channel is None:
            if self._closed:
                raise StopIteration
            self._channel = channel = _Channel(self._events, self._home)
            self._home.call_soon(channel.start)
        try:
            return channel.take()
        except StopIteration:
            self._closed = True
            raise
        except BaseException:  # the call's own error, or Ctrl-C while waiting for an event
            self.close()
            raise

    @property
    def usage(self) -> Usage | None:
        """The tokens reported so far, as ``ResultStream.usage``: exact once the stream has
        ended (while it runs, it may count a ``Usage`` event read ahead, not yet taken)."""
        return self._events.usage

    def cost(self, prices: PriceTable | None = None) -> Cost:
        """What this call cost, as ``ResultStream.cost``."""
        return self._events.cost(prices)

    def close(self) -> None:
        """Stop the provider and release its connection now (blocks until it is released)."""
        if self._closed:
            return
        self._closed = True
        channel = self._channel
        if channel is None:
            self._home.run(self._events.aclose())
        elif not channel.ended:
            self._home.run(channel.stop())

    def text(self) -> str:
        """Consume the stream and return the text, or the first image URI for an image answer."""
        if self._channel is None and not self._closed:
            self._closed = True
            return self._home.run(self._events.text())  # one hop for the whole answer
        parts: list[str] = []
        with self:
            try:
                for event in self:
                    if isinstance(event, TextChunk):
                        parts.append(event.text)
                    elif isinstance(event, ImageResponse) and event.images:
                        return event.images[0]
            except StreamInterruptedError as exc:
                if not exc.partial_text:
                    exc.partial_text = "".join(parts)
                raise
        return "".join(parts)

    def __del__(self) -> None:
        # Abandoned mid-stream (a ``break``): stop the producer without waiting for it.
        channel = getattr(self, "_channel", None)
        if channel is not None and not self._closed and not channel.ended:
            self._home.call_soon(channel.cancel)


class _Channel:
    """The producer task and the buffer it fills. It refers to no ``SyncResultStream``, so
    that an abandoned one can be collected while the producer still runs."""

    def __init__(self, events: ResultStream, home: BackgroundLoop) -> None:
        self._events = events
        self._home = home
        self._lock = threading.Condition(threading.Lock())
        self._buffer: deque[Event] = deque()
        self._room: asyncio.Future[None] | None = None
        """Set while the producer waits for the consumer to catch up."""
        self._ended = False
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def ended(self) -> bool:
        """The producer is done, and has closed the stream."""
        return self._ended

    # On the loop thread.

    def start(self) -> None:
        self._task = self._home.spawn(self._produce())
        self._task.add_done_callback(self._finished)

    async def _produce(self) -> None:
        try:
            async for event in self._events:
                with self._lock:
                    self._buffer.append(event)
                    self._lock.notify()
                    if len(self._buffer) >= BUFFERED:
                        self._room = room = self._home.loop.create_future()
                    else:
                        room = None
                if room is not None:
                    await room
        finally:
            await self._events.aclose()  # a no-op unless stopped while waiting for room

    def _finished(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        with self._lock:
            self._ended = True
            self._error = error
            self._lock.notify()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Cancel the producer and wait until it has closed the stream."""
        task = self._task
        if task is None:  # closed before the loop ran start(): it never will read
            await self._events.aclose()
            return
        task.cancel()
        await asyncio.wait([task])

    # On the consumer's thread.

    def take(self) -> Event:
        with self._lock:
            while not self._buffer:
                if self._ended:
                    error, self._error = self._error, None
                    if error is not None:
                        raise error
                    raise StopIteration
                self._lock.wait()
            event = self._buffer.popleft()
            room = self._room
            if room is not None and len(self._buffer) <= BUFFERED // 2:
                self._room = None
                self._home.call_soon(lambda: _wake(room))
        return event


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # cancelled when the producer was stopped
        future.set_result(None)
