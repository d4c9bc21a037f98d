"""Running a call: one attempt of one provider, retries, fallback, and the plugin boundary.

Retries and fallback happen only before the first event reached the caller, so nobody ever
sees text twice. Whatever a plugin yields or raises is checked here: str becomes
``TextChunk``, foreign exceptions become typed errors naming the plugin, and a
``ProviderError`` raised with an empty ``provider`` gets the selected provider's name.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeAlias

from aichats_core._boundary import is_plugins_own, plugin_failure
from aichats_core._call_options import ChainOptions
from aichats_core._models import (
    PROVIDER_EVENT_TYPES,
    Failure,
    Finish,
    FinishReason,
    ImageResponse,
    TextChunk,
    ToolCall,
    Usage,
)
from aichats_core._provider import Messages
from aichats_core._retry import RetryPolicy, declared_transient_statuses
from aichats_core._select import Failed, Selection
from aichats_core.errors import (
    AiChatsError,
    AllProvidersFailedError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderContractError,
    ProviderError,
    StreamInterruptedError,
)
from aichats_core.hooks import (
    AttemptFailed,
    AttemptFinished,
    AttemptStarted,
    FallbackTaken,
    FirstEvent,
    RetryScheduled,
    active,
    clock,
    emit,
)

Event: TypeAlias = TextChunk | ImageResponse | ToolCall | Usage | Finish


async def fall_back(
    candidates: list[tuple[Selection, ChainOptions] | Failed],
    messages: Messages,
    proxy: str | None,
    policy: RetryPolicy,
    keep_text: bool = True,
    own_hooks: tuple[Any, ...] = (),
) -> AsyncGenerator[Event, None]:
    """Each candidate in turn, with its own options, until one answers."""
    failures: list[tuple[str, AiChatsError]] = []
    hooks = active(own_hooks)
    for candidate in candidates:
        if isinstance(candidate, Failed):
            failures.append((candidate.name, candidate.error))
            if hooks is not None:
                emit(hooks, FallbackTaken(candidate.name, candidate.error))
            continue
        selection, routed = candidate
        events = retrying(selection, messages, proxy, routed, policy, keep_text)
        started = False
        try:
            async for event in events:
                started = True
                yield _after(failures, event) if failures else event
            return
        except InvalidRequestError:
            raise  # the caller's own mistake: another provider would not fix it
        except AiChatsError as exc:
            if started:
                raise
            failures.append((selection.name, exc))
            if hooks is not None:
                emit(hooks, FallbackTaken(selection.name, exc))
        finally:
            await events.aclose()
    raise AllProvidersFailedError(failures)


def retrying(
    selection: Selection,
    messages: Messages,
    proxy: str | None,
    routed: ChainOptions,
    policy: RetryPolicy,
    keep_text: bool = True,
) -> AsyncGenerator[Event, None]:
    """The call's events, with retries when the policy allows any. ``keep_text`` keeps the
    text received, for ``StreamInterruptedError.partial_text``; a caller that keeps it itself
    (``text()``) or must not hold the answer (the server's relay) turns it off."""
    if not policy.retries:  # no wrapper: each generator layer costs every event a hop
        return _attempt(selection, messages, proxy, routed, keep_text)
    return _with_retries(selection, messages, proxy, routed, policy, keep_text)


async def _with_retries(
    selection: Selection,
    messages: Messages,
    proxy: str | None,
    routed: ChainOptions,
    policy: RetryPolicy,
    keep_text: bool,
) -> AsyncGenerator[Event, None]:
    attempt = 0
    failures: list[tuple[str, AiChatsError]] = []
    hooks = active(routed.hooks)
    while True:
        events = _attempt(selection, messages, proxy, routed, keep_text, attempt)
        started = False
        try:
            async for event in events:
                started = True
                yield _after(failures, event) if failures else event
            return
        except AiChatsError as exc:
            if started:
                raise
            extra = declared_transient_statuses(selection.provider, selection.name)
            wait = policy.wait_before_retry(attempt, exc, extra)
            if wait is None:
                raise
            failures.append((selection.name, exc))
            if hooks is not None:
                retry = RetryScheduled(selection.name, selection.model, attempt + 1, wait, exc)
                emit(hooks, retry)
        finally:
            await events.aclose()
        attempt += 1
        await asyncio.sleep(wait)


async def _attempt(
    selection: Selection,
    messages: Messages,
    proxy: str | None,
    routed: ChainOptions,
    keep_text: bool = True,
    attempt: int = 0,
) -> AsyncGenerator[Event, None]:
    """One call of one provider: normalise what it yields, contain what it raises.

    ``messages`` is a tuple of frozen messages: whatever a provider tries to change in it
    fails, so no attempt leaks anything into the next one."""
    received: list[str] = []
    remember = received.append if keep_text else _forget
    started = False
    reason: str | None = None  # why the answer ended, when not a plain stop
    usage: Usage | None = None  # for the hooks
    limits = routed.limits
    hooks = active(routed.hooks)
    if hooks is not None:
        begun = clock()
        emit(hooks, AttemptStarted(selection.name, selection.model, attempt, time.time()))
    items: AsyncIterator[Any] | None = None
    try:
        try:
            items = selection.provider.create_async_generator(
                selection.model, routed.messages or messages, proxy, **routed.options
            )
            async for item in items:
                if not started:
                    started = True
                    if hooks is not None:
                        emit(hooks, FirstEvent(selection.name, selection.model, clock() - begun))
                if type(item) is str:
                    text = item
                elif isinstance(item, PROVIDER_EVENT_TYPES):
                    if isinstance(item, TextChunk):
                        if limits is None:
                            remember(item.text)
                            yield item
                            continue
                        text = item.text
                    else:
                        if isinstance(item, ToolCall):
                            reason = reason or "tool_calls"
                        elif hooks is not None and isinstance(item, Usage):
                            usage = item
                        yield item
                        continue
                elif isinstance(item, str):  # a str subclass: still text (this is for speed)
                    text = str(item)
                elif type(item) is FinishReason:
                    reason = item.reason  # the service's own word on it
                    continue
                else:
                    raise _garbage(selection, item)
                if limits is None:
                    remember(text)
                    yield TextChunk(text=text)
                    continue
                if text := limits.feed(text):
                    remember(text)
                    yield TextChunk(text=text)
                if limits.reason is not None:
                    reason = limits.reason  # a stop sequence, or max_tokens: over
                    break
            else:
                if limits is not None and (rest := limits.flush()):
                    remember(rest)
                    yield TextChunk(text=rest)
                    reason = limits.reason or reason
        finally:
            # Close the provider now, not when the garbage collector gets to it: that is what
            # releases its connection when the caller leaves the loop early. What its closing
            # raises crosses the boundary below like the rest.
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()
    except AiChatsError as exc:
        if isinstance(exc, ProviderError) and exc.provider != selection.name:
            if not exc.provider or exc.provider == selection.provider.__name__:
                _name(exc, selection.name)  # named as the caller chose it, not by its class
        elif isinstance(exc, ModelNotSupportedError) and not exc.provider:
            _name_model_error(exc, selection)
        if isinstance(exc, StreamInterruptedError) and not exc.partial_text:
            exc.partial_text = "".join(received)
        if hooks is not None:
            _failed(hooks, selection, begun, exc, started)
        raise
    except BaseException as exc:  # the plugin boundary: whatever a plugin raises is contained
        if not is_plugins_own(exc):
            raise  # cancellation, generator closing, a real Ctrl-C (see _boundary)
        error = _contain(selection, exc, started=started)
        if isinstance(error, StreamInterruptedError):
            error.partial_text = "".join(received)
        if hooks is not None:
            _failed(hooks, selection, begun, error, started)
        raise error from exc
    finish = _finish(selection.name, selection.model, tuple(routed.options), routed.withheld)
    if hooks is not None:
        counts = (None, None) if usage is None else (usage.prompt_tokens, usage.completion_tokens)
        done = AttemptFinished(
            selection.name, selection.model, clock() - begun, reason or "stop", *counts
        )
        emit(hooks, done)
    yield (
        finish
        if reason is None or reason == "stop"
        else finish.model_copy(update={"reason": reason})
    )


def _failed(
    hooks: tuple[Any, ...], selection: Selection, begun: float, error: BaseException, started: bool
) -> None:
    emit(hooks, AttemptFailed(selection.name, selection.model, clock() - begun, error, started))


def _after(failures: list[tuple[str, AiChatsError]], event: Event) -> Event:
    """``event``, and for the ``Finish`` of an attempt that answered after others failed,
    a ``Finish`` that names them before the failures it already carries (a retried
    provider's, in a chain)."""
    if type(event) is not Finish:
        return event
    earlier = tuple(Failure.of(name, error) for name, error in failures)
    return event.model_copy(update={"failures": earlier + event.failures})


def _name_model_error(error: ModelNotSupportedError, selection: Selection) -> None:
    """Name the provider in a ``ModelNotSupportedError`` a provider raised without one
    (g4f's ``ModelNotFoundError(message)``), listing its models when the error does not."""
    message = str(error)
    models = error.models or list(selection.provider.models)
    ModelNotSupportedError.__init__(error, selection.name, error.model or selection.model, models)
    if not message.startswith("provider '' "):  # the provider's own words: kept, named
        error.args = (f"{selection.name}: {message}",)


def _name(error: ProviderError, name: str) -> None:
    """Name the provider in an error raised without one (``provider=""``): a plugin's helper
    that does not know which provider it serves, e.g. g4f's one-argument ``RateLimitError``;
    or by its class name, which is not the name the caller chose (``OpenAICompatible`` for
    ``openai``)."""
    error.provider = name
    error.args = (f"{name}: {error.detail}",)


def _forget(text: str) -> None:
    """What ``_attempt`` does with text it need not keep."""


@functools.lru_cache(maxsize=256)
def _finish(
    provider: str, model: str, options: tuple[str, ...], withheld: tuple[str, ...]
) -> Finish:
    """Events are frozen values, so one ``Finish`` per provider, model and option names
    serves every call."""
    given = tuple(sorted(name for name in options if name != "session"))
    return Finish(provider=provider, model=model, options=given, withheld=withheld)


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


def _contain(selection: Selection, exc: BaseException, *, started: bool) -> AiChatsError:
    """Translate a transport error a plugin let through; wrap anything else as a contract error."""
    from aichats_core.http._errors import TRANSPORT_ERRORS, translate

    if isinstance(exc, TRANSPORT_ERRORS):
        return translate(exc, selection.name, reading=started, timeout=None)
    return plugin_failure(selection.name, _source(selection), exc)
