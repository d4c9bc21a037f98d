"""What a provider's recent outcomes say about it: the ``ProviderHealth`` listings show.

One function reads them for the tracker of a running process and for a listing that reads the
persisted records of others (``aichats providers``), so that both say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypeAlias

HealthStatus: TypeAlias = Literal["ok", "degraded", "cooling", "unknown"]

DEGRADED_BELOW = 0.9
"""A success rate under this, over the window, is ``degraded``."""


class Outcome(NamedTuple):
    """One attempt, as health remembers it."""

    at: float
    """``time.time()`` when it ended."""
    ok: bool
    """It answered (a permanent failure, such as a refused key, is not ok either)."""
    first_event_ms: float | None


@dataclass(frozen=True)
class ProviderHealth:
    """A provider's measured health, over a recent window of its attempts."""

    status: HealthStatus
    """``ok``; ``degraded`` (fails too often, or failed last); ``cooling`` (its breaker is
    open until ``cooling_until``); ``unknown`` (no attempt in the window)."""
    cooling_until: datetime | None = None
    last_success: datetime | None = None
    last_error: datetime | None = None
    last_error_message: str | None = None
    success_rate: float | None = None
    """Of the attempts in the window; None when there were none."""
    median_first_event_ms: float | None = None
    attempts: int = 0
    """In the window."""

    def as_json(self) -> dict[str, Any]:
        """The six fields of ``aichats providers --json`` and ``/v1/models``, times as ISO
        8601 strings or null."""
        return {
            "status": self.status,
            "cooling_until": _iso(self.cooling_until),
            "last_success": _iso(self.last_success),
            "last_error": _iso(self.last_error),
            "success_rate": None if self.success_rate is None else round(self.success_rate, 4),
            "median_first_event_ms": (
                None if self.median_first_event_ms is None else round(self.median_first_event_ms, 1)
            ),
        }


UNKNOWN = ProviderHealth("unknown")


def summarize(
    outcomes: Iterable[Outcome],
    *,
    now: float,
    window: float,
    cooling_until: float | None = None,
    half_open: bool = False,
    last_success: float | None = None,
    last_error: float | None = None,
    last_error_message: str | None = None,
) -> ProviderHealth:
    """The health that ``outcomes`` (oldest first) and the breaker's state show at ``now``;
    ``half_open``: a breaker (of one model, of several) is open or waits for its probe."""
    recent = [outcome for outcome in outcomes if outcome.at >= now - window]
    rate = sum(outcome.ok for outcome in recent) / len(recent) if recent else None
    firsts = [o.first_event_ms for o in recent if o.ok and o.first_event_ms is not None]
    status: HealthStatus
    if cooling_until is not None and cooling_until > now:
        status = "cooling"
    elif half_open or (recent and (not recent[-1].ok or (rate or 0.0) < DEGRADED_BELOW)):
        status = "degraded"
    elif recent:
        status = "ok"
    else:
        status = "unknown"
    return ProviderHealth(
        status,
        _time(cooling_until) if status == "cooling" else None,
        _time(last_success),
        _time(last_error),
        last_error_message,
        rate,
        _median(firsts),
        len(recent),
    )


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _time(at: float | None) -> datetime | None:
    return None if at is None else datetime.fromtimestamp(at, UTC)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="milliseconds")
