"""Hostile request bodies and hostile answers: every one gets a 4xx (or a bounded, readable
error), never a 500, and none costs the server more than its limits allow."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
import pytest

from aichats_core import AsyncGeneratorProvider
from aichats_core.errors import InvalidRequestError
from aichats_core.server import serve
from aichats_core.server._options import checked_provider_options, parse_provider_option
from aichats_core.testing import ScriptedProvider, registered
from aichats_core.types import Messages
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

StartServer = Callable[..., Awaitable[str]]
HELLO = [{"role": "user", "content": "Hi"}]
JSON = {"Content-Type": "application/json"}


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, **headers: str
) -> tuple[int, dict[str, Any]]:
    async with http.post(url, data=body, headers={**JSON, **headers}) as response:
        return response.status, await response.json(content_type=None)


def chat_body(**fields: Any) -> bytes:
    return json.dumps({"model": "aichats", "messages": HELLO, **fields}).encode()


POST_HEAD = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
)
"""A chat request's head without its last headers and the blank line: for raw sockets."""


@asynccontextmanager
async def raw_connection(
    base_url: str,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A plain TCP connection to the server, for what aiohttp's client would not send."""
    address = urlsplit(base_url)
    assert address.hostname is not None
    assert address.port is not None
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


# -- wrong types anywhere ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"model": "aichats", "messages": [{"role": ["user"], "content": "Hi"}]},
            "messages[0].role",
        ),
        (
            {"model": "aichats", "messages": [{"role": {"a": 1}, "content": "Hi"}]},
            "messages[0].role",
        ),
        ({"model": "aichats", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "aichats", "messages": {"role": "user"}}, "messages"),
        ({"model": ["aichats"], "messages": HELLO}, "model"),
        ({"model": "aichats", "messages": HELLO, "stream_options": {"include_usage": [1]}}, None),
        ({"model": "aichats", "messages": HELLO, "n": [1]}, "n"),
        ({"model": "aichats", "messages": HELLO, "stop": {"x": 1}}, "stop"),
        ({"model": "aichats", "messages": HELLO, "tool_choice": {"type": "function"}}, None),
        ({"model": "aichats", "messages": HELLO, "response_format": ["json"]}, "response_format"),
    ],
)
async def test_wrong_json_types_are_400_naming_the_field(
    base_url: str, http: aiohttp.ClientSession, body: dict[str, Any], param: str | None
) -> None:
    status, answer = await post(http, base_url + "/chat/completions", json.dumps(body).encode())
    assert status == 400, answer
    if param is not None:
        assert answer["error"]["param"] == param


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": ["a fox"]},
        {"prompt": "a fox", "n": "2"},
        {"prompt": "a fox", "n": [2]},
        {"prompt": "a fox", "response_format": {"b64_json": True}},
        {"prompt": "a fox", "model": {"id": "aichats/dalle"}},
        {"prompt": "a fox", "size": [1024, 1024]},
    ],
)
async def test_wrong_image_request_types_are_400(
    base_url: str, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    status, answer = await post(http, base_url + "/images/generations", json.dumps(body).encode())
    assert status == 400, answer


# -- depth ---------------------------------------------------------------------------------


async def test_json_nested_100000_deep_is_400(base_url: str, http: aiohttp.ClientSession) -> None:
    deep = b'{"model": "aichats", "messages": [], "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, answer = await post(http, base_url + "/chat/completions", deep)
    assert (status, answer["error"]["code"]) == (400, "json_too_deep")
    assert "64 levels" in answer["error"]["message"]


async def test_nesting_up_to_the_limit_is_accepted_and_one_more_level_is_not(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    base_url = await start_server(max_json_depth=8)

    def nested(levels: int) -> bytes:
        # The body object is level 1; "metadata" (ignored, as OpenAI ignores unknown fields)
        # adds the rest.
        inner = "[" * (levels - 1) + "]" * (levels - 1)
        return chat_body()[:-1] + f', "metadata": {inner}}}'.encode()

    status, answer = await post(http, base_url + "/chat/completions", nested(8))
    assert status == 200, answer
    status, answer = await post(http, base_url + "/chat/completions", nested(9))
    assert (status, answer["error"]["code"]) == (400, "json_too_deep")


# -- encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw, as some clients send
        ("identity", lambda data: data),
    ],
)
async def test_compressed_bodies_are_read(
    base_url: str,
    http: aiohttp.ClientSession,
    encoding: str,
    compress: Callable[[bytes], bytes],
) -> None:
    status, answer = await post(
        http,
        base_url + "/chat/completions",
        compress(chat_body()),
        **{"Content-Encoding": encoding},
    )
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == default_reply("Hi")


@pytest.mark.parametrize("wrapped", [True, False])
async def test_a_deflate_body_whose_first_byte_arrives_alone_is_read(
    base_url: str, wrapped: bool
) -> None:
    """The framing of a deflate body (zlib-wrapped or raw) is told from its first two bytes,
    which need not arrive together."""
    body = zlib.compress(chat_body()) if wrapped else zlib.compress(chat_body(), wbits=-15)
    async with raw_connection(base_url) as (reader, writer):
        writer.write(
            POST_HEAD + b"Connection: close\r\nContent-Encoding: deflate\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:1]
        )
        await writer.drain()
        await asyncio.sleep(0.2)  # the server reads the first byte on its own
        writer.write(body[1:])
        answer = await asyncio.wait_for(reader.read(), 10)
    head, _, content = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer
    assert json.loads(content)["choices"][0]["message"]["content"] == default_reply("Hi")


@pytest.mark.parametrize(
    ("encoding", "body", "code"),
    [
        ("gzip", b'{"model": "aichats"}', "invalid_content_encoding"),  # says gzip, is not
        ("deflate", b"\x00\x01garbage", "invalid_content_encoding"),
        ("gzip", gzip.compress(b'{"model": "aichats", "messages": []}')[:-12], None),  # cut
        ("gzip", gzip.compress(b"{}") + b"trailing", "invalid_content_encoding"),
        ("br", b"\x0b\x02\x80{}\x03", "unsupported_content_encoding"),
        ("gzip, gzip", b"{}", "unsupported_content_encoding"),
    ],
)
async def test_bad_encodings_are_4xx(
    base_url: str, http: aiohttp.ClientSession, encoding: str, body: bytes, code: str | None
) -> None:
    status, answer = await post(
        http, base_url + "/chat/completions", body, **{"Content-Encoding": encoding}
    )
    assert status in (400, 415), answer
    if code is not None:
        assert answer["error"]["code"] == code
    assert "Content-Encoding" in answer["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        b'{"model": "aichats", "messages": [{"role": "user", "content": "\xff\xfe"}]}',
        b'{"model": "aichats", "messages": [{"role": "user", "content": "\xed\xa0\x80"}]}',
    ],
)
async def test_invalid_utf8_is_400(base_url: str, http: aiohttp.ClientSession, body: bytes) -> None:
    status, answer = await post(http, base_url + "/chat/completions", body)
    assert status == 400, answer
    assert "UTF-8" in answer["error"]["message"]


@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "x\\udc00\\ud83d"])
async def test_a_lone_surrogate_escape_is_400(
    base_url: str, http: aiohttp.ClientSession, escape: str
) -> None:
    body = b'{"model": "aichats", "messages": [{"role": "user", "content": "%s"}]}' % (
        escape.encode()
    )
    status, answer = await post(http, base_url + "/chat/completions", body)
    assert status == 400, answer
    assert "surrogate" in answer["error"]["message"]


async def test_a_surrogate_pair_escape_is_text(
    base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    body = b'{"model": "aichats", "messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}'
    status, answer = await post(http, base_url + "/chat/completions", body)
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == default_reply("\U0001f600")


SURROGATES = ScriptedProvider.script("a\ud800b", "c")
"""A provider whose text holds a lone surrogate, as a JSON ``"\\ud800"`` decodes to."""


@pytest.mark.parametrize("stream", [True, False])
async def test_a_lone_surrogate_in_an_answer_becomes_a_replacement_character(
    base_url: str, http: aiohttp.ClientSession, stream: bool
) -> None:
    with registered("surrogates", SURROGATES):
        async with http.post(
            base_url + "/chat/completions",
            json={"model": "surrogates", "messages": HELLO, "stream": stream},
        ) as response:
            assert response.status == 200
            raw = await response.read()
    text = raw.decode("utf-8")  # valid UTF-8 on the wire
    if stream:
        events = [json.loads(line[6:]) for line in text.splitlines() if line[6:7] == "{"]
        assert not [event for event in events if "error" in event], events
        content = "".join(
            e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]
        )
        assert text.rstrip().endswith("data: [DONE]")
    else:
        content = json.loads(text)["choices"][0]["message"]["content"]
    assert content == "a\ufffdbc"


# -- sizes and time ------------------------------------------------------------------------


def _bomb(size: int) -> bytes:
    """A gzip body that inflates to ``size`` bytes of zeros (about 1 MB per GiB)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(size >> 20)]
    return b"".join([*parts, compressor.flush()])


def _inflate_all(body: bytes) -> int:
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    data = body
    while data:
        total += len(inflate.decompress(data, 1 << 24))
        data = inflate.unconsumed_tail
    return total


@pytest.mark.parametrize("api_key", [None, "k"])
async def test_a_gzip_bomb_is_refused_before_it_is_inflated(
    start_server: StartServer, http: aiohttp.ClientSession, api_key: str | None
) -> None:
    """A 1 GiB bomb costs the server a small part of what inflating it costs: refused at the
    body limit (413), or unread without the key (401). The baseline, inflating the bomb, runs
    in this process beside the requests; the server runs in it too, so its CPU is counted."""
    base_url = await start_server(api_key=api_key)
    bomb = _bomb(1 << 30)
    started = time.process_time()
    assert _inflate_all(bomb) == 1 << 30
    inflating = time.process_time() - started

    started = time.process_time()
    status, answer = await post(
        http, base_url + "/chat/completions", bomb, **{"Content-Encoding": "gzip"}
    )
    await asyncio.sleep(1.5)  # what the server does with the rest of the body counts too
    refusing = time.process_time() - started
    expected = 401 if api_key else 413
    assert status == expected, answer
    if expected == 413:
        assert "after decompression" in answer["error"]["message"]
    assert refusing < inflating / 5, (refusing, inflating)


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    start_server: StartServer,
) -> None:
    base_url = await start_server(max_body_bytes=1_000)
    async with raw_connection(base_url) as (reader, writer):
        writer.write(POST_HEAD + b"Content-Length: 50000000\r\n\r\n{")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 413"), head


async def test_a_body_that_trickles_in_is_408(start_server: StartServer) -> None:
    base_url = await start_server(body_timeout=0.5)
    async with raw_connection(base_url) as (reader, writer):
        writer.write(POST_HEAD + b"Content-Length: 100\r\n\r\n{")
        await writer.drain()
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 10)  # the server closes after answering
        assert time.monotonic() - started < 5
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert json.loads(body)["error"]["code"] == "request_timeout"


class _Huge(AsyncGeneratorProvider):
    """An upstream answer of ``CHUNKS`` x 64 KiB made on the fly: the provider holds none of
    it, so whatever memory a call grows by is the server's."""

    url = "http://127.0.0.1:9"
    working = True
    default_model = "m"
    models: ClassVar[list[str]] = ["m"]
    CHUNKS = 480  # 30 MiB
    PIECE = "x" * 65_536

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        for index in range(cls.CHUNKS):
            yield cls.PIECE[:-1] + str(index % 10)  # a new string each time, as from a socket
            await asyncio.sleep(0)


async def _peak_while(call: Awaitable[Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = await call
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


async def test_a_huge_streamed_answer_is_relayed_without_being_kept(
    base_url: str, http: aiohttp.ClientSession
) -> None:
    async def relay() -> int:
        received = 0
        async with http.post(
            base_url + "/chat/completions",
            json={"model": "huge", "messages": HELLO, "stream": True},
        ) as response:
            async for chunk in response.content.iter_any():
                received += len(chunk)
        return received

    with registered("huge", _Huge):
        received, peak = await _peak_while(relay())
    assert received > _Huge.CHUNKS * len(_Huge.PIECE)
    assert peak < 8 * 1_048_576, f"{peak / 1_048_576:.1f} MiB held for a 30 MiB stream"


async def test_a_huge_answer_in_one_piece_is_refused_at_the_answer_limit(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    base_url = await start_server(max_answer_bytes=4 * 1_048_576)
    with registered("huge", _Huge):
        (status, answer), peak = await _peak_while(
            post(http, base_url + "/chat/completions", chat_body(model="huge"))
        )
    assert (status, answer["error"]["code"]) == (502, "answer_too_large")
    assert "'huge'" in answer["error"]["message"]
    assert '"stream": true' in answer["error"]["message"]
    assert peak < 12 * 1_048_576, f"{peak / 1_048_576:.1f} MiB held for a 4 MiB limit"


async def test_an_answer_under_the_limit_arrives_whole(
    start_server: StartServer, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    base_url = await start_server(max_answer_bytes=100)
    emulator.enqueue(Script(text="é" * 50))  # 100 bytes of UTF-8
    status, answer = await post(http, base_url + "/chat/completions", chat_body())
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "é" * 50
    emulator.enqueue(Script(text="é" * 51))
    status, answer = await post(http, base_url + "/chat/completions", chat_body())
    assert (status, answer["error"]["code"]) == (502, "answer_too_large")


# -- start-up checks and --emulate ---------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"proxy": "127.0.0.1:3128"}, "not a URL"),
        ({"proxy": "http://127.0.0.1:99999"}, "not a valid URL"),
        ({"proxy": "socks5://127.0.0.1:1080"}, "only http:// and https://"),
        ({"timeout": -1}, "option 'timeout'"),
        ({"timeout": "soon"}, "option 'timeout'"),
        ({"base_url": "ftp://127.0.0.1"}, "aichats.base_url"),
        ({"base_url": "http://[::1"}, "aichats.base_url"),
    ],
)
def test_option_values_are_checked_at_start(options: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequestError, match="aichats") as caught:
        checked_provider_options({"aichats": options})
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "options",
    [
        {"base_url": "ftp://user:pw-s3cret@127.0.0.1"},
        {"base_url": "http://user:pw-s3cret@[::1"},
        {"proxy": "socks5://user:pw-s3cret@127.0.0.1:1080"},
        {"proxy": "user:pw-s3cret@127.0.0.1:3128"},
        {"proxy": ["http://user:pw-s3cret@127.0.0.1:3128"]},
        {"base_url": "http//user:pw-s3cret@127.0.0.1"},
        {"base_url": "http://user:pw s3cret@127.0.0.1:x"},
    ],
)
def test_refused_urls_are_quoted_without_their_credentials(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        checked_provider_options({"aichats": options})
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("text", ["openai_api_key=sk-s3cret", "sk-s3cret", "openai.=sk-s3cret"])
def test_a_malformed_option_is_refused_without_its_value(text: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"PROVIDER\.KEY=VALUE") as caught:
        parse_provider_option(text)
    assert "s3cret" not in str(caught.value)


async def test_emulate_serves_only_providers_that_have_an_emulator(
    http: aiohttp.ClientSession,
) -> None:
    """Under ``--emulate`` a provider without an emulator is neither listed nor called: its
    requests are refused before anything leaves the machine."""
    online = ScriptedProvider.script("from the real service")
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    with registered("online", online):
        server = asyncio.create_task(serve(port=0, emulate=True, ready=listening.set_result))
        try:
            base_url = await asyncio.wait_for(listening, 20) + "/v1"
            async with http.get(base_url + "/models") as response:
                ids = [model["id"] for model in (await response.json())["data"]]
            assert "aichats/gpt-4" in ids
            assert not [ident for ident in ids if ident.startswith("online/")]
            status, answer = await post(
                http, base_url + "/chat/completions", chat_body(model="online")
            )
            assert status == 404, answer
            assert "ships no emulator" in answer["error"]["message"]
            assert not online.calls
            status, answer = await post(http, base_url + "/chat/completions", chat_body())
            assert status == 200, answer
        finally:
            server.cancel()
            await asyncio.gather(server, return_exceptions=True)


# -- images --------------------------------------------------------------------------------


async def test_image_memory_is_bounded_for_the_whole_server(
    base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    """32 concurrent ``b64_json`` requests hold what the server-wide image budget allows (8
    images in flight), not 32 images: measured against one request, side by side."""
    emulator.script = Script(image_bytes=1_048_576)
    body = {"model": "aichats/dalle", "prompt": "a fox", "response_format": "b64_json"}

    async def one() -> int:
        async with http.post(base_url + "/images/generations", json=body) as response:
            assert response.status == 200, await response.text()
            answer = await response.json()
        return len(answer["data"][0]["b64_json"])

    await one()  # warm: the emulator's image cache, the connections
    size, alone = await _peak_while(one())
    sizes, together = await _peak_while(asyncio.gather(*(one() for _ in range(32))))
    assert size > 1_048_576
    assert set(sizes) == {size}
    print(f"32 requests: {together / alone:.1f}x the memory of one")
    assert together < 8 * alone, f"32 requests: {together / alone:.1f}x the memory of one"
