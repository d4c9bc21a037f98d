"""Hook events as OpenTelemetry spans (``aichats_core.telemetry``); this module imports
opentelemetry, so only ``instrument()`` imports it.

Attribute names are those of the OpenTelemetry GenAI semantic conventions (inference spans,
``gen_ai.*``; ``error.type``; ``exception.*``), plus a few of ours under ``aichats.*``.
Everything runs on the hooks' thread, one event at a time, so nothing here is locked; an
event of a call this maker never saw begin (instrumented mid-call) is skipped.
"""

from __future__ import annotations

import traceback
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

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
)
from aichats_core.redaction import Scrubber

OPERATION = "chat"
"""``gen_ai.operation.name``: the conventions name no image operation, and hook events do
not say whether a model draws, so every call is a ``chat``."""
MAX_OPEN_CALLS = 4096
"""Calls begun and not yet ended that are remembered; beyond, the oldest is forgotten (its
span is never exported) so that calls nobody ends cannot pile up."""

OPERATION_NAME = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
FINISH_REASONS = "gen_ai.response.finish_reasons"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
ERROR_TYPE = "error.type"
ATTEMPT = "aichats.attempt"
PROVIDERS = "aichats.providers"

_NS = 1_000_000_000


class _Call:
    """What is known of one open call."""

    __slots__ = ("attempt", "attempt_start", "last_end", "model_known", "reason", "span", "start")

    def __init__(self, span: Span, start: int, model_known: bool) -> None:
        self.span = span
        self.start = start
        self.model_known = model_known
        self.attempt: Span | None = None
        self.attempt_start = start
        self.last_end: int | None = None
        self.reason: str | None = None


class SpanMaker:
    """The process hook of ``instrument()``: one event in, spans out."""

    def __init__(self, tracer: Tracer, max_open: int = MAX_OPEN_CALLS) -> None:
        self._tracer = tracer
        self._max_open = max_open
        self._calls: OrderedDict[int, _Call] = OrderedDict()
        self._scrub = Scrubber()
        self._stopped = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            CallStarted: self._call_started,
            AttemptStarted: self._attempt_started,
            FirstEvent: self._first_event,
            AttemptFinished: self._attempt_finished,
            AttemptFailed: self._attempt_failed,
            RetryScheduled: self._retry,
            FallbackTaken: self._fallback,
            BreakerOpened: self._breaker_opened,
            BreakerClosed: self._breaker_closed,
            CallEnded: self._call_ended,
        }

    def __call__(self, event: object) -> None:
        if self._stopped:
            return
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    def stop(self) -> None:
        """Make no more spans (uninstrumented): the open ones are dropped, unexported."""
        self._stopped = True
        self._calls.clear()

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    def _call_started(self, event: CallStarted) -> None:
        parent = event.context.run(otel_context.get_current)
        attributes: dict[str, Any] = {OPERATION_NAME: OPERATION}
        if event.providers:
            attributes[PROVIDER_NAME] = event.providers[0]
        if len(event.providers) > 1:
            attributes[PROVIDERS] = list(event.providers)
        if event.model:
            attributes[REQUEST_MODEL] = event.model
        start = int(event.at * _NS)
        span = self._tracer.start_span(
            _name(event.model),
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=start,
        )
        self._calls[event.call] = _Call(span, start, bool(event.model))
        while len(self._calls) > self._max_open:
            self._calls.popitem(last=False)

    def _attempt_started(self, event: AttemptStarted) -> None:
        call = self._calls.get(event.call)
        if call is None:
            return
        start = max(int(event.at * _NS), call.start)
        if call.attempt is not None:  # never ended (not expected): it ended when this began
            call.attempt.end(start)
        if not call.model_known:  # the provider's default model: now it is known
            call.model_known = True
            call.span.set_attribute(REQUEST_MODEL, event.model)
            call.span.update_name(_name(event.model))
        call.attempt = self._tracer.start_span(
            _name(event.model),
            context=trace.set_span_in_context(call.span),
            kind=SpanKind.INTERNAL,
            attributes={
                OPERATION_NAME: OPERATION,
                PROVIDER_NAME: event.provider,
                REQUEST_MODEL: event.model,
                ATTEMPT: event.attempt,
            },
            start_time=start,
        )
        call.attempt_start = start

    def _first_event(self, event: FirstEvent) -> None:
        call = self._calls.get(event.call)
        if call is not None and call.attempt is not None:
            call.attempt.set_attribute(TIME_TO_FIRST_CHUNK, event.seconds)

    def _attempt_finished(self, event: AttemptFinished) -> None:
        call = self._calls.get(event.call)
        if call is None or call.attempt is None:
            return
        span = call.attempt
        if event.reason != "abandoned":  # the caller left: no answer ended, no reason to give
            span.set_attribute(RESPONSE_MODEL, event.model)
            span.set_attribute(FINISH_REASONS, [event.reason])
            _usage(span, event.prompt_tokens, event.completion_tokens)
            call.reason = event.reason
        self._end_attempt(call, event.seconds)

    def _attempt_failed(self, event: AttemptFailed) -> None:
        call = self._calls.get(event.call)
        if call is None or call.attempt is None:
            return
        end = call.attempt_start + int(event.seconds * _NS)
        self._fail(call.attempt, event.error, end)
        self._end_attempt(call, event.seconds)

    def _end_attempt(self, call: _Call, seconds: float) -> None:
        assert call.attempt is not None
        end = call.attempt_start + int(seconds * _NS)
        call.attempt.end(end)
        call.attempt = None
        call.last_end = end

    def _retry(self, event: RetryScheduled) -> None:
        call = self._calls.get(event.call)
        if call is not None:
            attributes: dict[str, str | int | float] = {
                PROVIDER_NAME: event.provider,
                REQUEST_MODEL: event.model,
                ATTEMPT: event.attempt,
                "aichats.retry.wait": event.wait,
                ERROR_TYPE: type(event.error).__name__,
            }
            call.span.add_event("aichats.retry", attributes, call.last_end)

    def _fallback(self, event: FallbackTaken) -> None:
        call = self._calls.get(event.call)
        if call is not None:
            attributes = {PROVIDER_NAME: event.provider, ERROR_TYPE: type(event.error).__name__}
            call.span.add_event("aichats.fallback", attributes, call.last_end)

    def _breaker_opened(self, event: BreakerOpened) -> None:
        call = self._calls.get(event.call)
        if call is not None:
            attributes = {PROVIDER_NAME: event.provider, REQUEST_MODEL: event.model}
            call.span.add_event("aichats.breaker.opened", attributes, call.last_end)

    def _breaker_closed(self, event: BreakerClosed) -> None:
        call = self._calls.get(event.call)
        if call is not None:
            attributes = {PROVIDER_NAME: event.provider, REQUEST_MODEL: event.model}
            call.span.add_event("aichats.breaker.closed", attributes, call.last_end)

    def _call_ended(self, event: CallEnded) -> None:
        call = self._calls.pop(event.call, None)
        if call is None:
            return
        # The call's clock starts a little after its ``at`` was read: it ends no earlier than
        # its last attempt.
        end = max(call.start + int(event.seconds * _NS), call.last_end or 0)
        if call.attempt is not None:  # the caller left while an attempt was answering
            call.attempt.end(end)
        span = call.span
        if event.provider is not None:
            span.set_attribute(PROVIDER_NAME, event.provider)  # who answered, in a chain
        if event.model is not None:
            span.set_attribute(RESPONSE_MODEL, event.model)
        _usage(span, event.prompt_tokens, event.completion_tokens)
        if event.error is not None:
            self._fail(span, event.error, end)
        elif event.provider is not None and call.reason is not None:
            span.set_attribute(FINISH_REASONS, [call.reason])
        span.end(end)

    def _fail(self, span: Span, error: BaseException, at: int) -> None:
        """``error.type``, status ERROR and the exception, its texts scrubbed of credentials."""
        kind = type(error)
        message = self._scrub(str(error))
        span.set_attribute(ERROR_TYPE, kind.__name__)
        span.set_status(Status(StatusCode.ERROR, message))
        stack = "".join(traceback.format_exception(kind, error, error.__traceback__))
        exception = {
            "exception.type": f"{kind.__module__}.{kind.__qualname__}",
            "exception.message": message,
            "exception.stacktrace": self._scrub(stack),
        }
        span.add_event("exception", exception, at)


def _name(model: str | None) -> str:
    """``{gen_ai.operation.name} {gen_ai.request.model}``, as the conventions name spans."""
    return f"{OPERATION} {model}" if model else OPERATION


def _usage(span: Span, prompt: int | None, completion: int | None) -> None:
    if prompt is not None:
        span.set_attribute(INPUT_TOKENS, prompt)
    if completion is not None:
        span.set_attribute(OUTPUT_TOKENS, completion)
