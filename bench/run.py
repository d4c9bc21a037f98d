"""``make bench``: every benchmark, its ratio against the target, and a JSON record.

Usage: python bench/run.py [BENCHMARK ...] [--quick], where BENCHMARK is one of stream,
short_calls, sync_calls, history_calls, health_calls, telemetry_calls, image, concurrency,
cold_start, gateway (all by default; gateway starts aichats serve and an upstream and takes
20-45 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    cold_start,
    concurrency,
    gateway,
    health_calls,
    history_calls,
    image,
    short_calls,
    stream,
    sync_calls,
    telemetry_calls,
)

TARGETS = {
    ("stream", "vs whole body"): 1.25,
    ("stream", "vs line by line"): 0.30,
    ("short_calls", "vs raw aiohttp"): 1.15,
    ("sync_calls", "complete: sync vs async"): 1.15,
    ("history_calls", "history vs none"): 1.05,
    ("health_calls", "health vs none"): 1.03,
    ("image", "vs raw"): 1.25,
    ("image", "peak memory / image size (aichats)"): 4.0,
    ("cold_start", "aichats providers vs import aiohttp"): 0.60,
}


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    chosen = [a for a in argv if not a.startswith("--")] or [
        "stream",
        "short_calls",
        "sync_calls",
        "history_calls",
        "health_calls",
        "telemetry_calls",
        "image",
        "concurrency",
        "cold_start",
        "gateway",
    ]
    rounds = 3 if quick else 7
    runs = {
        "stream": lambda: asyncio.run(stream.measure(rounds=rounds)),
        "short_calls": lambda: asyncio.run(short_calls.measure(rounds=rounds * 2)),
        "sync_calls": lambda: asyncio.run(sync_calls.measure(rounds=rounds * 2)),
        "history_calls": lambda: asyncio.run(history_calls.measure(rounds=rounds * 2)),
        "health_calls": lambda: asyncio.run(health_calls.measure(rounds=rounds * 2)),
        "telemetry_calls": lambda: asyncio.run(telemetry_calls.measure(rounds=rounds * 2)),
        "image": lambda: asyncio.run(image.measure(rounds=rounds)),
        "concurrency": lambda: asyncio.run(concurrency.measure(rounds=2 if quick else 3)),
        "cold_start": lambda: cold_start.measure(rounds=5 if quick else 15),
        "gateway": lambda: asyncio.run(gateway.measure(rounds=5 if quick else 13)),
    }
    record: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}",
    }
    failed = False
    for name in chosen:
        result = runs[name]()
        print(f"\n{result.name}")
        for variant, times in result.times.items():
            median_ms = result.median(variant) * 1000
            print(f"  {variant:<40} median {median_ms:9.1f} ms  ({len(times)} rounds)")
        for key, value in result.extra.items():
            target = TARGETS.get((name, key))
            verdict = ""
            if target is not None:
                met = value <= target
                failed |= not met
                verdict = f"  target <= {target:g}: {'met' if met else 'NOT MET'}"
            print(f"  {key:<40} {value:9.3f}{verdict}")
        record[name] = {
            "medians_ms": {v: result.median(v) * 1000 for v in result.times},
            **result.extra,
        }
    out = Path(__file__).resolve().parent / "results" / "latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(record, indent=2))
    print(f"\nwritten to {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
