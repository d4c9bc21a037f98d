"""300 short chat calls through one ``Client`` against raw aiohttp with one shared session.

The machine's noise comes in bursts longer than a few hundred calls, so the two sides alternate
in batches of ``batch`` calls, many times, and the ratio is the median over the batches; the
reported medians are per 300 calls.
"""

from __future__ import annotations

import aiohttp

from aichats_core import Client
from bench._harness import Comparison, compare, emulator_process
from providers.aichats._provider import browser_headers

BODY = {"type": "chat", "messagesHistory": [{"from": "you", "content": "hi"}]}


async def measure(calls: int = 300, rounds: int = 15, batch: int = 50) -> Comparison:
    with emulator_process(text="OK", events=1) as url:
        endpoint = f"{url}/chat/send2/"
        # Both sides send the same HTTP exchange, so that the ratio is aichats' own cost: the
        # browser headers the site expects, and the site's cookie kept as it would be against
        # ai-chats.org (aiohttp's default jar drops cookies from IP-address hosts such as the
        # emulator's, which would spare the baseline work neither side is spared for real).
        headers = browser_headers(url, "chat")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session, Client(base_url=url) as client:

            async def raw() -> None:
                for _ in range(batch):
                    async with session.post(endpoint, json=BODY, headers=headers) as response:
                        body = await response.text()
                    assert body.startswith("data: OK")

            async def aichats() -> None:
                for _ in range(batch):
                    assert await client.complete("aichats", "hi") == "OK"

            result = await compare(
                f"{calls} short calls",
                {"raw aiohttp": raw, "aichats": aichats},
                rounds * calls // batch,
            )
    for times in result.times.values():
        times[:] = [elapsed * calls / batch for elapsed in times]
    result.extra["vs raw aiohttp"] = result.ratio("aichats", "raw aiohttp")
    return result
