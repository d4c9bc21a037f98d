"""1,000 concurrent streams through one ``Client``: wall time, memory per stream, fds.

Memory is what Python allocates (tracemalloc) at the peak, with all streams open at once
(no connection limit on either side), divided by the number of streams.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import aiohttp

from aichats_core import Client
from bench._harness import Comparison, compare, emulator_process, open_fds

BODY = {"type": "chat", "messagesHistory": [{"from": "you", "content": "x"}]}


async def measure(streams: int = 1000, rounds: int = 3) -> Comparison:
    fds_before = open_fds()
    with emulator_process(words=20, events=20, delay=0.005) as url:
        endpoint = f"{url}/chat/send2/"

        async def raw() -> None:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def one() -> str:
                    async with session.post(endpoint, json=BODY) as response:
                        return await response.text()

                bodies = await asyncio.gather(*(one() for _ in range(streams)))
            assert all("w19" in body for body in bodies)

        async def aichats() -> None:
            connector = aiohttp.TCPConnector(limit=0)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                Client(base_url=url, session=session) as client,
            ):
                answers = await asyncio.gather(
                    *(client.complete("aichats", f"prompt {i}") for i in range(streams))
                )
            expected = " ".join(f"w{i}" for i in range(20))
            assert all(answer == expected for answer in answers)

        result = await compare(
            f"{streams} concurrent streams", {"raw aiohttp": raw, "aichats": aichats}, rounds
        )
        for name, run in (("aichats", aichats), ("raw aiohttp", raw)):
            tracemalloc.start()
            await run()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            result.extra[f"peak memory per stream, KiB ({name})"] = peak / streams / 1024
    gc.collect()
    result.extra["vs raw aiohttp"] = result.ratio("aichats", "raw aiohttp")
    result.extra["fds before"] = fds_before
    result.extra["fds after"] = open_fds()
    return result
