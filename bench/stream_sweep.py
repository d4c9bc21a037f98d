"""How the stream ratios change with stream length; draws docs/images/stream-ratio.png.

Usage: python bench/stream_sweep.py   (needs matplotlib: pip install -e '.[bench]')
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stream  # noqa: E402

LENGTHS = (1_000, 5_000, 20_000, 50_000, 100_000)


def main() -> None:
    rows = []
    for events in LENGTHS:
        result = asyncio.run(stream.measure(events=events, rounds=5))
        rows.append(
            {
                "events": events,
                "vs whole body": result.ratio("aichats", "whole body"),
                "vs line by line": result.ratio("aichats", "line by line"),
            }
        )
        print(json.dumps(rows[-1]))
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "stream_sweep.json").write_text(json.dumps(rows, indent=2))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for key, target in (("vs whole body", 1.25), ("vs line by line", 0.3)):
        line = axes.plot(LENGTHS, [row[key] for row in rows], marker="o", label=f"aichats {key}")
        axes.axhline(target, linestyle="--", color=line[0].get_color(), alpha=0.5)
    axes.set_xscale("log")
    axes.set_xlabel("events in the stream")
    axes.set_ylabel("time ratio (median of alternating rounds)")
    axes.set_title("stream(): time against two baselines (dashed: targets)")
    axes.legend()
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    out = ROOT / "docs" / "images" / "stream-ratio.png"
    out.parent.mkdir(exist_ok=True)
    figure.savefig(out, dpi=100)
    print(f"written {out}")


if __name__ == "__main__":
    main()
