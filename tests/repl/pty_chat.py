"""Starting ``aichats`` on a real pseudo-terminal, for the REPL's tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect

AICHATS = str(Path(sys.executable).with_name("aichats"))


def spawn(*args: str, env: dict[str, str] | None = None) -> pexpect.spawn:
    """``aichats ARGS`` on a pseudo-terminal of 120 columns, its output as text."""
    child = pexpect.spawn(
        AICHATS,
        list(args),
        env={**os.environ, "TERM": "xterm", **(env or {})},
        encoding="utf-8",
        timeout=20,
        dimensions=(40, 120),
    )
    return child
