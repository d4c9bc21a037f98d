"""``aichats logs``, run as a user runs it: a subprocess with AICHATS_HOME in a fresh directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from history_helpers import make_turn, minutes

from aichats_core.history import HistoryStore

OLD, NEW = "0190a0000000aaaaaaaaaaaa", "0190b0000000bbbbbbbbbbbb"


def logs(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichats_core", "logs", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "AICHATS_HOME": str(home)},
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A history of two conversations: OLD (two turns, the second interrupted), then NEW."""
    with HistoryStore(tmp_path / "history.db") as store:
        store.record(make_turn(OLD, "Tell me about zebras", started_at=minutes(0), system="S"))
        store.record(
            make_turn(
                OLD,
                "And okapis?",
                answer="Okapis are",
                status="interrupted",
                error="the stream ended early",
                started_at=minutes(1),
                usage={"prompt_tokens": 5, "completion_tokens": 2},
            )
        )
        store.record(
            make_turn(NEW, "Bake bread", provider="echo", model="e1", started_at=minutes(5))
        )
    return tmp_path


def test_list_shows_the_most_recent_conversation_first(home: Path) -> None:
    result = logs(home, "list")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first.startswith(NEW)
    assert "echo/e1" in first
    assert "1 turn " in first
    assert first.endswith("Bake bread")
    assert second.startswith(OLD)
    assert "aichats/gpt-4" in second
    assert "2 turns" in second
    assert logs(home, "list", "-n", "1").stdout.splitlines() == [first]


def test_list_json_is_one_object_per_line(home: Path) -> None:
    rows = [json.loads(line) for line in logs(home, "list", "--json").stdout.splitlines()]
    assert [row["id"] for row in rows] == [NEW, OLD]
    assert rows[1]["provider"] == "aichats"
    assert rows[1]["model"] == "gpt-4"
    assert rows[1]["turns"] == 2
    assert rows[1]["updated_at"].startswith("2025-03-01T12:01:00.25")


def test_show_json_gives_every_turn(home: Path) -> None:
    result = logs(home, "show", OLD[:8], "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == OLD
    first, second = shown["turns"]
    assert first["prompt"] == "Tell me about zebras"
    assert first["status"] == "complete"
    assert second["answer"] == "Okapis are"
    assert second["status"] == "interrupted"
    assert second["usage"] == {"prompt_tokens": 5, "completion_tokens": 2}
    for turn in shown["turns"]:
        assert {"prompt", "answer", "provider", "model", "status", "usage"} <= set(turn)
        assert {"started_at", "duration_ms"} <= set(turn)
    assert second["started_at"] == "2025-03-01T12:01:00+00:00"
    assert second["duration_ms"] == 250.0


def test_show_prints_each_turn_under_a_header(home: Path) -> None:
    out = logs(home, "show", OLD).stdout
    assert "system: S" in out
    assert "--- 1. aichats/gpt-4  complete  0.2 s" in out
    assert "--- 2. aichats/gpt-4  interrupted" in out
    assert "> And okapis?\nOkapis are\n[interrupted: the stream ended early]" in out


def test_search_finds_conversations_by_their_words(home: Path) -> None:
    found = [
        json.loads(line)["id"]
        for line in logs(home, "search", "okapis", "--json").stdout.split("\n")
        if line
    ]
    assert found == [OLD]
    assert logs(home, "search", "bread").stdout.startswith(NEW)
    assert logs(home, "search", 'say "hi OR *').returncode == 0


def test_rm_removes_one_conversation(home: Path) -> None:
    assert logs(home, "rm", NEW).returncode == 0
    assert [line.split()[0] for line in logs(home, "list").stdout.splitlines()] == [OLD]


def test_path_and_db_flag(home: Path, tmp_path: Path) -> None:
    assert logs(home, "path").stdout == f"{home / 'history.db'}\n"
    other = tmp_path / "other.db"
    assert logs(home, "path", "--db", str(other)).stdout == f"{other}\n"
    assert logs(home, "--db", str(other), "path").stdout == f"{other}\n"  # before the action
    assert logs(home, "--db", str(home / "history.db"), "list", "-n", "0").stdout.count("\n") == 2
    assert logs(home, "list", "--db", str(other)).stdout == ""
    assert not other.exists()


def test_without_a_database_list_prints_nothing_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    result = logs(home, "list")
    assert (result.returncode, result.stdout) == (0, "")
    assert "no history yet" in result.stderr
    assert logs(home, "list", "--json").stdout == ""
    assert not home.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("show", "ffff"), "no conversation 'ffff'"),
        (("rm", "ffffff"), "no conversation 'ffffff'"),
        (("rm", "0"), "give at least 6 characters of the id"),
        (("show", "0190"), "ambiguous"),
        (("search", " "), "empty"),
    ],
)
def test_mistakes_are_one_line_errors(home: Path, args: tuple[str, ...], expected: str) -> None:
    result = logs(home, *args)
    assert result.returncode == 1
    assert result.stderr.startswith("aichats: error: ")
    assert result.stderr.count("\n") == 1
    assert expected in result.stderr


def test_a_database_from_a_newer_aichats_is_a_one_line_error(tmp_path: Path) -> None:
    import sqlite3

    raw = sqlite3.connect(tmp_path / "history.db")
    raw.execute("PRAGMA user_version = 7")
    raw.close()
    result = logs(tmp_path, "list")
    assert result.returncode == 1
    assert "schema version 7, newer than this aichats supports" in result.stderr
    assert "Traceback" not in result.stderr
