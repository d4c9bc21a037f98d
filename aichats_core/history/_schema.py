"""The history database's schema, versioned by ``PRAGMA user_version``.

``MIGRATIONS[n]`` takes a database from version ``n`` to ``n + 1``; each runs in one
transaction, with the version bump, so a crash leaves the database at a version, never
between two. Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from aichats_core.errors import InvalidRequestError

_V1 = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    system TEXT
);
CREATE INDEX conversations_by_update ON conversations (updated_at);
CREATE TABLE turns (
    id INTEGER PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    prompt TEXT NOT NULL,
    answer TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('complete', 'interrupted', 'failed')),
    error TEXT,
    attempts TEXT NOT NULL DEFAULT '[]',
    usage TEXT,
    options TEXT NOT NULL DEFAULT '[]',
    started_at TEXT NOT NULL,
    first_event_ms REAL,
    duration_ms REAL NOT NULL,
    UNIQUE (conversation_id, seq)
);
"""
"""Conversations and their turns; ``attempts``, ``usage`` and ``options`` are JSON."""

_V2 = """
ALTER TABLE turns ADD COLUMN system TEXT;
UPDATE turns SET system = (SELECT system FROM conversations WHERE id = turns.conversation_id);
CREATE VIRTUAL TABLE turns_text USING fts5 (prompt, answer, content='turns', content_rowid='id');
CREATE TRIGGER turns_text_insert AFTER INSERT ON turns BEGIN
    INSERT INTO turns_text (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
CREATE TRIGGER turns_text_delete AFTER DELETE ON turns BEGIN
    INSERT INTO turns_text (turns_text, rowid, prompt, answer)
    VALUES ('delete', old.id, old.prompt, old.answer);
END;
CREATE TRIGGER turns_text_update AFTER UPDATE OF prompt, answer ON turns BEGIN
    INSERT INTO turns_text (turns_text, rowid, prompt, answer)
    VALUES ('delete', old.id, old.prompt, old.answer);
    INSERT INTO turns_text (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
INSERT INTO turns_text (turns_text) VALUES ('rebuild');
"""
"""Full-text search over prompts and answers (an FTS5 index over ``turns``, kept by triggers
and filled from the turns already there), and each turn's own system prompt, which v1 kept
only per conversation."""

_V3 = """
DROP TRIGGER turns_text_insert;
DROP TRIGGER turns_text_delete;
DROP TRIGGER turns_text_update;
CREATE TABLE turns_text_state (indexed_upto INTEGER NOT NULL);
INSERT INTO turns_text_state (indexed_upto) SELECT coalesce(max(id), 0) FROM turns;
CREATE TRIGGER turns_text_delete AFTER DELETE ON turns
WHEN old.id <= (SELECT indexed_upto FROM turns_text_state) BEGIN
    INSERT INTO turns_text (turns_text, rowid, prompt, answer)
    VALUES ('delete', old.id, old.prompt, old.answer);
END;
CREATE TRIGGER turns_text_update AFTER UPDATE OF prompt, answer ON turns
WHEN old.id <= (SELECT indexed_upto FROM turns_text_state) BEGIN
    INSERT INTO turns_text (turns_text, rowid, prompt, answer)
    VALUES ('delete', old.id, old.prompt, old.answer);
    INSERT INTO turns_text (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
"""
"""The search index is brought up to date when searched, not at each turn: indexing cost
half of a turn's write, which a writer thread takes from the calls on a small machine.
``indexed_upto`` is the last turn indexed; later ones are indexed by the next search."""

_V4 = """
ALTER TABLE turns ADD COLUMN kept INTEGER NOT NULL DEFAULT 1;
UPDATE turns SET kept = 0 WHERE status = 'failed' OR answer = '';
"""
"""Whether a turn is part of the conversation as its next turn sends it: not a failed one,
nor one the conversation let go (an interruption it did not keep, a ``/retry``'s first try),
so that continuing from the history sends what the live conversation would have."""

_V5 = """
CREATE TABLE health_attempts (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    transient INTEGER NOT NULL DEFAULT 0,
    first_event_ms REAL,
    error TEXT
);
CREATE INDEX health_attempts_by_time ON health_attempts (at);
CREATE TABLE health_breakers (
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    until REAL,
    cooldown REAL NOT NULL DEFAULT 0,
    why TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (provider, model)
);
"""
"""Measured health (``aichats_core.health``): each attempt's outcome (``at`` in seconds since
the epoch; ``error`` the redacted message of a failure) and each open breaker, so that other
processes see what calls measured (``aichats providers``), and count failures in a row
(``transient``: one that counts towards the breaker). No prompt or answer is kept."""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5)
VERSION = len(MIGRATIONS)


def statements(script: str) -> Iterator[str]:
    """The statements of ``script`` one by one (``executescript`` would commit the open
    transaction first, and migrations must run inside one)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending.strip()
            pending = ""


def check_version(version: int, path: str) -> None:
    """Refuse a database written by a newer aichats rather than misread it."""
    if version > VERSION:
        raise InvalidRequestError(
            f"history database {path} has schema version {version}, newer than this aichats"
            f" supports ({VERSION}); upgrade aichats"
        )


def migrate(connection: sqlite3.Connection, path: str) -> None:
    """Bring the database up to ``VERSION``, one migration per transaction. Safe when several
    processes open a new database at once: each migration is decided under the write lock."""
    if connection.execute("PRAGMA user_version").fetchone()[0] == VERSION:
        return  # the usual case, decided without taking the write lock
    while True:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            check_version(version, path)
            if version == VERSION:
                connection.execute("COMMIT")
                return
            for statement in statements(MIGRATIONS[version]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
