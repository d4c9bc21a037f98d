"""A request whose client hung up mid-answer still gets its access-log line, marked."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest

from aichats_core.server import serve
from aichats_core.testing import ScriptedProvider, registered


@pytest.mark.parametrize("stream", [True, False])
async def test_an_abandoned_request_is_logged_with_a_note(
    caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    slow = ScriptedProvider.script("first ", "never", delay=0.3)
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    body = {"model": "slow", "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    with registered("slow", slow), caplog.at_level(logging.INFO, logger="aiohttp.access"):
        server = asyncio.create_task(serve(port=0, ready=listening.set_result))
        try:
            url = await asyncio.wait_for(listening, timeout=5) + "/v1/chat/completions"
            async with aiohttp.ClientSession() as http:
                request = asyncio.ensure_future(http.post(url, json=body))
                if stream:
                    response = await request
                    await response.content.readuntil(b"\n\n")
                    response.close()
                else:
                    await asyncio.sleep(0.2)
                    request.cancel()
                    await asyncio.gather(request, return_exceptions=True)
            for _ in range(50):
                if "client gone" in caplog.text:
                    break
                await asyncio.sleep(0.05)
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)
    [line] = [r.getMessage() for r in caplog.records if "/v1/chat/completions" in r.getMessage()]
    assert line.endswith("(client gone)")
    assert (" 200 " if stream else " 499 ") in line
