"""When a failed call is worth another try, and how long to wait first.

Retries are opt-in and happen only before the first event reached the caller, so nobody
ever sees text twice. Waits grow exponentially with jitter (so that many clients failing
together do not retry together) and honour ``Retry-After``, within a ceiling: a service
asking for an hour's pause gets no retry from us, and the next provider is tried instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from aichats_core.errors import (
    AiChatsError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderContractError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RateLimitError,
    StreamInterruptedError,
)

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth a retry with any provider; a provider adds its own with
``transient_statuses`` (see ``declared_transient_statuses``)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often to retry one provider, and how long to wait in between."""

    retries: int = 0
    """Extra attempts after the first one fails with a transient error."""
    backoff: float = 0.5
    """Seconds before the first retry; doubled for each later one."""
    max_wait: float = 30.0
    """No single wait is longer; a ``Retry-After`` above it ends the retries."""

    def __post_init__(self) -> None:
        if self.retries < 0 or self.backoff < 0 or self.max_wait < 0:
            raise InvalidRequestError("retries, backoff and max_wait must not be negative")

    @classmethod
    def coerce(cls, retries: int | RetryPolicy) -> RetryPolicy:
        if isinstance(retries, RetryPolicy):
            return retries
        return NO_RETRIES if retries == 0 else cls(retries=retries)

    def wait_before_retry(
        self, attempt: int, error: AiChatsError, transient_statuses: frozenset[int] = frozenset()
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when not to retry.

        ``transient_statuses``: the failing provider's own, on top of ``TRANSIENT_STATUSES``.
        """
        if attempt >= self.retries or not is_transient(error, transient_statuses):
            return None
        wait = min(self.backoff * 2**attempt, self.max_wait)
        wait = random.uniform(wait / 2, wait)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            if error.retry_after > self.max_wait:
                return None
            wait = max(wait, error.retry_after)
        return wait


NO_RETRIES = RetryPolicy()


def is_transient(error: AiChatsError, extra: frozenset[int] = frozenset()) -> bool:
    """Whether the same request may well succeed if sent again.

    ``extra``: HTTP statuses that the provider declares transient besides the default ones.
    """
    if isinstance(error, RateLimitError):
        return True
    if isinstance(error, ProviderHTTPError):
        return error.status in TRANSIENT_STATUSES or error.status in extra
    return isinstance(
        error, ProviderTimeoutError | ProviderConnectionError | StreamInterruptedError
    )


def transient_statuses_problem(value: object) -> str | None:
    """Why ``value`` is not a valid ``transient_statuses`` declaration, or None when it is.

    For the load-time protocol check: a set of HTTP error statuses (ints from 400 to 599).
    """
    if not isinstance(value, set | frozenset):
        return f"'transient_statuses' should be a set of HTTP statuses, not {value!r:.60}"
    wrong = [
        s for s in value if isinstance(s, bool) or not isinstance(s, int) or not 400 <= s <= 599
    ]
    if wrong:
        return (
            "'transient_statuses' should hold only HTTP error statuses (ints from 400 to 599),"
            f" not {wrong[0]!r:.40}"
        )
    return None


def declared_transient_statuses(provider: type, name: str) -> frozenset[int]:
    """The extra transient statuses that provider class ``provider`` (registered as ``name``)
    declares with its optional ``transient_statuses`` class attribute.

    Read only once a call failed, so calls that succeed pay nothing for it.
    """
    try:
        value: object = getattr(provider, "transient_statuses", frozenset())
    except Exception as exc:  # noqa: BLE001 - a plugin's attribute may raise anything
        problem: str | None = f"reading 'transient_statuses' raised {type(exc).__name__}: {exc}"
    else:
        problem = transient_statuses_problem(value)
        if problem is None and isinstance(value, set | frozenset):
            return frozenset(value)
    raise ProviderContractError(name, f"provider {name!r}: {problem}")
