"""g4f's base classes: a port's ``create_async_generator`` runs as a native provider's.

The class statement wraps the port's own generator: each attempt gets a fresh list of
plain dict messages, g4f's items become aichats events (or are dropped), ``base_url``
rebases the port's URLs for the call, and ``timeout`` bounds each silence of the port.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from urllib.parse import urlsplit

from aichats_core._provider import AsyncGeneratorProvider as _CoreGeneratorProvider
from aichats_core._provider import DeferredOptions
from aichats_core._provider import ProviderModelMixin as _CoreModelMixin
from aichats_core.compat._g4f_errors import ModelNotFoundError
from aichats_core.compat._g4f_responses import to_event
from aichats_core.errors import ReadTimeoutError, StreamInterruptedError

Messages: TypeAlias = list[dict[str, Any]]
"""g4f's ``Messages``: what a port receives, a fresh list of plain dicts per attempt."""

_PASSED_APART = frozenset({"cls", "model", "messages", "proxy", "timeout", "stream", "base_url"})
"""Parameters the layer gives a port itself, never as options of the call."""
_NOT_OPTIONS = frozenset({"session", "conversation", "return_conversation"})
"""Parameters no caller can use: the core owns ``session``, and aichats has no event that
would give a conversation back."""


@dataclass(frozen=True)
class _Parameters:
    """Which of g4f's usual arguments a port's ``create_async_generator`` takes."""

    named: frozenset[str]
    any_keyword: bool

    @classmethod
    def of(cls, function: Callable[..., Any]) -> _Parameters:
        parameters = inspect.signature(function).parameters.values()
        return cls(
            frozenset(p.name for p in parameters if p.kind is not p.VAR_KEYWORD),
            any(p.kind is p.VAR_KEYWORD for p in parameters),
        )

    def takes(self, name: str) -> bool:
        return name in self.named or self.any_keyword

    def arguments(self, proxy: str | None, timeout: float | None) -> dict[str, Any]:
        given: dict[str, Any] = {}
        if self.takes("proxy"):
            given["proxy"] = proxy
        if timeout is not None and self.takes("timeout"):
            given["timeout"] = timeout
        if "stream" in self.named:  # aichats always streams
            given["stream"] = True
        return given


def option_parameters(port: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters a port's generator names, and those of the ports it
    inherits from as long as each passes on ``**kwargs``: the options a call may give it."""
    found: dict[str, inspect.Parameter] = {}
    for klass in port.__mro__:
        function = getattr(klass.__dict__.get("create_async_generator"), "__func__", None)
        own = getattr(function, "__wrapped__", None)
        if own is None:
            continue
        parameters = inspect.signature(own).parameters.values()
        for parameter in parameters:
            name = parameter.name
            if parameter.kind not in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                continue
            if name in _PASSED_APART or name in _NOT_OPTIONS or name.startswith("_"):
                continue
            found.setdefault(name, parameter)  # the subclass's own default wins
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break  # what it does not take, its parents never see
    return found


class _PortOptions(DeferredOptions):
    """Each port's ``Options``: the layer's own (``base_url``) and the keyword parameters its
    ``create_async_generator`` names, so that a misspelt option is refused at the call.
    Built when first read, which imports pydantic; a port that declares ``Options`` itself
    replaces it."""

    def __init__(self) -> None:
        super().__init__("aichats_core.compat._g4f_options:G4FOptions")
        self._ports: weakref.WeakKeyDictionary[type, type[Any]] = weakref.WeakKeyDictionary()

    def __get__(self, instance: object, owner: type | None = None) -> type[Any]:
        base = super().__get__(instance, owner)
        if owner is None:
            return base
        model = self._ports.get(owner)
        if model is None:
            from aichats_core.compat._g4f_options import options_of

            model = self._ports[owner] = options_of(owner, base, option_parameters(owner))
        return model


_END = object()


class _PortMessages(list[dict[str, Any]]):
    """The plain messages the layer hands a port. A port delegating to another port's
    generator (``super().create_async_generator(...)``) passes them on, which tells that
    generator it runs inside a call already: it then yields g4f's items as they are."""


async def _next_within(
    iterator: AsyncIterator[Any], timeout: float, started: bool, given: bool
) -> Any:
    """The port's next item, or ``ReadTimeoutError`` when it stays silent ``timeout``
    seconds: the ``timeout`` option (or the core's default) holds for every port."""
    scope = asyncio.timeout(timeout)
    try:
        async with scope:
            return await anext(iterator)
    except StopAsyncIteration:
        return _END
    except TimeoutError:
        if not scope.expired():
            if not started:
                raise  # the port's own timeout, before any answer: the core translates it
            raise StreamInterruptedError(
                "",
                "the port's own timeout ended the answer (g4f ports mostly bound the whole"
                " answer with it); a longer 'timeout' option gives it more time",
            ) from None
        phase = "the next bytes of the answer" if started else "the service to answer"
        advice = "raise the 'timeout' option" if given else "give a longer 'timeout' option"
        raise ReadTimeoutError(
            "", f"timed out waiting for {phase} after {timeout:g}s; {advice} if it is slow"
        ) from None


def _wrapped(function: Callable[..., Any]) -> classmethod[Any, Any, Any]:
    """The ``create_async_generator`` the core calls, around the port's own (an async
    generator, or a plain function returning an async iterator, such as a super() call)."""
    parameters = _Parameters.of(function)

    async def create_async_generator(
        cls: type, /, model: str, messages: Iterable[Mapping[str, Any]],
        proxy: str | None = None, **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:  # fmt: skip
        if isinstance(messages, _PortMessages):  # called by a port: pass its items on
            given = {"proxy": proxy} if parameters.takes("proxy") else {}
            inner = aiter(function(cls, model, messages, **given, **kwargs))
            try:
                async for item in inner:
                    yield item
            finally:
                await _close(inner)
            return
        base_url = kwargs.pop("base_url", None)
        timeout = kwargs.pop("timeout", None)
        kwargs.pop("session", None)  # the port opens its own aiohttp sessions
        target = _rebased(cls, base_url) if base_url else cls
        plain = _PortMessages(dict(message) for message in messages)  # the port's, to change
        items = function(target, model, plain, **parameters.arguments(proxy, timeout), **kwargs)
        iterator = aiter(items)
        bound = timeout if timeout is not None else _default_timeout()
        try:
            started = False
            while (
                item := await _next_within(iterator, bound, started, timeout is not None)
            ) is not _END:
                started = True
                event = to_event(item)
                if event is not None:
                    yield event
        finally:
            await _close(iterator)

    create_async_generator.__doc__ = function.__doc__
    create_async_generator.__wrapped__ = function  # type: ignore[attr-defined]
    return classmethod(create_async_generator)


async def _close(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _default_timeout() -> float:
    """The core's bound on each silence, for calls that give no ``timeout``, as native
    providers have it (importing ``aichats_core.http`` imports aiohttp: ports need it)."""
    from aichats_core.http import DEFAULT_TIMEOUT

    return DEFAULT_TIMEOUT


_URL_SUFFIXES = ("_endpoint", "_url", "_base")


def _rebased(provider: type, base_url: str) -> type:
    """A subclass of ``provider`` for one call, with ``url`` replaced by ``base_url`` and
    each absolute URL in an attribute named ``*_endpoint``, ``*_url`` or ``*_base`` moved
    under it, path, query and fragment kept; concurrent calls each see their own."""
    base = base_url.rstrip("/")
    attributes: dict[str, Any] = {
        "url": base,
        "__module__": provider.__module__,
        "__qualname__": provider.__qualname__,
        "__doc__": provider.__doc__,
    }
    names = {name for klass in provider.__mro__ for name in vars(klass)}
    for name in names:
        if name == "url" or not name.endswith(_URL_SUFFIXES) or name.startswith("__"):
            continue
        value = getattr(provider, name, None)
        if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
            parts = urlsplit(value)
            query = f"?{parts.query}" if parts.query else ""
            fragment = f"#{parts.fragment}" if parts.fragment else ""
            attributes[name] = f"{base}{parts.path}{query}{fragment}"
    return type(provider.__name__, (provider,), attributes)


if TYPE_CHECKING:

    class _Base:
        """What type checkers see of the core's base: its attributes, and g4f's signature
        for the generator that ports override (the core's takes frozen messages)."""

        url: ClassVar[str]
        working: ClassVar[bool]
        supports_stream: ClassVar[bool]
        supports_message_history: ClassVar[bool]
        default_model: ClassVar[str]
        models: ClassVar[list[str]]
        transient_statuses: ClassVar[frozenset[int] | set[int]]

        @classmethod
        def create_async_generator(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[Any]: ...

        @classmethod
        async def create_async(
            cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
        ) -> str: ...

else:
    _Base = _CoreGeneratorProvider


class AsyncGeneratorProvider(_Base):
    """g4f's ``AsyncGeneratorProvider``: write ``create_async_generator`` as for g4f.

    Its ``create_async_generator`` receives ``model``, a fresh list of plain dict messages,
    ``proxy`` (when it takes it), ``timeout`` (when the caller gives one and it takes it),
    ``stream=True`` (when it names ``stream``) and the call's other options: those its
    signature names, which are the options a call may give it besides ``base_url``.
    """

    Options = _PortOptions()
    needs_auth: ClassVar[bool] = False
    supports_system_message: ClassVar[bool] = False
    label: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("create_async_generator")
        function = getattr(own, "__func__", None)
        if isinstance(own, classmethod) and not inspect.iscoroutinefunction(function):
            cls.create_async_generator = _wrapped(function)  # type: ignore[method-assign,assignment,arg-type]
        # Anything else is left as written, for the load check to report.


class ProviderModelMixin(_CoreModelMixin):
    """g4f's ``ProviderModelMixin``: ``get_model(model, **kwargs)`` and ``get_models()``."""

    vision_models: ClassVar[list[str]] = []
    last_model: ClassVar[str | None] = None

    @classmethod
    def get_model(cls, model: str | None, **kwargs: Any) -> str:
        """As g4f resolves a model: ``default_model`` for none; an alias's model (one of
        them, at random, for an alias naming a list); a model of ``models`` or the target of
        an alias as it is; anything else ``ModelNotFoundError``."""
        if not model:
            return cls.default_model
        target = cls.model_aliases.get(model)
        if target is not None:
            chosen = random.choice(target) if isinstance(target, list) else target  # no secret
            cls.last_model = chosen
            return chosen
        if cls.models and model not in cls.models and not _an_alias_target(cls, model):
            raise ModelNotFoundError(
                f"Model not found: {model!r} in {cls.__name__}; valid models: {cls.models}",
                model=model,
                models=cls.models,
            )
        cls.last_model = model
        return model

    @classmethod
    def get_models(cls, **kwargs: Any) -> list[str]:
        return list(cls.models)


def _an_alias_target(cls: type[_CoreModelMixin], model: str) -> bool:
    return any(
        model == target or (isinstance(target, list) and model in target)
        for target in cls.model_aliases.values()
    )
