"""A complete tool loop through ``aichats serve`` run as users start it: a test provider
registered in the server's process, and the openai plugin against its fake upstream."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai import AsyncOpenAI
from openai_fake import PLUGIN, FakeOpenAI, Reply

pytestmark = pytest.mark.slow

SERVER = textwrap.dedent(
    """
    import sys
    from aichats_core import ToolCall, register_provider
    from aichats_core.cli import main
    from aichats_core.testing import FunctionProvider

    def answer(messages, options):
        if messages[-1].role == "tool":
            return "It is " + messages[-1].text + "."
        return [ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')]

    register_provider("tooly", FunctionProvider.of(answer, capabilities=frozenset({"tools"})))
    if sys.argv[1:]:  # the plugin from its folder, as its entry point names it
        sys.path.insert(0, sys.argv[1])
        from aichats_openai import OpenAICompatible
        register_provider("openai", OpenAICompatible)
    sys.exit(main(["serve", "--host", "127.0.0.1", "--port", "0", *sys.argv[2:]]))
    """
)
READY = re.compile(rb"API at (http://127\.0\.0\.1:\d+/v1)")
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


async def _serve(*args: str) -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SERVER, *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        match = READY.search(line)
        assert match is not None, line
        yield match.group(1).decode()
    finally:
        process.terminate()
        await process.wait()


async def loop(base_url: str, model: str) -> None:
    """Tool calls streamed and not, then the result as a ``tool`` message, then the answer."""
    async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=20) as sdk:
        first = await sdk.chat.completions.create(model=model, messages=ASK, tools=TOOLS)
        assert first.choices[0].finish_reason == "tool_calls"
        async with sdk.chat.completions.stream(model=model, messages=ASK, tools=TOOLS) as stream:
            streamed = await stream.get_final_completion()
        for answer in (first, streamed):
            [call] = answer.choices[0].message.tool_calls or []
            assert (call.id, call.function.name) == ("call_1", "get_weather")
            assert json.loads(call.function.arguments) == {"city": "Paris"}
        history = [
            *ASK,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": "call_1", "content": "21 degrees"},
        ]
        final = await sdk.chat.completions.create(model=model, messages=history, tools=TOOLS)
        assert final.choices[0].message.content == "It is 21 degrees."
        assert final.choices[0].finish_reason == "stop"


async def test_a_tool_loop_with_a_test_provider() -> None:
    async for base_url in _serve():
        await loop(base_url, "tooly")


async def test_a_tool_loop_with_the_openai_plugin(fake: FakeOpenAI) -> None:
    call = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    fake.enqueue(
        Reply(tool_calls=[call], text="", finish_reason="tool_calls", json_answer=True),
        Reply(tool_calls=[call], text="", finish_reason="tool_calls"),
        Reply(text="It is 21 degrees.", json_answer=True),
    )
    async for base_url in _serve(str(PLUGIN), "-o", f"openai.base_url={fake.url}"):
        await loop(base_url, "openai/fake-model")
    sent = fake.requests[-1].json
    assert sent["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "21 degrees",
    }
    assert sent["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
