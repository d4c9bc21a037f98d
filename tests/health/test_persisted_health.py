"""Health shared by processes: ``aichats`` commands, run as subprocesses, write what they
measure to the SQLite home; the next process skips or refuses a provider that kept failing,
and ``aichats providers`` shows it."""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from aichats_command import run

from providers.aichats.emulator import AiChatsEmulator, Script, running_in_thread


def closed_port() -> str:
    """The URL of a loopback port nothing listens on: every call is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def listed_health(env: dict[str, str] | None = None) -> dict[str, Any]:
    lines = run("providers", "--json", env=env).stdout.splitlines()
    row = next(json.loads(line) for line in lines if json.loads(line)["name"] == "aichats")
    health: dict[str, Any] = row["health"]
    return health


def test_failing_processes_open_the_breaker_for_the_next_one_and_providers_shows_it() -> None:
    dead = closed_port()
    for _ in range(5):  # the default policy: 5 transient failures in a row
        failed = run("chat", "--base-url", dead, "Hi")
        assert failed.returncode == 1
        assert "cannot connect" in failed.stderr
    refused = run("chat", "--base-url", dead, "Hi")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1
    assert "Traceback" not in refused.stderr
    assert "is cooling down until" in refused.stderr
    assert "ignore_breaker=True" in refused.stderr
    health = listed_health()
    assert health["status"] == "cooling"
    until = datetime.fromisoformat(health["cooling_until"])
    assert 20 < (until - datetime.now(until.tzinfo)).total_seconds() <= 30
    assert health["success_rate"] == 0.0
    assert health["last_success"] is None
    assert datetime.fromisoformat(health["last_error"]) < until
    table = run("providers").stdout
    assert f"cooling until {health['cooling_until'][11:19]}" in table


def test_answers_measured_by_chat_and_check_show_in_the_listing(tmp_path: Path) -> None:
    fresh = {"AICHATS_HOME": str(tmp_path)}
    with running_in_thread(AiChatsEmulator()) as emulator:
        emulator.enqueue(Script(status=503), Script(), Script())
        for _ in range(2):
            run("chat", "--base-url", emulator.url, "Hi")
        checked = run("check", "aichats", "--base-url", emulator.url)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        for _ in range(2):
            run("chat", "--base-url", emulator.url, "Hi", env=fresh)
    health = listed_health()
    assert health["status"] == "degraded"  # 2 of 3 answered: under 90%
    assert health["success_rate"] == round(2 / 3, 4)
    assert 0 < health["median_first_event_ms"] < 5000
    assert health["last_success"] > health["last_error"]
    elsewhere = listed_health(env=fresh)
    assert (elsewhere["status"], elsewhere["success_rate"]) == ("ok", 1.0)
    assert elsewhere["last_error"] is None
    assert elsewhere["cooling_until"] is None


def test_check_probes_a_cooling_provider_and_its_answer_closes_the_breaker() -> None:
    dead = closed_port()
    for _ in range(5):
        run("chat", "--base-url", dead, "Hi")
    assert listed_health()["status"] == "cooling"
    with running_in_thread(AiChatsEmulator()) as emulator:
        checked = run("check", "aichats", "--base-url", emulator.url)
        assert checked.returncode == 0, checked.stdout
        answered = run("chat", "--base-url", emulator.url, "Hi")
    assert answered.returncode == 0, answered.stderr
    assert listed_health()["status"] == "degraded"  # closed, but 2 of 7 answered


def test_emulated_calls_and_health_off_leave_nothing_behind() -> None:
    dead = closed_port()
    for _ in range(5):
        run("chat", "--emulate", "Hi")
        run("chat", "--base-url", dead, "Hi", env={"AICHATS_HEALTH": "0"})
    assert run("chat", "--base-url", dead, "Hi").stderr.count("cannot connect") == 1
    health = listed_health()
    assert (health["status"], health["success_rate"]) == ("degraded", 0.0)  # that last call only
    assert listed_health(env={"AICHATS_HEALTH": "0"})["status"] == "unknown"
