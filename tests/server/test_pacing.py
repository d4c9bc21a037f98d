"""Pacing a provider's events: its own task for the whole call, keep-alives, shutdown."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from aichats_core import AsyncGeneratorProvider, ProviderModelMixin
from aichats_core.server._pacing import Tick, paced
from aichats_core.testing import registered
from aichats_core.types import Messages


class Deadlined(AsyncGeneratorProvider, ProviderModelMixin):
    """A provider with its own deadline around a slow step, spanning a yield."""

    url = "https://deadlined.invalid"
    default_model = "m"
    models: ClassVar[list[str]] = ["m"]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        async with asyncio.timeout(0.2):
            yield "a"
            await asyncio.sleep(5)
            yield "b"


async def test_a_providers_own_timeout_works_in_a_stream(
    base_url: str, http: aiohttp.ClientSession
) -> None:
    body = {"model": "deadlined", "messages": [{"role": "user", "content": "x"}], "stream": True}
    with registered("deadlined", Deadlined):
        async with http.post(base_url + "/chat/completions", json=body) as response:
            data = await asyncio.wait_for(response.read(), timeout=3)
    last = json.loads(data.decode().strip().split("\n\n")[-1].removeprefix("data: "))
    assert last["error"]["code"] == "upstream_timeout"
    assert b'"content":"a"' in data
    assert b'"content":"b"' not in data


async def test_a_providers_own_timeout_works_in_an_answer(client: AsyncOpenAI) -> None:
    with registered("deadlined", Deadlined), pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(
            model="deadlined", messages=[{"role": "user", "content": "x"}], timeout=3
        )
    assert (caught.value.status_code, caught.value.code) == (504, "upstream_timeout")


async def test_every_step_of_the_provider_runs_in_one_task() -> None:
    tasks = []

    async def events() -> AsyncIterator[int]:
        for number in range(20):
            tasks.append(asyncio.current_task())
            await asyncio.sleep(0)
            yield number

    closing = asyncio.get_running_loop().create_future()
    async with aclosing(paced(events(), interval=None, closing=closing)) as items:
        received = [item async for item in items]
    assert received == list(range(20))
    assert len(set(tasks)) == 1
    assert tasks[0] is not asyncio.current_task()


async def test_silence_ticks_and_closing_ends() -> None:
    release = asyncio.Event()
    closed = asyncio.Event()

    async def events() -> AsyncIterator[str]:
        try:
            yield "first"
            await release.wait()
            yield "never"
        finally:
            closed.set()

    closing = asyncio.get_running_loop().create_future()
    received: list[object] = []
    async with aclosing(paced(events(), interval=0.02, closing=closing)) as items:
        async for item in items:
            received.append(item)
            if item is Tick.KEEPALIVE and received.count(item) == 2:
                closing.set_result(None)
    assert received == ["first", Tick.KEEPALIVE, Tick.KEEPALIVE, Tick.CLOSING]
    assert closed.is_set()  # the provider was closed, its pending step cancelled


async def test_a_failure_is_raised_in_the_readers_task() -> None:
    async def events() -> AsyncIterator[int]:
        yield 1
        raise LookupError("from the provider")

    closing = asyncio.get_running_loop().create_future()
    received = []
    with pytest.raises(LookupError, match="from the provider"):
        async with aclosing(paced(events(), interval=None, closing=closing)) as items:
            async for item in items:
                received.append(item)
    assert received == [1]


async def test_an_abandoned_call_ends_with_a_tick() -> None:
    async def events() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(60)
        yield 2

    gone = False
    closing = asyncio.get_running_loop().create_future()
    received: list[object] = []
    async with aclosing(
        paced(events(), interval=None, closing=closing, abandoned=lambda: gone, poll=0.01)
    ) as items:
        async for item in items:
            received.append(item)
            gone = True
    assert received == [1, Tick.ABANDONED]
