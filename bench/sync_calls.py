"""300 short chat calls through ``aichats_core.sync.Client`` against the async ``Client``.

The async side runs on the main thread's loop; the sync side blocks that loop while its calls
run on the sync API's own loop thread, as a sync call from a notebook does. Both alternate in
batches, as in ``short_calls``; the ratio is the median over the batches of sync / async.
Short calls are where the sync API's thread hops weigh most.
"""

from __future__ import annotations

from aichats_core import Client, TextChunk, sync
from bench._harness import Comparison, compare, emulator_process


async def measure(calls: int = 300, rounds: int = 15, batch: int = 50) -> Comparison:
    with emulator_process(text="OK", events=1) as url, sync.Client(base_url=url) as blocking:
        async with Client(base_url=url) as client:

            async def async_complete() -> None:
                for _ in range(batch):
                    assert await client.complete("aichats", "hi") == "OK"

            async def sync_complete() -> None:
                for _ in range(batch):
                    assert blocking.complete("aichats", "hi") == "OK"

            async def async_stream() -> None:
                for _ in range(batch):
                    async for event in client.stream("aichats", "hi"):
                        assert not isinstance(event, TextChunk) or event.text == "OK"

            async def sync_stream() -> None:
                for _ in range(batch):
                    for event in blocking.stream("aichats", "hi"):
                        assert not isinstance(event, TextChunk) or event.text == "OK"

            result = await compare(
                f"{calls} short calls, sync API vs async",
                {
                    "async complete": async_complete,
                    "sync complete": sync_complete,
                    "async stream": async_stream,
                    "sync stream": sync_stream,
                },
                rounds * calls // batch,
            )
    for times in result.times.values():
        times[:] = [elapsed * calls / batch for elapsed in times]
    result.extra["complete: sync vs async"] = result.ratio("sync complete", "async complete")
    result.extra["stream: sync vs async"] = result.ratio("sync stream", "async stream")
    return result
