"""What every benchmark shares: an emulator in its own process, alternating rounds, ratios.

The emulator runs in a separate process so that its work does not share the measured
process's core and GIL: the ratios then compare client code, which is what aichats owns.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SERVER = """
import asyncio, json, sys
from providers.aichats.emulator import AiChatsEmulator, Script

settings = json.loads(sys.argv[1])
words = settings.pop("words", None)
if words:
    settings["text"] = " ".join(f"w{i}" for i in range(words))
text_bytes = settings.pop("text_bytes", None)
if text_bytes:
    settings["text"] = ("lorem ipsum dolor " * (text_bytes // 18 + 1))[:text_bytes]
if "image_size" in settings:
    settings["image_size"] = tuple(settings["image_size"])

async def main():
    async with AiChatsEmulator(script=Script(**settings)) as emulator:
        print(emulator.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@contextmanager
def emulator_process(**script: Any) -> Iterator[str]:
    """Run an emulator with ``Script(**script)`` in a child process; yield its URL."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, json.dumps(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    _pin_apart(process.pid)
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()  # the child exits when its stdin closes
        process.wait(timeout=30)


def _pin_apart(server_pid: int) -> None:
    """Give the server and the measured process a core each, when there are two or more.

    Sharing cores, the scheduler's choices added +-5% of noise to the short-call ratios.
    """
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) >= 2:
        os.sched_setaffinity(server_pid, {cores[-1]})
        os.sched_setaffinity(0, set(cores[:-1]))


@dataclass
class Comparison:
    """Timings of several variants measured in alternating rounds."""

    name: str
    times: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def median(self, variant: str) -> float:
        return statistics.median(self.times[variant])

    def ratio(self, variant: str, baseline: str) -> float:
        """Median of the per-round ratios: robust to a round that was slow for everyone."""
        pairs = zip(self.times[variant], self.times[baseline], strict=True)
        return statistics.median(v / b for v, b in pairs)


async def compare(
    name: str, variants: dict[str, Callable[[], Awaitable[None]]], rounds: int, warmup: int = 1
) -> Comparison:
    """Run each variant once per round, rotating their order; return the timings."""
    result = Comparison(name, {variant: [] for variant in variants})
    order = list(variants)
    for round_number in range(warmup + rounds):
        rotation = round_number % len(order)
        for variant in order[rotation:] + order[:rotation]:
            started = time.perf_counter()
            await variants[variant]()
            elapsed = time.perf_counter() - started
            if round_number >= warmup:
                result.times[variant].append(elapsed)
    return result


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def run(coroutine: Awaitable[Any]) -> Any:
    return asyncio.run(coroutine)  # type: ignore[arg-type]
