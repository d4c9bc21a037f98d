"""``aichats chat`` and the history: each chat recorded, ``-c``/``--cid`` continuing one,
``--no-log`` and ``AICHATS_HISTORY=0`` recording nothing, and no secret in the file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from aichats_command import AICHATS, run

from providers.aichats.emulator import Script, running_in_thread


def logs(*args: str) -> list[dict]:  # type: ignore[type-arg]
    result = run("logs", *args, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture
def home() -> Path:
    return Path(os.environ["AICHATS_HOME"])


def test_a_chat_with_a_prompt_is_a_new_conversation_of_one_turn() -> None:
    assert run("chat", "--emulate", "One").returncode == 0
    assert run("chat", "--emulate", "Two").returncode == 0
    listed = logs("list")
    assert [(c["turns"], c["provider"], c["model"]) for c in listed] == [
        (1, "aichats", "gpt-4")
    ] * 2
    [shown] = logs("show", listed[0]["id"])
    [turn] = shown["turns"]
    assert (turn["prompt"], turn["status"]) == ("Two", "complete")
    assert turn["answer"] == "Hello from the AiChats emulator! You said: Two"
    assert turn["duration_ms"] >= 0
    assert turn["started_at"].endswith("+00:00")


def test_continue_and_cid_add_turns_to_a_conversation() -> None:
    run("chat", "--emulate", "--system", "Be brief", "First")
    result = run("chat", "--emulate", "-c", "Second")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello from the AiChats emulator! You said: System: Be brief")
    assert "User: First\nAssistant: Hello" in result.stdout
    [conversation] = logs("list")
    result = run("chat", "--emulate", "--cid", conversation["id"][:12], "Third")
    assert result.returncode == 0, result.stderr
    [shown] = logs("show", conversation["id"])
    assert [t["prompt"] for t in shown["turns"]] == ["First", "Second", "Third"]
    assert {t["system"] for t in shown["turns"]} == {"Be brief"}  # kept when continuing
    assert [c["id"] for c in logs("search", "Third")] == [conversation["id"]]


def test_continue_without_any_conversation_says_how_to_start_one() -> None:
    result = run("chat", "--emulate", "-c", "Hi")
    assert result.returncode == 1
    assert result.stderr.startswith("aichats: error: -c: there is no conversation to continue")
    assert result.stderr.count("\n") == 1
    result = run("chat", "--emulate", "--cid", "0123", "Hi")
    assert result.returncode == 1
    assert "no conversation '0123'" in result.stderr


def test_no_log_and_the_environment_switch_record_nothing(home: Path) -> None:
    assert run("chat", "--emulate", "--no-log", "Hi").returncode == 0
    assert run("chat", "--emulate", "Hi", env={"AICHATS_HISTORY": "0"}).returncode == 0
    assert not (home / "history.db").exists()
    run("chat", "--emulate", "Kept")
    result = run("chat", "--emulate", "-c", "--no-log", "Not kept")  # reads, records nothing
    assert result.returncode == 0
    assert "User: Kept" in result.stdout
    [conversation] = logs("list")
    assert conversation["turns"] == 1


def test_a_failed_chat_is_recorded_as_failed_and_secrets_stay_out(home: Path) -> None:
    secret = "s3cr3t-cookie-value"
    result = run(
        "chat", "--base-url", "http://127.0.0.1:9", "--cookie", f"sid={secret}",
        "--proxy", "http://user:hunter2-proxy@127.0.0.1:9", "-o", "aichats.cookies=x", "Hi",
    )  # fmt: skip
    assert result.returncode == 1
    [conversation] = logs("list")
    [shown] = logs("show", conversation["id"])
    [turn] = shown["turns"]
    assert turn["status"] == "failed"
    assert turn["answer"] == ""
    assert turn["error"]
    assert conversation["provider"] == turn["provider"] == "aichats"  # registered, not AiChats
    raw = b"".join(path.read_bytes() for path in home.glob("history.db*"))
    assert b"cookies" in raw  # the option's name is kept
    for secret_text in (secret, "hunter2-proxy"):
        assert secret_text.encode() not in raw


def test_a_cut_answer_is_recorded_as_interrupted_with_its_partial_text() -> None:
    with running_in_thread() as emulator:
        emulator.enqueue(Script(text="one two three four", events=4, disconnect_after=2))
        result = run("chat", "--base-url", emulator.url, "Hi")
    assert result.returncode == 1
    assert result.stdout == "one two th\n"  # the partial text, then its own line for the error
    assert result.stderr.startswith("aichats: error: aichats: the connection was cut")
    [conversation] = logs("list")
    [shown] = logs("show", conversation["id"])
    [turn] = shown["turns"]
    assert (turn["status"], turn["answer"]) == ("interrupted", "one two th")


def test_six_chats_at_once_into_one_conversation_lose_no_turn() -> None:
    run("chat", "--emulate", "Start")
    [conversation] = logs("list")
    chats = [
        subprocess.Popen(
            [AICHATS, "chat", "--emulate", "--cid", conversation["id"], f"turn {n}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for n in range(6)
    ]
    for chat in chats:
        _, errors = chat.communicate(timeout=60)
        assert chat.returncode == 0, errors
    [shown] = logs("show", conversation["id"])
    assert [t["seq"] for t in shown["turns"]] == list(range(1, 8))
    assert sorted(t["prompt"] for t in shown["turns"][1:]) == [f"turn {n}" for n in range(6)]


def test_a_history_that_cannot_be_written_costs_one_warning_not_the_answer(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run("chat", "--emulate", "Hi", env={"AICHATS_HOME": str(blocker / "home")})
    assert result.returncode == 0
    assert result.stdout == "Hello from the AiChats emulator! You said: Hi\n"
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("aichats: could not record a turn: history database")
    assert "AICHATS_HISTORY=0" in result.stderr


def test_a_terminated_chat_records_its_answer_as_interrupted() -> None:
    import signal
    import time

    with running_in_thread() as emulator:
        emulator.enqueue(Script(text=" ".join(f"w{i}" for i in range(30)), events=30, delay=0.1))
        chat = subprocess.Popen(
            [AICHATS, "chat", "--base-url", emulator.url, "story"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(1.0)
        chat.send_signal(signal.SIGTERM)
        out, errors = chat.communicate(timeout=30)
    assert chat.returncode == 128 + signal.SIGTERM, errors
    [conversation] = logs("list")
    [shown] = logs("show", conversation["id"])
    [turn] = shown["turns"]
    assert turn["status"] == "interrupted"
    assert turn["answer"].startswith("w0 w1 ")
    assert out.startswith(turn["answer"][:6])
