"""Cold start in fresh processes: ``aichats providers`` and ``import aichats_core`` against
``python -c "import aiohttp"``, alternating."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench._harness import Comparison

AICHATS = str(Path(sys.executable).with_name("aichats"))
COMMANDS = {
    "import aiohttp": [sys.executable, "-c", "import aiohttp"],
    "import aichats_core + list_providers()": [
        sys.executable,
        "-c",
        "import aichats_core; aichats_core.list_providers()",
    ],
    "aichats providers": [AICHATS, "providers"],
}


def measure(rounds: int = 15) -> Comparison:
    result = Comparison("cold start", {name: [] for name in COMMANDS})
    names = list(COMMANDS)
    for round_number in range(rounds + 1):
        rotation = round_number % len(names)
        for name in names[rotation:] + names[:rotation]:
            started = time.perf_counter()
            subprocess.run(COMMANDS[name], check=True, stdout=subprocess.DEVNULL)
            if round_number:
                result.times[name].append(time.perf_counter() - started)
    for name in names[1:]:
        result.extra[f"{name} vs import aiohttp"] = result.ratio(name, "import aiohttp")
    result.extra["import aiohttp median (ms)"] = (
        statistics.median(result.times["import aiohttp"]) * 1000
    )
    return result
