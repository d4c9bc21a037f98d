"""What the history holds, as plain frozen dataclasses (no pydantic: the store imports fast)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aichats_core.errors import InvalidRequestError

STATUSES = ("complete", "interrupted", "failed")
"""A turn's ``status``: answered in full, cut short (its ``answer`` is the partial text), or
no answer at all."""

_TITLE_LENGTH = 60


@dataclass(frozen=True)
class TurnRecord:
    """One prompt and what came back, as ``HistoryStore.record`` takes it and
    ``HistoryStore.conversation`` returns it.

    Only option *names* belong in ``options``: their values may be credentials. ``error`` and
    each attempt's ``message`` are redacted when stored; ``prompt`` and ``answer`` are kept as
    they are, being the user's own content.
    """

    conversation_id: str
    prompt: str
    answer: str
    provider: str
    model: str
    status: str
    """One of ``STATUSES``."""
    started_at: datetime
    """When the prompt was sent; an aware time (stored and returned in UTC)."""
    duration_ms: float
    first_event_ms: float | None = None
    """Time from sending to the first event of the answer; None when none came."""
    usage: dict[str, int] | None = None
    """Token counts as the provider reported them, e.g. ``{"prompt_tokens": 9}``."""
    attempts: tuple[dict[str, str], ...] = ()
    """Each provider tried before (or instead of) the one that answered:
    ``{"provider": ..., "error": <exception class name>, "message": ...}``."""
    error: str | None = None
    """The final error message of a failed or interrupted turn."""
    options: tuple[str, ...] = ()
    system: str | None = None
    """The conversation's system prompt at this turn."""
    kept: bool = True
    """Whether the conversation kept this turn, to send it again with the next: a failed
    turn never is; an interrupted one when its caller kept the partial answer; a turn the
    conversation forgot (``/retry``) no longer is."""
    seq: int | None = field(default=None, compare=False)
    """The turn's place in its conversation, from 1; given by the store, ignored by ``record``."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InvalidRequestError(
                f"a turn's status is one of {', '.join(STATUSES)}, not {self.status!r}"
            )
        if self.started_at.utcoffset() is None:
            raise InvalidRequestError("a turn's started_at must be an aware datetime (UTC)")
        if not self.conversation_id:
            raise InvalidRequestError("a turn needs a conversation_id")
        object.__setattr__(self, "started_at", self.started_at.astimezone(UTC))
        object.__setattr__(self, "attempts", tuple(dict(a) for a in self.attempts))
        object.__setattr__(self, "options", tuple(self.options))

    def to_json(self) -> dict[str, Any]:
        """The turn as ``aichats logs show --json`` prints it."""
        return {
            "seq": self.seq,
            "prompt": self.prompt,
            "answer": self.answer,
            "provider": self.provider,
            "model": self.model,
            "status": self.status,
            "error": self.error,
            "usage": self.usage,
            "attempts": [dict(attempt) for attempt in self.attempts],
            "options": list(self.options),
            "system": self.system,
            "kept": self.kept,
            "started_at": self.started_at.isoformat(),
            "first_event_ms": self.first_event_ms,
            "duration_ms": self.duration_ms,
        }


@dataclass(frozen=True)
class ConversationSummary:
    """One line of ``aichats logs list``: provider and model are its latest turn's."""

    id: str
    provider: str
    model: str
    turns: int
    created_at: datetime
    updated_at: datetime
    title: str
    """The first prompt, on one line and cut to about 60 characters."""

    def to_json(self) -> dict[str, Any]:
        """The conversation as ``aichats logs list --json`` prints it."""
        times = {
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        return {**vars(self), **times}


@dataclass(frozen=True)
class ConversationRecord:
    """A whole conversation, its turns in order."""

    id: str
    system: str | None
    """The latest system prompt given (each turn keeps its own in ``TurnRecord.system``)."""
    created_at: datetime
    updated_at: datetime
    turns: list[TurnRecord]

    def messages(self) -> list[dict[str, str]]:
        """The conversation as a next turn sends it, without the system message: each turn
        it kept (``kept``: complete ones, and interrupted ones whose partial answer the caller
        kept), as a user and an assistant message."""
        messages: list[dict[str, str]] = []
        for turn in self.turns:
            if turn.kept and turn.status != "failed" and turn.answer:
                messages.append({"role": "user", "content": turn.prompt})
                messages.append({"role": "assistant", "content": turn.answer})
        return messages

    @property
    def last_turn(self) -> TurnRecord | None:
        return self.turns[-1] if self.turns else None

    def to_json(self) -> dict[str, Any]:
        """The conversation as ``aichats logs show --json`` prints it."""
        return {
            "id": self.id,
            "system": self.system,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "turns": [turn.to_json() for turn in self.turns],
        }


def title(prompt: str) -> str:
    """A prompt as a one-line title."""
    flat = " ".join(prompt.split())
    return flat if len(flat) <= _TITLE_LENGTH else flat[: _TITLE_LENGTH - 1].rstrip() + "…"


def timestamp(moment: datetime) -> str:
    """``moment`` as stored: ISO 8601 in UTC with microseconds, so that text order is time
    order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
