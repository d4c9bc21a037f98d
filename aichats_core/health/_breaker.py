"""The circuit breaker of one provider and model: closed, open until a time, then one probe.

Only transient failures count (those a retry might mend: rate limits, timeouts, lost
connections, 5xx): a provider that refuses a key keeps refusing it, and cooling it down would
only hide the message. Failures count in a row: one success starts the count again, so a busy
provider that fails now and then is never opened by its traffic alone.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from aichats_core.errors import InvalidRequestError


@dataclass(frozen=True)
class BreakerPolicy:
    """When a provider's breaker opens, and for how long."""

    failures: int = 5
    """Transient failures in a row, within ``window`` seconds, that open the breaker."""
    window: float = 60.0
    cooldown: float = 30.0
    """Seconds the breaker stays open the first time; a failed probe doubles it."""
    max_cooldown: float = 600.0
    probe_timeout: float = 60.0
    """A probe not heard back from in this long lets another one through."""
    max_wait: float = 30.0
    """How long a call whose providers are all cooling down waits for the first to come
    back, when the call gives no ``deadline``."""

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise InvalidRequestError("BreakerPolicy.failures must be 1 or more")
        numbers = (self.window, self.cooldown, self.max_cooldown, self.probe_timeout)
        if min(*numbers, self.max_wait) < 0:
            raise InvalidRequestError(
                "BreakerPolicy's window, cooldown, max_cooldown, probe_timeout and max_wait"
                " must not be negative"
            )


PROBE_POLL = 1.0
"""While a probe is under way, others are told to look again this many seconds later."""


class Breaker:
    """One provider+model's breaker. ``until`` is None while closed; while open it is when
    the next call may go, as a probe; ``probing`` is when that probe went."""

    __slots__ = ("asked", "cooldown", "failures", "probing", "until", "why")

    def __init__(self) -> None:
        self.failures: deque[float] = deque()
        self.until: float | None = None
        self.cooldown = 0.0
        self.probing: float | None = None
        self.asked = 0.0
        """The latest time a ``Retry-After`` of the failures in a row asked to wait until."""
        self.why = ""

    def admits(self, now: float, policy: BreakerPolicy) -> float | None:
        """None when a call may go now (the probe, once the cooldown is over, which it marks
        as under way: ``release`` it if it ends without a verdict); else the time
        (``time.time()``) until which it may not."""
        until = self.cooling_until(now, policy)
        if until is None and self.until is not None:
            self.probing = now
        return until

    def cooling_until(self, now: float, policy: BreakerPolicy) -> float | None:
        """Until when no call may go (the cooldown; for a probe under way, a second from now,
        to look again), or None."""
        until = self.until
        if until is None:
            return None
        if now < until:
            return until
        probing = self.probing
        if probing is not None and now < probing + policy.probe_timeout:
            return min(now + PROBE_POLL, probing + policy.probe_timeout)
        return None

    def release(self) -> None:
        """The probe ended with no verdict (never read, cancelled, the caller's own mistake):
        the next call may probe at once."""
        self.probing = None

    def failed(
        self, now: float, policy: BreakerPolicy, retry_after: float | None, why: str
    ) -> float | None:
        """Count a transient failure; the time the breaker is now open until when this
        failure opened it (or reopened it, after a failed probe), else None. The cooldown
        lasts at least as long as the latest ``Retry-After`` of the failures in a row asked;
        a failure during a cooldown (a call already under way, or ``ignore_breaker``) only
        ever lengthens it."""
        asked = now + retry_after if retry_after else 0.0
        until = self.until
        if until is not None:
            if self.probing is None and now < until:
                self.until = max(until, asked)
                return None
            cooldown = min(max(self.cooldown * 2, policy.cooldown), policy.max_cooldown)
            return self._open(now, cooldown, asked, why)
        failures = self.failures
        failures.append(now)
        while failures and failures[0] < now - policy.window:
            failures.popleft()
        self.asked = max(self.asked, asked)
        if len(failures) >= policy.failures:
            return self._open(now, policy.cooldown, self.asked, why)
        return None

    def answered(self, now: float, *, refused: bool = False) -> bool:
        """Count an answer; True when it closed the breaker. ``refused``: the service
        answered with a permanent error (a refused key): it is up, which ends a probe, but
        not a cooldown still running (that may be a ``Retry-After`` it asked for)."""
        self.failures.clear()
        self.asked = 0.0
        until = self.until
        if until is None:
            return False
        if refused and self.probing is None and now < until:
            return False
        self.until = self.probing = None
        self.cooldown = 0.0
        return True

    def _open(self, now: float, cooldown: float, asked: float, why: str) -> float:
        self.until = max(now + cooldown, asked)
        self.cooldown = self.until - now
        self.probing = None
        self.failures.clear()
        self.asked = 0.0
        self.why = why
        return self.until
