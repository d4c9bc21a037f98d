"""300 short chat calls through a ``Client`` measuring health, against one that does not, and
one whose hook records every event.

All three talk to the same emulator in alternating batches (see ``short_calls``). "health vs
none" is what measuring costs a call (an outcome per attempt and a breaker check, in memory:
the process tracker); "hook vs none" what a hook costs that records every event, which runs
on the hooks' thread (on this 2-core machine, the CPU it takes from the loop is included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aichats_core import Client
from aichats_core.health import HealthTracker
from aichats_core.hooks import flush
from bench._harness import Comparison, compare, emulator_process


async def measure(calls: int = 300, rounds: int = 15, batch: int = 50) -> Comparison:
    seen: list[object] = []
    with emulator_process(text="OK", events=1) as url:
        async with (
            Client(base_url=url, health=False) as plain,
            Client(base_url=url, health=HealthTracker()) as measured,
            Client(base_url=url, health=False, hooks=[seen.append]) as hooked,
        ):

            def calls_of(client: Client) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    for _ in range(batch):
                        assert await client.complete("aichats", "hi") == "OK"

                return run

            result = await compare(
                f"{calls} short calls",
                {"no health": calls_of(plain), "health": calls_of(measured),
                 "recording hook": calls_of(hooked)},
                rounds * calls // batch,
            )  # fmt: skip
    assert flush(30)
    assert len(seen) >= 5 * rounds * calls  # every call's five events reached the hook
    for times in result.times.values():
        times[:] = [elapsed * calls / batch for elapsed in times]
    result.extra["health vs none"] = result.ratio("health", "no health")
    result.extra["hook vs none"] = result.ratio("recording hook", "no health")
    return result
