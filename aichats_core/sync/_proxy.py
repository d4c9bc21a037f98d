"""Blocking faces of the async API: one for a function, one for the methods of an object.

Each runs the async call on the sync loop in a single hop and re-raises its exception (the
same object, with its traceback) in the calling thread. Signatures are the async ones by
construction: the type checker reads them through ``ParamSpec``, ``inspect`` and ``help``
through ``__wrapped__``.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Awaitable, Callable
from types import FunctionType
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar

from aichats_core.errors import InvalidRequestError
from aichats_core.sync._iterate import SyncResultStream
from aichats_core.sync._loop import BackgroundLoop, background

if TYPE_CHECKING:
    from aichats_core._stream import ResultStream

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")
F = TypeVar("F", bound=Callable[..., Any])

_STREAM_RESULT = "SyncResultStream"
_PUBLIC_MODULE = __name__.rpartition(".")[0]
_sources: dict[Callable[..., Any], tuple[type, bool]] = {}
"""Each proxy method made by ``blocking``/``streaming``: the async class it stands for, and
whether it returns a stream; ``SyncProxy`` subclasses read it to name and document them."""


async def called(function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``function`` on the loop thread, where its own checks raise."""
    return function(*args, **kwargs)


async def awaited(function: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> R:
    return await function(*args, **kwargs)


def blocking_function(function: Callable[P, Awaitable[R]], doc: str) -> Callable[P, R]:
    """``function``'s blocking twin: waits for its result."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return background().run(awaited(function, *args, **kwargs))

    return _described(call, doc)


def streaming_function(
    function: Callable[P, ResultStream], doc: str
) -> Callable[P, SyncResultStream]:
    """``function``'s blocking twin: the same checks at the call, then a plain iterator."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> SyncResultStream:
        home = background()
        return SyncResultStream(home.run(called(function, *args, **kwargs)), home)

    call.__signature__ = _returning_stream(function)  # type: ignore[attr-defined]
    return _described(call, doc)


def _described(function: F, doc: str) -> F:
    function.__doc__ = doc
    function.__module__ = _PUBLIC_MODULE
    return function


class SyncProxy(Generic[A]):
    """A blocking face of an async object that lives on the sync loop.

    Declare its methods with ``blocking`` (coroutine methods) and ``streaming`` (methods
    that return a ``ResultStream``), named as the async ones::

        class Conversation(SyncProxy[AsyncConversation]):
            send = blocking(AsyncConversation, lambda conversation: conversation.send)
    """

    def __init__(self, target: A, home: BackgroundLoop) -> None:
        self._target = target
        self._home = home

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in list(vars(cls).items()):
            if isinstance(value, FunctionType) and value in _sources:
                source, returns_stream = _sources.pop(value)
                functools.update_wrapper(value, getattr(source, name), updated=())
                value.__module__ = cls.__module__
                value.__qualname__ = f"{cls.__qualname__}.{name}"
                if returns_stream:
                    value.__signature__ = _returning_stream(value.__wrapped__)  # type: ignore[attr-defined]

    def _here(self) -> BackgroundLoop:
        home = self._home
        if home.pid != os.getpid():
            raise InvalidRequestError(
                f"this {type(self).__name__} was opened before the process forked;"
                " open a new one in this process"
            )
        return home


def blocking(
    source: type[A], method: Callable[[A], Callable[P, Awaitable[R]]]
) -> Callable[Concatenate[SyncProxy[A], P], R]:
    """A proxy method that waits for ``method`` of the async object (``source`` names its
    class, for the type checker and the docs)."""

    def call(self: SyncProxy[A], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self._here().run(awaited(method(self._target), *args, **kwargs))

    _sources[call] = (source, False)
    return call


def streaming(
    source: type[A], method: Callable[[A], Callable[P, ResultStream]]
) -> Callable[Concatenate[SyncProxy[A], P], SyncResultStream]:
    """A proxy method that returns ``method``'s stream as a ``SyncResultStream``."""

    def call(self: SyncProxy[A], /, *args: P.args, **kwargs: P.kwargs) -> SyncResultStream:
        home = self._here()
        return SyncResultStream(home.run(called(method(self._target), *args, **kwargs)), home)

    _sources[call] = (source, True)
    return call


def _returning_stream(function: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(function).replace(return_annotation=_STREAM_RESULT)
