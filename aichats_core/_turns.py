"""One turn as the history records it: what was asked, what came back, how it went.

``recorded`` wraps a call's events: it passes them on unchanged and, when the stream ends
(answered, failed, cut short or left by the caller), hands a ``TurnRecord`` to the log and
the outcome to the conversation, if any.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aichats_core._calls import Event
from aichats_core._models import Finish, ImageResponse, Message, TextChunk, ToolCall, Usage
from aichats_core.errors import AiChatsError, AllProvidersFailedError, ProviderError

if TYPE_CHECKING:
    from aichats_core._history_log import HistoryLog
    from aichats_core.history import TurnRecord


@dataclass
class Outcome:
    """How a turn ended, for its conversation: ``status`` (``complete``, ``interrupted``,
    ``failed``), the answer received (partial unless complete), and ``Finish`` if it came."""

    status: str
    answer: str
    finish: Finish | None
    kept: bool
    """Whether the conversation keeps the turn: complete, or cut short with ``keep_partial``
    after some of the answer."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the answer asked for, which its assistant message carries."""
    usage: Usage | None = None
    """The sum of the turn's ``Usage`` events, if its provider reported any."""


@dataclass(frozen=True)
class Turn:
    """What a turn's record needs besides its events. Names and ids are worked out by the
    history's writer thread, off the event loop."""

    conversation_id: str | None
    """None: a new conversation of this one turn (a one-shot call)."""
    prompt: str
    provider: Any
    """What the call asked for (a name, a class, or a chain), for turns without ``Finish``."""
    model: str | None
    system: str | None
    options: tuple[str, ...]
    """The names of the call's options, as given."""
    secrets: tuple[str, ...] = ()
    """Values of the call that are credentials (``credentials``), hidden from the error
    texts the turn records: a service's error may quote them."""


_CREDENTIAL_WORDS = ("key", "token", "secret", "password", "cookie", "auth", "credential")


def credentials(options: Mapping[str, Any], proxy: str | None = None) -> tuple[str, ...]:
    """The values among ``options`` (and per-provider options nested in them) whose names
    say credentials, cookie values one by one, and the proxy's password."""
    found: list[str] = []
    if proxy and "@" in proxy:
        from urllib.parse import urlsplit

        with contextlib.suppress(ValueError):
            if password := urlsplit(proxy).password:
                found.append(password)
    for name, value in options.items():
        if isinstance(value, Mapping):
            found += credentials(value) if name == "provider_options" else _values(name, value)
        elif any(word in name.lower() for word in _CREDENTIAL_WORDS):
            found += _values(name, value)
    return tuple(secret for secret in found if len(secret) >= 4)


def _values(name: str, value: object) -> list[str]:
    if isinstance(value, str):
        pairs = value.split(";") if "cookie" in name.lower() else []
        return [value, *(pair.partition("=")[2].strip() for pair in pairs)]
    if isinstance(value, Mapping):
        if not any(word in name.lower() for word in _CREDENTIAL_WORDS):
            return list(credentials(value))
        return [v for item in value.values() for v in _values(name, item)]
    return []


def one_turn(
    provider: Any,
    messages: tuple[Message, ...],
    model: str | None,
    options: Mapping[str, Any],
    secrets: tuple[str, ...] = (),
) -> Turn:
    """The record of a one-shot call: a new conversation whose prompt is the last user
    message (the history before it is the caller's, sent again each call)."""
    prompt = messages[-1].text if messages[-1].role == "user" else _last_prompt(messages)
    system = messages[0].text if messages[0].role == "system" else None
    found = credentials(options) if options else ()
    return Turn(None, prompt, provider, model, system, tuple(options), secrets + found)


def _last_prompt(messages: tuple[Message, ...]) -> str:
    return next((m.text for m in reversed(messages) if m.role == "user"), "")


def provider_name(provider: Any) -> str:
    """The name a turn that ends without ``Finish`` is recorded under: the provider asked,
    or the first of a chain."""
    if not isinstance(provider, str | type):
        provider = next(iter(provider), "")
    return provider if isinstance(provider, str) else getattr(provider, "__name__", "")


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
    keep_partial: bool = False,
) -> AsyncGenerator[Event, None]:
    """``events`` unchanged; when they end, the turn goes to ``log`` and ``ended``. On the
    loop, only the clock is read and the events kept: the record is made by the writer."""
    wall = time.time()
    started = time.perf_counter()
    first: float | None = None
    parts: list[str] = []
    images: list[str] = []
    calls: list[ToolCall] = []
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
            elif kind is Usage:  # each event counts tokens of its own: the turn's is the sum
                usage = event if usage is None else usage + event  # type: ignore[assignment, operator]
            elif kind is ImageResponse:
                images.extend(event.images)  # type: ignore[union-attr]
            elif kind is ToolCall:
                calls.append(event)  # type: ignore[arg-type]
            yield event
        status = "complete" if finish is not None else "interrupted"
    except AiChatsError as exc:
        status = "interrupted" if first is not None else "failed"
        error = exc
        raise
    finally:
        await events.aclose()
        end = time.perf_counter()
        kept = status == "complete" or (keep_partial and bool(parts or images))
        if log is not None:
            log.submit(
                Ended(
                    turn,
                    status,
                    kept,
                    parts,
                    images,
                    finish,
                    usage,
                    error,
                    wall,
                    started,
                    first,
                    end,
                )
            )
        if ended is not None:
            ended(Outcome(status, answer_of(parts, images), finish, kept, tuple(calls), usage))


@dataclass(frozen=True, slots=True)
class Forget:
    """A conversation let its last ``turns`` kept turns go, to be marked so in the store
    after the turns queued before it."""

    conversation_id: str
    turns: int


@dataclass(frozen=True, slots=True)
class Ended:
    """A turn as it ended, made into a ``TurnRecord`` by the history's writer thread."""

    turn: Turn
    status: str
    kept: bool
    parts: list[str]
    images: list[str]
    finish: Finish | None
    usage: Usage | None
    error: AiChatsError | None
    wall: float
    started: float
    first: float | None
    end: float

    def to_record(self) -> TurnRecord:
        from aichats_core.history import TurnRecord
        from aichats_core.history._ids import new_conversation_id

        turn, finish, error = self.turn, self.finish, self.error
        attempts = [failure.model_dump() for failure in finish.failures] if finish else []
        if isinstance(error, AllProvidersFailedError):
            attempts += [_attempt(name, failure) for name, failure in error.errors]
        if finish is not None:
            provider, model, options = finish.provider, finish.model, finish.options
        else:
            provider = _provider_of(error, provider_name(turn.provider))
            model = turn.model or ""
            options = tuple(sorted(name for name in turn.options if name != "session"))
        message = None if error is None else str(error)
        if turn.secrets:  # the store redacts what looks like a credential; these are known
            from aichats_core.redaction import Scrubber

            scrub = Scrubber(turn.secrets)
            message = None if message is None else scrub(message)
            attempts = [{**a, "message": scrub(a["message"])} for a in attempts]
        return TurnRecord(
            conversation_id=turn.conversation_id or new_conversation_id(),
            prompt=turn.prompt,
            answer=answer_of(self.parts, self.images),
            provider=provider,
            model=model,
            status=self.status,
            started_at=datetime.fromtimestamp(self.wall, UTC),
            duration_ms=(self.end - self.started) * 1000,
            first_event_ms=None if self.first is None else (self.first - self.started) * 1000,
            usage=_counts(self.usage),
            attempts=tuple(attempts),
            error=message,
            options=options,
            system=turn.system,
            kept=self.kept,
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
