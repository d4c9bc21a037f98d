"""The REPL's tests: an emulator on its own thread (the test blocks on the terminal), and a
way to start ``aichats chat`` on a real pseudo-terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from providers.aichats.emulator import AiChatsEmulator, running_in_thread

AICHATS = str(Path(sys.executable).with_name("aichats"))


@pytest.fixture
def emulator() -> Iterator[AiChatsEmulator]:
    with running_in_thread() as running:
        yield running


@pytest.fixture
def home() -> Path:
    return Path(os.environ["AICHATS_HOME"])


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
