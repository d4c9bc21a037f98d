"""Fixtures of the sync API's tests: servers on a thread of their own (see sync_servers)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sync_servers import HangUpRecorder, ServerThread

from providers.aichats.emulator import AiChatsEmulator


@pytest.fixture
def server_thread() -> Iterator[ServerThread]:
    thread = ServerThread()
    yield thread
    thread.close()


@pytest.fixture
def emulator(server_thread: ServerThread) -> Iterator[AiChatsEmulator]:
    """The AiChats emulator, served from another thread than the test's."""
    running = AiChatsEmulator()
    server_thread.run(running.start())
    yield running
    server_thread.run(running.stop())


@pytest.fixture
def hang_up_recorder(server_thread: ServerThread) -> Iterator[HangUpRecorder]:
    recorder = HangUpRecorder()
    server_thread.run(recorder.start())
    yield recorder
    server_thread.run(recorder.stop())
