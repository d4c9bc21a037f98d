"""The REPL's tests: an emulator on its own thread (the test blocks on the terminal), and the
history's home (``pty_chat`` starts the chat on a real pseudo-terminal)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.aichats.emulator import AiChatsEmulator, running_in_thread


@pytest.fixture
def emulator() -> Iterator[AiChatsEmulator]:
    with running_in_thread() as running:
        yield running


@pytest.fixture
def home() -> Path:
    return Path(os.environ["AICHATS_HOME"])
