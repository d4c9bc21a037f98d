"""A client that hangs up stops the provider's call: under ``serve()``, and under a runner
that does not cancel handlers (gunicorn's worker)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web

from aichats_core import AsyncGeneratorProvider, ProviderModelMixin
from aichats_core.server import create_app, serve
from aichats_core.server._state import STATE
from aichats_core.testing import registered
from aichats_core.types import Messages


class Stalling(AsyncGeneratorProvider, ProviderModelMixin):
    """Says one word, then nothing for a minute; tells when it started and when it closed."""

    url = "https://stalling.invalid"
    default_model = "m"
    models: ClassVar[list[str]] = ["m"]
    started: ClassVar[asyncio.Event]
    closed: ClassVar[asyncio.Event]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        try:
            yield "first "
            cls.started.set()
            await asyncio.sleep(60)
            yield "never"
        finally:
            cls.closed.set()


@pytest.fixture
def stalling() -> Iterator[type[Stalling]]:
    provider = type("Stalling", (Stalling,), {})
    provider.started, provider.closed = asyncio.Event(), asyncio.Event()
    with registered("stalling", provider):
        yield provider


async def hang_up(url: str, stream: bool, provider: type[Stalling]) -> float:
    """Start a chat, hang up once the provider is in its silence; seconds until it closed."""
    body = {"model": "stalling", "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    async with aiohttp.ClientSession() as http:
        request = asyncio.ensure_future(http.post(url + "/v1/chat/completions", json=body))
        await asyncio.wait_for(provider.started.wait(), timeout=5)
        if stream:
            response = await request
            await response.content.readuntil(b"\n\n")  # the role chunk: the stream is open
            response.close()  # drops the connection
        else:
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)
    left = time.monotonic()  # the session closed: the connection is gone
    await asyncio.wait_for(provider.closed.wait(), timeout=5)
    return time.monotonic() - left


@pytest.mark.parametrize("stream", [True, False])
async def test_serve_stops_the_provider_when_the_client_hangs_up(
    stalling: type[Stalling], caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(port=0, ready=listening.set_result, keepalive_interval=30))
    try:
        url = await asyncio.wait_for(listening, timeout=5)
        with caplog.at_level(logging.ERROR):
            # At once: the handler is cancelled, not found out at its next check (1 s).
            assert await hang_up(url, stream, stalling) < 0.5
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("stream", [True, False])
async def test_without_handler_cancellation_the_handler_notices_by_itself(
    stalling: type[Stalling], caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    app = create_app(keepalive_interval=30)
    app[STATE].poll_interval = 0.05
    # As aiohttp's GunicornWebWorker builds it: no handler_cancellation.
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
    async with AsyncExitStack() as stack:
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        with caplog.at_level(logging.ERROR):
            assert await hang_up(f"http://127.0.0.1:{port}", stream, stalling) < 1
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
