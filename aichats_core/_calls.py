"""Running a call: one attempt of one provider, retries, fallback, and the plugin boundary.

Retries and fallback happen only before the first event reached the caller, so nobody ever
sees text twice. Whatever a plugin yields or raises is checked here: str becomes
``TextChunk``, foreign exceptions become typed errors naming the plugin, and a
``ProviderError`` raised with an empty ``provider`` gets the selected provider's name.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeAlias

from aichats_core._boundary import is_plugins_own, plugin_failure
from aichats_core._call_options import NO_SCOPE, CallScope, ChainOptions, plain_scope
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
from aichats_core._retry import RetryPolicy, declared_transient_statuses, is_transient
from aichats_core._select import Failed, Selection
from aichats_core.errors import (
    AiChatsError,
    AllProvidersFailedError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderContractError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from aichats_core.hooks import (
    AttemptFailed,
    AttemptFinished,
    AttemptStarted,
    BreakerClosed,
    BreakerOpened,
    CallEnded,
    CallStarted,
    FallbackTaken,
    FirstEvent,
    RetryScheduled,
    active,
    clock,
    emit,
    next_call,
)

if TYPE_CHECKING:
    from aichats_core.health import HealthTracker
    from aichats_core.redaction import Scrubber

Event: TypeAlias = TextChunk | ImageResponse | ToolCall | Usage | Finish


def call_scope(
    hooks: tuple[Any, ...], health: Any, ignore_breaker: bool, deadline: float | None
) -> CallScope:
    """What the attempts of a new call share (``CallScope``)."""
    watching = active(hooks)
    if watching is None and deadline is None:
        return plain_scope(health, not ignore_breaker)
    if deadline is not None:
        if isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0:
            raise InvalidRequestError(f"deadline is seconds (more than 0), not {deadline!r:.40}")
        deadline = time.monotonic() + deadline
    call = next_call() if watching is not None else 0
    return CallScope(watching, health, not ignore_breaker, deadline, call)


def refuse_if_cooling(health: HealthTracker, name: str, model: str) -> None:
    """``ProviderUnavailableError`` when ``name``'s breaker for ``model`` is open (its probe is
    taken when the attempt starts, not here: a stream never read takes none)."""
    until = health.cooling_until(name, model)
    if until is not None:
        raise unavailable(health, name, model, until)


def unavailable(health: HealthTracker, name: str, model: str, until: float) -> AiChatsError:
    from datetime import datetime

    why, probing = health.why(name, model)
    at = datetime.fromtimestamp(until, UTC)
    return ProviderUnavailableError(name, at, model=model, why=why, probing=probing)


async def observed(
    events: AsyncGenerator[Event, None],
    scope: CallScope,
    providers: tuple[str, ...],
    model: str | None,
) -> AsyncGenerator[Event, None]:
    """``events``, with the call's ``CallStarted`` and ``CallEnded`` told to its hooks (a
    call with hooks only: this is a generator layer)."""
    hooks = scope.hooks
    assert hooks is not None
    begun = clock()  # before the emit: the first one starts the hooks' thread
    emit(hooks, CallStarted(scope.call, providers, model, time.time(), contextvars.copy_context()))
    finish: Finish | None = None
    usage: Usage | None = None
    error: BaseException | None = None
    try:
        async for event in events:
            if type(event) is Finish:
                finish = event
            elif type(event) is Usage:
                usage = event
            yield event
    except GeneratorExit:
        raise  # the caller left: no error of the call's
    except BaseException as exc:
        error = exc
        raise
    finally:
        await events.aclose()
        ended = CallEnded(
            scope.call,
            None if finish is None else finish.provider,
            None if finish is None else finish.model,
            clock() - begun,
            error,
            None if usage is None else usage.prompt_tokens,
            None if usage is None else usage.completion_tokens,
        )
        emit(hooks, ended)


async def fall_back(
    candidates: list[tuple[Selection, ChainOptions] | Failed],
    messages: Messages,
    proxy: str | None,
    policy: RetryPolicy,
    keep_text: bool = True,
    scope: CallScope = NO_SCOPE,
) -> AsyncGenerator[Event, None]:
    """Each candidate in turn, with its own options, until one answers. A candidate whose
    breaker is open is skipped (named in the trail); when the others failed, the call waits
    for the first of those to come back, if that fits its deadline, and tries it."""
    failures: list[tuple[str, AiChatsError]] = []
    hooks = scope.hooks
    health = scope.health if scope.gate else None
    begun = time.monotonic()
    pending = candidates
    skipped: set[int] = set()
    while True:
        cooling: list[tuple[float, tuple[Selection, ChainOptions]]] = []
        failed = False  # a provider was called and failed: not every provider cools
        for candidate in pending:
            if isinstance(candidate, Failed):
                failures.append((candidate.name, candidate.error))
                if hooks is not None:
                    emit(hooks, FallbackTaken(candidate.name, candidate.error, scope.call))
                continue
            selection, routed = candidate
            if health is not None:
                until = health.cooling_until(selection.name, selection.model)
                if until is not None:
                    cooling.append((until, candidate))
                    if id(candidate) not in skipped:  # named once, however long it cools
                        skipped.add(id(candidate))
                        error = unavailable(health, selection.name, selection.model, until)
                        failures.append((selection.name, error))
                        if hooks is not None:
                            emit(hooks, FallbackTaken(selection.name, error, scope.call))
                    continue
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
                failed = not isinstance(exc, ProviderUnavailableError)
                if hooks is not None:
                    emit(hooks, FallbackTaken(selection.name, exc, scope.call))
            finally:
                await events.aclose()
        wait = None if failed else _cooling_wait(cooling, scope, health, begun)
        if wait is None:
            raise AllProvidersFailedError(failures)
        await asyncio.sleep(wait)
        pending = [candidate for _, candidate in sorted(cooling, key=_first)]


def _first(item: tuple[float, object]) -> float:
    return item[0]


def _cooling_wait(
    cooling: list[tuple[float, Any]], scope: CallScope, health: Any, begun: float
) -> float | None:
    """Seconds to wait for the first cooling provider to come back, or None when none cools
    or that would pass the call's deadline (without one: the policy's ``max_wait`` from the
    call's start)."""
    if not cooling:
        return None
    wait = max(0.0, min(until for until, _ in cooling) - time.time())
    deadline = scope.deadline if scope.deadline is not None else begun + health.policy.max_wait
    if time.monotonic() + wait > deadline:
        return None
    return wait + 0.001  # past the cooldown's end, not just before it


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
    scope = routed.scope
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
            if (
                wait is None
                or (scope.deadline is not None and time.monotonic() + wait > scope.deadline)
                or (
                    scope.gate
                    and scope.health is not None
                    and scope.health.cooling_until(selection.name, selection.model) is not None
                )  # this failure opened the breaker: no more calls until it may probe
            ):
                raise
            failures.append((selection.name, exc))
            if scope.hooks is not None:
                retry = RetryScheduled(
                    selection.name, selection.model, attempt + 1, wait, exc, scope.call
                )
                emit(scope.hooks, retry)
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
    scope = routed.scope
    hooks = scope.hooks
    health = scope.health
    first: float | None = None  # seconds to the first event
    probe = False  # this attempt is a half-open breaker's probe
    if health is not None and scope.gate:
        until, probe = health.admit(selection.name, selection.model)
        if until is not None:  # another call's probe is out, or a cooldown began meanwhile
            raise unavailable(health, selection.name, selection.model, until)
    begun = clock()
    if hooks is not None:
        started_at = time.time()
        emit(
            hooks, AttemptStarted(selection.name, selection.model, attempt, started_at, scope.call)
        )
    items: AsyncIterator[Any] | None = None
    try:
        try:
            items = selection.provider.create_async_generator(
                selection.model, routed.messages or messages, proxy, **routed.options
            )
            async for item in items:
                if not started:
                    started = True
                    first = clock() - begun
                    if hooks is not None:
                        emit(hooks, FirstEvent(selection.name, selection.model, first, scope.call))
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
        measured = health is not None and _measure_failure(
            health, hooks, scope.call, selection, exc
        )
        if probe and not measured:  # the caller's mistake, no verdict: the next may probe
            assert health is not None
            health.release(selection.name, selection.model)
        if hooks is not None:
            _failed(hooks, scope.call, selection, begun, exc, started)
        raise
    except BaseException as exc:  # the plugin boundary: whatever a plugin raises is contained
        if not is_plugins_own(exc):
            if health is not None:
                if started:  # the caller left an answer under way: the provider answered
                    _measure_success(health, hooks, scope.call, selection, first)
                elif probe:  # left before any event: no verdict, the next call may probe
                    health.release(selection.name, selection.model)
            if hooks is not None:  # every attempt reports its end, this one too
                seconds = clock() - begun
                left = AttemptFinished(
                    selection.name, selection.model, seconds, "abandoned", None, None, scope.call
                )
                emit(hooks, left)
            raise  # cancellation, generator closing, a real Ctrl-C (see _boundary)
        error = _contain(selection, exc, started=started)
        if isinstance(error, StreamInterruptedError):
            error.partial_text = "".join(received)
        if health is not None:
            _measure_failure(health, hooks, scope.call, selection, error)
        if hooks is not None:
            _failed(hooks, scope.call, selection, begun, error, started)
        raise error from exc
    finish = _finish(selection.name, selection.model, tuple(routed.options), routed.withheld)
    if health is not None:
        _measure_success(health, hooks, scope.call, selection, first)
    if hooks is not None:
        counts = (None, None) if usage is None else (usage.prompt_tokens, usage.completion_tokens)
        done = AttemptFinished(
            selection.name, selection.model, clock() - begun, reason or "stop", *counts, scope.call
        )
        emit(hooks, done)
    yield (
        finish
        if reason is None or reason == "stop"
        else finish.model_copy(update={"reason": reason})
    )


def _failed(
    hooks: tuple[Any, ...],
    call: int,
    selection: Selection,
    begun: float,
    error: BaseException,
    started: bool,
) -> None:
    seconds = clock() - begun
    emit(hooks, AttemptFailed(selection.name, selection.model, seconds, error, started, call))


def _measure_success(
    health: HealthTracker,
    hooks: tuple[Any, ...] | None,
    call: int,
    selection: Selection,
    first: float | None,
) -> None:
    if health.succeeded(selection.name, selection.model, first) and hooks is not None:
        emit(hooks, BreakerClosed(selection.name, selection.model, call))


def _measure_failure(
    health: HealthTracker,
    hooks: tuple[Any, ...] | None,
    call: int,
    selection: Selection,
    error: AiChatsError,
) -> bool:
    """Tell ``health`` of a provider's failure (a transient one counts towards its breaker);
    False when the error is no measure of the provider: the caller's mistakes, and a
    breaker's own refusal."""
    if not isinstance(error, ProviderError) or isinstance(error, ProviderUnavailableError):
        return False
    try:
        extra = declared_transient_statuses(selection.provider, selection.name)
    except ProviderContractError:
        extra = frozenset()
    retry_after = error.retry_after if isinstance(error, RateLimitError) else None
    message = scrubbed(f"{type(error).__name__}: {error.detail}")[:300]  # scrubbed, then cut
    opened, closed = health.failed(
        selection.name,
        selection.model,
        message,
        transient=is_transient(error, extra),
        retry_after=retry_after,
    )
    if hooks is not None:
        if opened is not None:
            emit(hooks, BreakerOpened(selection.name, selection.model, opened, message, call))
        elif closed:
            emit(hooks, BreakerClosed(selection.name, selection.model, call))
    return True


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


def scrubbed(text: str) -> str:
    """An error's text without the credentials it may quote, as health keeps it."""
    global _scrubber
    if _scrubber is None:
        from aichats_core.redaction import Scrubber

        _scrubber = Scrubber()
    return _scrubber(text)


_scrubber: Scrubber | None = None


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
