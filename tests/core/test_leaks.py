"""Leaving a stream early releases its connection, and nothing leaks under load.

Over real sockets against the AiChats emulator: a caller who breaks out, raises, or is
cancelled closes the HTTP response at once (the pool has no connection acquired right after,
and the server sees the connection close); cancellation stays a ``CancelledError``. Then
1,000 concurrent streams through one ``Client`` all complete with their own text, and the
process has as many file descriptors open afterwards as before.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import time
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

import aichats_core
from aichats_core import Client, Finish, TextChunk
from aichats_core.http import new_client_session
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

STALLED = Script(text="first second third", events=3, stall_after=1, stall_for=30)
"""Sends its first event, then stays silent for far longer than any test runs."""


@pytest.fixture
async def emulator() -> AsyncIterator[AiChatsEmulator]:
    async with AiChatsEmulator(script=STALLED) as running:
        yield running


def acquired(client: Client) -> int:
    """Connections the client's pool has handed out and not got back."""
    connector = client.session.connector
    assert connector is not None
    return len(connector._acquired)


async def until(condition: Callable[[], bool], *, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def server_saw_every_stream_close(emulator: AiChatsEmulator) -> bool:
    """The emulator's side of each stream it is still serving has been closed by the client."""
    return all(transport.is_closing() for transport in emulator._streams)


async def loop_turns(count: int) -> None:
    """Let the event loop run ``count`` times, with no timer or I/O wait in between."""
    for _ in range(count):
        await asyncio.sleep(0)


class Boom(Exception):
    """The consumer's own failure."""


# --- leaving early ----------------------------------------------------------------------------


async def test_break_inside_async_with_closes_the_response_at_once(
    emulator: AiChatsEmulator,
) -> None:
    async with Client(base_url=emulator.url) as client:
        async with client.stream("aichats", "x") as events:
            async for event in events:
                assert isinstance(event, TextChunk)
                assert acquired(client) == 1
                break
        assert acquired(client) == 0  # no loop turn needed: released before the block ended
        assert await until(lambda: server_saw_every_stream_close(emulator))
        assert len(emulator.requests) == 1


async def test_a_plain_break_closes_the_response_as_soon_as_the_loop_turns(
    emulator: AiChatsEmulator,
) -> None:
    # Without ``async with`` the abandoned stream is closed by the event loop's finaliser for
    # async generators: a couple of loop turns, no waiting on the network or a timer.
    async with Client(base_url=emulator.url) as client:
        async for _event in client.stream("aichats", "x"):
            break
        del _event
        await loop_turns(5)
        assert acquired(client) == 0
        assert await until(lambda: server_saw_every_stream_close(emulator))


async def test_an_exception_in_the_consumer_closes_the_response_at_once(
    emulator: AiChatsEmulator,
) -> None:
    async with Client(base_url=emulator.url) as client:
        with pytest.raises(Boom):
            async with client.stream("aichats", "x") as events:
                async for _event in events:
                    raise Boom
        assert acquired(client) == 0
        assert await until(lambda: server_saw_every_stream_close(emulator))

        with pytest.raises(Boom):  # and without ``async with``
            async for _event in client.stream("aichats", "x"):
                raise Boom
        await loop_turns(5)
        assert acquired(client) == 0
        assert await until(lambda: server_saw_every_stream_close(emulator))


async def test_cancelling_the_consumer_closes_the_response_and_stays_a_cancellation(
    emulator: AiChatsEmulator,
) -> None:
    async with Client(base_url=emulator.url) as client:
        first = asyncio.Event()
        received: list[Any] = []

        async def consume() -> None:
            async for event in client.stream("aichats", "x"):  # no ``async with``: cancellation
                received.append(event)  # alone must close it
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 5)
        await loop_turns(2)  # the task is now waiting on the silent server
        assert acquired(client) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()  # not turned into an AiChatsError, nor swallowed
        assert acquired(client) == 0
        assert await until(lambda: server_saw_every_stream_close(emulator))
        assert [type(event) for event in received] == [TextChunk]


async def test_cancelling_while_waiting_for_the_answer_closes_the_connection() -> None:
    connected = asyncio.Event()
    transports: list[asyncio.BaseTransport] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        transports.append(writer.transport)
        connected.set()
        while await reader.read(65536):  # never answers; returns when the client leaves
            pass
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with Client(base_url=url) as client:
            task = asyncio.create_task(client.complete("aichats", "x"))
            await asyncio.wait_for(connected.wait(), 5)
            await loop_turns(5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert acquired(client) == 0
            assert await until(lambda: all(t.is_closing() for t in transports))
    finally:
        server.close()
        await server.wait_closed()


async def test_leaving_early_leaves_nothing_unclosed(emulator: AiChatsEmulator) -> None:
    """Module-level calls own a short-lived session: every way out must close it too."""
    reported: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            async for _event in aichats_core.stream("aichats", "x", base_url=emulator.url):
                break
            with pytest.raises(Boom):
                async for _event in aichats_core.stream("aichats", "x", base_url=emulator.url):
                    raise Boom
            task = asyncio.create_task(aichats_core.complete("aichats", "x", base_url=emulator.url))
            await loop_turns(20)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            del _event
            await loop_turns(5)
            gc.collect()  # an unclosed session or transport warns when it is collected
            await asyncio.sleep(0.05)
            gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [str(w.message) for w in caught] == []  # no ResourceWarning, no unawaited coroutine
    assert [context.get("message") for context in reported] == []  # "Unclosed client session"
    assert await until(lambda: server_saw_every_stream_close(emulator))


# --- load -------------------------------------------------------------------------------------

STREAMS = 1000
HOLD = 4.0
"""Seconds each answer of the held-open test pauses after its first event."""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        resident = int(statm.read().split()[1])
    return resident * os.sysconf("SC_PAGE_SIZE") / 1048576


async def fds_settle(before: int) -> int:
    """The fd count once closed sockets are gone (closing completes on a later loop turn)."""
    gc.collect()
    await until(lambda: open_fds() <= before, within=2.0)
    return open_fds()


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Print ``line`` to the terminal, also without ``-s``: these are the figures to quote."""
    with capsys.disabled():
        print(f"\n[load] {line}")


def expected_answer(index: int) -> str:
    return default_reply(f"prompt {index}")


@pytest.mark.slow
async def test_a_thousand_streams_held_open_at_once_through_one_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # aiohttp's default pool lends 100 connections at a time (see the next test); a session
    # without that cap lets one Client hold all 1,000 streams open together.
    fds_before = open_fds()
    rss_before = rss_mib()
    started = time.perf_counter()
    held = serving = rss_held = all_streaming = 0.0
    # Each answer pauses after its first event, so every connection is still streaming when
    # the last stream gets its first text (starting 1,000 takes ~1.5 s here under -X dev).
    script = Script(stall_after=1, stall_for=HOLD)
    async with AiChatsEmulator(script=script) as emulator:
        session = new_client_session(connector=aiohttp.TCPConnector(limit=0))
        async with session, Client(base_url=emulator.url, session=session) as client:
            first_texts = 0
            everyone_streaming = asyncio.Event()

            async def one(index: int) -> str:
                nonlocal first_texts, held, serving, rss_held, all_streaming
                parts: list[str] = []
                async with client.stream("aichats", f"prompt {index}") as events:
                    async for event in events:
                        if isinstance(event, TextChunk):
                            parts.append(event.text)
                            if len(parts) == 1:
                                first_texts += 1
                                if first_texts == STREAMS:  # every stream is open right now
                                    held, rss_held = acquired(client), rss_mib()
                                    serving = len(emulator._streams)
                                    all_streaming = time.perf_counter() - started
                                    everyone_streaming.set()
                                await everyone_streaming.wait()
                        else:
                            assert isinstance(event, Finish)
                return "".join(parts)

            answers = await asyncio.wait_for(
                asyncio.gather(*(one(index) for index in range(STREAMS))), 60
            )
        wall = time.perf_counter() - started
        assert len(emulator.requests) == STREAMS
    wrong = [i for i, answer in enumerate(answers) if answer != expected_answer(i)]
    fds_after = await fds_settle(fds_before)
    figures = (
        f"{STREAMS} streams held open at once through one Client: {held:.0f} connections "
        f"in use and {serving:.0f} streams being served at once {all_streaming:.2f}s after "
        f"the start, wall {wall:.2f}s (each answer pauses {HOLD:g}s), "
        f"fds before {fds_before} after {fds_after}, "
        f"RSS {rss_before:.0f} -> {rss_held:.0f} MiB while held "
        f"(~{(rss_held - rss_before) * 1024 / STREAMS:.0f} KiB per stream, both ends in-process), "
        f"peak RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
        " MiB"
    )
    report(capsys, figures)
    assert wrong == [], f"{len(wrong)} wrong answers, first {wrong[:5]}; {figures}"
    assert held == serving == STREAMS, figures
    assert fds_after == fds_before, figures
    assert wall < 15, figures


@pytest.mark.slow
async def test_a_thousand_concurrent_streams_through_a_default_client(
    capsys: pytest.CaptureFixture[str],
) -> None:
    fds_before = open_fds()
    started = time.perf_counter()
    peak = 0
    async with (
        AiChatsEmulator(script=Script(delay=0.001)) as emulator,  # one write per event
        Client(base_url=emulator.url) as client,
    ):
        connector = client.session.connector
        assert connector is not None

        async def one(index: int) -> str:
            nonlocal peak
            parts: list[str] = []
            async with client.stream("aichats", f"prompt {index}") as events:
                async for event in events:
                    if isinstance(event, TextChunk):
                        parts.append(event.text)
                        peak = max(peak, acquired(client))
            return "".join(parts)

        answers = await asyncio.wait_for(
            asyncio.gather(*(one(index) for index in range(STREAMS))), 60
        )
        wall = time.perf_counter() - started
        limit = connector.limit
    wrong = [i for i, answer in enumerate(answers) if answer != expected_answer(i)]
    fds_after = await fds_settle(fds_before)
    figures = (
        f"{STREAMS} concurrent streams through a default Client: wall {wall:.2f}s, "
        f"at most {peak} connections in use (pool limit {limit}), "
        f"fds before {fds_before} after {fds_after}"
    )
    report(capsys, figures)
    assert wrong == [], f"{len(wrong)} wrong answers, first {wrong[:5]}; {figures}"
    assert 0 < peak <= limit, figures  # the rest waited for a connection, none failed
    assert fds_after == fds_before, figures
    assert wall < 15, figures
