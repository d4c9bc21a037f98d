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
    ProviderHTTPError,
    ProviderTimeoutError,
    RateLimitError,
    StreamInterruptedError,
)

TRANSIENT_STATUSES = frozenset({408, 425, 500, 502, 503, 504})


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

    def wait_before_retry(self, attempt: int, error: AiChatsError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when not to retry."""
        if attempt >= self.retries or not is_transient(error):
            return None
        wait = min(self.backoff * 2**attempt, self.max_wait)
        wait = random.uniform(wait / 2, wait)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            if error.retry_after > self.max_wait:
                return None
            wait = max(wait, error.retry_after)
        return wait


NO_RETRIES = RetryPolicy()


def is_transient(error: AiChatsError) -> bool:
    """Whether the same request may well succeed if sent again."""
    if isinstance(error, RateLimitError):
        return True
    if isinstance(error, ProviderHTTPError):
        return error.status in TRANSIENT_STATUSES
    return isinstance(
        error, ProviderTimeoutError | ProviderConnectionError | StreamInterruptedError
    )
