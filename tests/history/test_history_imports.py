"""The history and ``aichats logs`` start fast: neither loads aiohttp or pydantic."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import aichats_core.history

HEAVY = "print(sorted(m for m in ('aiohttp', 'pydantic') if m in sys.modules))"


def _run(code: str, home: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "AICHATS_HOME": str(home)},
    )
    return done.stdout.strip().splitlines()[-1]


def test_importing_the_history_loads_neither_aiohttp_nor_pydantic(tmp_path: Path) -> None:
    assert _run(f"import sys, aichats_core.history; {HEAVY}", tmp_path) == "[]"


def test_aichats_logs_loads_neither(tmp_path: Path) -> None:
    code = (
        "import sys; from datetime import UTC, datetime\n"
        "from aichats_core.history import HistoryStore, TurnRecord\n"
        "HistoryStore().record(TurnRecord('c', 'p', 'a', 'x', 'm', 'complete',"
        " datetime.now(UTC), 1.0, error='timed out'))\n"
        "from aichats_core.cli import main\n"
        "for command in (['logs', 'list'], ['logs', 'show', 'c'], ['logs', 'search', 'p']):\n"
        "    main(command)\n"
        f"{HEAVY}"
    )
    assert _run(code, tmp_path) == "[]"


def test_all_is_sorted_and_names_exactly_the_public_api() -> None:
    module = aichats_core.history
    public = [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    ]
    assert module.__all__ == sorted(public)
    assert {"HistoryStore", "TurnRecord", "HISTORY_ENV", "default_path"} <= set(module.__all__)
