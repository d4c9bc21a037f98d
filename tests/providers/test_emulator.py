"""The AiChats emulator over real sockets, checked with a plain aiohttp client.

Other tests and the benchmarks trust what the emulator sends, so its wire format is checked
byte for byte here, independently of the provider's own SSE parser.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from yarl import URL

from providers.aichats import _images
from providers.aichats.emulator import (
    COOKIE_NAME,
    AiChatsEmulator,
    RecordedRequest,
    Script,
    default_reply,
    reply_fragments,
    serve_forever,
)

API = "/chat/send2/"


def payload(kind: str = "chat", prompt: str = "hello world") -> dict[str, Any]:
    return {"type": kind, "messagesHistory": [{"from": "you", "content": prompt}]}


def parse_sse(raw: bytes) -> tuple[list[str], bool]:
    """A reference SSE parser (the WHATWG event-stream rules): event data and [DONE] seen."""
    events: list[str] = []
    data: list[str] = []
    done = False
    for line in re.split(r"\r\n|\r|\n", raw.decode("utf-8")):
        if line == "":
            if data:
                events.append("\n".join(data))
            data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # a last event without its closing blank line still counts
        events.append("\n".join(data))
    if events and events[-1] == "[DONE]":
        events.pop()
        done = True
    return events, done


def decode_image(data: bytes) -> tuple[str, tuple[int, int]]:
    image_module: Any = pytest.importorskip("PIL.Image")
    with image_module.open(io.BytesIO(data)) as image:
        image.load()
        return str(image.format), (int(image.size[0]), int(image.size[1]))


@pytest.fixture
async def emu() -> AsyncIterator[AiChatsEmulator]:
    async with AiChatsEmulator() as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe=True: aiohttp's jar otherwise ignores cookies set by an IP-address host.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
        yield client


async def chat(
    session: aiohttp.ClientSession, emu: AiChatsEmulator, prompt: str = "hello world"
) -> tuple[aiohttp.ClientResponse, bytes]:
    async with session.post(emu.url + API, json=payload("chat", prompt)) as resp:
        return resp, await resp.read()


async def image_url(session: aiohttp.ClientSession, emu: AiChatsEmulator) -> str:
    async with session.post(emu.url + API, json=payload("image", "a cat")) as resp:
        assert resp.status == 200
        body = await resp.json()
    url: str = body["data"][0]["url"]
    return url


# --------------------------------------------------------------------------- chat


async def test_default_reply_streams_one_word_per_event(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    resp, raw = await chat(session, emu, "hello world")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    events, done = parse_sse(raw)
    expected = default_reply("hello world")
    assert "".join(events) == expected
    assert events == reply_fragments(expected)
    assert len(events) == len(expected.split())
    assert b"data:  world\n\n" in raw  # one space after "data:" so the leading space survives
    assert done
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_scripted_text_in_a_given_number_of_events(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="abcdefghij", events=3))
    _, raw = await chat(session, emu)
    assert raw == b"data: abcd\n\ndata: efg\n\ndata: hij\n\ndata: [DONE]\n\n"


async def test_more_events_than_characters_sends_empty_events(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="ab", events=4))
    _, raw = await chat(session, emu)
    assert raw == b"data: a\n\ndata: b\n\ndata: \n\ndata: \n\ndata: [DONE]\n\n"


async def test_multiline_fragment_uses_several_data_lines(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="line one\nline two\n\nend", events=1))
    _, raw = await chat(session, emu)
    assert raw == b"data: line one\ndata: line two\ndata: \ndata: end\n\ndata: [DONE]\n\n"
    assert parse_sse(raw) == (["line one\nline two\n\nend"], True)


async def test_carriage_returns_in_text_travel_as_newlines(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="a\r\nb\rc", events=1))
    _, raw = await chat(session, emu)
    assert parse_sse(raw) == (["a\nb\nc"], True)


async def test_leading_spaces_are_kept(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text=" a  b "))
    _, raw = await chat(session, emu)
    assert raw == b"data:  a\n\ndata:   b\n\ndata:  \n\ndata: [DONE]\n\n"
    assert "".join(parse_sse(raw)[0]) == " a  b "


async def test_done_marker_can_be_left_out(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="x y", done_marker=False))
    _, raw = await chat(session, emu)
    assert raw == b"data: x\n\ndata:  y\n\n"
    assert parse_sse(raw) == (["x", " y"], False)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
async def test_line_endings(
    emu: AiChatsEmulator, session: aiohttp.ClientSession, ending: str
) -> None:
    emu.enqueue(Script(text="one\ntwo three", events=2, line_ending=ending))  # type: ignore[arg-type]
    _, raw = await chat(session, emu)
    end = ending.encode()
    assert raw == (
        b"data: one" + end + b"data: two" + end + end
        + b"data:  three" + end + end
        + b"data: [DONE]" + end + end
    )  # fmt: skip
    other_endings = {b"\n", b"\r\n", b"\r"} - {end}
    assert all(other not in raw.replace(end, b"") for other in other_endings)
    assert parse_sse(raw) == (["one\ntwo", " three"], True)


async def test_final_event_without_blank_line(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(
        Script(text="a b", final_blank_line=False),
        Script(text="a b", final_blank_line=False, done_marker=False),
    )
    _, raw = await chat(session, emu)
    assert raw == b"data: a\n\ndata:  b\n\ndata: [DONE]\n"
    _, raw = await chat(session, emu)
    assert raw == b"data: a\n\ndata:  b\n"
    assert parse_sse(raw) == (["a", " b"], False)


async def test_delay_sends_each_event_as_its_own_write(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="a b c", delay=0.03))
    reads: list[bytes] = []
    async with session.post(emu.url + API, json=payload()) as resp:
        async for chunk in resp.content.iter_any():
            reads.append(chunk)
    raw = b"".join(reads)
    assert raw == b"data: a\n\ndata:  b\n\ndata:  c\n\ndata: [DONE]\n\n"
    assert len(reads) >= 3


async def test_stall_goes_silent_then_resumes(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="a b", stall_after=1, stall_for=0.2))
    started = time.monotonic()
    _, raw = await chat(session, emu)
    assert time.monotonic() - started >= 0.19
    assert parse_sse(raw) == (["a", " b"], True)


async def test_stall_trips_a_client_read_timeout(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="a b", stall_after=1, stall_for=5))
    timeout = aiohttp.ClientTimeout(sock_read=0.1)
    async with session.post(emu.url + API, json=payload(), timeout=timeout) as resp:
        assert await resp.content.readany() == b"data: a\n\n"
        with pytest.raises(asyncio.TimeoutError):
            await resp.content.readany()


async def test_stop_cuts_a_stalled_stream_quickly() -> None:
    async with (
        AiChatsEmulator(script=Script(stall_after=1, stall_for=30)) as emu,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(emu.url + API, json=payload()) as resp:
            assert await resp.content.readany() == b"data: Hello\n\n"
            started = time.monotonic()
            await emu.stop()
            assert time.monotonic() - started < 1.0
            with pytest.raises(aiohttp.ClientError):
                await resp.read()
        with pytest.raises(RuntimeError):
            _ = emu.url


async def test_stop_cuts_a_stream_the_client_does_not_read() -> None:
    big = Script(text="x" * 3_000_000, events=1)  # the server blocks on a full socket buffer
    async with (
        AiChatsEmulator(script=big) as emu,
        aiohttp.ClientSession() as session,
        session.post(emu.url + API, json=payload()) as resp,
    ):
        await resp.content.readany()
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await emu.stop()
        assert time.monotonic() - started < 1.0


async def test_scripted_429_with_retry_after(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(status=429, retry_after=3), Script(status=429, retry_after=1.5))
    resp, raw = await chat(session, emu)
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "3"
    assert json.loads(raw) == {"error": "scripted failure"}
    resp, _ = await chat(session, emu)
    assert resp.headers["Retry-After"] == "1.5"


async def test_scripted_500_with_error_body(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(
        Script(status=500, error_body='{"error": "boom"}'),
        Script(status=503, error_body="<html>down</html>"),
    )
    resp, raw = await chat(session, emu)
    assert (resp.status, resp.content_type, raw) == (500, "application/json", b'{"error": "boom"}')
    assert "Retry-After" not in resp.headers
    resp, raw = await chat(session, emu)
    assert (resp.status, resp.content_type, raw) == (503, "text/plain", b"<html>down</html>")


@pytest.mark.parametrize("delay", [0.0, 0.01])
async def test_disconnect_after_cuts_the_body(
    emu: AiChatsEmulator, session: aiohttp.ClientSession, delay: float
) -> None:
    emu.enqueue(Script(text="a b c d", disconnect_after=2, delay=delay))
    received: list[bytes] = []
    async with session.post(emu.url + API, json=payload()) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                received.append(chunk)
    assert b"".join(received) == b"data: a\n\ndata:  b\n\n"
    # The server stays usable after cutting a connection.
    _, raw = await chat(session, emu)
    assert parse_sse(raw)[1]


async def test_malformed_sse_is_not_utf8(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(malformed="sse"))
    resp, raw = await chat(session, emu)
    assert resp.status == 200
    assert raw.startswith(b"data: ")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


async def test_client_leaving_early_logs_no_server_error(
    emu: AiChatsEmulator, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    emu.enqueue(Script(text="a b c d e f", delay=0.02))
    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        async with session.post(emu.url + API, json=payload()) as resp:
            await resp.content.readany()
            resp.close()
        await asyncio.sleep(0.15)  # the handler writes into the closed connection
        _, raw = await chat(session, emu)
    assert parse_sse(raw)[1]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


async def test_many_concurrent_streams(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    replies = await asyncio.gather(*(chat(session, emu, f"prompt {i}") for i in range(50)))
    for i, (_, raw) in enumerate(replies):
        assert "".join(parse_sse(raw)[0]) == default_reply(f"prompt {i}")


async def test_long_stream_is_complete(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    text = " ".join(f"w{i}" for i in range(50_000))
    emu.enqueue(Script(text=text))
    _, raw = await chat(session, emu)
    events, done = parse_sse(raw)
    assert len(events) == 50_000
    assert "".join(events) == text
    assert done


# --------------------------------------------------------------------------- images


async def test_image_reply_points_at_a_png(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(image_size=(40, 30)))
    url = await image_url(session, emu)
    assert URL(url).origin() == URL(emu.url)
    assert re.fullmatch(r"/images/[0-9a-f]+\.png", URL(url).path)
    async with session.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        data = await resp.read()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_image(data) == ("PNG", (40, 30))


async def test_image_reply_can_be_a_jpeg(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(image_format="jpeg", image_size=(24, 16)))
    url = await image_url(session, emu)
    assert url.endswith(".jpg")
    async with session.get(url) as resp:
        assert resp.headers["Content-Type"] == "image/jpeg"
        data = await resp.read()
    assert data.startswith(b"\xff\xd8\xff")
    assert decode_image(data) == ("JPEG", (24, 16))


@pytest.mark.parametrize("image_format", ["png", "jpeg"])
async def test_image_padded_to_five_megabytes_still_decodes(
    emu: AiChatsEmulator, session: aiohttp.ClientSession, image_format: str
) -> None:
    emu.enqueue(Script(image_format=image_format, image_bytes=5_000_000))  # type: ignore[arg-type]
    async with session.get(await image_url(session, emu)) as resp:
        data = await resp.read()
    assert len(data) == 5_000_000
    assert decode_image(data)[1] == (64, 64)


async def test_image_host_names_another_host_on_the_same_port(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(image_host="localhost"))
    url = URL(await image_url(session, emu))
    assert (url.host, url.port) == ("localhost", URL(emu.url).port)
    async with session.get(url) as resp:
        assert resp.status == 200
        assert decode_image(await resp.read())[0] == "PNG"
    download = emu.requests[-1]
    assert download.path == url.path
    assert COOKIE_NAME not in download.cookies  # the jar keeps 127.0.0.1's cookie to itself


@pytest.mark.parametrize(
    ("malformed", "expected"),
    [("no_data", {"other": 1}), ("no_url", {"data": [{}]})],
)
async def test_malformed_image_json_shapes(
    emu: AiChatsEmulator,
    session: aiohttp.ClientSession,
    malformed: str,
    expected: dict[str, Any],
) -> None:
    emu.enqueue(Script(malformed=malformed))  # type: ignore[arg-type]
    async with session.post(emu.url + API, json=payload("image")) as resp:
        assert resp.status == 200
        assert await resp.json() == expected


async def test_malformed_image_reply_that_is_not_json(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(malformed="json"))
    async with session.post(emu.url + API, json=payload("image")) as resp:
        assert resp.status == 200
        raw = await resp.read()
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


async def test_malformed_image_url_that_is_not_http(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(malformed="bad_url"))
    url = URL(await image_url(session, emu))
    assert url.scheme == "ftp"
    assert url.port == URL(emu.url).port


async def test_malformed_image_download_that_is_html(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(malformed="not_image"))
    async with session.get(await image_url(session, emu)) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert b"<html>" in await resp.read()


async def test_malformed_modes_of_the_other_type_are_ignored(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(malformed="no_url"), Script(malformed="sse"))
    _, raw = await chat(session, emu)
    assert parse_sse(raw)[1]
    assert (await image_url(session, emu)).startswith("http://")


async def test_unknown_image_is_404(emu: AiChatsEmulator, session: aiohttp.ClientSession) -> None:
    async with session.get(emu.url + "/images/nope.png") as resp:
        assert resp.status == 404
        assert await resp.json() == {"error": "image not found"}


# --------------------------------------------------------------------------- requests


async def test_session_cookie_is_set_once_and_sent_back(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    first, _ = await chat(session, emu)
    set_cookie = first.headers.getall("Set-Cookie")
    assert len(set_cookie) == 1
    assert re.fullmatch(rf"{COOKIE_NAME}=[\w-]+; Path=/", set_cookie[0])
    second, _ = await chat(session, emu)
    assert "Set-Cookie" not in second.headers
    value = first.cookies[COOKIE_NAME].value
    assert emu.requests[0].cookies == {}
    assert emu.requests[1].cookies == {COOKIE_NAME: value}


async def test_request_log_holds_headers_body_and_json(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    headers = {"X-Custom": "1", "Referer": "https://ai-chats.org/chat/"}
    async with session.post(
        emu.url + API + "?via=test", json=payload(prompt="log me"), headers=headers
    ) as resp:
        await resp.read()
    [request] = emu.requests
    assert isinstance(request, RecordedRequest)
    assert (request.method, request.path, request.query) == ("POST", API, {"via": "test"})
    assert request.headers["X-Custom"] == "1"
    assert request.header("x-custom") == request.header("X-CUSTOM") == "1"
    assert request.header("referer") == "https://ai-chats.org/chat/"
    assert request.header("missing") is None
    assert request.header("Content-Type") == "application/json"
    assert request.json == payload(prompt="log me")
    assert json.loads(request.body) == request.json


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        json.dumps({"type": "video", "messagesHistory": [{"from": "you", "content": ""}]}).encode(),
        json.dumps({"type": "chat"}).encode(),
        json.dumps({"type": "chat", "messagesHistory": []}).encode(),
        json.dumps({"type": "chat", "messagesHistory": [{"from": "you"}]}).encode(),
        json.dumps({"type": "chat", "messagesHistory": ["hi"]}).encode(),
    ],
)
async def test_bad_request_is_400(
    emu: AiChatsEmulator, session: aiohttp.ClientSession, body: bytes
) -> None:
    async with session.post(emu.url + API, data=body) as resp:
        assert resp.status == 400
        error = await resp.json()
    assert isinstance(error["error"], str)
    assert error["error"]
    assert emu.requests[-1].body == body


async def test_queued_scripts_are_used_in_order_then_the_default(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="one", events=1), Script(text="two", events=1))
    replies = [parse_sse((await chat(session, emu, "p"))[1])[0] for _ in range(3)]
    assert replies == [["one"], ["two"], reply_fragments(default_reply("p"))]
    emu.script = Script(text="fallback", events=1)
    assert parse_sse((await chat(session, emu))[1])[0] == ["fallback"]


async def test_reset_clears_queue_log_and_script(
    emu: AiChatsEmulator, session: aiohttp.ClientSession
) -> None:
    emu.enqueue(Script(text="queued", events=1))
    emu.script = Script(status=500)
    await chat(session, emu)
    emu.enqueue(Script(status=429))
    emu.reset()
    assert emu.requests == []
    assert emu.script == Script()
    resp, raw = await chat(session, emu, "again")
    assert resp.status == 200
    assert "".join(parse_sse(raw)[0]) == default_reply("again")
    assert len(emu.requests) == 1


async def test_url_and_provider_options() -> None:
    emulator = AiChatsEmulator()
    with pytest.raises(RuntimeError):
        _ = emulator.url
    async with emulator:
        url = URL(emulator.url)
        assert (url.scheme, url.host, url.path) == ("http", "127.0.0.1", "/")
        assert not emulator.url.endswith("/")
        assert emulator.provider_options() == {"base_url": emulator.url}
        with pytest.raises(RuntimeError):
            await emulator.start()
    await emulator.stop()  # a second stop is harmless
    async with emulator:  # and it can be started again
        async with aiohttp.ClientSession() as session:
            _, raw = await chat(session, emulator)
        assert parse_sse(raw)[1]


def test_script_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match=r"Script\.events must be >= 0"):
        Script(events=-1)
    with pytest.raises(ValueError, match=r"Script\.image_size"):
        Script(image_size=(0, 10))
    with pytest.raises(ValueError, match=r"Script\.status"):
        Script(status=42)


async def test_serve_forever_reports_its_url_and_stops_on_cancel() -> None:
    ready: asyncio.Queue[str] = asyncio.Queue()
    task = asyncio.create_task(serve_forever(port=0, ready=ready.put_nowait))
    url = await asyncio.wait_for(ready.get(), 5)
    async with aiohttp.ClientSession() as session, session.post(url + API, json=payload()) as resp:
        assert parse_sse(await resp.read())[1]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("image_format", ["png", "jpeg"])
def test_drawn_images_decode_to_the_pattern(image_format: str) -> None:
    image_module: Any = pytest.importorskip("PIL.Image")
    width, height = 21, 13  # not a multiple of 8: JPEG edge blocks are padded
    data = _images.draw(image_format, width, height, 5)  # type: ignore[arg-type]
    with image_module.open(io.BytesIO(data)) as image:
        decoded = image.convert("RGB").tobytes()
    source = b"".join(_images.pattern(width, height, 5))
    error = sum(abs(a - b) for a, b in zip(source, decoded, strict=True)) / len(source)
    assert error == 0 if image_format == "png" else error < 10
