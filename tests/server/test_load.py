"""Load: 1,000 concurrent streaming chats and 500 slowloris connections through one
``aichats serve --emulate``; every answer exact, every slowloris answered 408 and closed
once the head timeout passes, fds back to their baseline, RSS back to its steady state.

Run with ``pytest -s -m slow tests/server/test_load.py`` to see the numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from raw_http import Served, read_until_closed, serving

from providers.aichats.emulator import default_reply

CHATS = 1_000
SLOWLORIS = 500
RSS_GROWTH_KIB = 24 * 1024
"""How much a second round may add to the RSS the first one settled at. Its peak depends on
how many answers sit in buffers at once, which varies by run (seen: +0.1 to +18.5 MiB); a
leak of what 1,500 connections hold (their buffers, 64 KiB each) would be far more."""
FD_TOLERANCE = 4
HEAD_TIMEOUT = 12.0
"""Long enough for every chat of a round to be open, each slowloris still waiting, on a
loaded machine (a few seconds); the slowloris are reaped once it passes, whether the streams
have ended or not. Shorter than the upstream pool's settling, which it overlaps."""
SETTLE_TIMEOUT = 90.0
"""The upstream pool keeps idle connections (and the emulator their other ends) for up to
twice aiohttp's 15 s keep-alive before closing them."""

pytestmark = pytest.mark.slow


def _status(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open fds) of process ``pid``."""
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return rss, len(list(Path(f"/proc/{pid}/fd").iterdir()))


class _Gate:
    """Opens once ``count`` chats have arrived at it."""

    def __init__(self, count: int) -> None:
        self.waiting = count
        self.open = asyncio.Event()

    async def arrive(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.open.set()
        await self.open.wait()


async def _chat(
    http: aiohttp.ClientSession, served: Served, index: int, gate: _Gate
) -> tuple[str, str]:
    """One streamed chat: (what it should say, what it said). It waits after the response
    head until every chat has one, so that all of them are open at once."""
    prompt = f"load test chat {index}"
    body = {"model": "aichats", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    async with http.post(served.base_url + "/chat/completions", json=body) as response:
        assert response.status == 200, await response.text()
        await gate.arrive()
        text = []
        async for line in response.content:
            data = line.decode().strip().removeprefix("data: ")
            if not data or data == "[DONE]" or data.startswith(":"):
                continue
            for choice in json.loads(data)["choices"]:
                text.append(choice["delta"].get("content") or "")
    return default_reply(prompt), "".join(text)


class _Slowloris:
    """``count`` connections trickling an endless request head, each read until the server
    closes it."""

    def __init__(self) -> None:
        self.opened = 0.0
        self._writers: list[asyncio.StreamWriter] = []
        self._reads: list[asyncio.Task[bytes]] = []

    async def open(self, served: Served, count: int) -> None:
        self.opened = time.monotonic()
        for _ in range(count):
            reader, writer = await asyncio.open_connection(served.host, served.port)
            writer.write(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            self._writers.append(writer)
            self._reads.append(asyncio.create_task(read_until_closed(reader, SETTLE_TIMEOUT)))

    async def trickle(self, stop: asyncio.Event) -> None:
        """A byte on each every second until ``stop``, or half the head timeout: then the
        client sends nothing more, so the server's close after its 408 is never a reset."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HEAD_TIMEOUT / 2 - (time.monotonic() - self.opened)):
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
                    for writer in self._writers:
                        if not writer.is_closing():
                            writer.write(b"a")

    def alive(self) -> int:
        return sum(not read.done() for read in self._reads)

    async def reaped(self) -> tuple[int, float]:
        """(How many were answered 408 and closed, seconds from their opening to the last)."""
        try:
            answers = await asyncio.gather(*self._reads)
            return sum(
                a.startswith(b"HTTP/1.1 408 ") for a in answers
            ), time.monotonic() - self.opened
        finally:
            for writer in self._writers:
                writer.transport.abort()


async def _settled(pid: int, fds: int, timeout: float = SETTLE_TIMEOUT) -> tuple[int, int]:
    """The process's (RSS, fds) once its fds are back to ``fds`` (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        rss, now = _status(pid)
        if now <= fds + FD_TOLERANCE or time.monotonic() > deadline:
            return rss, now
        await asyncio.sleep(0.2)


async def _round(served: Served) -> _Round:
    """Every chat and slowloris at once, then the slowloris' reaping and the settling."""
    slowloris = _Slowloris()
    await slowloris.open(served, SLOWLORIS)
    stop = asyncio.Event()
    trickle = asyncio.create_task(slowloris.trickle(stop))
    began = time.monotonic()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        gate = _Gate(CHATS)
        chats = [asyncio.create_task(_chat(http, served, index, gate)) for index in range(CHATS)]
        await asyncio.wait_for(gate.open.wait(), 120)
        peak, alive = _status(served.process.pid), slowloris.alive()
        results = await asyncio.gather(*chats)
    took = time.monotonic() - began
    stop.set()
    await trickle
    reaped, reaped_after = await slowloris.reaped()
    wrong = [index for index, (expected, said) in enumerate(results) if expected != said]
    return _Round(took, wrong, alive, peak, reaped, reaped_after)


@dataclass
class _Round:
    took: float
    wrong: list[int]
    alive: int
    """Slowloris open when every chat was."""
    peak: tuple[int, int]
    """The server's (RSS, fds) with every chat and slowloris open."""
    reaped: int
    reaped_after: float
    settled: tuple[int, int] = (0, 0)


async def test_1000_streams_and_500_slowloris_at_once(tmp_path: Path) -> None:
    """Two rounds: the first brings the server to its steady state (pools, allocator arenas),
    the second must leave it there."""
    args = ("--emulate", "--head-timeout", str(HEAD_TIMEOUT))
    with serving(tmp_path / "server.log", *args) as served:
        pid = served.process.pid
        await asyncio.sleep(1)
        rss_start, fds_start = _status(pid)
        rounds = []
        for _ in range(2):
            done = await _round(served)
            done.settled = await _settled(pid, fds_start)
            rounds.append(done)
        output = served.output()
    print(f"\nserver at start: RSS {rss_start / 1024:.1f} MiB, {fds_start} fds")
    for number, r in enumerate(rounds, 1):
        print(
            f"round {number}: {CHATS} streamed chats + {SLOWLORIS} slowloris in {r.took:.1f} s;"
            f" {CHATS - len(r.wrong)}/{CHATS} answers exact; {r.alive}/{SLOWLORIS} slowloris"
            f" open with all chats; with all open RSS {r.peak[0] / 1024:.1f} MiB,"
            f" {r.peak[1]} fds; {r.reaped}/{SLOWLORIS} slowloris answered 408 and closed"
            f" {r.reaped_after:.1f} s after opening (head timeout {HEAD_TIMEOUT:g} s);"
            f" settled RSS {r.settled[0] / 1024:.1f} MiB, {r.settled[1]} fds"
        )
    for r in rounds:
        assert r.wrong == []
        assert r.alive == SLOWLORIS
        assert r.peak[1] >= CHATS + SLOWLORIS  # they really were open at once
        assert r.reaped == SLOWLORIS
        assert r.reaped_after >= HEAD_TIMEOUT - 1  # by the timeout, not by anything earlier
        assert r.settled[1] <= fds_start + FD_TOLERANCE
    steady, last = rounds[0].settled[0], rounds[1].settled[0]
    assert last <= steady + RSS_GROWTH_KIB, f"RSS grew {(last - steady) / 1024:.1f} MiB"
    assert "Traceback" not in output
