"""The bytes of a stream: keep-alive comments, in-band errors and the shutdown grace period."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp.test_utils import TestServer

from aichats_core.server import create_app
from aichats_core.server._state import STATE
from providers.aichats.emulator import AiChatsEmulator, Script

StartServer = Callable[..., Awaitable[str]]
CHAT = {"model": "aichats", "messages": [{"role": "user", "content": "Hi"}], "stream": True}


def events(body: bytes) -> list[str]:
    return [event for event in body.decode().split("\n\n") if event]


async def test_a_silent_provider_gets_keep_alive_comments(
    start_server: StartServer, emulator: AiChatsEmulator, http: aiohttp.ClientSession
) -> None:
    base_url = await start_server(keepalive_interval=0.05)
    emulator.enqueue(Script(text="slow reply", events=2, delay=0.3))
    async with http.post(base_url + "/chat/completions", json=CHAT) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        body = await response.read()
    sent = events(body)
    # The role chunk and a keep-alive go out before the provider said anything...
    role = json.loads(sent[0][6:])["choices"][0]["delta"]
    assert role == {"role": "assistant", "content": ""}
    assert sent[1] == ": keep-alive"
    data = [event for event in sent if event.startswith("data: ")]
    # ...and more keep-alives between the texts.
    assert sent.index(data[2]) > sent.index(data[1]) + 1
    assert data[-1] == "data: [DONE]"
    texts = [json.loads(event[6:])["choices"][0]["delta"].get("content") for event in data[:-1]]
    assert "".join(t or "" for t in texts) == "slow reply"


async def test_a_failure_after_a_keep_alive_is_sent_in_band(
    start_server: StartServer, emulator: AiChatsEmulator, http: aiohttp.ClientSession
) -> None:
    base_url = await start_server(keepalive_interval=0.05)
    emulator.enqueue(Script(text="never", stall_after=0, stall_for=0.3, disconnect_after=0))
    async with http.post(base_url + "/chat/completions", json=CHAT) as response:
        assert response.status == 200  # committed by the keep-alive
        body = await response.read()
    last = events(body)[-1]
    assert last.startswith("data: ")
    error = json.loads(last[6:])["error"]
    assert (error["type"], error["code"]) == ("api_error", "upstream_error")
    assert b"[DONE]" not in body
    assert b'"finish_reason":"stop"' not in body


async def test_shutdown_ends_open_streams_in_band_after_the_grace_period(
    emulator: AiChatsEmulator,
) -> None:
    emulator.enqueue(Script(text="first then nothing", events=2, stall_after=1, stall_for=30))
    app = create_app(provider_options={"aichats": emulator.provider_options()})
    app[STATE].shutdown_grace = 0.2
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        try:
            response = await http.post(str(server.make_url("/v1/chat/completions")), json=CHAT)
            async with response:
                await response.content.readuntil(b"\n\n")  # the stream is open
                closing = asyncio.create_task(server.close())
                body = await asyncio.wait_for(response.read(), timeout=5)
                await asyncio.wait_for(closing, timeout=5)
        finally:
            await server.close()
    error = json.loads(events(body)[-1][6:])["error"]
    assert error["code"] == "server_shutting_down"
    assert b"[DONE]" not in body
