"""The unified result stream: whatever provider answers, callers iterate the same events.

``stream()`` validates everything it can before returning, so a bad message or an unknown
model fails at the call, before any network. Iteration then runs the provider, turns each
item it yields into a result event, and ends with a ``Finish`` event.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from aichats_core._auto import auto_chain, check_auto_targets, is_auto
from aichats_core._call_options import CallScope, ChainOptions, route_options, solo_options
from aichats_core._calls import Event, call_scope, fall_back, observed, refuse_if_cooling, retrying
from aichats_core._closing import AsyncClosing
from aichats_core._features import (
    Features,
    ProviderPlan,
    needs,
    plain,
    plan_for,
    split_features,
    with_features,
)
from aichats_core._models import (
    Finish,
    ImageResponse,
    Message,
    MessageInput,
    TextChunk,
    Usage,
    validate_messages,
)
from aichats_core._registry import ProviderRegistry, normalize_name
from aichats_core._retry import RetryPolicy
from aichats_core._select import Failed, ProviderRef, Selection, select, select_or_failure
from aichats_core.errors import CapabilityError, InvalidRequestError, StreamInterruptedError
from aichats_core.health import HealthTracker
from aichats_core.health import tracker as process_tracker

if TYPE_CHECKING:
    from aichats_core.pricing import Cost, PriceTable

__all__ = [
    "Event",
    "ProviderChoice",
    "ProviderOptions",
    "ProviderRef",
    "ResultStream",
    "complete",
    "stream",
]

ProviderChoice: TypeAlias = "ProviderRef | Sequence[ProviderRef]"
"""One provider, or several to fall back through in order."""
ProviderOptions: TypeAlias = Mapping[str, Mapping[str, Any]]
"""Options for one provider of a chain only, by provider name."""


class ResultStream(AsyncClosing, AsyncIterator[Event]):
    """The events of one call. Iterate it; ``async with`` it to close it the moment you leave.

    Breaking out of a plain ``async for`` also releases the connection, as soon as the event
    loop finalises the abandoned stream.
    """

    def __init__(self, events: AsyncGenerator[Event, None]) -> None:
        self._events = events
        self._next = events.__anext__
        self._usage: Usage | None = None
        self._finish: Finish | None = None

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> Event:
        # The bound ``__anext__`` kept above pays for the test: text costs what it did.
        event = await self._next()
        if type(event) is not TextChunk:
            self._saw(event)
        return event

    def _saw(self, event: Event) -> None:
        if type(event) is Usage:
            usage = self._usage
            self._usage = event if usage is None else usage + event
        elif type(event) is Finish:
            self._finish = event

    @property
    def usage(self) -> Usage | None:
        """The tokens reported so far: the sum of the ``Usage`` events this stream delivered
        (a count that no event gave stays None); None when the provider reported none."""
        return self._usage

    def cost(self, prices: PriceTable | None = None) -> Cost:
        """What this call cost by ``prices`` (``pricing.default_prices()`` unless given),
        once it has ended: unpriced, never zero, when its model has no price or its provider
        reported no usage (``str(cost)`` says which)."""
        from aichats_core.pricing import _cost_of

        return _cost_of(self._usage, self._finish, prices)

    async def aclose(self) -> None:
        """Stop the provider and release its connection now."""
        await self._events.aclose()

    async def text(self) -> str:
        """Consume the stream and return the text, or the first image URI for an image answer."""
        parts: list[str] = []
        async with self:
            try:
                async for event in self._events:
                    if isinstance(event, TextChunk):
                        parts.append(event.text)
                    elif isinstance(event, ImageResponse) and event.images:
                        return event.images[0]
                    else:
                        self._saw(event)
            except StreamInterruptedError as exc:
                if not exc.partial_text:  # a stream that kept no text: this is it
                    exc.partial_text = "".join(parts)
                raise
        return "".join(parts)


def stream(
    provider: ProviderChoice,
    messages: str | Iterable[MessageInput],
    *,
    model: str | None = None,
    proxy: str | None = None,
    retries: int | RetryPolicy = 0,
    provider_options: ProviderOptions | None = None,
    keep_partial_text: bool = True,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
    response_format: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    stop: str | Sequence[str] | None = None,
    ignore_breaker: bool = False,
    deadline: float | None = None,
    **options: Any,
) -> ResultStream:
    """Stream the answer of ``provider`` as result events, ending with ``Finish``.

    ``messages`` are ``Message`` objects or ``{"role", "content"}`` dicts (a bare string is one
    user message). Options such as ``timeout``, ``base_url``, ``cookies`` and ``session`` go
    to the provider; ``provider_options`` gives some to one provider only.

    ``provider`` may be a list: each is tried in order until one answers. ``retries`` retries
    transient failures (rate limits, timeouts, lost connections, 5xx) of each provider. Both
    happen only before the first event reached the caller; ``Finish`` says who answered.

    A stream cut short raises ``StreamInterruptedError`` with the text so far, which the
    stream keeps for that; ``keep_partial_text=False`` keeps none (``partial_text`` is then
    empty: you have seen the text), so that relaying a long answer holds none of it.

    ``tools`` (OpenAI's function tools) and ``tool_choice``, ``response_format``,
    ``max_tokens`` and ``stop`` are checked against what the provider declares
    (``aichats_core.capabilities``): a provider without tools, JSON output or image input is
    refused for a call that needs them (``CapabilityError``; skipped in a chain), and
    ``max_tokens``/``stop`` are enforced by the core for a provider that does not take them.

    Each attempt is measured (``aichats_core.health``): a provider whose circuit breaker is
    open is skipped by a chain, and refused at once when called alone
    (``ProviderUnavailableError``) unless ``ignore_breaker``. ``deadline`` (seconds) bounds
    the waits a call takes before it answers: retries, and, when every provider of a chain
    is cooling down, the wait for the first to come back (without it, up to the breaker
    policy's ``max_wait``). ``provider="auto"`` (``"auto:image"`` for images) calls the
    installed providers that can serve the call, healthiest and fastest first.

    >>> async for event in stream("aichats", "Hello", base_url=emulator_url):  # doctest: +SKIP
    ...     print(event)
    """
    check_targets(provider, provider_options)
    call = with_features(options, tools, tool_choice, response_format, max_tokens, stop)
    return start(
        provider, messages, model, proxy, retries, provider_options, call, keep_partial_text,
        ignore_breaker=ignore_breaker, deadline=deadline,
    )  # fmt: skip


async def complete(
    provider: ProviderChoice,
    messages: str | Iterable[MessageInput],
    *,
    model: str | None = None,
    proxy: str | None = None,
    retries: int | RetryPolicy = 0,
    provider_options: ProviderOptions | None = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    tool_choice: str | Mapping[str, Any] | None = None,
    response_format: Mapping[str, Any] | None = None,
    max_tokens: int | None = None,
    stop: str | Sequence[str] | None = None,
    ignore_breaker: bool = False,
    deadline: float | None = None,
    **options: Any,
) -> str:
    """The whole answer: its text, or the first image URI for an image model (``stream``
    says what the arguments do)."""
    check_targets(provider, provider_options)
    call = with_features(options, tools, tool_choice, response_format, max_tokens, stop)
    events = start(
        provider, messages, model, proxy, retries, provider_options, call, False,
        ignore_breaker=ignore_breaker, deadline=deadline,
    )  # fmt: skip
    return await events.text()  # keeps the text, and gives it to an interruption


def check_targets(provider: ProviderChoice, provider_options: ProviderOptions | None) -> None:
    """``provider_options`` of a call must name providers of that call: options for another
    would be dropped without a word. (A ``Client``'s own defaults may name any.)"""
    if not provider_options or is_auto(provider):  # checked against the installed ones
        return
    refs = (
        [provider] if isinstance(provider, str) or not isinstance(provider, Sequence) else provider
    )
    called = {normalize_name(ref if isinstance(ref, str) else ref.__name__) for ref in refs}
    for name in provider_options:
        if normalize_name(name) not in called:
            raise InvalidRequestError(
                f"provider_options names {name!r}, which this call does not use"
                f" ({', '.join(sorted(called))}); give its options to a provider of the call"
            )


def start(
    provider: ProviderChoice,
    messages: str | Iterable[MessageInput],
    model: str | None,
    proxy: str | None,
    retries: int | RetryPolicy,
    provider_options: ProviderOptions | None,
    options: Mapping[str, Any],
    keep_partial_text: bool = True,
    registry: ProviderRegistry | None = None,
    memo: dict[type, tuple[Mapping[str, Any], dict[str, Any]]] | None = None,
    hooks: tuple[Any, ...] = (),
    health: HealthTracker | bool | None = True,
    ignore_breaker: bool = False,
    deadline: float | None = None,
) -> ResultStream:
    """Validate a call and return its not-yet-started stream; shared by ``Client``.

    Everything that can be known before the network is checked here: messages, the provider
    and model, each provider's options (``InvalidOptionError``), and an open breaker of the
    one provider called (``ProviderUnavailableError``). ``health``: the tracker the call
    reports to (True: the process's; False or None: none)."""
    validated = validate_messages(messages)
    policy = RetryPolicy.coerce(retries)
    per_provider = {normalize_name(k): dict(v) for k, v in (provider_options or {}).items()}
    options, features = split_features(options)
    special = features is not None or not plain(validated)
    tracker = process_tracker() if health is True else health or None
    scope = call_scope(hooks, tracker, ignore_breaker, deadline)
    auto = is_auto(provider)
    if not auto and (isinstance(provider, str) or not isinstance(provider, Sequence)):
        selection = select(provider, model, registry)
        if per_provider:
            own = per_provider.get(normalize_name(selection.name))
            options = {**options, **own} if own else options
        routed = solo_options(selection.name, selection.provider, options, memo, scope)
        if special:
            needed = needs(features, validated)
            plan = plan_for(selection.name, selection.provider, features, validated, needed)
            routed = _planned(routed, plan, scope)
        if scope.gate and tracker is not None:
            refuse_if_cooling(tracker, selection.name, selection.model)
        events = retrying(selection, validated, proxy, routed, policy, keep_partial_text)
        if scope.hooks is not None:
            events = observed(events, scope, (selection.name,), model)
        return ResultStream(events)
    candidates: list[Selection | Failed]
    if auto:
        if per_provider:
            check_auto_targets(list(per_provider), registry)
        candidates = list(auto_chain(str(provider), model, registry, tracker))
    elif not provider:
        raise InvalidRequestError("no provider given: the fallback list is empty")
    else:
        assert isinstance(provider, Sequence)
        candidates = [select_or_failure(ref, model, registry) for ref in provider]
    plans: dict[int, ProviderPlan] = {}
    if special:
        candidates, plans = _capable(candidates, features, validated)
    chain = [(c.name, c.provider) for c in candidates if isinstance(c, Selection)]
    unloaded = len(chain) < len(candidates)  # what a skipped provider declares is unknown
    shares = iter(route_options(chain, options, per_provider, refuse_unused=not unloaded))
    prepared = [
        c if isinstance(c, Failed) else (c, _planned(next(shares), plans.get(index), scope))
        for index, c in enumerate(candidates)
    ]
    events = fall_back(prepared, validated, proxy, policy, keep_partial_text, scope)
    if scope.hooks is not None:
        names = tuple(c.name for c in candidates)
        events = observed(events, scope, names, model)
    return ResultStream(events)


def _planned(routed: ChainOptions, plan: ProviderPlan | None, scope: CallScope) -> ChainOptions:
    """A provider's share of the call, with what it gets of the call's features."""
    if plan is None:
        return routed if routed.scope is scope else routed._replace(scope=scope)
    options = {**routed.options, **plan.arguments} if plan.arguments else routed.options
    return ChainOptions(options, routed.withheld, plan.messages, plan.limits, scope)


def _capable(
    candidates: list[Selection | Failed], features: Features | None, messages: tuple[Message, ...]
) -> tuple[list[Selection | Failed], dict[int, ProviderPlan]]:
    """The chain with the providers that lack a needed capability skipped (as failures the
    trail names), and each other's plan; refused at once when none can take the call."""
    needed = needs(features, messages)
    plans: dict[int, ProviderPlan] = {}
    kept: list[Selection | Failed] = []
    refusals: list[CapabilityError] = []
    for candidate in candidates:
        if isinstance(candidate, Selection):
            try:
                plan = plan_for(candidate.name, candidate.provider, features, messages, needed)
            except CapabilityError as exc:
                refusals.append(exc)
                kept.append(Failed(candidate.name, exc))
                continue
            plans[len(kept)] = plan
        kept.append(candidate)
    if refusals and not plans:
        names = ", ".join(repr(error.provider) for error in refusals)
        first = refusals[0]
        raise CapabilityError(
            first.provider,
            first.capability,
            f"no provider of the chain ({names}) can take this call: {first}",
        )
    return kept, plans
