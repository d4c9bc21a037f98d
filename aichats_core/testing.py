"""Test doubles for applications built on aichats: no network, no plugin install.

>>> from aichats_core.testing import ScriptedProvider, registered
>>> Fake = ScriptedProvider.script("Hello", " world")
>>> with registered("fake", Fake):  # doctest: +SKIP
...     assert await aichats_core.complete("fake", "Hi") == "Hello world"
...     assert Fake.calls[0].messages[0].content == "Hi"

Each ``script()`` call makes a new class with its own script and call log, so tests do not
leak into each other.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, create_model

from aichats_core._provider import AsyncGeneratorProvider, Messages, ProviderModelMixin
from aichats_core._registry import ProviderRegistry, default_registry
from aichats_core.errors import AiChatsError

if TYPE_CHECKING:
    from aichats_core._models import Message
    from aichats_core._provider import ProviderItem

__all__ = ["FunctionProvider", "RecordedCall", "ScriptedProvider", "registered", "reset_health"]


@dataclass(frozen=True)
class RecordedCall:
    """One call a scripted provider received."""

    model: str
    messages: list[Message]
    proxy: str | None
    options: dict[str, Any] = field(default_factory=dict)


_R = TypeVar("_R", bound="_Recording")


class _Recording(AsyncGeneratorProvider, ProviderModelMixin):
    """A test double's call log: every subclass keeps its own."""

    calls: ClassVar[list[RecordedCall]] = []
    """Every call received, in order; each subclass keeps its own."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "calls" not in cls.__dict__:
            cls.calls = []

    @classmethod
    def subclass(
        cls: type[_R], name: str, namespace: dict[str, Any], options: Mapping[str, Any] | None
    ) -> type[_R]:
        """A fresh subclass, declaring ``options`` (names and defaults) when given."""
        if options is not None:
            namespace["Options"] = _options_model(name, options)
        return type(name, (cls,), namespace)

    @classmethod
    def record(cls, model: str, messages: Messages, proxy: str | None, options: Any) -> None:
        cls.calls.append(RecordedCall(model, list(messages), proxy, dict(options)))


class ScriptedProvider(_Recording):
    """A provider that yields what it is told, records every call, and can fail on cue."""

    url = "https://scripted.invalid"
    working = True
    supports_stream = True
    supports_message_history = True
    default_model = "scripted"
    models: ClassVar[list[str]] = ["scripted", "scripted-image"]
    image_models: ClassVar[list[str]] = ["scripted-image"]

    items: ClassVar[tuple[ProviderItem, ...]] = ("Hello from the scripted provider.",)
    """What each call yields, in order."""
    error: ClassVar[AiChatsError | None] = None
    """Raised after ``error_after`` items, when set."""
    error_after: ClassVar[int] = 0
    delay: ClassVar[float] = 0.0
    """Seconds to wait before each item, to test timeouts and cancellation."""
    fail_first: ClassVar[list[AiChatsError]] = []
    """Errors raised, one per call and before any item, by the first calls: to test retries."""

    @classmethod
    def script(
        cls,
        *items: ProviderItem,
        error: AiChatsError | None = None,
        error_after: int | None = None,
        delay: float = 0.0,
        fail_first: Sequence[AiChatsError] = (),
        name: str = "ScriptedProvider",
        options: Mapping[str, Any] | None = None,
        **attributes: Any,
    ) -> type[ScriptedProvider]:
        """A fresh provider class with its own script and call log.

        ``error_after`` defaults to raising once every item was yielded; ``fail_first``
        makes the first calls fail at once, one error each; ``options`` are the options it
        declares, by name with their defaults (any type; give ``Options=`` a model of your
        own for types); ``attributes`` override class attributes such as ``models``.
        """
        namespace: dict[str, Any] = {
            "items": items,
            "error": error,
            "error_after": len(items) if error_after is None else error_after,
            "delay": delay,
            "fail_first": list(fail_first),
            **attributes,
        }
        return cls.subclass(name, namespace, options)

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[ProviderItem]:
        cls.record(model, messages, proxy, kwargs)
        if len(cls.calls) <= len(cls.fail_first):
            raise cls.fail_first[len(cls.calls) - 1]
        for index, item in enumerate(cls.items):
            if cls.error is not None and index == cls.error_after:
                raise cls.error
            if cls.delay:
                await asyncio.sleep(cls.delay)
            yield item
        if cls.error is not None and cls.error_after >= len(cls.items):
            raise cls.error


AnswerFunction: TypeAlias = Callable[
    [list["Message"], dict[str, Any]],
    "str | Iterable[ProviderItem] | AsyncIterable[ProviderItem] | Awaitable[str]",
]
"""What ``FunctionProvider`` calls: the messages and options of a call, to the answer."""


class FunctionProvider(_Recording):
    """A provider whose answer is a function of the call, as pydantic-ai's ``FunctionModel``:
    for tests whose answer depends on what was asked.

    >>> echo = FunctionProvider.of(lambda messages, options: messages[-1].content.upper())
    >>> await aichats_core.complete(echo, "hi")  # doctest: +SKIP
    'HI'

    The function gets the messages (a list of ``Message``) and the validated options, and
    returns the text, an iterable or async iterable of items (``str`` or result events), or
    an awaitable of the text. What it raises is the provider's failure, as for any provider.
    """

    default_model: ClassVar[str] = "function"
    models: ClassVar[list[str]] = ["function"]
    function: ClassVar[AnswerFunction]

    @classmethod
    def of(
        cls,
        function: AnswerFunction,
        *,
        name: str = "FunctionProvider",
        options: Mapping[str, Any] | None = None,
        **attributes: Any,
    ) -> type[FunctionProvider]:
        """A provider class answering with ``function``; ``options`` as for
        ``ScriptedProvider.script``."""
        namespace: dict[str, Any] = {"function": staticmethod(function), **attributes}
        return cls.subclass(name, namespace, options)

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[ProviderItem]:
        cls.record(model, messages, proxy, kwargs)
        answer = cls.function(list(messages), dict(kwargs))
        if inspect.isawaitable(answer):
            answer = await answer
        if isinstance(answer, str):
            yield answer
        elif isinstance(answer, AsyncIterable):
            async for item in answer:
                yield item
        else:
            for item in answer:
                yield item


def _options_model(name: str, options: Mapping[str, Any]) -> type[BaseModel]:
    """An ``Options`` model declaring ``options`` by name, with defaults, of any type."""
    fields: dict[str, Any] = {key: (Any, default) for key, default in options.items()}
    return create_model(f"{name}Options", __config__=ConfigDict(extra="forbid"), **fields)


@contextmanager
def registered(
    name: str, provider: type[Any], registry: ProviderRegistry | None = None
) -> Iterator[type[Any]]:
    """Register ``provider`` as ``name`` for the duration of a ``with`` block.

    A provider the application had registered under that name is restored afterwards.
    """
    target = registry or default_registry
    previous = target.registered_here(name)
    target.register(name, provider, replace=True)
    try:
        yield provider
    finally:
        if previous is not None:
            target.register(*previous, replace=True)
        else:
            target.unregister(name)


def reset_health() -> None:
    """Forget what this process measured of its providers, and close their breakers: call
    it between tests (an autouse fixture), so that one test's failures do not make a later
    test's provider cool down (``aichats_core.health``)."""
    from aichats_core.health import tracker

    tracker().reset()
