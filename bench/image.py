"""A 5 MB image through the ``dalle`` path against raw download + base64, with peak memory."""

from __future__ import annotations

import base64
import tracemalloc
from collections.abc import Awaitable, Callable

import aiohttp

from aichats_core import Client
from bench._harness import Comparison, compare, emulator_process

BODY = {"type": "image", "messagesHistory": [{"from": "you", "content": "a big picture"}]}
SIZE = 5 * 1024 * 1024


async def peak_memory(run: Callable[[], Awaitable[None]]) -> int:
    tracemalloc.start()
    try:
        await run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def measure(rounds: int = 7) -> Comparison:
    with emulator_process(image_size=[256, 256], image_bytes=SIZE) as url:
        endpoint = f"{url}/chat/send2/"
        async with aiohttp.ClientSession() as session, Client(base_url=url) as client:

            async def raw() -> None:
                async with session.post(endpoint, json=BODY) as response:
                    image_url = (await response.json())["data"][0]["url"]
                async with session.get(image_url) as response:
                    data = await response.read()
                    mime = response.content_type
                uri = f"data:{mime};base64," + base64.b64encode(data).decode()
                assert len(uri) > SIZE

            async def aichats() -> None:
                uri = await client.complete("aichats", "a big picture", model="dalle")
                assert uri.startswith("data:image/png;base64,")
                assert len(uri) > SIZE

            result = await compare("5 MB image", {"raw": raw, "aichats": aichats}, rounds)
            result.extra["vs raw"] = result.ratio("aichats", "raw")
            result.extra["peak memory / image size (aichats)"] = await peak_memory(aichats) / SIZE
            result.extra["peak memory / image size (raw)"] = await peak_memory(raw) / SIZE
    return result
