from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from forward_proxy import ForwardProxy


@pytest.fixture
async def forward_proxy() -> AsyncIterator[ForwardProxy]:
    """A recording HTTP forward proxy on a free loopback port (no credentials needed)."""
    async with ForwardProxy() as running:
        yield running


@pytest.fixture
async def aiohttp_slow_image_server() -> AsyncIterator[str]:
    """An AiChats-like service whose image trickles out far slower than any sane bound."""

    async def api(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"url": f"{request.url.origin()}/slow.png"}]})

    async def slow_image(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        await response.prepare(request)
        for _ in range(100):
            await response.write(b"\x89PNG\r\n\x1a\n")
            await asyncio.sleep(0.1)
        return response

    app = web.Application()
    app.router.add_post("/chat/send2/", api)
    app.router.add_get("/slow.png", slow_image)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")
