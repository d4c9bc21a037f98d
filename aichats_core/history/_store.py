"""``HistoryStore``: conversations and their turns in one SQLite file, shared by processes.

Writes take the database's write lock up front (``BEGIN IMMEDIATE``) so that appending a
turn reads the next ``seq`` and inserts it atomically, and a writer never fails halfway for a
lock another process holds: it waits (``busy_timeout``), then retries until ``_PATIENCE``.
WAL lets readers go on while one process writes.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aichats_core._home import default_path
from aichats_core.errors import InvalidRequestError
from aichats_core.history import _queries as sql
from aichats_core.history._ids import new_conversation_id
from aichats_core.history._records import (
    ConversationRecord,
    ConversationSummary,
    TurnRecord,
    timestamp,
    title,
)
from aichats_core.history._schema import check_version, migrate
from aichats_core.redaction import Scrubber

_T = TypeVar("_T")
_BUSY_TIMEOUT_S = 10.0
_PATIENCE_S = 60.0
"""How long a write keeps retrying a locked database before it gives up."""
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


class HistoryStore:
    """The conversation history in the SQLite file at ``path`` (default: ``default_path()``).

    The file is opened at first use, and created (its directory with mode 0o700, the file
    0o600) only by the first ``record``: reading a history that does not exist finds nothing
    and leaves no file behind. A store may be shared by threads (each call holds the store's
    lock), e.g. the caller's and one background writer's; processes each open their own.
    ``secrets`` are values known to be credentials, hidden from stored error texts.

    >>> with HistoryStore(tmp / "history.db") as store:  # doctest: +SKIP
    ...     store.record(turn)
    ...     store.conversations(limit=5)
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, secrets: Iterable[str] = ()
    ) -> None:
        self._path = Path(path) if path is not None else default_path()
        self._scrub = Scrubber(secrets)
        self._lock = threading.RLock()
        self._connection: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return self._path

    new_conversation_id = staticmethod(new_conversation_id)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def record(self, turn: TurnRecord) -> None:
        """Append ``turn`` to its conversation (created when new) as its next ``seq``."""
        self.record_many((turn,))

    def record_many(self, turns: Iterable[TurnRecord]) -> None:
        """Append each turn, in order, in one transaction (one commit for many turns: what
        a background writer does with the turns queued meanwhile)."""
        rows = [self._row(turn) for turn in turns]

        def append(connection: sqlite3.Connection) -> None:
            connection.executemany(sql.UPSERT_CONVERSATION, rows)
            connection.executemany(sql.APPEND_TURN, rows)  # in order: each gets the next seq

        if rows:
            self._write(append)

    def _row(self, turn: TurnRecord) -> dict[str, Any]:
        started = timestamp(turn.started_at)
        ended = timestamp(turn.started_at + timedelta(milliseconds=turn.duration_ms))
        attempts = [
            {**attempt, "message": self._scrub(attempt.get("message", ""))}
            for attempt in turn.attempts
        ]
        return {
            "conversation_id": turn.conversation_id,
            "prompt": _storable(turn.prompt),
            "answer": _storable(turn.answer),
            "provider": turn.provider,
            "model": turn.model,
            "status": turn.status,
            "error": None if turn.error is None else _storable(self._scrub(turn.error)),
            "attempts": json.dumps(attempts),
            "usage": None if turn.usage is None else json.dumps(turn.usage),
            "options": json.dumps(list(turn.options)),
            "started_at": started,
            "first_event_ms": turn.first_event_ms,
            "duration_ms": turn.duration_ms,
            "system": None if turn.system is None else _storable(turn.system),
            "kept": int(turn.kept),
            "ended_at": ended,
        }

    def forget(self, conversation_id: str, turns: int = 1) -> None:
        """Mark the last ``turns`` kept turns of a conversation as let go: still listed, no
        longer sent when the conversation is continued (what ``Conversation.forget`` does)."""
        values = {"conversation_id": conversation_id, "turns": turns}

        def let_go(connection: sqlite3.Connection) -> None:
            connection.execute(sql.FORGET, values)

        if turns > 0:
            self._write(let_go)

    def conversations(self, limit: int | None = 20) -> list[ConversationSummary]:
        """The conversations, the most recently updated first (all of them for ``None``)."""
        return self._summaries(sql.SUMMARIES.format(where=""), {"limit": _limit(limit)})

    def search(self, text: str, limit: int | None = 20) -> list[ConversationSummary]:
        """The conversations with a prompt or answer holding every word of ``text``, the most
        recently updated first. ``text`` is plain words, matched whole and regardless of
        case: ``*``, ``OR``, ``-`` and quotes are no query syntax (punctuation only splits
        words)."""
        words = text.split()
        if not words:
            raise InvalidRequestError("nothing to search for: the search text is empty")
        query = " ".join('"' + word.replace('"', '""') + '"' for word in words)
        with self._reading() as connection:
            if connection is None:
                return []
        self._write(_index_new_turns)
        return self._summaries(
            sql.SUMMARIES.format(where=sql.MATCHING), {"query": query, "limit": _limit(limit)}
        )

    def conversation(self, id: str) -> ConversationRecord:
        """The conversation ``id`` (or the one whose id starts with it), all its turns in order;
        ``InvalidRequestError`` for an unknown or ambiguous id."""
        with self._reading() as connection:
            if connection is None:
                raise self._unknown(id)
            full = self._resolve(connection, id)
            head = connection.execute(sql.CONVERSATION, (full,)).fetchone()
            turns = connection.execute(sql.TURNS, (full,)).fetchall()
        return ConversationRecord(
            id=full,
            system=head["system"],
            created_at=datetime.fromisoformat(head["created_at"]),
            updated_at=datetime.fromisoformat(head["updated_at"]),
            turns=[_turn(row) for row in turns],
        )

    def latest(self) -> ConversationRecord | None:
        """The most recently updated conversation, or None when there is none."""
        recent = self.conversations(limit=1)
        return self.conversation(recent[0].id) if recent else None

    def remove(self, id: str) -> None:
        """Delete the conversation ``id`` (or the one whose id starts with it), its turns and
        their search entries."""

        def delete(connection: sqlite3.Connection) -> None:
            full = self._resolve(connection, id)
            _index_new_turns(connection)  # so that the index and the turns stay in step
            connection.execute("DELETE FROM turns WHERE conversation_id = ?", (full,))
            connection.execute("DELETE FROM conversations WHERE id = ?", (full,))
            connection.execute(sql.INDEXED_UPTO_LAST)

        with self._reading() as connection:
            if connection is None:
                raise self._unknown(id)
        self._write(delete)

    def _summaries(self, query: str, parameters: dict[str, Any]) -> list[ConversationSummary]:
        with self._reading() as connection:
            rows = [] if connection is None else connection.execute(query, parameters).fetchall()
        return [
            ConversationSummary(
                id=row["id"],
                provider=row["provider"],
                model=row["model"],
                turns=row["turns"],
                created_at=datetime.fromisoformat(row["created_at"]),
                updated_at=datetime.fromisoformat(row["updated_at"]),
                title=title(row["prompt"]),
            )
            for row in rows
        ]

    def _resolve(self, connection: sqlite3.Connection, id: str) -> str:
        """The full id of the conversation ``id`` names, whole or by a unique prefix."""
        if not id:
            raise InvalidRequestError("no conversation id given")
        found = [row[0] for row in connection.execute(sql.BY_PREFIX, (id, id + "\U0010ffff"))]
        if id in found:
            return id
        if len(found) > 1:
            raise InvalidRequestError(
                f"conversation id {id!r} is ambiguous: it starts {', '.join(found)}; give more"
                " of it"
            )
        if not found:
            raise self._unknown(id)
        return str(found[0])

    def _unknown(self, id: str) -> InvalidRequestError:
        return InvalidRequestError(f"no conversation {id!r} in the history at {self._path}")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection | None]:
        """The open connection, or None when the database does not exist (and still does
        not: reading creates nothing)."""
        with self._lock, _translated(self._path):
            if self._connection is None and not self._path.exists():
                yield None
            else:
                yield self._connected()

    def _write(self, change: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``change`` in one write transaction, retrying while another process holds the
        lock, so that no turn is lost to contention."""
        deadline = time.monotonic() + _PATIENCE_S
        pause = 0.001
        with self._lock, _translated(self._path):
            connection = self._connected(create=True)
            while True:
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    try:
                        change(connection)
                        connection.execute("COMMIT")
                    except BaseException:
                        if connection.in_transaction:
                            connection.execute("ROLLBACK")
                        raise
                    return
                except sqlite3.OperationalError as exc:
                    if not _busy(exc) or time.monotonic() > deadline:
                        raise
                time.sleep(pause * random.random())
                pause = min(pause * 2, 0.1)

    def _connected(self, *, create: bool = False) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        if create:
            _create(self._path)
        connection = sqlite3.connect(
            self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            connection.row_factory = sqlite3.Row
            # Before anything writes: a newer aichats' database is left as it is.
            check_version(connection.execute("PRAGMA user_version").fetchone()[0], str(self._path))
            _retrying(lambda: connection.execute("PRAGMA journal_mode = WAL"))
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            _retrying(lambda: migrate(connection, str(self._path)))
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection


def _storable(text: str) -> str:
    """Text as SQLite can store it (UTF-8): a lone surrogate (from a non-UTF-8 argv, say)
    becomes U+FFFD rather than failing the write."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _index_new_turns(connection: sqlite3.Connection) -> None:
    connection.execute(sql.INDEX_NEW_TURNS)
    connection.execute(sql.INDEXED_UPTO_LAST)


def _create(path: Path) -> None:
    """The database file, private to the user, and its directory when missing."""
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _retrying(operation: Callable[[], _T]) -> _T:
    """``operation``, tried again while the database is busy (a first open racing others to
    switch to WAL or to migrate, which the busy timeout does not always cover)."""
    deadline = time.monotonic() + _PATIENCE_S
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            if not _busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.01 * random.random())


def _busy(exc: sqlite3.OperationalError) -> bool:
    return (exc.sqlite_errorcode & 0xFF) in _BUSY_CODES


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """SQLite's and the file system's errors as aichats errors naming the database."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        raise InvalidRequestError(f"history database {path}: {exc}") from exc
    except OSError as exc:
        raise InvalidRequestError(f"history database {path}: {exc.strerror or exc}") from exc


def _limit(limit: int | None) -> int:
    return -1 if limit is None else max(limit, 0)


def _turn(row: sqlite3.Row) -> TurnRecord:
    return TurnRecord(
        conversation_id=row["conversation_id"],
        seq=row["seq"],
        prompt=row["prompt"],
        answer=row["answer"],
        provider=row["provider"],
        model=row["model"],
        status=row["status"],
        error=row["error"],
        attempts=tuple(json.loads(row["attempts"])),
        usage=None if row["usage"] is None else json.loads(row["usage"]),
        options=tuple(json.loads(row["options"])),
        started_at=datetime.fromisoformat(row["started_at"]),
        first_event_ms=row["first_event_ms"],
        duration_ms=row["duration_ms"],
        system=row["system"],
        kept=bool(row["kept"]),
    )
