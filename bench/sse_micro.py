"""Micro benchmark: the incremental SSE decoder against buffering the whole body and splitting it.

The decoder has to stream (yield each event as it completes) without costing much more than the
naive parse that waits for the whole body, or providers would be tempted back to buffering. This
times both on a 50,000-event body, in alternating rounds so drift hits both equally, and prints
the median of the per-round ratios decoder / baseline for 64 KiB and 1 KiB network reads.

Run: ``.venv/bin/python bench/sse_micro.py [--rounds N] [--events N] [--read-sizes 65536,1024]``

``--against REV`` times the ``SSEDecoder`` of a git revision in place of the baseline, so a change
to the decoder shows its cost as a ratio new / old measured side by side; ``--decoder events``
times ``SSEEventDecoder`` (``iter_sse_events``) instead of ``SSEDecoder``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aichats_core.http._sse import SSEDecoder, SSEEventDecoder

TOKENS = {
    "word": ("word",),
    "chat": ("Hello", " there", ",", " how", " are", " you", "?", " café", " 你好", "\u2028"),
}


def make_body(events: int, tokens: tuple[str, ...]) -> bytes:
    """``data: <token>\\n\\n`` events, as a chat completion streams them."""
    return "".join(f"data: {tokens[i % len(tokens)]}\n\n" for i in range(events)).encode()


def split(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


def baseline(body: bytes) -> list[str]:
    """The buffering parse: decode the whole body once, split at blank lines, strip prefixes."""
    return [p.removeprefix("data: ") for p in body.decode().split("\n\n") if p]


def decoder(chunks: list[bytes], kind: type[Any] = SSEDecoder) -> list[Any]:
    dec = kind(provider="bench")
    out: list[Any] = []
    for chunk in chunks:
        out += dec.feed(chunk)
    out += dec.close()
    return out


def decoder_at(revision: str) -> type[Any]:
    """``SSEDecoder`` as it was at a git revision, loaded from that revision's source."""
    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(
        ["git", "show", f"{revision}:aichats_core/http/_sse.py"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("_sse_at_revision", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{revision}:_sse.py", "exec"), module.__dict__)
    kind: type[Any] = module.SSEDecoder
    return kind


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Best of ``repeat`` runs: the least disturbed measurement of one run."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per round; the best counts")
    parser.add_argument(
        "--tokens",
        choices=sorted(TOKENS),
        default="word",
        help="word: every event is 'data: word'; chat: varied tokens, some not ASCII",
    )
    parser.add_argument(
        "--read-sizes",
        default="65536,1024",
        help="comma-separated network read sizes in bytes (default: 65536,1024)",
    )
    parser.add_argument(
        "--decoder",
        choices=["data", "events"],
        default="data",
        help="data: SSEDecoder (iter_sse); events: SSEEventDecoder (iter_sse_events)",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        help="compare with the SSEDecoder of this git revision instead of the baseline",
    )
    args = parser.parse_args()
    kind: type[Any] = SSEEventDecoder if args.decoder == "events" else SSEDecoder

    body = make_body(args.events, TOKENS[args.tokens])
    expected = baseline(body)
    against = decoder_at(args.against) if args.against else None
    base_name = f"{args.against} decoder" if against else "baseline"
    print(f"body: {args.events} events ({args.tokens}), {len(body)} bytes")
    for size in map(int, args.read_sizes.split(",")):
        label = f"{size // 1024} KiB reads" if size % 1024 == 0 else f"{size} B reads"
        chunks = split(body, size)
        run = partial(decoder, chunks, kind)
        base = partial(decoder, chunks, against) if against else partial(baseline, body)
        if [getattr(event, "data", event) for event in run()] != expected:
            raise SystemExit(f"{label}: the decoder's events differ from the baseline's")
        ratios: list[float] = []
        base_times: list[float] = []
        dec_times: list[float] = []
        for _ in range(args.rounds):
            b = timed(base, args.repeat)
            d = timed(run, args.repeat)
            base_times.append(b)
            dec_times.append(d)
            ratios.append(d / b)
        print(
            f"{label:>13} ({len(chunks):4d} reads): "
            f"{base_name} {statistics.median(base_times) * 1e3:6.2f} ms, "
            f"decoder {statistics.median(dec_times) * 1e3:6.2f} ms, "
            f"median ratio {statistics.median(ratios):.3f} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
        )


if __name__ == "__main__":
    main()
