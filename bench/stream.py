"""A 50,000-event SSE stream through ``stream()`` against two baselines on the same socket path.

(a) read the whole body at once and split it: the floor for any parser, and what the
reference client did (it never streamed); (b) a naive loop awaiting aiohttp line by line.
"""

from __future__ import annotations

import aiohttp

from aichats_core import Client, TextChunk
from bench._harness import Comparison, compare, emulator_process

BODY = {"type": "chat", "messagesHistory": [{"from": "you", "content": "bench"}]}


async def measure(events: int = 50_000, rounds: int = 7) -> Comparison:
    with emulator_process(words=events) as url:
        endpoint = f"{url}/chat/send2/"
        expected_words = events
        async with aiohttp.ClientSession() as session, Client(base_url=url) as client:

            async def whole_body() -> None:
                async with session.post(endpoint, json=BODY) as response:
                    body = (await response.read()).decode()
                text = "".join(
                    part[6:]
                    for part in body.split("\n\n")
                    if part.startswith("data: ") and part != "data: [DONE]"
                )
                assert len(text.split()) == expected_words

            async def line_by_line() -> None:
                parts = []
                async with session.post(endpoint, json=BODY) as response:
                    async for line in response.content:
                        if line.startswith(b"data: ") and line != b"data: [DONE]\n":
                            parts.append(line[6:-1].decode())
                assert len("".join(parts).split()) == expected_words

            async def aichats() -> None:
                parts = []
                async for event in client.stream("aichats", "bench"):
                    if isinstance(event, TextChunk):
                        parts.append(event.text)
                assert len("".join(parts).split()) == expected_words

            result = await compare(
                f"stream of {events} events",
                {"whole body": whole_body, "line by line": line_by_line, "aichats": aichats},
                rounds,
            )
    result.extra["vs whole body"] = result.ratio("aichats", "whole body")
    result.extra["vs line by line"] = result.ratio("aichats", "line by line")
    return result
