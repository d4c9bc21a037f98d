"""HistoryStore as an application uses it: record turns, list, read, search and remove them."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from history_helpers import START, make_turn, minutes

from aichats_core.errors import InvalidRequestError
from aichats_core.history import HistoryStore, TurnRecord


def test_a_turn_comes_back_as_it_was_recorded(store: HistoryStore) -> None:
    cid = store.new_conversation_id()
    sent = make_turn(
        cid,
        "Hello",
        started_at=datetime(2025, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
        first_event_ms=42.5,
        usage={"prompt_tokens": 3, "completion_tokens": 7},
        attempts=({"provider": "other", "error": "RateLimitError", "message": "slow down"},),
        options=("base_url", "cookies"),
        system="Be brief.",
    )
    store.record(sent)
    record = store.conversation(cid)
    assert record.id == cid
    assert record.system == "Be brief."
    assert record.created_at == START
    assert record.updated_at == START + timedelta(milliseconds=250)
    [turn] = record.turns
    assert turn == sent
    assert turn.seq == 1
    assert turn.started_at.tzinfo is UTC


def test_turns_append_in_order_and_the_listing_shows_the_latest_turn(store: HistoryStore) -> None:
    cid = store.new_conversation_id()
    store.record(make_turn(cid, "first question " * 10, started_at=minutes(0)))
    store.record(make_turn(cid, "second", model="gpt-4o", started_at=minutes(1)))
    store.record(make_turn(cid, "third", provider="echo", model="echo-1", started_at=minutes(2)))
    assert [turn.seq for turn in store.conversation(cid).turns] == [1, 2, 3]
    [summary] = store.conversations()
    assert (summary.provider, summary.model, summary.turns) == ("echo", "echo-1", 3)
    assert summary.title.startswith("first question first question")
    assert len(summary.title) <= 60
    assert summary.title.endswith("…")
    assert summary.to_json()["updated_at"] == (minutes(2) + timedelta(milliseconds=250)).isoformat()


def test_the_most_recently_updated_conversation_comes_first(store: HistoryStore) -> None:
    old, new, revived = "a" * 24, "b" * 24, "c" * 24
    store.record(make_turn(revived, "revived", started_at=minutes(0)))
    store.record(make_turn(old, "old", started_at=minutes(1)))
    store.record(make_turn(new, "new", started_at=minutes(2)))
    store.record(make_turn(revived, "again", started_at=minutes(3)))
    assert [s.id for s in store.conversations()] == [revived, new, old]
    assert [s.id for s in store.conversations(limit=2)] == [revived, new]
    assert len(store.conversations(limit=None)) == 3
    latest = store.latest()
    assert latest is not None
    assert [turn.prompt for turn in latest.turns] == ["revived", "again"]


def test_an_interrupted_turn_keeps_its_partial_answer(store: HistoryStore) -> None:
    cid = store.new_conversation_id()
    store.record(make_turn(cid, answer="The first half", status="interrupted", error="cut"))
    [turn] = store.conversation(cid).turns
    assert (turn.answer, turn.status, turn.error) == ("The first half", "interrupted", "cut")


def test_a_unique_prefix_names_a_conversation_and_an_ambiguous_one_is_refused(
    store: HistoryStore,
) -> None:
    store.record(make_turn("0190aa0001", "one"))
    store.record(make_turn("0190aa0002", "two"))
    store.record(make_turn("0190aa", "exact"))
    assert store.conversation("0190aa0001").turns[0].prompt == "one"
    with pytest.raises(InvalidRequestError, match=r"ambiguous.*0190aa0001, 0190aa0002"):
        store.conversation("0190aa00")
    assert store.conversation("0190aa").turns[0].prompt == "exact"  # an exact id wins
    with pytest.raises(InvalidRequestError, match="no conversation 'ffff'"):
        store.conversation("ffff")


def test_search_finds_words_of_prompts_and_answers(store: HistoryStore) -> None:
    store.record(make_turn("a1", "How do lighthouses work?", answer="With a lamp."))
    store.record(make_turn("b2", "Bake bread", answer="Knead the dough, then lighthouse."))
    store.record(make_turn("c3", "Nothing here", answer="Indeed."))
    assert {s.id for s in store.search("lighthouse")} == {"b2"}
    assert {s.id for s in store.search("LAMP how")} == {"a1"}
    assert store.search("lamp bread") == []  # every word, in one turn
    assert len(store.search("the", limit=1)) == 1


@pytest.mark.parametrize(
    "text", ['"', 'say "hi', "*", "lamp*", "a OR b", "-lamp", "NEAR(a b)", "x:y", "(", "^"]
)
def test_query_syntax_typed_by_a_user_is_searched_for_not_run(
    store: HistoryStore, text: str
) -> None:
    store.record(make_turn("a1", "a lamp", answer="b"))
    assert isinstance(store.search(text), list)


def test_search_treats_operators_as_words(store: HistoryStore) -> None:
    store.record(make_turn("a1", "cats", answer="dogs"))
    store.record(make_turn("b2", "cats OR dogs", answer="x"))
    assert [s.id for s in store.search("cats OR dogs")] == ["b2"]


def test_an_empty_search_is_refused(store: HistoryStore) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        store.search("  ")


def test_remove_takes_the_turns_and_their_search_entries(
    store: HistoryStore, db_path: Path
) -> None:
    store.record(make_turn("gone", "unicorn"))
    store.record(make_turn("gone", "unicorn again"))
    store.record(make_turn("kept", "unicorn kept"))
    store.remove("go")
    assert [s.id for s in store.conversations()] == ["kept"]
    assert [s.id for s in store.search("unicorn")] == ["kept"]
    with pytest.raises(InvalidRequestError, match="no conversation 'gone'"):
        store.conversation("gone")
    with pytest.raises(InvalidRequestError, match="no conversation 'gone'"):
        store.remove("gone")
    raw = sqlite3.connect(db_path)
    try:
        matched = raw.execute("SELECT rowid FROM turns_text WHERE turns_text MATCH 'unicorn'")
        assert len(matched.fetchall()) == 1
        raw.execute("INSERT INTO turns_text (turns_text) VALUES ('integrity-check')")
        assert raw.execute("SELECT count(*) FROM turns").fetchone() == (1,)
    finally:
        raw.close()


def test_reading_a_history_that_does_not_exist_creates_nothing(db_path: Path) -> None:
    with HistoryStore(db_path) as store:
        assert store.conversations() == []
        assert store.search("anything") == []
        assert store.latest() is None
        with pytest.raises(InvalidRequestError, match="no conversation"):
            store.conversation("abc")
        with pytest.raises(InvalidRequestError, match="no conversation"):
            store.remove("abc")
    assert not db_path.parent.exists()


def test_the_first_record_creates_a_private_directory_and_file(db_path: Path) -> None:
    with HistoryStore(db_path) as store:
        store.record(make_turn("a"))
        assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
        for path in db_path.parent.iterdir():  # history.db, -wal and -shm alike
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert store.path == db_path


def test_the_database_is_in_wal_mode_with_foreign_keys(store: HistoryStore, db_path: Path) -> None:
    store.record(make_turn("a"))
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        raw.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute(
                "INSERT INTO turns (conversation_id, seq, prompt, answer, provider, model,"
                " status, started_at, duration_ms) VALUES ('nobody', 1, '', '', '', '',"
                " 'complete', '', 0)"
            )
    finally:
        raw.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": "done"}, "status is one of complete, interrupted, failed"),
        ({"started_at": datetime(2025, 1, 1)}, "aware datetime"),
        ({"conversation_id": ""}, "conversation_id"),
    ],
)
def test_a_bad_turn_is_refused_when_made(fields: dict[str, Any], message: str) -> None:
    conversation_id = str(fields.pop("conversation_id", "a"))
    with pytest.raises(InvalidRequestError, match=message):
        make_turn(conversation_id, **fields)


def test_ids_are_unique_and_sort_by_time() -> None:
    ids = [HistoryStore.new_conversation_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(id) == 24 and int(id, 16) >= 0 for id in ids)
    assert [id[:12] for id in ids] == sorted(id[:12] for id in ids)


def test_one_store_is_shared_by_threads(store: HistoryStore) -> None:
    cid = store.new_conversation_id()

    def write(worker: int) -> None:
        for number in range(20):
            store.record(make_turn(cid, f"{worker}-{number}"))
            store.conversations()

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    turns = store.conversation(cid).turns
    assert [turn.seq for turn in turns] == list(range(1, 81))
    assert len({turn.prompt for turn in turns}) == 80


def test_a_turn_record_is_a_value(store: HistoryStore) -> None:
    turn = make_turn("a", attempts=[{"provider": "p", "error": "E", "message": "m"}])
    assert isinstance(turn.attempts, tuple)
    with pytest.raises(AttributeError):
        turn.prompt = "changed"  # type: ignore[misc]
    assert isinstance(turn, TurnRecord)
