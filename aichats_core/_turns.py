"""One turn as the history records it: what was asked, what came back, how it went.

``recorded`` wraps a call's events: it passes them on unchanged and, when the stream ends
(answered, failed, cut short or left by the caller), hands a ``TurnRecord`` to the log and
the outcome to the conversation, if any.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aichats_core._calls import Event
from aichats_core._models import Finish, ImageResponse, Message, TextChunk, Usage
from aichats_core.errors import AiChatsError, AllProvidersFailedError, ProviderError

if TYPE_CHECKING:
    from aichats_core._history_log import HistoryLog


@dataclass
class Outcome:
    """How a turn ended: ``status`` (``complete``, ``interrupted``, ``failed``), the answer
    received (partial unless complete), and who answered (from ``Finish``, when it came)."""

    status: str
    answer: str
    finish: Finish | None


@dataclass(frozen=True)
class Turn:
    """What a turn's record needs besides its events."""

    conversation_id: str
    prompt: str
    provider: str
    """The provider asked (the first of a chain), for turns that end without ``Finish``."""
    model: str | None
    system: str | None
    options: tuple[str, ...]


def one_turn(
    provider: Any, messages: tuple[Message, ...], model: str | None, options: Mapping[str, Any]
) -> Turn:
    """The record of a one-shot call: a new conversation whose prompt is the last user
    message (the history before it is the caller's, sent again each call)."""
    from aichats_core.history._ids import new_conversation_id

    prompt = next((m.content for m in reversed(messages) if m.role == "user"), "")
    system = next((m.content for m in messages if m.role == "system"), None)
    return Turn(
        new_conversation_id(), prompt, provider_name(provider), model, system, names(options)
    )


def provider_name(provider: Any) -> str:
    """The name a turn that ends without ``Finish`` is recorded under: the provider asked,
    or the first of a chain."""
    if not isinstance(provider, str | type):
        provider = next(iter(provider), "")
    return provider if isinstance(provider, str) else getattr(provider, "__name__", "")


def names(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The names of a call's options (never their values), ``session`` aside."""
    return tuple(sorted(name for name in options if name != "session"))


def answer_of(parts: list[str], images: list[str]) -> str:
    """The answer as text; image data URIs are named, not stored (they are megabytes)."""
    named = [
        image if not image.startswith("data:") else f"[image {image[5:].split(';')[0]}]"
        for image in images
    ]
    return "".join(parts) + "\n".join(named)


async def recorded(
    events: AsyncGenerator[Event, None],
    turn: Turn,
    log: HistoryLog | None,
    ended: Callable[[Outcome], None] | None = None,
) -> AsyncGenerator[Event, None]:
    """``events`` unchanged; when they end, the turn goes to ``log`` and ``ended``."""
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    images: list[str] = []
    usage: Usage | None = None
    finish: Finish | None = None
    status, error = "interrupted", None  # unless it ends one of the ways below
    try:
        async for event in events:
            if first is None:
                first = time.perf_counter()
            kind = type(event)
            if kind is TextChunk:
                parts.append(event.text)  # type: ignore[union-attr]
            elif kind is Finish:
                finish = event  # type: ignore[assignment]
            elif kind is Usage:
                usage = event  # type: ignore[assignment]
            elif kind is ImageResponse:
                images.extend(event.images)  # type: ignore[union-attr]
            yield event
        status = "complete" if finish is not None else "interrupted"
    except AiChatsError as exc:
        status = "interrupted" if first is not None else "failed"
        error = exc
        raise
    finally:
        await events.aclose()
        outcome = Outcome(status, answer_of(parts, images), finish)
        if log is not None:
            log.submit(_record(turn, outcome, error, started_at, started, first, usage))
        if ended is not None:
            ended(outcome)


def _record(
    turn: Turn,
    outcome: Outcome,
    error: AiChatsError | None,
    started_at: datetime,
    started: float,
    first: float | None,
    usage: Usage | None,
) -> Any:
    from aichats_core.history import TurnRecord

    finish = outcome.finish
    now = time.perf_counter()
    attempts = [failure.model_dump() for failure in finish.failures] if finish else []
    if isinstance(error, AllProvidersFailedError):
        attempts += [_attempt(name, failure) for name, failure in error.errors]
    provider = finish.provider if finish else _provider_of(error, turn.provider)
    return TurnRecord(
        conversation_id=turn.conversation_id,
        prompt=turn.prompt,
        answer=outcome.answer,
        provider=provider,
        model=finish.model if finish else (turn.model or ""),
        status=outcome.status,
        started_at=started_at,
        duration_ms=(now - started) * 1000,
        first_event_ms=None if first is None else (first - started) * 1000,
        usage=_counts(usage),
        attempts=tuple(attempts),
        error=None if error is None else str(error),
        options=finish.options if finish else turn.options,
        system=turn.system,
    )


def _attempt(provider: str, error: BaseException) -> dict[str, str]:
    return {"provider": provider, "error": type(error).__name__, "message": str(error)}


def _provider_of(error: AiChatsError | None, asked: str) -> str:
    if isinstance(error, ProviderError) and error.provider:
        return error.provider
    return asked


def _counts(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    counts: Mapping[str, int | None] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }
    return {name: value for name, value in counts.items() if value is not None}
