"""``HealthTracker``: what each provider+model's attempts measured, and its breaker.

The core tells it every attempt's outcome as the attempt ends (``succeeded``, ``failed``) and
asks it before an attempt whether the provider may be called (``admit``). Both are a dict
lookup and a few appends: a call pays about a microsecond. A process has one tracker that its
``Client``\\ s share (``tracker()``); ``persist`` makes it load what other processes measured
and write its own outcomes to the SQLite home, from a background thread.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from aichats_core.health._breaker import Breaker, BreakerPolicy
from aichats_core.health._rows import AttemptRow, BreakerRow
from aichats_core.health._summary import Outcome, ProviderHealth, summarize

if TYPE_CHECKING:
    from aichats_core._writer import BatchWriter
    from aichats_core.health._store import HealthReader, HealthStore


class Admission(NamedTuple):
    """``HealthTracker.admit``'s answer."""

    until: float | None
    """None: call now; else not before this ``time.time()``."""
    probe: bool
    """This call is the breaker's probe (when ``until`` is None)."""


GO = Admission(None, False)

KEPT = 200
"""Outcomes kept per provider and model, at most."""


class _Entry:
    __slots__ = ("breaker", "last_error", "last_error_message", "last_success", "outcomes")

    def __init__(self) -> None:
        self.outcomes: deque[Outcome] = deque(maxlen=KEPT)
        self.breaker = Breaker()
        self.last_success: float | None = None
        self.last_error: float | None = None
        self.last_error_message: str | None = None


class HealthTracker:
    """Measured health and circuit breakers, per provider and model.

    ``policy`` says when a breaker opens (``BreakerPolicy``); ``window`` is how far back, in
    seconds, ``health`` looks for the success rate and the median time to first event.
    """

    def __init__(self, policy: BreakerPolicy | None = None, *, window: float = 900.0) -> None:
        self.policy = policy or BreakerPolicy()
        self.window = window
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._store: HealthStore | None = None
        self._writer: BatchWriter[AttemptRow | BreakerRow] | None = None

    # What the core calls, on every attempt.

    def admit(self, provider: str, model: str) -> Admission:
        """Whether ``provider`` may be called for ``model`` now: ``until`` is None when it may
        (``probe`` when a half-open breaker lets this call through as its probe: ``release``
        it if the call ends with no verdict), else until when (``time.time()``) it may not."""
        entry = self._entries.get((provider, model))
        if entry is None or entry.breaker.until is None:
            return GO
        with self._lock:
            breaker = entry.breaker
            until = breaker.admits(time.time(), self.policy)
            probe = until is None and breaker.until is not None
        return Admission(until, probe)

    def cooling_until(self, provider: str, model: str) -> float | None:
        """Until when ``provider`` may not be called for ``model`` (``time.time()``), or None:
        ``admit`` without taking the probe, for a look before the call."""
        entry = self._entries.get((provider, model))
        if entry is None or entry.breaker.until is None:
            return None
        with self._lock:
            return entry.breaker.cooling_until(time.time(), self.policy)

    def release(self, provider: str, model: str) -> None:
        """A probe ended without a verdict: the next call may probe."""
        entry = self._entries.get((provider, model))
        if entry is not None and entry.breaker.probing is not None:
            with self._lock:
                entry.breaker.release()

    def succeeded(self, provider: str, model: str, first_event: float | None) -> bool:
        """Count an answer (``first_event``: seconds to its first event); True when it closed
        the breaker."""
        now = time.time()
        entry = self._entries.get((provider, model)) or self._entry(provider, model)
        first_ms = None if first_event is None else first_event * 1000.0
        closed = False
        with self._lock:
            entry.outcomes.append(Outcome(now, True, first_ms))
            entry.last_success = now
            breaker = entry.breaker
            if breaker.until is not None or breaker.failures:
                closed = breaker.answered(now)
        if self._writer is not None:
            self._save(AttemptRow(provider, model, now, True, False, first_ms, None), entry, closed)
        return closed

    def failed(
        self,
        provider: str,
        model: str,
        message: str,
        *,
        transient: bool,
        retry_after: float | None = None,
    ) -> tuple[float | None, bool]:
        """Count a failure; a transient one counts towards the breaker (a permanent one, such
        as a refused key, shows the service answering: it ends a probe). Returns until when
        the breaker is open, when this failure opened it, and whether it closed it."""
        now = time.time()
        entry = self._entries.get((provider, model)) or self._entry(provider, model)
        with self._lock:
            entry.outcomes.append(Outcome(now, False, None))
            entry.last_error, entry.last_error_message = now, message
            if transient:
                opened = entry.breaker.failed(now, self.policy, retry_after, message)
                closed = False
            else:
                opened, closed = None, entry.breaker.answered(now, refused=True)
        if self._writer is not None:
            row = AttemptRow(provider, model, now, False, transient, None, message)
            self._save(row, entry, bool(opened or closed))
        return opened, closed

    # What listings and callers read.

    def health(self, provider: str, model: str | None = None) -> ProviderHealth:
        """``provider``'s health for ``model``, or over all its models: cooling when each
        measured one cools, degraded when one does."""
        now = time.time()
        with self._lock:
            entries = [
                entry
                for (name, of), entry in self._entries.items()
                if name == provider and (model is None or of == model)
            ]
            since = now - self.window  # a breaker whose cooldown ended long ago says nothing
            opened = [e.breaker for e in entries if (e.breaker.until or 0.0) >= since]
            cooling = [breaker.cooling_until(now, self.policy) for breaker in opened]
            outcomes = sorted(o for e in entries for o in tuple(e.outcomes))
        cooling_now = [until for until in cooling if until is not None]
        all_cool = bool(entries) and len(cooling_now) == len(entries)
        errors = [entry for entry in entries if entry.last_error is not None]
        latest = max(errors, key=lambda entry: entry.last_error or 0.0, default=None)
        return summarize(
            outcomes,
            now=now,
            window=self.window,
            cooling_until=min(cooling_now) if all_cool else None,
            half_open=bool(opened),
            last_success=max((e.last_success for e in entries if e.last_success), default=None),
            last_error=latest.last_error if latest else None,
            last_error_message=latest.last_error_message if latest else None,
        )

    def estimate(self, provider: str, model: str) -> tuple[bool, int, int, float | None]:
        """For routing (``auto``): whether it cools, its successes and attempts in the
        window, and its median time to first event in ms (None: never measured)."""
        entry = self._entries.get((provider, model))
        if entry is None:
            return (False, 0, 0, None)
        now = time.time()
        with self._lock:
            cooling = entry.breaker.cooling_until(now, self.policy) is not None
            recent = [o for o in tuple(entry.outcomes) if o.at >= now - self.window]
        firsts = sorted(o.first_event_ms for o in recent if o.first_event_ms is not None)
        median = firsts[len(firsts) // 2] if firsts else None
        return (cooling, sum(o.ok for o in recent), len(recent), median)

    def why(self, provider: str, model: str) -> tuple[str, bool]:
        """The failure that opened ``provider``'s breaker for ``model`` ('' when closed), and
        whether its cooldown is over and a probe is under way."""
        entry = self._entries.get((provider, model))
        if entry is None or entry.breaker.until is None:
            return "", False
        breaker = entry.breaker
        cooled = time.time() >= (breaker.until or 0.0)
        return breaker.why, breaker.probing is not None and cooled

    def measured(self) -> list[str]:
        """The providers with any outcome or breaker known, by name."""
        with self._lock:
            return sorted({name for name, _ in self._entries})

    def reset(self, provider: str | None = None) -> None:
        """Forget what was measured (of ``provider`` only, when given), in this process."""
        with self._lock:
            for key in [key for key in self._entries if provider in (None, key[0])]:
                del self._entries[key]

    # Persistence.

    def load(self, store: HealthReader) -> None:
        """Take in what ``store`` holds: the outcomes of the window and the open breakers."""
        now = time.time()
        attempts = store.attempts(now - self.window)
        breakers = store.open_breakers()
        with self._lock:
            for row in attempts:
                entry = self._entries.get((row.provider, row.model)) or self._new(row)
                entry.outcomes.append(Outcome(row.at, row.ok, row.first_event_ms))
                failures = entry.breaker.failures  # the failures in a row, as they were
                if row.ok:
                    entry.last_success = row.at
                    failures.clear()
                else:
                    entry.last_error, entry.last_error_message = row.at, row.error
                    if row.transient:
                        failures.append(row.at)
            for state in breakers:
                if (state.until or 0.0) < now - self.window:
                    continue  # over long ago: closed, in effect
                entry = self._entries.get((state.provider, state.model)) or self._new(state)
                breaker = entry.breaker
                breaker.until, breaker.cooldown = state.until, state.cooldown
                breaker.why = state.why

    def persist(self, store: HealthStore | str | os.PathLike[str] | None = None) -> None:
        """Load ``store`` (default: the history's file under ``AICHATS_HOME``) and write every
        later outcome to it, off the event loop."""
        from aichats_core._writer import BatchWriter
        from aichats_core.health._store import HealthStore

        if self._writer is not None:
            return  # persisting already: loading again would count the same outcomes twice
        if not isinstance(store, HealthStore):
            store = HealthStore(store)
        self.load(store)
        self._store = store
        self._writer = BatchWriter("aichats-health", self._write)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the outcomes measured so far are written (when persisting)."""
        return True if self._writer is None else self._writer.flush(timeout)

    def close(self) -> None:
        """Write what is queued and stop persisting."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _entry(self, provider: str, model: str) -> _Entry:
        with self._lock:
            return self._entries.setdefault((provider, model), _Entry())

    def _new(self, row: AttemptRow | BreakerRow) -> _Entry:
        entry = self._entries[(row.provider, row.model)] = _Entry()
        return entry

    def _save(self, row: AttemptRow, entry: _Entry, breaker_changed: bool) -> None:
        writer = self._writer
        if writer is None:
            return
        writer.submit(row)
        if breaker_changed:
            breaker = entry.breaker
            state = BreakerRow(
                row.provider, row.model, breaker.until, breaker.cooldown, breaker.why
            )
            writer.submit(state)

    def _write(self, batch: list[AttemptRow | BreakerRow]) -> None:
        store = self._store
        if store is None:
            return
        attempts = [row for row in batch if isinstance(row, AttemptRow)]
        breakers = [row for row in batch if not isinstance(row, AttemptRow)]
        try:
            store.write(attempts, breakers)
        except Exception as exc:  # noqa: BLE001 - health must never break a call
            _warn_once(f"{type(exc).__name__}: {exc}")


_warned: set[str] = set()


def _warn_once(problem: str) -> None:
    import logging

    if problem not in _warned:
        _warned.add(problem)
        logging.getLogger("aichats.health").warning(
            "aichats: could not record provider health: %s (set AICHATS_HOME, or"
            " AICHATS_HEALTH=0 to keep health in memory only)",
            problem,
        )
