"""The rows health persists: one per attempt, one per breaker (``_store``)."""

from __future__ import annotations

from typing import NamedTuple


class AttemptRow(NamedTuple):
    provider: str
    model: str
    at: float
    ok: bool
    transient: bool
    """A failure that counts towards the breaker."""
    first_event_ms: float | None
    error: str | None


class BreakerRow(NamedTuple):
    provider: str
    model: str
    until: float | None
    """None: closed."""
    cooldown: float
    why: str
