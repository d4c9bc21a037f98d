"""The per-call options of ``Echo``, checked before anything is produced.

A test double that silently accepted a misspelt option would let an application's tests pass
for the wrong reason, so unknown names and bad values raise ``InvalidRequestError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from aichats_core.errors import InvalidRequestError

Failure: TypeAlias = Literal["rate_limit", "timeout", "connection", "interrupted", "format"]
"""The failures ``fail=`` simulates."""

FAILURES: tuple[Failure, ...] = ("rate_limit", "timeout", "connection", "interrupted", "format")
OPTIONS = ("chunk_words", "delay", "fail", "words")
"""The options ``Echo`` acts on."""
IGNORED_OPTIONS = ("session", "timeout")
"""Accepted so that ``Client`` and code written for HTTP providers work unchanged; unused."""


@dataclass(frozen=True)
class EchoOptions:
    """Validated options of one call."""

    delay: float = 0.0
    """Seconds to wait before each chunk (and before a simulated failure): fake latency."""
    chunk_words: int = 1
    """Words per text chunk."""
    words: int = 50
    """Length of the ``lorem`` answer, in words."""
    fail: Failure | None = None
    """Raise this failure instead of answering (``interrupted``: after half the answer)."""

    @classmethod
    def parse(cls, provider: str, options: Mapping[str, Any]) -> EchoOptions:
        """Validate keyword options; raise ``InvalidRequestError`` naming what is wrong."""
        unknown = sorted(set(options) - set(OPTIONS) - set(IGNORED_OPTIONS))
        if unknown:
            raise InvalidRequestError(
                f"{provider}: unknown option(s) {', '.join(map(repr, unknown))}; known options:"
                f" {', '.join(OPTIONS)} ({' and '.join(IGNORED_OPTIONS)} are accepted and ignored)"
            )
        return cls(
            delay=_seconds(provider, "delay", options.get("delay", 0.0)),
            chunk_words=_count(provider, "chunk_words", options.get("chunk_words", 1), minimum=1),
            words=_count(provider, "words", options.get("words", 50), minimum=0),
            fail=_failure(provider, options.get("fail")),
        )


def _seconds(provider: str, name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidRequestError(
            f"{provider}: {name} must be a finite number of seconds >= 0, not {value!r}"
        )
    return float(value)


def _count(provider: str, name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidRequestError(
            f"{provider}: {name} must be an integer >= {minimum}, not {value!r}"
        )
    return value


def _failure(provider: str, value: object) -> Failure | None:
    if value is None:
        return None
    for failure in FAILURES:
        if value == failure:
            return failure
    raise InvalidRequestError(
        f"{provider}: fail must be one of {', '.join(FAILURES)}, not {value!r}"
    )
