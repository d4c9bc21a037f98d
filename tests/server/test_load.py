"""Load: 1,000 concurrent streaming chats and 500 slowloris connections through one
``aichats serve --emulate``; every answer exact, fds back to their baseline, RSS back to
its steady state.

Run with ``pytest -s -m slow tests/server/test_load.py`` to see the numbers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import aiohttp
import pytest
from raw_http import Served, serving

from providers.aichats.emulator import default_reply

CHATS = 1_000
SLOWLORIS = 500
RSS_GROWTH_KIB = 24 * 1024
"""How much a second round may add to the RSS the first one settled at. Its peak depends on
how many answers sit in buffers at once, which varies by run (seen: +0.1 to +18.5 MiB); a
leak of what 1,500 connections hold (their buffers, 64 KiB each) would be far more."""
FD_TOLERANCE = 4
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


async def _slowloris(served: Served, count: int, stop: asyncio.Event) -> int:
    """``count`` connections trickling an endless request head until ``stop``; how many the
    server kept open throughout."""
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection(served.host, served.port)
        writer.write(b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        writers.append(writer)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        for writer in writers:
            if not writer.is_closing():
                writer.write(b"a")
    alive = sum(not writer.is_closing() for writer in writers)
    for writer in writers:
        writer.transport.abort()
    return alive


async def _settled(pid: int, fds: int, timeout: float = SETTLE_TIMEOUT) -> tuple[int, int]:
    """The process's (RSS, fds) once its fds are back to ``fds`` (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        rss, now = _status(pid)
        if now <= fds + FD_TOLERANCE or time.monotonic() > deadline:
            return rss, now
        await asyncio.sleep(0.2)


async def _round(served: Served) -> tuple[float, list[int], int, tuple[int, int]]:
    """Every chat and slowloris at once: (seconds, the chats answered wrong, the slowloris
    held open throughout, the server's (RSS, fds) with all of them open)."""
    stop = asyncio.Event()
    slowloris = asyncio.create_task(_slowloris(served, SLOWLORIS, stop))
    began = time.monotonic()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=180)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        gate = _Gate(CHATS)
        chats = [asyncio.create_task(_chat(http, served, index, gate)) for index in range(CHATS)]
        await asyncio.wait_for(gate.open.wait(), 120)
        peak = _status(served.process.pid)
        results = await asyncio.gather(*chats)
    took = time.monotonic() - began
    stop.set()
    alive = await slowloris
    wrong = [index for index, (expected, said) in enumerate(results) if expected != said]
    return took, wrong, alive, peak


async def test_1000_streams_and_500_slowloris_at_once(tmp_path: Path) -> None:
    """Two rounds: the first brings the server to its steady state (pools, allocator arenas),
    the second must leave it there."""
    with serving(tmp_path / "server.log", "--emulate", "--head-timeout", "120") as served:
        pid = served.process.pid
        await asyncio.sleep(1)
        rss_start, fds_start = _status(pid)
        rounds = []
        for _ in range(2):
            took, wrong, alive, (rss_peak, fds_peak) = await _round(served)
            rss_after, fds_after = await _settled(pid, fds_start)
            rounds.append((took, wrong, alive, rss_peak, fds_peak, rss_after, fds_after))
        output = served.output()
    print(f"\nserver at start: RSS {rss_start / 1024:.1f} MiB, {fds_start} fds")
    for number, (took, wrong, alive, rss_peak, fds_peak, rss_after, fds_after) in enumerate(
        rounds, 1
    ):
        print(
            f"round {number}: {CHATS} streamed chats + {SLOWLORIS} slowloris in {took:.1f} s;"
            f" {CHATS - len(wrong)}/{CHATS} answers exact; {alive}/{SLOWLORIS} slowloris open"
            f" throughout; with all open RSS {rss_peak / 1024:.1f} MiB, {fds_peak} fds;"
            f" settled RSS {rss_after / 1024:.1f} MiB, {fds_after} fds"
        )
    for _, wrong, alive, _, fds_peak, _, fds_after in rounds:
        assert wrong == []
        assert alive == SLOWLORIS
        assert fds_peak >= CHATS + SLOWLORIS  # they really were open at once
        assert fds_after <= fds_start + FD_TOLERANCE
    steady, last = rounds[0][5], rounds[1][5]
    assert last <= steady + RSS_GROWTH_KIB, f"RSS grew {(last - steady) / 1024:.1f} MiB"
    assert "Traceback" not in output
