"""``aichats chat --stop`` and ``--max-tokens``, and capabilities in ``aichats providers``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AICHATS = str(Path(sys.executable).with_name("aichats"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AICHATS, *args], capture_output=True, text=True, timeout=60, check=False)


def test_stop_and_max_tokens_end_the_answer() -> None:
    stopped = run("chat", "--emulate", "--no-log", "--stop", "You said", "Hello")
    assert stopped.stdout == "Hello from the AiChats emulator! \n"
    cut = run("chat", "--emulate", "--no-log", "--json", "--max-tokens", "3", "Hello")
    events = [json.loads(line) for line in cut.stdout.splitlines()]
    assert "".join(e["text"] for e in events if e["kind"] == "text") == "Hello from t"
    assert events[-1]["reason"] == "length"


def test_a_bad_limit_is_a_usage_error() -> None:
    result = run("chat", "--emulate", "--max-tokens", "0", "Hello")
    assert result.returncode == 2
    assert "--max-tokens: must be greater than 0" in result.stderr


def test_providers_lists_what_each_can_take() -> None:
    rows = [json.loads(line) for line in run("providers", "--json").stdout.splitlines()]
    aichats = next(row for row in rows if row["name"] == "aichats")
    assert aichats["capabilities"] == []  # text only: the core enforces max_tokens and stop
    assert "CAN" in run("providers").stdout.splitlines()[0]
