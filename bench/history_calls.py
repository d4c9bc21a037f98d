"""300 short chat calls through a ``Client`` recording its history, against one that does not.

Both clients talk to the same emulator in alternating batches (see ``short_calls``); the
ratio is what recording costs a call on the event loop: building the turn's record and
queueing it (the SQLite write happens on the writer thread, which the ratio includes as the
CPU it takes from the loop on this 2-core machine).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from aichats_core import Client
from aichats_core.history import HistoryStore
from bench._harness import Comparison, compare, emulator_process


async def measure(calls: int = 300, rounds: int = 15, batch: int = 50) -> Comparison:
    with emulator_process(text="OK", events=1) as url, tempfile.TemporaryDirectory() as home:
        database = Path(home) / "history.db"
        async with (
            Client(base_url=url) as plain,
            Client(base_url=url, history=database) as logged,
        ):

            async def without() -> None:
                for _ in range(batch):
                    assert await plain.complete("aichats", "hi") == "OK"

            async def recorded() -> None:
                for _ in range(batch):
                    assert await logged.complete("aichats", "hi") == "OK"

            result = await compare(
                f"{calls} short calls",
                {"no history": without, "history": recorded},
                rounds * calls // batch,
            )
        with HistoryStore(database) as store:  # the client flushed its turns when closed
            logged_turns = len(store.conversations(limit=None))
    assert logged_turns >= rounds * calls, logged_turns  # every call was recorded
    for times in result.times.values():
        times[:] = [elapsed * calls / batch for elapsed in times]
    result.extra["history vs none"] = result.ratio("history", "no history")
    return result
