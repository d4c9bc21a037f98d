"""What the server does before any handler runs, over raw sockets against ``aichats serve``:
malformed requests, request heads that never finish, too many clients, no fds left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from raw_http import Served, exchange, parse_response, read_until_closed, serving

from aichats_core.server._protocol import LINGER
from providers.aichats.emulator import AiChatsEmulator, Script

MARK = b"ECHO-ME-7731"
"""Put in every malformed request: an answer or a log line quoting the request shows it."""
HOST = b"Host: 127.0.0.1\r\n"
POST = b"POST /v1/chat/completions HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"

MALFORMED = {
    "NUL in a header": (
        b"GET /v1/models HTTP/1.1\r\n" + HOST + b"X-A: " + MARK + b"\x00\r\n\r\n",
        400,
    ),
    "header over 8190 bytes": (
        b"GET /v1/models HTTP/1.1\r\n" + HOST + b"X-A: " + MARK + b"a" * 9000 + b"\r\n\r\n",
        431,
    ),
    "request line over 8190 bytes": (b"GET /" + MARK + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 431),
    "NUL in the path": (b"GET /v1/" + MARK + b"\x00 HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "duplicate Content-Length": (
        POST + b"Content-Length: 2\r\nContent-Length: 3\r\nX-A: " + MARK + b"\r\n\r\n{}",
        400,
    ),
    "bad method": (b"G\x01T /" + MARK + b" HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    "invalid HTTP version": (b"GET /" + MARK + b" HTTP/9.x\r\n" + HOST + b"\r\n", 400),
    "bad chunked encoding": (POST + b"Transfer-Encoding: chunked\r\n\r\nzz" + MARK + b"\r\n", 400),
    "header name not a token": (b"GET / HTTP/1.1\r\n" + HOST + MARK + b"\x01: x\r\n\r\n", 400),
    "obs-fold": (b"GET / HTTP/1.1\r\n" + HOST + b"X-A: a\r\n " + MARK + b"\r\n\r\n", 400),
    "too many headers": (
        b"GET / HTTP/1.1\r\n"
        + HOST
        + b"".join(b"X-%d: %s\r\n" % (i, MARK) for i in range(200))
        + b"\r\n",
        431,
    ),
    "TLS on the HTTP port": (b"\x16\x03\x01\x02\x00\x01" + MARK + b"\r\n\r\n", 400),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serving(tmp_path_factory.mktemp("limits") / "server.log", "--api-key", "k" * 20) as s:
        yield s


@pytest.mark.parametrize("name", MALFORMED)
async def test_malformed_requests_get_an_openai_error_that_echoes_nothing(
    served: Served, name: str
) -> None:
    data, status = MALFORMED[name]
    raw = await exchange(served.host, served.port, data)
    response = parse_response(raw)
    assert response.status == status, raw[:300]
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert MARK not in raw
    await asyncio.sleep(0.2)
    log = served.output()
    assert MARK.decode() not in log
    assert "Traceback" not in log


async def _slowloris(host: str, port: int) -> asyncio.StreamReader:
    """A connection that begins a request head and never ends it."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /v1/models HTTP/1.1\r\n" + HOST + b"X-Slow: ")
    await writer.drain()
    return reader


@contextlib.asynccontextmanager
async def _trickling(host: str, port: int, count: int) -> AsyncIterator[list[asyncio.StreamReader]]:
    """``count`` slowloris connections, each sending a byte every 0.5 s until the block ends."""
    pairs = []
    for _ in range(count):
        try:
            pairs.append(await asyncio.wait_for(asyncio.open_connection(host, port), 10))
        except (OSError, TimeoutError):
            break
    for _, writer in pairs:
        writer.write(b"GET /v1/models HTTP/1.1\r\n" + HOST + b"X-Slow: ")

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.5)
            for _, writer in pairs:
                if not writer.is_closing():
                    writer.write(b"a")

    task = asyncio.create_task(trickle())
    try:
        yield [reader for reader, _ in pairs]
    finally:
        task.cancel()
        for _, writer in pairs:
            writer.transport.abort()


async def test_a_head_that_never_ends_gets_408_after_the_head_timeout(tmp_path: Path) -> None:
    with serving(tmp_path / "server.log", "--head-timeout", "1") as served:
        async with _trickling(served.host, served.port, 1) as (reader,):
            started = time.monotonic()
            raw = await read_until_closed(reader, timeout=15)
            elapsed = time.monotonic() - started
    response = parse_response(raw)
    assert response.status == 408
    assert response.json()["error"]["code"] == "request_timeout"
    assert response.headers["connection"] == "close"
    assert 0.8 <= elapsed < 1 + 8  # the timeout, not the bytes trickling in, decides


async def test_the_head_timeout_restarts_after_each_response(tmp_path: Path) -> None:
    with serving(tmp_path / "server.log", "--head-timeout", "1.5") as served:
        reader, writer = await asyncio.open_connection(served.host, served.port)
        try:
            for _ in range(2):  # keep-alive: each request within the timeout is answered
                await asyncio.sleep(1.0)
                writer.write(b"GET /v1/models HTTP/1.1\r\n" + HOST + b"\r\n")
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.startswith(b"HTTP/1.1 200"), head
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            started = time.monotonic()
            writer.write(b"GET /v1/models HTTP/1.1\r\n")  # then a head left unfinished
            raw = await read_until_closed(reader, timeout=15)
        finally:
            writer.close()
    assert parse_response(raw).status == 408
    assert 1.2 <= time.monotonic() - started < 1.5 + 8


async def test_a_head_begun_while_the_previous_response_streamed_gets_408(
    tmp_path: Path, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(text="word " * 20, events=20, delay=0.1))  # about 2 s of stream
    body = json.dumps(
        {"model": "aichats", "stream": True, "messages": [{"role": "user", "content": "Hi"}]}
    ).encode()
    args = ("--head-timeout", "1", "-o", f"aichats.base_url={emulator.url}")
    with serving(tmp_path / "server.log", *args) as served:
        reader, writer = await asyncio.open_connection(served.host, served.port)
        try:
            writer.write(POST + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(b"GET /v1/models HTTP/1.1\r\n")  # pipelined while the stream runs
            raw = head + await read_until_closed(reader, timeout=20)
        finally:
            writer.close()
    assert raw.startswith(b"HTTP/1.1 200"), raw[:300]
    assert b"[DONE]" in raw  # the stream ended first...
    assert b"\r\n\r\nHTTP/1.1 408 " in raw, raw[-300:]  # ...then the late head was answered


def _fds(limit: int) -> Callable[[], None]:
    """What the server's child process runs first: soft and hard fd limits at ``limit`` (the
    hard one too, or ``aichats serve`` would raise the soft one to it)."""

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return lower


async def test_a_normal_client_is_answered_while_slowloris_hold_more_than_the_fd_limit(
    tmp_path: Path,
) -> None:
    limit = 256
    with serving(tmp_path / "server.log", "--head-timeout", "2", preexec_fn=_fds(limit)) as s:
        async with _trickling(s.host, s.port, 2 * limit), aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 60
            statuses = []
            while time.monotonic() < deadline:
                started = time.monotonic()
                # every attempt is answered promptly: a 503 over the cap, a 200 below it
                async with http.get(s.base_url + "/models", timeout=aiohttp.ClientTimeout(10)) as r:
                    statuses.append(r.status)
                    body = await r.json()
                assert time.monotonic() - started < 10
                if r.status == 200:
                    break
                assert r.status == 503, body
                assert body["error"]["code"] == "server_busy"
                await asyncio.sleep(0.2)
            assert statuses[-1] == 200, statuses
        log = s.output()
    assert "Traceback" not in log


async def test_connections_over_max_clients_get_503_and_the_server_recovers(
    tmp_path: Path,
) -> None:
    with serving(tmp_path / "server.log", "--max-clients", "5", "--head-timeout", "60") as s:
        baseline = _open_fds(s)
        held = [await asyncio.open_connection(s.host, s.port) for _ in range(5)]
        await _until_accepted(s, baseline, 5)  # else the probe could be accepted first
        request = b"GET /v1/models HTTP/1.1\r\n" + HOST + b"\r\n"
        started = time.monotonic()
        response = parse_response(await exchange(s.host, s.port, request, timeout=10))
        assert time.monotonic() - started < 5
        assert response.status == 503
        assert response.headers["connection"] == "close"
        assert response.headers["content-type"] == "application/json"
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "server_busy"
        for _, writer in held:
            writer.close()
        await asyncio.sleep(0.5)
        closing = request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
        for _ in range(6):  # all the slots are free again
            assert parse_response(await exchange(s.host, s.port, closing)).status == 200


def _open_fds(served: Served) -> int:
    return len(os.listdir(f"/proc/{served.process.pid}/fd"))


async def _until_accepted(served: Served, baseline: int, count: int) -> None:
    """Wait until the server holds ``count`` connections more than its ``baseline`` fds."""
    deadline = time.monotonic() + 30
    while _open_fds(served) < baseline + count:
        assert time.monotonic() < deadline, "the server did not accept the connections"
        await asyncio.sleep(0.05)


async def test_a_flood_of_refused_connections_leaves_fds_for_the_next_client(
    tmp_path: Path,
) -> None:
    """Refused connections linger (each an fd the cap does not count) only up to a budget."""
    limit, cap = 160, 10
    args = ("--max-clients", str(cap), "--head-timeout", "60")
    with serving(tmp_path / "server.log", *args, preexec_fn=_fds(limit)) as served:
        baseline = _open_fds(served)
        held = [await asyncio.open_connection(served.host, served.port) for _ in range(cap)]
        await _until_accepted(served, baseline, cap)
        flood: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        request = b"GET /v1/models HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
        deadline = time.monotonic() + 2 * LINGER + 1  # past the first refusals' linger
        while time.monotonic() < deadline and len(flood) < 4 * limit:
            # connections that never read nor close, each refused: many more than the fds
            flood += [await asyncio.open_connection(served.host, served.port) for _ in range(40)]
            response = parse_response(await exchange(served.host, served.port, request))
            assert response.status == 503  # the next client is still answered
        assert len(flood) > limit
        for _, writer in held + flood:
            writer.transport.abort()
        log = served.output()
    assert "cannot accept connections" not in log
    assert "Traceback" not in log


async def test_accept_failures_at_the_fd_limit_are_logged_once_per_interval(
    tmp_path: Path,
) -> None:
    limit = 64
    args = ("--max-clients", "1000", "--head-timeout", "60")
    with serving(tmp_path / "server.log", *args, preexec_fn=_fds(limit)) as served:
        before = len(served.output())
        pairs = [await asyncio.open_connection(served.host, served.port) for _ in range(limit + 40)]
        await asyncio.sleep(4)  # accept() fails all this time: asyncio retries every second
        assert _open_fds(served) >= limit - 2  # it really is at its limit
        flood = served.output()[before:]
        for _, writer in pairs:
            writer.transport.abort()
        await asyncio.sleep(1.5)  # the retry after the last failure accepts again
        request = b"GET /v1/models HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n"
        assert parse_response(await exchange(served.host, served.port, request)).status == 200
    assert "Traceback" not in flood
    assert len(flood.splitlines()) <= 3, flood
    assert len(flood) < 2000
    assert "cannot accept connections" in flood


def test_refusals_are_json_with_their_content_length() -> None:
    from aichats_core.server._refusals import over_capacity, raw_answer

    response = parse_response(raw_answer(over_capacity(7)))
    assert response.status == 503
    assert int(response.headers["content-length"]) == len(response.body)
    assert "(7)" in json.loads(response.body)["error"]["message"]
