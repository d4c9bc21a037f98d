"""Turns to put in a history, for the tests of tests/history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aichats_core.history import TurnRecord

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_turn(conversation_id: str, prompt: str = "Hello", **fields: Any) -> TurnRecord:
    """A complete turn answered by aichats/gpt-4, ``fields`` overriding any part of it."""
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "prompt": prompt,
        "answer": f"answer to {prompt}",
        "provider": "aichats",
        "model": "gpt-4",
        "status": "complete",
        "started_at": START,
        "duration_ms": 250.0,
    }
    values.update(fields)
    return TurnRecord(**values)


def minutes(count: float) -> datetime:
    return START + timedelta(minutes=count)
