"""The schema's versions: an old database is migrated with its data, a newer one refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from history_helpers import make_turn

from aichats_core.errors import InvalidRequestError
from aichats_core.history import HistoryStore
from aichats_core.history._schema import MIGRATIONS, VERSION, statements


def _raw(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(path, isolation_level=None)


def _build_v1(path: Path) -> None:
    """A database as the first released schema wrote it, with two conversations."""
    raw = _raw(path)
    try:
        for statement in statements(MIGRATIONS[0]):
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 1")
        raw.executemany(
            "INSERT INTO conversations VALUES (?, ?, ?, ?)",
            [
                ("c1", "2024-01-01T00:00:00.000000+00:00", "2024-01-01T00:01:00.000000+00:00", "S"),
                (
                    "c2",
                    "2024-01-02T00:00:00.000000+00:00",
                    "2024-01-02T00:00:01.000000+00:00",
                    None,
                ),
            ],
        )
        raw.executemany(
            "INSERT INTO turns (conversation_id, seq, prompt, answer, provider, model, status,"
            " attempts, usage, options, started_at, duration_ms)"
            " VALUES (?, ?, ?, ?, 'aichats', 'gpt-4', 'complete', '[]', NULL, '[]',"
            " '2024-01-01T00:00:00.000000+00:00', 5)",
            [
                ("c1", 1, "tell me about zebras", "stripes"),
                ("c1", 2, "and giraffes", "long necks"),
                ("c2", 1, "hello", "zebras again"),
            ],
        )
    finally:
        raw.close()


def test_a_v1_database_is_migrated_keeping_its_turns_and_becomes_searchable(
    db_path: Path,
) -> None:
    _build_v1(db_path)
    with HistoryStore(db_path) as store:
        assert [s.id for s in store.conversations()] == ["c2", "c1"]
        old = store.conversation("c1")
        assert [(t.seq, t.prompt, t.answer) for t in old.turns] == [
            (1, "tell me about zebras", "stripes"),
            (2, "and giraffes", "long necks"),
        ]
        assert [t.system for t in old.turns] == ["S", "S"]  # back-filled from v1's column
        assert {s.id for s in store.search("zebras")} == {"c1", "c2"}
        assert [s.id for s in store.search("necks")] == ["c1"]
        store.record(make_turn("c1", "okapis"))
        assert store.conversation("c1").turns[-1].seq == 3
        assert [s.id for s in store.search("okapis")] == ["c1"]
    raw = _raw(db_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone() == (VERSION,)
        raw.execute("INSERT INTO turns_text (turns_text) VALUES ('integrity-check')")
    finally:
        raw.close()


def _integrity(path: Path) -> None:
    raw = _raw(path)
    try:
        raw.execute("INSERT INTO turns_text (turns_text) VALUES ('integrity-check')")
    finally:
        raw.close()


def test_a_v2_database_keeps_its_index_and_indexes_later_turns_when_searched(
    db_path: Path,
) -> None:
    _build_v1(db_path)
    raw = _raw(db_path)
    try:  # v2: the index kept by triggers at each turn
        raw.execute("BEGIN")
        for statement in statements(MIGRATIONS[1]):
            raw.execute(statement)
        raw.execute("PRAGMA user_version = 2")
        raw.execute("COMMIT")
    finally:
        raw.close()
    with HistoryStore(db_path) as store:
        assert {s.id for s in store.search("zebras")} == {"c1", "c2"}
        store.record(make_turn("c3", "quokkas"))
        assert [s.id for s in store.search("quokkas")] == ["c3"]
    _integrity(db_path)


def test_removing_the_newest_conversation_keeps_the_index_in_step(db_path: Path) -> None:
    """Turn ids of removed turns are reused by SQLite: such a turn must still be indexed."""
    with HistoryStore(db_path) as store:
        store.record(make_turn("a", "alpacas"))
        store.record(make_turn("b", "bonobos"))
        assert [s.id for s in store.search("bonobos")] == ["b"]
        store.remove("b")  # the turn with the highest id
        store.record(make_turn("c", "capybaras"))  # gets b's turn id again
        store.record(make_turn("d", "dingos"))
        store.remove("d")  # never indexed: removed without touching the index
        assert store.search("bonobos") == []
        assert [s.id for s in store.search("capybaras")] == ["c"]
        assert [s.id for s in store.search("alpacas")] == ["a"]
    _integrity(db_path)


def test_a_fresh_database_is_at_the_latest_version(db_path: Path) -> None:
    with HistoryStore(db_path) as store:
        store.record(make_turn("fresh"))
    raw = _raw(db_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone() == (VERSION,) == (5,)
    finally:
        raw.close()


def test_a_database_newer_than_this_aichats_is_refused_untouched(db_path: Path) -> None:
    raw = _raw(db_path)
    raw.execute("PRAGMA user_version = 9")
    raw.close()
    before = db_path.read_bytes()
    expected = f"history database {db_path} has schema version 9, newer than this aichats"
    with HistoryStore(db_path) as store, pytest.raises(InvalidRequestError) as caught:
        store.conversations()
    assert str(caught.value) == f"{expected} supports ({VERSION}); upgrade aichats"
    assert db_path.read_bytes() == before


def test_a_file_that_is_not_a_database_is_an_aichats_error(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_bytes(b"not sqlite at all, just some text " * 100)
    with HistoryStore(db_path) as store, pytest.raises(InvalidRequestError, match=str(db_path)):
        store.conversations()


def test_statements_split_a_script_keeping_trigger_bodies_whole() -> None:
    split = list(statements(MIGRATIONS[1]))
    triggers = [s for s in split if s.startswith("CREATE TRIGGER")]
    assert len(triggers) == 3
    assert all(s.endswith("END;") for s in triggers)
    assert all(sqlite3.complete_statement(s) for s in split)
