"""The unified result stream: whatever provider answers, callers iterate the same events.

``stream()`` validates everything it can before returning, so a bad message or an unknown
model fails at the call, before any network. Iteration then runs the provider, turns each
item it yields into a result event, and ends with a ``Finish`` event.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from aichats_core._models import (
    PROVIDER_EVENT_TYPES,
    Finish,
    ImageResponse,
    Message,
    MessageInput,
    TextChunk,
    Usage,
    validate_messages,
)
from aichats_core._registry import default_registry, normalize_name
from aichats_core._retry import RetryPolicy
from aichats_core.errors import (
    AiChatsError,
    AllProvidersFailedError,
    InvalidRequestError,
    ModelNotSupportedError,
    PluginLoadError,
    ProviderContractError,
    StreamInterruptedError,
)

if TYPE_CHECKING:
    from aichats_core._provider import Provider

Event: TypeAlias = TextChunk | ImageResponse | Usage | Finish
ProviderRef: TypeAlias = "str | type[Provider]"
"""A provider given by registered name (``"aichats"``) or by class."""
ProviderChoice: TypeAlias = "ProviderRef | Sequence[ProviderRef]"
"""One provider, or several to fall back through in order."""
ProviderOptions: TypeAlias = Mapping[str, Mapping[str, Any]]
"""Options for one provider of a chain only, by provider name."""


class Selection(NamedTuple):
    """A provider chosen for a call, with the model it will be asked for."""

    name: str
    provider: type[Provider]
    model: str
    distribution: str | None = None


def select(provider: ProviderRef, model: str | None) -> Selection:
    """Resolve a provider reference and the model, failing early with a clear error."""
    if isinstance(provider, str):
        info = default_registry.info(provider)
        cls = info.load()
        name, distribution = info.name, info.distribution
    else:
        cls, name, distribution = provider, provider.__name__, None
    return Selection(name, cls, resolve_model(name, cls, model), distribution)


def resolve_model(name: str, provider: type[Provider], model: str | None) -> str:
    """Empty means the default model; names outside ``models`` are refused (aliases allowed)."""
    get_model = getattr(provider, "get_model", None)
    if callable(get_model):
        try:
            resolved: str = get_model(model)
        except ModelNotSupportedError as exc:
            raise ModelNotSupportedError(name, exc.model, exc.models) from None
        return resolved
    if not model:
        return provider.default_model
    if provider.models and model not in provider.models:
        raise ModelNotSupportedError(name, model, provider.models)
    return model


class ResultStream(AsyncIterator[Event]):
    """The events of one call. Iterate it; ``async with`` it to close it the moment you leave.

    Breaking out of a plain ``async for`` also releases the connection, as soon as the event
    loop finalises the abandoned stream.
    """

    def __init__(self, events: AsyncGenerator[Event, None]) -> None:
        self._events = events

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> Event:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stop the provider and release its connection now."""
        await self._events.aclose()

    async def __aenter__(self) -> ResultStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def text(self) -> str:
        """Consume the stream and return the text, or the first image URI for an image answer."""
        parts: list[str] = []
        async with self:
            async for event in self._events:
                if isinstance(event, TextChunk):
                    parts.append(event.text)
                elif isinstance(event, ImageResponse) and event.images:
                    return event.images[0]
        return "".join(parts)


def stream(
    provider: ProviderChoice,
    messages: str | Iterable[MessageInput],
    *,
    model: str | None = None,
    proxy: str | None = None,
    retries: int | RetryPolicy = 0,
    provider_options: ProviderOptions | None = None,
    **options: Any,
) -> ResultStream:
    """Stream the answer of ``provider`` as result events, ending with ``Finish``.

    ``messages`` are ``Message`` objects or ``{"role", "content"}`` dicts (a bare string is one
    user message). Options such as ``timeout``, ``base_url``, ``cookies`` and ``session`` go
    to the provider; ``provider_options`` gives some to one provider only.

    ``provider`` may be a list: each is tried in order until one answers. ``retries`` retries
    transient failures (rate limits, timeouts, lost connections, 5xx) of each provider. Both
    happen only before the first event reached the caller; ``Finish`` says who answered.

    >>> async for event in stream("aichats", "Hello", base_url=emulator_url):  # doctest: +SKIP
    ...     print(event)
    """
    return start(provider, messages, model, proxy, retries, provider_options, options)


async def complete(
    provider: ProviderChoice,
    messages: str | Iterable[MessageInput],
    *,
    model: str | None = None,
    proxy: str | None = None,
    retries: int | RetryPolicy = 0,
    provider_options: ProviderOptions | None = None,
    **options: Any,
) -> str:
    """The whole answer: its text, or the first image URI for an image model."""
    events = start(provider, messages, model, proxy, retries, provider_options, options)
    return await events.text()


def start(
    provider: ProviderChoice,
    messages: str | Iterable[MessageInput],
    model: str | None,
    proxy: str | None,
    retries: int | RetryPolicy,
    provider_options: ProviderOptions | None,
    options: dict[str, Any],
) -> ResultStream:
    """Validate a call and return its not-yet-started stream; shared by ``Client``."""
    validated = validate_messages(messages)
    policy = RetryPolicy.coerce(retries)
    per_provider = {normalize_name(k): dict(v) for k, v in (provider_options or {}).items()}
    if isinstance(provider, str) or not isinstance(provider, Sequence):
        selection = select(provider, model)
        merged = {**options, **per_provider.get(normalize_name(selection.name), {})}
        return ResultStream(_retrying(selection, validated, proxy, merged, policy))
    if not provider:
        raise InvalidRequestError("no provider given: the fallback list is empty")
    candidates = [_select_or_failure(ref, model) for ref in provider]
    return ResultStream(_fall_back(candidates, validated, proxy, options, per_provider, policy))


def _select_or_failure(provider: ProviderRef, model: str | None) -> Selection | _Failed:
    """A chain skips providers that cannot serve the call; an unknown name is still a typo."""
    try:
        return select(provider, model)
    except (PluginLoadError, ModelNotSupportedError) as exc:
        name = provider if isinstance(provider, str) else provider.__name__
        return _Failed(name, exc)


@dataclass(frozen=True)
class _Failed:
    name: str
    error: AiChatsError


async def _fall_back(
    candidates: list[Selection | _Failed],
    messages: list[Message],
    proxy: str | None,
    options: dict[str, Any],
    per_provider: dict[str, dict[str, Any]],
    policy: RetryPolicy,
) -> AsyncGenerator[Event, None]:
    failures: list[tuple[str, AiChatsError]] = []
    for candidate in candidates:
        if isinstance(candidate, _Failed):
            failures.append((candidate.name, candidate.error))
            continue
        merged = {**options, **per_provider.get(normalize_name(candidate.name), {})}
        events = _retrying(candidate, messages, proxy, merged, policy)
        started = False
        try:
            async for event in events:
                started = True
                yield event
            return
        except InvalidRequestError:
            raise  # the caller's own mistake: another provider would not fix it
        except AiChatsError as exc:
            if started:
                raise
            failures.append((candidate.name, exc))
        finally:
            await events.aclose()
    raise AllProvidersFailedError(failures)


def _retrying(
    selection: Selection,
    messages: list[Message],
    proxy: str | None,
    options: dict[str, Any],
    policy: RetryPolicy,
) -> AsyncGenerator[Event, None]:
    """The call's events, with retries when the policy allows any."""
    if not policy.retries:  # no wrapper: each generator layer costs every event a hop
        return _attempt(selection, messages, proxy, options)
    return _with_retries(selection, messages, proxy, options, policy)


async def _with_retries(
    selection: Selection,
    messages: list[Message],
    proxy: str | None,
    options: dict[str, Any],
    policy: RetryPolicy,
) -> AsyncGenerator[Event, None]:
    attempt = 0
    while True:
        events = _attempt(selection, messages, proxy, options)
        started = False
        try:
            async for event in events:
                started = True
                yield event
            return
        except AiChatsError as exc:
            wait = None if started else policy.wait_before_retry(attempt, exc)
            if wait is None:
                raise
        finally:
            await events.aclose()
        attempt += 1
        await asyncio.sleep(wait)


async def _attempt(
    selection: Selection, messages: list[Message], proxy: str | None, options: dict[str, Any]
) -> AsyncGenerator[Event, None]:
    """One call of one provider: normalise what it yields, contain what it raises."""
    received: list[str] = []
    started = False
    items: AsyncIterator[Any] | None = None
    try:
        items = selection.provider.create_async_generator(
            selection.model, messages, proxy, **options
        )
        async for item in items:
            started = True
            if type(item) is str:
                received.append(item)
                yield TextChunk(text=item)
            elif isinstance(item, PROVIDER_EVENT_TYPES):
                if isinstance(item, TextChunk):
                    received.append(item.text)
                yield item
            elif isinstance(item, str):  # a str subclass: still text (the check above is for speed)
                received.append(str(item))
                yield TextChunk(text=str(item))
            else:
                raise _garbage(selection, item)
    except StreamInterruptedError as exc:
        if not exc.partial_text:
            exc.partial_text = "".join(received)
        raise
    except AiChatsError:
        raise
    except Exception as exc:  # the plugin boundary: whatever a plugin raises is contained
        error = _contain(selection, exc, started=started)
        if isinstance(error, StreamInterruptedError):
            error.partial_text = "".join(received)
        raise error from exc
    finally:
        # Close the provider now, not when the garbage collector gets to it: that is what
        # releases its connection when the caller leaves the loop early.
        aclose = getattr(items, "aclose", None)
        if aclose is not None:
            await aclose()
    yield _finish(selection.name, selection.model)


@functools.lru_cache(maxsize=256)
def _finish(provider: str, model: str) -> Finish:
    """Events are frozen values, so one ``Finish`` per provider and model serves every call."""
    return Finish(provider=provider, model=model)


def _source(selection: Selection) -> str:
    if selection.distribution:
        return f"provider {selection.name!r} (distribution {selection.distribution!r})"
    return f"provider {selection.name!r}"


def _garbage(selection: Selection, item: object) -> ProviderContractError:
    return ProviderContractError(
        selection.name,
        f"{_source(selection)} yielded {type(item).__name__} {item!r:.80}; providers must yield"
        " str or a result event (TextChunk, ImageResponse, Usage)",
    )


def _contain(selection: Selection, exc: Exception, *, started: bool) -> AiChatsError:
    """Translate a transport error a plugin let through; wrap anything else as a contract error."""
    from aichats_core.http._errors import TRANSPORT_ERRORS, translate

    if isinstance(exc, TRANSPORT_ERRORS):
        return translate(exc, selection.name, reading=started, timeout=None)
    return ProviderContractError(
        selection.name,
        f"{_source(selection)} failed with {type(exc).__name__}: {exc}; this is a bug in the"
        " plugin, report it to its authors",
    )
