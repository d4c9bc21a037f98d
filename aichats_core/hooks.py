"""Lifecycle hooks: watch every call from outside, without slowing or breaking it.

A hook is a function of one event. Register it for the whole process (``add_hook``) or for
one client (``Client(hooks=[...])``); each attempt of each call then reports, in order:
``AttemptStarted``, ``FirstEvent`` (time to the first event), and ``AttemptFinished``
(usage, duration, why the answer ended) or ``AttemptFailed`` (the error); a retry is
announced by ``RetryScheduled`` and a fallback to the next provider of a chain by
``FallbackTaken``.

Hooks run on a thread of their own (``aichats-hooks``), in the order events happened: a slow
hook delays only later hooks, and what one raises is logged (``aichats.hooks``), never
raised into the call. With no hook registered, a call pays one test per event.

>>> remove = add_hook(lambda event: print(type(event).__name__, event.provider))
>>> remove()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "AttemptFailed",
    "AttemptFinished",
    "AttemptStarted",
    "FallbackTaken",
    "FirstEvent",
    "Hook",
    "HookEvent",
    "RetryScheduled",
    "add_hook",
    "flush",
]

logger = logging.getLogger("aichats.hooks")


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """An attempt of a call begins: ``attempt`` counts from 0 for each provider."""

    provider: str
    model: str
    attempt: int
    at: float
    """``time.time()`` when it began."""


@dataclass(frozen=True, slots=True)
class FirstEvent:
    provider: str
    model: str
    seconds: float
    """From the attempt's start to its first event: the time to first token."""


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    provider: str
    model: str
    seconds: float
    reason: str
    """``Finish.reason``: ``stop``, ``length``, ``tool_calls``, ``content_filter``."""
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    provider: str
    model: str
    seconds: float
    error: BaseException
    started: bool
    """Whether events had reached the caller (then no retry or fallback follows)."""


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    provider: str
    model: str
    attempt: int
    """The attempt that will run after ``wait`` seconds."""
    wait: float
    error: BaseException


@dataclass(frozen=True, slots=True)
class FallbackTaken:
    """A chain moves on from ``provider``, which failed with ``error``."""

    provider: str
    error: BaseException


HookEvent: TypeAlias = (
    AttemptStarted | FirstEvent | AttemptFinished | AttemptFailed | RetryScheduled | FallbackTaken
)
Hook: TypeAlias = Callable[[Any], object]
"""A function of one ``HookEvent``; what it returns is ignored."""

_global: list[Hook] = []


def add_hook(hook: Hook) -> Callable[[], None]:
    """Run ``hook`` for every call of this process; returns the function that removes it."""
    _global.append(hook)

    def remove() -> None:
        if hook in _global:
            _global.remove(hook)

    return remove


def active(own: tuple[Hook, ...]) -> tuple[Hook, ...] | None:
    """The hooks of a call (the process's, then its client's), or None when there are none:
    the one test a call pays without hooks."""
    if not _global and not own:
        return None
    return (*_global, *own)


def emit(hooks: tuple[Hook, ...], event: HookEvent) -> None:
    """Hand ``event`` to the hooks' thread; returns at once."""
    _dispatcher().put(hooks, event)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every event emitted so far reached its hooks (for tests and shutdown)."""
    dispatcher = _current
    return True if dispatcher is None else dispatcher.flush(timeout)


class _Dispatcher:
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[tuple[Hook, ...], Any] | threading.Event] = (
            queue.SimpleQueue()
        )
        thread = threading.Thread(target=self._run, name="aichats-hooks", daemon=True)
        thread.start()

    def put(self, hooks: tuple[Hook, ...], event: HookEvent) -> None:
        self._queue.put((hooks, event))

    def flush(self, timeout: float) -> bool:
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, threading.Event):
                item.set()
                continue
            hooks, event = item
            for hook in hooks:
                _call(hook, event)


def _call(hook: Hook, event: HookEvent) -> None:
    try:
        hook(event)
    except Exception:  # a hook's bug is logged, never raised into a call
        logger.exception("hook %r raised on %s", hook, type(event).__name__)


_current: _Dispatcher | None = None
_lock = threading.Lock()


def _dispatcher() -> _Dispatcher:
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = _Dispatcher()
    return _current


def hooks_of(hooks: Iterable[Hook] | None) -> tuple[Hook, ...]:
    """A client's hooks, checked to be callables."""
    found = tuple(hooks or ())
    for hook in found:
        if not callable(hook):
            from aichats_core.errors import InvalidRequestError

            raise InvalidRequestError(f"a hook is a function of one event, not {hook!r:.60}")
    return found


def clock() -> float:
    return time.perf_counter()
