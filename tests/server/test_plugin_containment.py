"""A provider that raises ``SystemExit`` or ``KeyboardInterrupt`` mid-answer fails that request
only: ``aichats serve`` answers it with an error, logs the provider, serves the next request,
and still stops on SIGTERM. Run as a real process: what is at stake is the process's life."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import textwrap
from collections.abc import AsyncIterator

import aiohttp
import pytest

pytestmark = pytest.mark.slow

SERVER = textwrap.dedent(
    """
    import sys
    from aichats_core import AsyncGeneratorProvider, ProviderModelMixin, register_provider
    from aichats_core.cli import main

    class Exiter(AsyncGeneratorProvider, ProviderModelMixin):
        default_model = "m"
        models = ["m"]

        @classmethod
        async def create_async_generator(cls, model, messages, proxy=None, **kwargs):
            prompt = messages[-1].content
            yield "half an answer "
            if prompt == "exit":
                sys.exit(3)
            if prompt == "interrupt":
                raise KeyboardInterrupt
            yield "and the rest"

    register_provider("exiter", Exiter)
    sys.exit(main(["serve", "--host", "127.0.0.1", "--port", "0", "--shutdown-grace", "1"]))
    """
)
READY = re.compile(rb"API at (http://127\.0\.0\.1:\d+/v1)")


class Server:
    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVER,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        match = READY.search(line)
        assert match is not None, line
        yield Server(process, match.group(1).decode())
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def chat_body(prompt: str, *, streaming: bool) -> dict[str, object]:
    return {
        "model": "exiter/m",
        "messages": [{"role": "user", "content": prompt}],
        "stream": streaming,
    }


async def test_a_provider_that_exits_fails_its_request_and_the_server_goes_on(
    server: Server,
) -> None:
    url = f"{server.base_url}/chat/completions"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        for prompt in ("exit", "interrupt"):
            async with http.post(url, json=chat_body(prompt, streaming=True)) as response:
                raw = await response.read()
            assert response.status == 200
            assert b"half an answer" in raw
            assert b"[DONE]" not in raw  # the stream ends with an error, not as a success
            last = json.loads(raw.strip().split(b"\n\n")[-1].removeprefix(b"data: "))
            assert "error" in last, raw
            async with http.post(url, json=chat_body(prompt, streaming=False)) as response:
                assert response.status == 502, await response.text()
                assert "error" in await response.json()
        async with http.post(url, json=chat_body("fine", streaming=False)) as response:
            assert response.status == 200
            answer = await response.json()
    assert answer["choices"][0]["message"]["content"] == "half an answer and the rest"
    assert server.process.returncode is None  # still serving

    server.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(server.process.wait(), timeout=20) == 0
    log = await server.stderr()
    for cause in ("SystemExit: 3", "KeyboardInterrupt"):
        assert re.search(rf"ERROR .*provider 'exiter' failed with {cause}", log), log
