"""SIGTERM ends ``aichats serve`` within its grace, even with a client that stopped reading."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.web_server import Server
from raw_http import Served, serving

from aichats_core.server import _protocol
from aichats_core.server._protocol import ABORT_WAIT
from aichats_core.server._run import SHUTDOWN_MARGIN
from providers.aichats.emulator import AiChatsEmulator, Script

GRACE = 2.0
BOUND = SHUTDOWN_MARGIN + ABORT_WAIT
"""What the code lets the exit take beyond the grace: the in-band ends written, then the
aborted handlers' wait."""
SLACK = 2.0
"""The interpreter's and the emulator's teardown on a loaded machine. The bug this guards
against took 8.1 s with a 2 s grace: well past GRACE + BOUND + SLACK."""


@asynccontextmanager
async def _stalled_reader(served: Served) -> AsyncIterator[socket.socket]:
    """A client that asked for a long stream and stopped reading it after the first bytes,
    with a tiny receive buffer: the server's writes to it block once its buffers are full."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    body = json.dumps(
        {"model": "aichats", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    ).encode()
    try:
        await loop.sock_connect(client, (served.host, served.port))
        await loop.sock_sendall(
            client,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
        )
        first = await asyncio.wait_for(loop.sock_recv(client, 1024), 10)
        assert first.startswith(b"HTTP/1.1 200"), first
        yield client  # never read again
    finally:
        client.close()


def _long_answer(emulator: AiChatsEmulator) -> None:
    """Megabytes of stream, far more than every socket buffer between server and client."""
    emulator.enqueue(Script(text="word " * 5_000_000, events=50_000))


async def _exit_time(served: Served, signals: int) -> float:
    """Seconds from the first SIGTERM to the process's exit; ``signals`` SIGTERMs 0.3 s apart."""
    started = time.monotonic()
    for _ in range(signals):
        served.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
    while served.process.poll() is None:
        assert time.monotonic() - started < 60, "the server did not exit"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_sigterm_ends_a_stream_whose_client_stopped_reading_within_the_grace(
    tmp_path: Path, emulator: AiChatsEmulator
) -> None:
    _long_answer(emulator)
    args = ("--shutdown-grace", str(GRACE), "-o", f"aichats.base_url={emulator.url}")
    with serving(tmp_path / "server.log", *args) as served:
        async with _stalled_reader(served):
            await asyncio.sleep(2)  # the server's buffers fill; its writes block
            elapsed = await _exit_time(served, signals=1)
    assert served.process.returncode == 0, served.output()
    assert elapsed <= GRACE + BOUND + SLACK, f"exited {elapsed:.1f} s after SIGTERM"
    assert elapsed >= GRACE - 0.5  # the stream did get its grace
    assert "Traceback" not in served.output()


async def test_a_second_sigterm_exits_at_once(tmp_path: Path, emulator: AiChatsEmulator) -> None:
    _long_answer(emulator)
    args = ("--shutdown-grace", "30", "-o", f"aichats.base_url={emulator.url}")
    with serving(tmp_path / "server.log", *args) as served:
        async with _stalled_reader(served):
            await asyncio.sleep(2)
            elapsed = await _exit_time(served, signals=2)
    # the second signal aborts every connection: the 30 s grace is not waited for
    assert elapsed < 0.3 + ABORT_WAIT + SLACK, f"exited {elapsed:.1f} s after the first SIGTERM"
    assert "Traceback" not in served.output()


async def test_a_cancellation_while_the_graceful_wait_ends_is_not_swallowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The runner's task, cancelled while ``shutdown`` waits for the cancelled graceful wait
    to end, ends cancelled."""
    ending = asyncio.Event()

    async def slow_to_end(self: Server, timeout: float | None = None) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            ending.set()
            await asyncio.sleep(3600)  # until cancelled again: by the task's own cancellation

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        raise AssertionError("no request is made")

    monkeypatch.setattr(Server, "shutdown", slow_to_end)
    monkeypatch.setattr(_protocol, "ABORT_WAIT", 0.0)
    clients = _protocol.ClientServer(Server(handler), head_timeout=1, max_clients=None)
    task = asyncio.create_task(clients.shutdown(timeout=0.0))
    await asyncio.wait_for(ending.wait(), 10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert task.cancelled()
