"""Services that break HTTP, JSON or their protocol's end rule, over real loopback sockets.

Each failure must blame the right party with a typed error: a peer that does not speak HTTP
is not "HTTP 400", JSON nested too deep is not a plugin bug, a stream without the end marker
its protocol requires is an interruption, and an image URL that does not parse is the
provider's fault.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aichats_core import TextChunk, stream
from aichats_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderHTTPError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.http import HttpSession, image_bytes
from providers.aichats.emulator import AiChatsEmulator, Script

RawServer = Callable[[bytes], Awaitable[str]]


@pytest.fixture
async def raw_server() -> AsyncIterator[RawServer]:
    """``await raw_server(answer) -> base_url``: a TCP server that reads a little of the
    request, writes ``answer`` and closes; what aiohttp's server would refuse to produce."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            writer.write(answer)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def chat(base_url: str, model: str = "gpt-4") -> list[object]:
    return [e async for e in stream("aichats", "hi", model=model, base_url=base_url, timeout=5)]


@pytest.mark.parametrize(
    "answer", [b"SSH-2.0-OpenSSH_9.6\r\n", b"\x00\xff\xfe garbage\r\n\r\n"], ids=["ssh", "binary"]
)
async def test_a_peer_that_does_not_speak_http_is_a_connection_error(
    raw_server: RawServer, answer: bytes
) -> None:
    base_url = await raw_server(answer)
    with pytest.raises(ProviderConnectionError, match="does not speak HTTP") as caught:
        await chat(base_url)
    assert not isinstance(caught.value, ProviderHTTPError)
    assert "HTTP 400" not in str(caught.value)
    assert "check base_url" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nNo colon here\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    ],
    ids=["header", "status", "framing"],
)
async def test_broken_http_after_a_status_line_is_a_format_error(
    raw_server: RawServer, answer: bytes
) -> None:
    base_url = await raw_server(answer)
    with pytest.raises(ResponseFormatError, match="not valid HTTP") as caught:
        await chat(base_url)
    assert "HTTP 400" not in str(caught.value)


async def json_server(body: str) -> TestServer:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/chat/send2/", answer)
    return TestServer(app, host="127.0.0.1")


@pytest.mark.parametrize("depth", [100_000, 150])
async def test_json_nested_too_deep_is_a_format_error_not_a_plugin_bug(depth: int) -> None:
    async with await json_server("[" * depth + "]" * depth) as server:
        with pytest.raises(ResponseFormatError, match="nests more than 100 levels"):
            await chat(str(server.make_url("")).rstrip("/"), model="dalle")


async def test_an_unterminated_string_full_of_escapes_is_refused_in_linear_time() -> None:
    """A hostile answer must not freeze the event loop: a string that never ends, holding
    escaped quotes, before many brackets (a check that scanned strings from every quote took
    8 s for 48 KB, growing with the square of the size). 1 MB is refused at once."""
    body = '{"a": "' + 'x\\"' * 250_000 + "[" * 101
    async with await json_server(body) as server:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ResponseFormatError, match="not valid JSON"):
            await chat(str(server.make_url("")).rstrip("/"), model="dalle")
        assert asyncio.get_running_loop().time() - started < 5


async def test_a_stream_without_the_required_end_marker_is_an_interruption() -> None:
    async with AiChatsEmulator(script=Script(text="cut here", done_marker=False)) as emulator:
        # AiChats: the end of the body ends the stream, as [DONE] does: a complete answer.
        events = [e async for e in stream("aichats", "hi", base_url=emulator.url)]
        assert events[0] == TextChunk(text="cut here")
        # A protocol that requires [DONE]: the same body is cut, and says so after its events.
        received: list[str] = []
        async with (
            HttpSession("Strict") as http,
            http.request("POST", f"{emulator.url}/chat/send2/", json=_chat_body()) as response,
        ):
            with pytest.raises(StreamInterruptedError, match=r"without its end marker"):
                async for batch in http.iter_sse(response, require_done=True):
                    received += batch
    assert "".join(received) == "cut here"


def _chat_body() -> dict[str, Any]:
    return {"type": "chat", "messagesHistory": [{"from": "you", "content": "hi"}]}


@pytest.mark.parametrize(
    ("uri", "options", "error"),
    [
        ("http://[::1/x.png", {}, ResponseFormatError),
        ("HTTP://[::1/x.png", {}, ResponseFormatError),
        ("http://[]/x.png", {"allow_private_image_urls": True}, ResponseFormatError),
        (
            f"http://{'a' * 64}.invalid/x.png",
            {"allow_private_image_urls": True},
            ResponseFormatError,
        ),
        ("http://exa mple.invalid/x.png", {}, ResponseFormatError),
        ("data:image/png;base64,\udcff", {}, ResponseFormatError),
        ("data:image/png,\udcff", {}, ResponseFormatError),
        ("http://127.0.0.1:9/x.png", {"base_url": "http://[::1"}, InvalidRequestError),
        ("http://127.0.0.1:9/x.png", {"allow_private_image_urls": "no"}, InvalidRequestError),
        ("http://127.0.0.1:9/x.png", {"image_timeout": "soon"}, InvalidRequestError),
        ("http://127.0.0.1:9/x.png", {"max_image_bytes": 1.5}, InvalidRequestError),
    ],
)
async def test_image_bytes_raises_only_typed_errors_blaming_the_right_party(
    uri: str, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        await image_bytes("AiChats", uri, options)
    if error is ResponseFormatError:  # the provider answered it: its name is in the message
        assert str(caught.value).startswith("AiChats: ")


async def test_a_data_uri_without_base64_is_percent_decoded() -> None:
    assert await image_bytes("P", "data:image/svg+xml,%3Csvg%2F%3E", {}) == (
        b"<svg/>",
        "image/svg+xml",
    )
    assert (await image_bytes("P", "DATA:IMAGE/GIF;BASE64,R0lGODlh", {}))[1] == "image/gif"


async def test_an_image_url_aiohttp_refuses_is_the_providers_fault() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ResponseFormatError, match="not a valid URL"):
            await image_bytes(
                "AiChats",
                "http://1.2.3.4.5/x.png",
                {"allow_private_image_urls": True},
                session=session,
            )
