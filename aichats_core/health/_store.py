"""Measured health in the SQLite home, next to the conversation history (same file).

Rows hold no prompt and no answer: a provider, a model, when, whether it answered, its time to
first event and, for a failure, its redacted message; and each breaker's state. Attempts
older than ``KEEP_S`` are pruned as new ones are written.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aichats_core.errors import InvalidRequestError
from aichats_core.health._rows import AttemptRow, BreakerRow

if TYPE_CHECKING:
    from aichats_core.history import HistoryStore

KEEP_S = 24 * 3600.0
"""Attempts older than a day are dropped: health is about now."""


class HealthReader(Protocol):
    """What ``HealthTracker.load`` reads: a ``HealthStore``, or a listing's ``read_only``."""

    def attempts(self, since: float) -> list[AttemptRow]: ...

    def open_breakers(self) -> list[BreakerRow]: ...


class HealthStore:
    """Health rows in the history database at ``path`` (default: the history's own file);
    readers find nothing, and create nothing, where no process wrote yet."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        from aichats_core.history import HistoryStore

        self._db: HistoryStore = HistoryStore(path)

    @property
    def path(self) -> Path:
        return self._db.path

    def close(self) -> None:
        self._db.close()

    def write(self, attempts: Iterable[AttemptRow], breakers: Iterable[BreakerRow]) -> None:
        """Append ``attempts`` and set ``breakers``, in one transaction."""
        attempts, breakers = list(attempts), list(breakers)

        def change(connection: sqlite3.Connection) -> None:
            connection.executemany(
                "INSERT INTO health_attempts"
                " (provider, model, at, ok, transient, first_event_ms, error)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                attempts,
            )
            connection.executemany(
                "INSERT INTO health_breakers (provider, model, until, cooldown, why)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider, model) DO UPDATE SET"
                " until = excluded.until, cooldown = excluded.cooldown, why = excluded.why",
                breakers,
            )
            if attempts:
                oldest = max(row.at for row in attempts) - KEEP_S
                connection.execute("DELETE FROM health_attempts WHERE at < ?", (oldest,))

        self._db._write(change)

    def attempts(self, since: float) -> list[AttemptRow]:
        """Every attempt since ``since`` (``time.time()``), oldest first."""
        with self._db._reading() as connection:
            if connection is None:
                return []
            rows = connection.execute(
                "SELECT provider, model, at, ok, transient, first_event_ms, error"
                " FROM health_attempts WHERE at >= ? ORDER BY at",
                (since,),
            ).fetchall()
        return [AttemptRow(r[0], r[1], r[2], bool(r[3]), bool(r[4]), r[5], r[6]) for r in rows]

    def open_breakers(self) -> list[BreakerRow]:
        """The breakers not closed: cooling down, or waiting for a probe."""
        with self._db._reading() as connection:
            if connection is None:
                return []
            rows = connection.execute(
                "SELECT provider, model, until, cooldown, why FROM health_breakers"
                " WHERE until IS NOT NULL"
            ).fetchall()
        return [BreakerRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]


class _ReadOnly:
    """The health rows of the file at ``path``, read without a writer's set-up (migrations,
    WAL switch) nor the history's modules: what ``aichats providers`` needs, and quickly."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def attempts(self, since: float) -> list[AttemptRow]:
        rows = self._query(
            "SELECT provider, model, at, ok, transient, first_event_ms, error"
            " FROM health_attempts WHERE at >= ? ORDER BY at",
            (since,),
        )
        return [AttemptRow(r[0], r[1], r[2], bool(r[3]), bool(r[4]), r[5], r[6]) for r in rows]

    def open_breakers(self) -> list[BreakerRow]:
        rows = self._query(
            "SELECT provider, model, until, cooldown, why FROM health_breakers"
            " WHERE until IS NOT NULL",
            (),
        )
        return [BreakerRow(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def _query(self, query: str, parameters: tuple[Any, ...]) -> list[Any]:
        try:
            connection = sqlite3.connect(f"{self._path.as_uri()}?mode=ro", uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise InvalidRequestError(f"history database {self._path}: {exc}") from exc
        try:
            return connection.execute(query, parameters).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # written by an aichats from before health
                return []
            raise InvalidRequestError(f"history database {self._path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise InvalidRequestError(f"history database {self._path}: {exc}") from exc
        finally:
            connection.close()


def read_only(path: Path) -> HealthReader:
    """The health rows at ``path``, for reading only."""
    return _ReadOnly(path)
