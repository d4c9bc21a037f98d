"""A 100 MB upstream answer through ``aichats serve``: the server's peak RSS, both ways.

The emulator (in its own process) streams 100 MB of text; a fresh ``aichats serve`` process
per variant relays it to a client that reads and drops it. The peak is the server's
``VmHWM`` (its high-water resident set) minus its resident set before the request, so each
variant is measured from the same start. Streaming relays with backpressure and keeps no
text; a non-streaming answer is collected up to ``--max-answer-bytes``, so it is measured
with the limit raised above the answer, and with the default limit (refused early).

Usage: python bench/big_answer.py [--megabytes 100]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import Comparison, emulator_process

AICHATS = str(Path(sys.executable).with_name("aichats"))
EVENT_BYTES = 65_536


def _status(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` size in bytes (``VmRSS``, ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


@contextmanager
def served(upstream: str, *flags: str) -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(
        [AICHATS, "serve", "--port", "0", "-o", f"aichats.base_url={upstream}", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1"},
    )
    assert process.stdout is not None
    try:
        line = process.stdout.readline()
        yield line.split()[-1], process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()


async def _relay(base_url: str, stream: bool) -> tuple[int, int]:
    """Ask for the answer; the status and the bytes received (read and dropped)."""
    body = {"model": "aichats", "messages": [{"role": "user", "content": "all"}], "stream": stream}
    timeout = aiohttp.ClientTimeout(total=600)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(base_url + "/chat/completions", json=body) as response,
    ):
        received = 0
        async for chunk in response.content.iter_chunked(EVENT_BYTES):
            received += len(chunk)
        return response.status, received


def measure(megabytes: int = 100) -> Comparison:
    size = megabytes * 1_000_000
    result = Comparison(f"{megabytes} MB upstream answer through aichats serve")
    variants = {
        "streaming": ((), True),
        "one piece, --max-answer-bytes above it": (("--max-answer-bytes", str(2 * size)), False),
        "one piece, default limit (refused)": ((), False),
    }
    with emulator_process(text_bytes=size, events=size // EVENT_BYTES) as upstream:
        for variant, (flags, stream) in variants.items():
            with served(upstream, *flags) as (base_url, pid):
                before = _status(pid, "VmRSS")
                started = time.perf_counter()
                status, received = asyncio.run(_relay(base_url, stream))
                result.times[variant] = [time.perf_counter() - started]
                growth = _status(pid, "VmHWM") - before
            result.extra[f"{variant}: status"] = status
            result.extra[f"{variant}: MiB received"] = received / 1_048_576
            result.extra[f"{variant}: peak RSS growth, MiB"] = growth / 1_048_576
            result.extra[f"{variant}: peak RSS growth / answer"] = growth / size
    return result


def main(argv: list[str]) -> int:
    megabytes = int(argv[argv.index("--megabytes") + 1]) if "--megabytes" in argv else 100
    result = measure(megabytes)
    print(result.name)
    for variant, times in result.times.items():
        print(f"  {variant:<45} {times[0]:7.2f} s")
    for key, value in result.extra.items():
        print(f"  {key:<60} {value:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
