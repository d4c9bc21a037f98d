"""Guards that mutation testing found untested, each over real loopback sockets.

Each test fails when its guarded line is removed: the image bound while reading (a chunked
body declares no size), the JSON bound while reading, the drain after ``[DONE]`` that returns
the connection to the pool, and a ``Client`` leaving a session it was given open.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer
from aiohttp.typedefs import Handler

import aichats_core
from aichats_core import Client
from aichats_core.errors import ResponseFormatError
from aichats_core.http import HttpSession, download_data_uri
from aichats_core.http._session import DRAIN_GRACE
from providers.aichats.emulator import AiChatsEmulator, Script

LIMIT = 1000
PNG_HEAD = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8


@pytest.fixture
async def chunked_server() -> AsyncIterator[BaseTestServer]:
    """``/image``: a PNG of 4 x ``LIMIT`` bytes, ``/json``: a JSON string as long, both chunked
    (no ``Content-Length``), so only a bound applied while reading can stop them."""

    def chunked(content_type: str, body: bytes) -> Handler:
        async def stream(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": content_type})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(body), LIMIT // 4):
                await response.write(body[start : start + LIMIT // 4])
            return response

        return stream

    app = web.Application()
    app.router.add_get("/image", chunked("image/png", PNG_HEAD.ljust(4 * LIMIT, b"\x00")))
    app.router.add_get("/json", chunked("application/json", b'"' + b"x" * 4 * LIMIT + b'"'))
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


async def test_an_image_without_a_declared_size_is_bounded_while_reading(
    chunked_server: BaseTestServer,
) -> None:
    async with HttpSession("Guarded") as http:
        with pytest.raises(ResponseFormatError, match=f"over the limit of {LIMIT} bytes"):
            await download_data_uri(
                http, str(chunked_server.make_url("/image")), max_bytes=LIMIT, allow_private=True
            )


async def test_a_json_answer_without_a_declared_size_is_bounded_while_reading(
    chunked_server: BaseTestServer,
) -> None:
    async with (
        HttpSession("Guarded") as http,
        http.request("GET", str(chunked_server.make_url("/json"))) as response,
    ):
        assert response.content_length is None
        with pytest.raises(ResponseFormatError, match=f"larger than the limit of {LIMIT} bytes"):
            await http.read_json(response, max_bytes=LIMIT)


def _connection_counter() -> tuple[aiohttp.TraceConfig, list[int]]:
    """A trace config and the list it appends to for each new connection (reuse adds none)."""
    created: list[int] = []

    async def on_create(*_: object) -> None:
        created.append(1)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_create)
    return trace, created


async def test_calls_share_one_connection_when_the_body_ends_just_after_done() -> None:
    # The terminating chunk comes a fifth of the drain's grace after [DONE]: only the drain
    # waits for it, and a response released before its body's end closes its connection.
    script = Script(text="Hi", events=1, stall_after=2, stall_for=DRAIN_GRACE / 5)
    trace, created = _connection_counter()
    async with (
        AiChatsEmulator(script=script) as emulator,
        aiohttp.ClientSession(trace_configs=[trace]) as session,
    ):
        for _ in range(3):
            assert (
                await aichats_core.complete("aichats", "hi", session=session, base_url=emulator.url)
                == "Hi"
            )
        assert len(emulator.requests) == 3
        assert len(created) == 1


async def test_a_client_leaves_a_session_it_was_given_open() -> None:
    async with AiChatsEmulator(script=Script(text="Hi")) as emulator:
        async with aiohttp.ClientSession() as session:
            async with Client(session=session, base_url=emulator.url) as client:
                assert client.session is session
                assert await client.complete("aichats", "hi") == "Hi"
            assert not session.closed
            async with Client(session=session, base_url=emulator.url) as client:
                assert await client.complete("aichats", "again") == "Hi"
            assert not session.closed
        assert len(emulator.requests) == 2
