"""300 short chat calls through one ``Client`` against raw aiohttp with one shared session."""

from __future__ import annotations

import aiohttp

from aichats_core import Client
from bench._harness import Comparison, compare, emulator_process

BODY = {"type": "chat", "messagesHistory": [{"from": "you", "content": "hi"}]}


async def measure(calls: int = 300, rounds: int = 15) -> Comparison:
    with emulator_process(text="OK", events=1) as url:
        endpoint = f"{url}/chat/send2/"
        # Both keep the site's cookie, as they would against ai-chats.org: aiohttp's default jar
        # drops cookies from IP-address hosts such as the emulator's, which would spare the
        # baseline work that neither side is spared against the real service.
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session, Client(base_url=url) as client:

            async def raw() -> None:
                for _ in range(calls):
                    async with session.post(endpoint, json=BODY) as response:
                        body = await response.text()
                    assert body.startswith("data: OK")

            async def aichats() -> None:
                for _ in range(calls):
                    assert await client.complete("aichats", "hi") == "OK"

            result = await compare(
                f"{calls} short calls", {"raw aiohttp": raw, "aichats": aichats}, rounds
            )
    result.extra["vs raw aiohttp"] = result.ratio("aichats", "raw aiohttp")
    return result
