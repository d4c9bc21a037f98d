"""Fault injection over real sockets: every way the service can fail ends in one typed error.

One test per fault. Each asserts the exact error class, that it names the provider, and the
fields a caller acts on (status, retry_after, partial_text, the phase that timed out). The
emulator produces the faults it can script; small asyncio or aiohttp servers on 127.0.0.1
produce the rest (a reset, a stall before any answer, a short Content-Length body, endless
lines, wrongly typed JSON). Timeouts are a fraction of a second, so the suite stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import re
import select
import socket
import struct
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import aichats_core
import aichats_core.http
from aichats_core import Finish, TextChunk
from aichats_core.errors import (
    ConnectTimeoutError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    RateLimitError,
    ReadTimeoutError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.http import DEFAULT_TIMEOUT, HttpSession
from providers.aichats.emulator import AiChatsEmulator, Script, reply_fragments

PROVIDER = "aichats"
TIMEOUT = 0.3
"""The ``timeout`` option of calls that are meant to time out: short, but far above loopback."""
SLACK = 1.5
"""Seconds a timed-out call may take beyond its timeout before the test calls it a hang."""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# --- helpers ----------------------------------------------------------------------------------


async def fail(
    error: type[ProviderError], url: str, *, model: str | None = None, **options: Any
) -> tuple[ProviderError, list[Any], float]:
    """Run a call that must fail with exactly ``error``: the error, the events before it, the time.

    The events are gathered in a list owned here, so that those received before the failure
    can be compared with what the error says arrived.
    """
    events: list[Any] = []
    started = time.perf_counter()
    with pytest.raises(error) as caught:
        async with aichats_core.stream(
            "aichats", "x", model=model, base_url=url, **options
        ) as call:
            async for event in call:
                events.append(event)
    elapsed = time.perf_counter() - started
    exc = caught.value
    assert type(exc) is error, f"{type(exc).__name__}: {exc}"
    assert exc.provider == PROVIDER
    assert str(exc).startswith(f"{PROVIDER}: ")
    assert not any(isinstance(event, Finish) for event in events), "a failure must not finish"
    return exc, events, elapsed


def text_of(events: list[Any]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextChunk))


async def read_request(reader: asyncio.StreamReader) -> None:
    """Read one whole HTTP request, so that closing afterwards sends a FIN, not a reset."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """A bare TCP server on loopback for faults a well-behaved HTTP server never commits.

    Every connection is closed when the block ends; handlers that wait for the client to
    leave see it leave (or the end of the block) and return.
    """
    tasks: set[asyncio.Task[Any]] = set()
    writers: set[asyncio.StreamWriter] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client left first: that is what several faults are about
        finally:
            writer.close()
            writers.discard(writer)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in list(writers):
            writer.transport.abort()  # a handler waiting for the client to leave returns now
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        await server.wait_closed()


async def wait_for_client_to_leave(reader: asyncio.StreamReader) -> None:
    """Stay silent until the client closes the connection (or the server is stopped)."""
    while await reader.read(65536):
        pass


@contextlib.asynccontextmanager
async def app_server(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
    """An aiohttp server answering ``POST /chat/send2/`` with ``handler``; yields its base URL."""
    app = web.Application()
    app.router.add_post("/chat/send2/", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


# --- HTTP error statuses ----------------------------------------------------------------------


async def test_429_with_retry_after_in_seconds_is_a_rate_limit_error(
    emulator: AiChatsEmulator,
) -> None:
    emulator.script = Script(status=429, retry_after=2.5, error_body='{"error": "slow down"}')
    exc, _, _ = await fail(RateLimitError, emulator.url)
    assert isinstance(exc, RateLimitError)
    assert exc.status == 429
    assert exc.retry_after == 2.5
    assert exc.body == '{"error": "slow down"}'
    assert exc.url == f"{emulator.url}/chat/send2/"
    assert (
        str(exc) == f'aichats: HTTP 429 from {exc.url}: {{"error": "slow down"}} (retry after 2.5s)'
    )


@pytest.mark.parametrize(
    ("offset", "zone", "expected"),
    [
        (120, "GMT", 120),  # IMF-fixdate, as RFC 9110 asks
        (120, "-0000", 120),  # RFC 5322's "UTC, local zone unknown": not the local time
        (-600, "GMT", 0),  # a date in the past: retry now
    ],
)
async def test_429_with_retry_after_as_an_http_date_is_converted_to_seconds(
    offset: int, zone: str, expected: float
) -> None:
    async def rate_limited(request: web.Request) -> web.Response:
        date = email.utils.formatdate(time.time() + offset, usegmt=True)
        return web.Response(
            status=429, text="too many", headers={"Retry-After": date.replace("GMT", zone)}
        )

    async with app_server(rate_limited) as url:
        exc, _, _ = await fail(RateLimitError, url)
    assert isinstance(exc, RateLimitError)
    assert exc.retry_after is not None
    assert exc.retry_after == pytest.approx(expected, abs=2)  # the date has whole seconds
    assert exc.body == "too many"


async def test_a_retry_after_that_is_no_delay_is_ignored() -> None:
    seen: list[str] = []

    async def rate_limited(request: web.Request) -> web.Response:
        value = ["soon", "inf", "nan", "1e999"][len(seen)]
        seen.append(value)
        return web.Response(status=429, headers={"Retry-After": value})

    async with app_server(rate_limited) as url:
        for _ in range(4):
            exc, _, _ = await fail(RateLimitError, url)
            assert isinstance(exc, RateLimitError)
            assert exc.retry_after is None, seen[-1]  # never "retry after inf seconds"
            assert "retry after" not in str(exc)


@pytest.mark.parametrize("status", [400, 403, 404, 500, 502, 503])
async def test_other_error_statuses_carry_the_status_and_a_body_excerpt(
    emulator: AiChatsEmulator, status: int
) -> None:
    emulator.script = Script(status=status, error_body=f'{{"error": "refused with {status}"}}')
    exc, _, _ = await fail(ProviderHTTPError, emulator.url)  # exactly: not a RateLimitError
    assert isinstance(exc, ProviderHTTPError)
    assert exc.status == status
    assert exc.body == f'{{"error": "refused with {status}"}}'
    assert f"HTTP {status} from {emulator.url}/chat/send2/: " in str(exc)


async def test_a_huge_error_body_is_quoted_in_a_bounded_excerpt(emulator: AiChatsEmulator) -> None:
    # 1 MB of body, whose byte 300 falls inside a two-byte character.
    emulator.script = Script(status=500, error_body="x" * 299 + "é" * 500_000)
    exc, _, elapsed = await fail(ProviderHTTPError, emulator.url)
    assert isinstance(exc, ProviderHTTPError)
    assert exc.status == 500
    assert exc.body == "x" * 299 + "..."  # the split character is dropped, not shown as U+FFFD
    assert len(str(exc)) < 400
    assert elapsed < SLACK  # the rest of the megabyte is never read


async def test_an_error_body_arriving_in_small_pieces_is_quoted_whole() -> None:
    async def trickling(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=502, headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for word in ("upstream ", "gateway ", "\n\n  failed  ", "at the origin"):
            await response.write(word.encode())
            await asyncio.sleep(0.02)
        return response

    async with app_server(trickling) as url:
        exc, _, _ = await fail(ProviderHTTPError, url, timeout=5)
    assert isinstance(exc, ProviderHTTPError)
    assert exc.body == "upstream gateway failed at the origin"  # not just the first read


async def test_an_error_body_that_stalls_still_reports_the_status() -> None:
    async def stalled_error(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 1000\r\n\r\nback in a minute")
        await wait_for_client_to_leave(reader)

    async with raw_server(stalled_error) as url:
        exc, _, elapsed = await fail(ProviderHTTPError, url, timeout=TIMEOUT)
    assert isinstance(exc, ProviderHTTPError)
    assert (exc.status, exc.body) == (503, "back in a minute")
    assert elapsed < TIMEOUT + SLACK  # the silence is bounded by the timeout, as everywhere


# --- connecting -------------------------------------------------------------------------------


async def test_a_refused_connection_is_a_connection_error(unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    exc, _, _ = await fail(ProviderConnectionError, url)
    assert str(exc) == (
        f"aichats: cannot connect to 127.0.0.1:{unused_tcp_port}: Connection refused;"
        " is the service up?"
    )
    assert isinstance(exc.__cause__, aiohttp.ClientConnectorError)


async def _close_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()  # a FIN, before any byte of an answer


async def _reset_after_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # with a zero linger, closing sends a reset


async def _close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()  # accepted, then closed without reading: a FIN or a reset, by timing


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (_close_after_request, "the service closed the connection without answering"),
        (_reset_after_request, "the connection was reset before the service answered"),
        # Racing the request: refused as a FIN, a reset, or a write into the closed socket.
        (_close_at_once, "before the service answered|without answering|Broken pipe"),
    ],
    ids=["closed", "reset", "closed-unread"],
)
async def test_a_connection_closed_or_reset_before_any_answer_is_a_connection_error(
    handler: Handler, message: str
) -> None:
    async with raw_server(handler) as url:
        exc, _, _ = await fail(ProviderConnectionError, url)
    assert isinstance(exc.__cause__, aiohttp.ClientConnectionError)
    assert re.search(message, str(exc)), str(exc)


async def test_a_dns_failure_is_a_connection_error() -> None:
    exc, _, _ = await fail(ProviderConnectionError, "http://aichats-test.invalid")
    assert str(exc) == (
        "aichats: cannot resolve host 'aichats-test.invalid'; check the URL and your network"
    )
    assert isinstance(exc.__cause__, aiohttp.ClientConnectorDNSError)


@contextlib.contextmanager
def unanswered_port() -> Any:
    """A port whose listen queue is full, so the kernel drops new SYNs: connecting stalls.

    Nothing accepts; a few client sockets fill the queue (backlog 0 holds one, Linux drops
    further SYNs while it is full). The check at the end makes sure a connect really hangs.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            filler.connect_ex(("127.0.0.1", port))
        probe = fillers[-1]
        _, writable, _ = select.select([], [probe], [], 0.2)
        if writable and probe.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            pytest.skip("this kernel completes handshakes beyond the backlog: no stalled connect")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_a_connect_that_stalls_times_out() -> None:
    with unanswered_port() as port:
        exc, _, elapsed = await fail(
            ConnectTimeoutError, f"http://127.0.0.1:{port}", timeout=TIMEOUT
        )
    assert str(exc) == (
        "aichats: timed out connecting after 0.3s; raise the 'timeout' option if the service is"
        " slow"
    )
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK


# --- stalls -----------------------------------------------------------------------------------


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await wait_for_client_to_leave(reader)


async def test_a_stall_before_the_response_headers_times_out() -> None:
    async with raw_server(_never_answer) as url:
        exc, _, elapsed = await fail(ReadTimeoutError, url, timeout=TIMEOUT)
    assert str(exc) == (
        "aichats: timed out waiting for the service to answer after 0.3s; raise the 'timeout'"
        " option if the service is slow"
    )
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK


async def test_a_stall_in_the_middle_of_the_stream_times_out(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(text="one two", events=2, stall_after=1, stall_for=30)
    exc, events, elapsed = await fail(ReadTimeoutError, emulator.url, timeout=TIMEOUT)
    assert text_of(events) == "one "  # what came before the stall reached the caller
    assert "timed out waiting for the next bytes of the answer after 0.3s" in str(exc)
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK  # not the 30 s the server stays silent


async def test_no_timeout_option_still_bounds_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    # The provider's default is aichats_core.http.DEFAULT_TIMEOUT; shrink it to see it act.
    monkeypatch.setattr(aichats_core.http, "DEFAULT_TIMEOUT", TIMEOUT)
    async with raw_server(_never_answer) as url:
        exc, _, elapsed = await fail(ReadTimeoutError, url)  # no timeout option
    assert "after 0.3s" in str(exc)
    assert elapsed < TIMEOUT + SLACK


async def test_the_default_timeout_is_finite_and_bounds_connect_and_read() -> None:
    assert isinstance(DEFAULT_TIMEOUT, float)
    assert math.isfinite(DEFAULT_TIMEOUT)
    assert DEFAULT_TIMEOUT > 0
    async with HttpSession(PROVIDER) as http, HttpSession(PROVIDER, timeout=None) as unset:
        for session in (http, unset):  # None means the default, never "wait forever"
            bound = session.client_timeout
            assert session.timeout == DEFAULT_TIMEOUT
            assert bound.sock_connect == DEFAULT_TIMEOUT
            assert bound.sock_read == DEFAULT_TIMEOUT
            assert bound.total is None  # a long answer that keeps streaming is fine
    for bad in (0, -1, math.nan, math.inf, "30", True):
        with pytest.raises(InvalidRequestError, match="finite positive number") as caught:
            HttpSession(PROVIDER, timeout=bad)  # type: ignore[arg-type]
        assert str(caught.value).startswith(f"{PROVIDER}: ")


# --- streams that end badly -------------------------------------------------------------------


async def test_a_stream_cut_mid_way_carries_the_text_so_far(emulator: AiChatsEmulator) -> None:
    text = "one two three four five"
    emulator.script = Script(text=text, events=5, disconnect_after=3, delay=0.01)
    exc, events, _ = await fail(StreamInterruptedError, emulator.url)
    assert isinstance(exc, StreamInterruptedError)
    assert exc.partial_text == "".join(reply_fragments(text, 5)[:3])
    assert text_of(events) == exc.partial_text  # exactly what the caller saw, nothing lost
    assert "the connection was cut before the answer was complete" in str(exc)


async def test_a_body_shorter_than_its_content_length_is_an_interrupted_stream() -> None:
    async def short_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 1000\r\n\r\n"
            b"data: hello\n\ndata:  world\n\n"
        )
        await writer.drain()
        writer.close()

    async with raw_server(short_body) as url:
        exc, events, _ = await fail(StreamInterruptedError, url)
    assert isinstance(exc, StreamInterruptedError)
    assert exc.partial_text == text_of(events) == "hello world"
    assert "(received 27 of 1000 bytes)" in str(exc)
    assert "400" not in str(exc)  # aiohttp's parser code, which reads like an HTTP status


@pytest.mark.parametrize(
    ("script", "error", "message"),
    [
        (Script(text="", events=0, done_marker=False), ResponseFormatError, "empty event stream"),
        (Script(text="", events=3), ResponseFormatError, "empty event stream"),  # empty events
        (Script(text="", events=0, disconnect_after=0), StreamInterruptedError, "cut before"),
    ],
    ids=["ends-cleanly", "only-empty-events", "cut"],
)
async def test_a_stream_with_no_text_at_all_is_never_a_success(
    emulator: AiChatsEmulator, script: Script, error: type[ProviderError], message: str
) -> None:
    emulator.script = script
    exc, events, _ = await fail(error, emulator.url)
    assert events == []
    assert message in str(exc)
    if isinstance(exc, StreamInterruptedError):
        assert exc.partial_text == ""


async def test_an_event_stream_that_is_not_utf8_is_a_format_error(
    emulator: AiChatsEmulator,
) -> None:
    emulator.script = Script(malformed="sse")
    exc, events, _ = await fail(ResponseFormatError, emulator.url)
    assert events == []
    assert "the event stream is not valid UTF-8: byte 0xff at byte offset 6" in str(exc)


async def test_text_before_an_invalid_byte_is_delivered_then_the_error() -> None:
    async def corrupt(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: fine\n\ndata: \xc3\x28\n\ndata: [DONE]\n\n")
        return response

    async with app_server(corrupt) as url:
        exc, events, _ = await fail(ResponseFormatError, url)
    assert text_of(events) == "fine"
    assert "byte 0xc3 at byte offset 18" in str(exc)


async def _endless(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    first: bytes,
    piece: bytes,
    content_type: bytes = b"text/event-stream",
) -> None:
    """Answer a 200 body (an event stream unless told) that sends ``first`` then ``piece`` again
    and again (64 MiB at most, in case the client never stops reading)."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\n" % content_type)
    writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
    writer.write(b"%x\r\n%s\r\n" % (len(first), first))
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
    for _ in range(64 * 1024 * 1024 // len(piece)):
        writer.write(chunk)
        await writer.drain()


async def bounded_failure(url: str) -> tuple[ProviderError, float, int]:
    """The error, the time and the peak of memory allocated while the call ran (warmed up)."""
    await fail(ResponseFormatError, url, timeout=5)  # first use allocates lasting things
    tracemalloc.start()
    try:
        exc, _, elapsed = await fail(ResponseFormatError, url, timeout=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return exc, elapsed, peak


async def test_a_very_long_line_is_refused_quickly_in_bounded_memory() -> None:
    async def long_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _endless(reader, writer, first=b"data: ", piece=b"x" * 65536)  # never a newline

    async with raw_server(long_line) as url:
        exc, elapsed, peak = await bounded_failure(url)
    assert "the event stream has a line longer than 1048576 bytes" in str(exc)
    assert elapsed < 2  # refused at the bound, not at a timeout or at the end of 64 MiB
    assert peak < 4 * 1048576, f"peak {peak / 1048576:.1f} MiB"


async def test_endless_data_lines_without_a_blank_line_are_refused_in_bounded_memory() -> None:
    async def endless_event(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _endless(reader, writer, first=b"data: start\n", piece=b"data: x\n" * 8192)

    async with raw_server(endless_event) as url:
        exc, elapsed, peak = await bounded_failure(url)
    assert "the event stream has an event longer than 4194304 bytes" in str(exc)
    assert elapsed < 2
    assert peak < 2 * 4 * 1048576, f"peak {peak / 1048576:.1f} MiB"


# --- the image answer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"data": [{"url": ', "the answer is not valid JSON"),
        (b"\xff\xfe{}", "the answer is not valid JSON"),
        (b'{"data": "x"}', "the image answer has no 'data' list: {'data': 'x'}"),
        (b'{"data": [{"url": 5}]}', "the image answer has no 'url' in data[0]"),
        (b"[]", "the image answer has no 'data' list: []"),
        (b"null", "the image answer has no 'data' list: None"),
        (b'{"data": []}', "the image answer has no 'data' list"),
        (b'{"data": ["http://127.0.0.1/a.png"]}', "the image answer has no 'url' in data[0]"),
        (b'{"data": [{"url": ""}]}', "the image answer has no 'url' in data[0]"),
    ],
    ids=[
        "truncated",
        "not-utf8",
        "data-str",
        "url-int",
        "list",
        "null",
        "data-empty",
        "data-of-str",
        "url-empty",
    ],
)
async def test_an_image_answer_malformed_or_wrongly_typed_is_a_format_error(
    body: bytes, message: str
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    async with app_server(answer) as url:
        exc, events, _ = await fail(ResponseFormatError, url, model="dalle")
    assert events == []
    assert message in str(exc)


@pytest.mark.parametrize("malformed", ["no_data", "no_url"])
async def test_an_image_answer_without_data_or_url_is_a_format_error(
    emulator: AiChatsEmulator, malformed: Any
) -> None:
    emulator.script = Script(malformed=malformed)
    exc, events, _ = await fail(ResponseFormatError, emulator.url, model="dalle")
    assert events == []
    missing = "'data' list" if malformed == "no_data" else "'url' in data[0]"
    assert f"the image answer has no {missing}" in str(exc)
    assert [request.path for request in emulator.requests] == ["/chat/send2/"]  # no download


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_an_image_answer_over_the_json_bound_is_refused(declared: bool) -> None:
    limit = aichats_core.http.DEFAULT_MAX_JSON_BYTES
    piece = b" " * 65536

    async def huge_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not declared:
            await _endless(
                reader, writer, first=b'{"data": [', piece=piece, content_type=b"application/json"
            )
            return
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n{" % (limit + 1))
        await wait_for_client_to_leave(reader)  # refused on the header: the body never comes

    async with raw_server(huge_json) as url:
        exc, _, elapsed = await fail(ResponseFormatError, url, model="dalle", timeout=5)
    size = f" ({limit + 1} bytes)" if declared else ""
    assert str(exc) == f"aichats: the JSON answer is larger than the limit of {limit} bytes{size}"
    assert elapsed < 2
