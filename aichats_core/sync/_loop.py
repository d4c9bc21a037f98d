"""The sync API's event loop: one daemon thread for the process, started on first use.

Every blocking call hands its coroutine to this loop and waits on a lock, so aiohttp sessions
live on one loop whatever thread calls, and a caller that runs its own loop (a notebook, an
``async def``) is simply blocked rather than re-entered. A forked child starts its own loop
(the parent's thread does not exist there); at exit, clients still open are closed and the
thread is joined.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")

THREAD_NAME = "aichats-sync"
CANCEL_WAIT = 5.0
"""Seconds an interrupted caller waits for its call to unwind on the loop (connections
closed) before it re-raises anyway."""
EXIT_WAIT = 5.0
"""Seconds the exit hook gives open clients to close, and the thread to end."""

Closer = Callable[[], Awaitable[None]]


class BackgroundLoop:
    """An event loop running in its own daemon thread, for the process that started it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._open: dict[int, tuple[weakref.finalize[..., Any], Closer]] = {}
        """What ``adopt`` tracks, by key: closed at exit if still open."""
        self._keys = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        """Tasks started with ``spawn``: the loop itself keeps only weak references."""
        self._closing: set[asyncio.Task[None]] = set()
        self.thread = threading.Thread(target=self._serve, name=THREAD_NAME, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and return its result, or raise its exception, in the
        calling thread. A ``KeyboardInterrupt`` while waiting cancels it there first."""
        if threading.get_ident() == self.thread.ident:
            coroutine.close()
            raise RuntimeError(
                "aichats_core.sync was called from its own event loop; await the async API there"
            )
        call = _Call(coroutine)
        try:
            self.loop.call_soon_threadsafe(call.start)
        except RuntimeError:  # the loop is closed: the interpreter is exiting
            coroutine.close()
            raise
        return call.wait(self.loop)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Schedule ``callback`` on the loop from any thread, if the loop still runs."""
        if self.pid == os.getpid() and not self.loop.is_closed():
            try:
                self.loop.call_soon_threadsafe(callback)
            except RuntimeError:  # closed in between, at exit: nothing is left to release
                return

    def adopt(self, owner: object, aclose: Closer) -> Callable[[], None]:
        """Have ``aclose`` run on the loop when ``owner`` is garbage-collected, or at exit if
        it still lives; returns the blocking ``close()`` that runs it now (once)."""
        key = next(self._keys)
        finalizer = weakref.finalize(owner, self._close_later, key, aclose)
        finalizer.atexit = False  # shutdown() closes what is open, while the loop still runs
        self._open[key] = (finalizer, aclose)

        def close() -> None:
            if self._open.pop(key, None) is not None and finalizer.detach() is not None:
                self.run(_awaited(aclose))

        return close

    def _close_later(self, key: int, aclose: Closer) -> None:
        # From the garbage collector, in whichever thread: schedule, never wait.
        self._open.pop(key, None)
        self.call_soon(lambda: self._start_closing(aclose))

    def _start_closing(self, aclose: Closer) -> None:
        task = self.spawn(_awaited(aclose))
        self._closing.add(task)  # waited for at exit, where other tasks are cancelled
        task.add_done_callback(self._closing.discard)

    def spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task that lives until it is done, even when nothing else refers to it (on the
        loop thread)."""
        task = self.loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def shutdown(self) -> None:
        """Close what is still open, stop the loop and join its thread (at exit)."""
        if self.pid != os.getpid() or self.loop.is_closed():
            return
        try:
            self.run(self._wind_down())
        finally:
            self.call_soon(self.loop.stop)
            self.thread.join(EXIT_WAIT)

    async def _wind_down(self) -> None:
        still_open = [aclose for finalizer, aclose in self._open.values() if finalizer.detach()]
        self._open.clear()
        pending = self._closing | {self.loop.create_task(_awaited(a)) for a in still_open}
        if pending:
            await asyncio.wait(pending, timeout=EXIT_WAIT)
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()


class _Call(Generic[T]):
    """One coroutine run on the loop for a caller blocked on a lock until it is done."""

    __slots__ = ("_coroutine", "_done", "_task")

    def __init__(self, coroutine: Coroutine[Any, Any, T]) -> None:
        self._coroutine = coroutine
        self._done = threading.Lock()
        self._done.acquire()  # released by the task's completion
        self._task: asyncio.Task[T] | None = None

    def start(self) -> None:
        self._task = task = asyncio.get_running_loop().create_task(self._coroutine)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[T]) -> None:
        self._done.release()

    def _cancel(self) -> None:
        if self._task is not None:  # start() ran first: callbacks run in order
            self._task.cancel()

    def wait(self, loop: asyncio.AbstractEventLoop) -> T:
        try:
            self._done.acquire()
        except BaseException:  # KeyboardInterrupt: cancel the call, let it unwind, re-raise
            loop.call_soon_threadsafe(self._cancel)
            self._done.acquire(timeout=CANCEL_WAIT)
            raise
        assert self._task is not None
        return self._task.result()


async def _awaited(function: Callable[[], Awaitable[T]]) -> T:
    return await function()


_current: BackgroundLoop | None = None
_starting = threading.Lock()
_exiting = False


def background() -> BackgroundLoop:
    """This process's loop, started on first use (and again in a forked child)."""
    global _current
    current = _current
    if current is not None and current.pid == os.getpid():
        return current
    with _starting:
        current = _current
        if current is None or current.pid != os.getpid():
            if _exiting:
                raise RuntimeError("aichats_core.sync cannot start: the interpreter is exiting")
            current = _current = BackgroundLoop()
        return current


def _at_exit() -> None:
    global _exiting
    _exiting = True
    if _current is not None:
        _current.shutdown()


def _after_fork_in_child() -> None:
    global _starting
    _starting = threading.Lock()  # another thread may have held it when the parent forked


# ``atexit`` runs once non-daemon threads have ended, so threads that outlive the main one can
# still call; thread pools take no more work by then (``asyncio.to_thread`` fails).
atexit.register(_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
