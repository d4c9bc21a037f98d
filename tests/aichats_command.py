"""The installed ``aichats`` command, run as a user runs it: a subprocess with the test's
environment (its own ``AICHATS_HOME``), no terminal, and a minute at most."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AICHATS = str(Path(sys.executable).with_name("aichats"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AICHATS, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
        stdin=subprocess.DEVNULL,
    )
