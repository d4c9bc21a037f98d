"""Waiting for a provider's next event while time passes: keep-alives, shutdown, and a client
that went away.

A provider may be silent for a long while (a slow first token, a long image). The handlers
need to know when to send a keep-alive comment, when the server's shutdown grace period ran
out, and when the client hung up, without cancelling the provider's pending read each time
(cancelling ``anext`` of an async generator closes it).

So the provider's iteration runs in one task of its own, the pump, a few events ahead of the
handler. One task for the whole call also keeps a provider's own ``asyncio.timeout`` working:
the timeout cancels the task that entered it, which is the task still running the provider.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

AHEAD = 8
"""Events the pump may read before the handler took them: few, so a slow client slows the
provider down rather than filling memory, but more than one, so a fast provider does not cost
two task switches per event."""


class Tick(enum.Enum):
    """What happened instead of an event."""

    KEEPALIVE = "keepalive"
    """``interval`` seconds passed without an event."""
    CLOSING = "closing"
    """The server's shutdown grace period ran out; the iteration ends after this."""
    ABANDONED = "abandoned"
    """The client went away; the iteration ends after this."""


async def paced(
    events: AsyncIterator[T],
    *,
    interval: float | None,
    closing: asyncio.Future[None],
    abandoned: Callable[[], bool] | None = None,
    poll: float = 1.0,
) -> AsyncGenerator[T | Tick, None]:
    """``events``, with a ``Tick`` whenever ``interval`` passes in silence, ``closing`` is
    done, or ``abandoned()`` turns true (asked every ``poll`` seconds).

    Close it (``contextlib.aclosing``): that stops the pump and closes ``events``, which
    releases the provider's connection. A failure of ``events`` is raised here, in the
    caller's task.
    """
    pump = _Pump(events, interval, closing, abandoned, poll)
    try:
        while True:
            item = await pump.next()
            if isinstance(item, _End):
                return
            yield item
            if item is Tick.CLOSING or item is Tick.ABANDONED:
                return
    finally:
        await pump.stop()


class _End:
    pass


_END = _End()


class _Pump(Generic[T]):
    """Reads ``events`` in its own task into a short buffer; ``next()`` takes from it."""

    def __init__(
        self,
        events: AsyncIterator[T],
        interval: float | None,
        closing: asyncio.Future[None],
        abandoned: Callable[[], bool] | None,
        poll: float,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._events = events
        self._interval = interval
        self._closing = closing
        self._abandoned = abandoned
        self._poll = poll
        self._items: deque[T] = deque()
        self._finished = False
        self._failure: BaseException | None = None
        self._gone = False
        self._keepalive_due = False
        self._quiet_since = self._loop.time()
        self._reader: asyncio.Future[None] | None = None
        """Done when the waiting ``next()`` has something to take."""
        self._room: asyncio.Future[None] | None = None
        """Done when the waiting pump may read on."""
        self._task = self._loop.create_task(self._run())
        self._timer: asyncio.TimerHandle | None = None
        if interval is not None or abandoned is not None:
            self._timer = self._loop.call_later(self._next_check(), self._check)
        closing.add_done_callback(self._wake_reader)

    async def _run(self) -> None:
        try:
            async for item in self._events:
                self._items.append(item)
                self._wake_reader()
                if len(self._items) >= AHEAD:
                    self._room = self._loop.create_future()
                    await self._room
        except BaseException as exc:  # noqa: BLE001 - handed over: next() raises it in its task
            self._failure = exc
        finally:
            self._finished = True
            self._wake_reader()

    async def next(self) -> T | Tick | _End:
        while True:
            if self._closing.done():
                return Tick.CLOSING
            if self._gone:
                return Tick.ABANDONED
            if self._items:
                item = self._items.popleft()
                if self._room is not None and not self._room.done():
                    self._room.set_result(None)
                self._quiet_since = self._loop.time()
                self._keepalive_due = False
                return item
            if self._finished:
                if isinstance(self._failure, asyncio.CancelledError):
                    # Not our cancellation (that comes after the last next()): a provider's
                    # timeout left running across a yield, say. Not the handler's to re-raise.
                    raise RuntimeError("the provider's task was cancelled") from self._failure
                if self._failure is not None:
                    raise self._failure
                return _END
            if self._keepalive_due:
                self._keepalive_due = False
                self._quiet_since = self._loop.time()
                return Tick.KEEPALIVE
            self._reader = self._loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None

    def _wake_reader(self, _: object = None) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    def _check(self) -> None:
        """The one timer of a call: keep-alives are due, or the client is gone."""
        if self._abandoned is not None and self._abandoned():
            self._gone = True
            self._wake_reader()
            return
        silent = self._loop.time() - self._quiet_since
        if self._interval is not None and self._reader is not None and silent >= self._interval:
            self._keepalive_due = True
            self._wake_reader()
        self._timer = self._loop.call_later(self._next_check(), self._check)

    def _next_check(self) -> float:
        wait = self._poll if self._abandoned is not None else float("inf")
        if self._interval is not None:
            due = self._quiet_since + self._interval - self._loop.time()
            # Overdue means the handler is busy writing: the client is not in silence.
            wait = min(wait, due if due > 0 else self._interval)
        return wait

    async def stop(self) -> None:
        """Stop reading, and close ``events`` (which releases the provider's connection)."""
        self._closing.remove_done_callback(self._wake_reader)
        if self._timer is not None:
            self._timer.cancel()
        if not self._task.done():
            self._task.cancel()
            await asyncio.wait((self._task,))
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()
