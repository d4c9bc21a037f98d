"""Lifecycle hooks: watch every call from outside, without slowing or breaking it.

A hook is a function of one event. Register it for the whole process (``add_hook``) or for
one client (``Client(hooks=[...])``); each call then reports ``CallStarted``, and for each
attempt, in order: ``AttemptStarted``, ``FirstEvent`` (time to the first event), and
``AttemptFinished`` (usage, duration, why the answer ended) or ``AttemptFailed`` (the
error); a retry is announced by ``RetryScheduled``, a fallback to the next provider of a
chain by ``FallbackTaken``, a circuit breaker's change by ``BreakerOpened`` and
``BreakerClosed``; ``CallEnded`` ends the call.

Hooks run on a thread of their own (``aichats-hooks``), in the order events happened: a slow
hook delays only later hooks, and what one raises is logged (``aichats.hooks``), never
raised into the call. With no hook registered, a call pays one test.

>>> remove = add_hook(lambda event: print(type(event).__name__, event.provider))
>>> remove()  # doctest: +SKIP
"""

from __future__ import annotations

import contextvars
import itertools
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
    "BreakerClosed",
    "BreakerOpened",
    "CallEnded",
    "CallStarted",
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
class CallStarted:
    """A call begins (its stream is first read). ``call`` numbers it in this process, and
    every later event of the call carries the same number."""

    call: int
    providers: tuple[str, ...]
    """The provider, or the chain in order."""
    model: str | None
    """The model asked for (None: each provider's default)."""
    at: float
    """``time.time()`` when it began."""
    context: contextvars.Context
    """The caller's context variables as the call began: a hook on its own thread reads
    what the caller had set (an OpenTelemetry parent span, a request id) with
    ``context.run``."""


@dataclass(frozen=True, slots=True)
class CallEnded:
    """A call ends: answered (``error`` is None), failed, or left by its caller."""

    call: int
    provider: str | None
    """Who answered, or None."""
    model: str | None
    seconds: float
    error: BaseException | None
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """An attempt of a call begins: ``attempt`` counts from 0 for each provider."""

    provider: str
    model: str
    attempt: int
    at: float
    """``time.time()`` when it began."""
    call: int = 0


@dataclass(frozen=True, slots=True)
class FirstEvent:
    provider: str
    model: str
    seconds: float
    """From the attempt's start to its first event: the time to first token."""
    call: int = 0


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    provider: str
    model: str
    seconds: float
    reason: str
    """``Finish.reason``: ``stop``, ``length``, ``tool_calls``, ``content_filter``."""
    prompt_tokens: int | None
    completion_tokens: int | None
    call: int = 0


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    provider: str
    model: str
    seconds: float
    error: BaseException
    started: bool
    """Whether events had reached the caller (then no retry or fallback follows)."""
    call: int = 0


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    provider: str
    model: str
    attempt: int
    """The attempt that will run after ``wait`` seconds."""
    wait: float
    error: BaseException
    call: int = 0


@dataclass(frozen=True, slots=True)
class FallbackTaken:
    """A chain moves on from ``provider``, which failed with ``error`` (or was skipped:
    a ``ProviderUnavailableError``, its breaker being open)."""

    provider: str
    error: BaseException
    call: int = 0


@dataclass(frozen=True, slots=True)
class BreakerOpened:
    """``provider``'s breaker for ``model`` opened (``aichats_core.health``): calls skip it,
    or are refused, until ``until`` (``time.time()``)."""

    provider: str
    model: str
    until: float
    reason: str
    """The failure that opened it."""
    call: int = 0


@dataclass(frozen=True, slots=True)
class BreakerClosed:
    """``provider``'s breaker for ``model`` closed: it answered (a probe, usually)."""

    provider: str
    model: str
    call: int = 0


HookEvent: TypeAlias = (
    CallStarted
    | CallEnded
    | AttemptStarted
    | FirstEvent
    | AttemptFinished
    | AttemptFailed
    | RetryScheduled
    | FallbackTaken
    | BreakerOpened
    | BreakerClosed
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


_calls = itertools.count(1)


def next_call() -> int:
    """A new call's number (``CallStarted.call``)."""
    return next(_calls)


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
