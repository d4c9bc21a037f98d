"""``POST /v1/chat/completions``: answers, streams and usage, through the official client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from aichats_core import Usage
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

StartServer = Callable[..., Awaitable[str]]
HELLO = [{"role": "user", "content": "Hi"}]


async def test_a_chat_answers_with_the_providers_text(client: AsyncOpenAI) -> None:
    answer = await client.chat.completions.create(model="aichats/gpt-4", messages=HELLO)
    assert answer.object == "chat.completion"
    assert answer.id.startswith("chatcmpl-")
    assert answer.model == "aichats/gpt-4"
    [choice] = answer.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == default_reply("Hi")
    assert (choice.index, choice.finish_reason) == (0, "stop")
    # No Usage event from AiChats: estimated at ceil(characters / 4).
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == 1
    assert answer.usage.completion_tokens == -(-len(default_reply("Hi")) // 4)
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


async def test_a_bare_provider_name_means_its_default_model(
    client: AsyncOpenAI, emulator: AiChatsEmulator
) -> None:
    answer = await client.chat.completions.create(model="aichats", messages=HELLO)
    assert answer.model == "aichats"
    assert emulator.requests[-1].json["type"] == "chat"


async def test_roles_and_text_parts_reach_the_provider(
    client: AsyncOpenAI, emulator: AiChatsEmulator
) -> None:
    await client.chat.completions.create(
        model="aichats/gpt-4",
        messages=[
            {"role": "developer", "content": "Be brief"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
            },
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "three"},
        ],
        temperature=0.2,
        max_tokens=50,
        top_p=1,
        user="someone",
        extra_body={"an_unknown_field": True},  # OpenAI ignores unknown fields; so do we
    )
    sent = emulator.requests[-1].json["messagesHistory"][0]["content"]
    assert sent == "System: Be brief\nUser: one\ntwo\nAssistant: ok\nUser: three\nAssistant:"


async def test_a_stream_sends_chunks_in_order_and_usage_last(
    client: AsyncOpenAI, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(text="one two three", events=3, delay=0.01))
    stream = await client.chat.completions.create(
        model="aichats/gpt-4",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk.id for chunk in chunks}) == 1
    first, *middle, last, usage = chunks
    assert (first.choices[0].delta.role, first.choices[0].delta.content) == ("assistant", "")
    assert "".join(c.choices[0].delta.content or "" for c in middle) == "one two three"
    assert len(middle) == 3
    assert all(c.choices[0].finish_reason is None for c in [first, *middle])
    assert last.choices[0].finish_reason == "stop"
    assert last.choices[0].delta.content is None
    assert usage.choices == []
    assert usage.usage is not None
    assert usage.usage.completion_tokens == 4  # ceil(13 / 4)


async def test_without_include_usage_no_usage_chunk_is_sent(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="aichats", messages=HELLO, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == default_reply("Hi")


async def test_usage_comes_from_the_provider_when_it_reports_it(client: AsyncOpenAI) -> None:
    provider = ScriptedProvider.script("Hi", " there", Usage(prompt_tokens=7, completion_tokens=3))
    with registered("counting", provider):
        answer = await client.chat.completions.create(model="counting", messages=HELLO)
        stream = await client.chat.completions.create(
            model="counting/scripted",
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert answer.choices[0].message.content == "Hi there"
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 3)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 10


async def test_the_sdk_raises_when_a_stream_fails_after_it_began(
    client: AsyncOpenAI, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(text="one two three", delay=0.01, disconnect_after=1))
    stream = await client.chat.completions.create(model="aichats", messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    # In-band: the status was already 200, so this is the SDK's plain APIError, and the text
    # received never ended with a finish_reason.
    assert not isinstance(caught.value, openai.APIStatusError)
    assert "".join(received) == "one"
    assert caught.value.code == "upstream_error"
    assert caught.value.type == "api_error"
    assert caught.value.message == "provider 'aichats' stopped before the answer was complete"


@pytest.mark.slow
async def test_many_concurrent_chats_do_not_wait_for_a_pooled_connection(
    start_server: StartServer, emulator: AiChatsEmulator
) -> None:
    # Each answer holds its upstream connection 0.4 s; waiting that long for a pooled one
    # would count against the 0.3 s connect timeout (with the old cap of 100: 20 x 504).
    emulator.script = Script(text="a b c d", events=4, delay=0.1)
    base_url = await start_server(
        provider_options={"aichats": {**emulator.provider_options(), "timeout": 0.3}}
    )
    body = {"model": "aichats", "messages": HELLO}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def chat() -> int:
            async with http.post(base_url + "/chat/completions", json=body) as response:
                await response.read()
                return response.status

        statuses = await asyncio.gather(*(chat() for _ in range(120)))
    assert statuses == [200] * 120
