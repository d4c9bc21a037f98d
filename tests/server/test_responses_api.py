"""``POST /v1/responses`` through the official client: ``responses.create`` and
``responses.stream``, text, tool calls, their results, and refusals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from aichats_core import Message, ToolCall
from aichats_core.testing import FunctionProvider, ScriptedProvider, registered

StartServer = Callable[..., Awaitable[str]]
TOOLS: Any = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}, "strict": False}
]


def _answer(messages: list[Message], options: dict[str, Any]) -> Iterator[object]:
    if messages[-1].role == "tool":
        yield f"Result: {messages[-1].text}"
    elif options.get("tools"):
        assert options["tools"][0] == {
            "type": "function",
            "function": {"name": "get_weather", "parameters": {"type": "object"}, "strict": False},
        }
        yield ToolCall(id="call_9", name="get_weather", arguments='{"city":"Oslo"}')
    else:
        yield "Hello "
        yield f"({messages[0].role}: {messages[0].text})"


@pytest.fixture
async def sdk(start_server: StartServer) -> Any:
    provider = FunctionProvider.of(_answer, name="Replier", capabilities=frozenset({"tools"}))
    with registered("replier", provider):
        async with AsyncOpenAI(
            base_url=await start_server(), api_key="k", max_retries=0, timeout=10
        ) as client:
            yield client


async def test_create_answers_a_response_object(sdk: AsyncOpenAI) -> None:
    response = await sdk.responses.create(model="replier", input="Hi", instructions="Be brief")
    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text == "Hello (system: Be brief)"
    [item] = response.output
    assert item.type == "message"
    assert response.usage is not None
    assert response.usage.output_tokens > 0


async def test_stream_sends_the_semantic_events(sdk: AsyncOpenAI) -> None:
    kinds = []
    async with sdk.responses.stream(
        model="replier", input=[{"role": "user", "content": "Hi"}]
    ) as stream:
        async for event in stream:
            kinds.append(event.type)
        final = await stream.get_final_response()
    assert final.output_text == "Hello (user: Hi)"
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for kind in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert kind in kinds
    raw = await sdk.responses.create(model="replier", input="Hi", stream=True)
    assert [event.type async for event in raw][-1] == "response.completed"


async def test_a_tool_loop(sdk: AsyncOpenAI) -> None:
    first = await sdk.responses.create(model="replier", input="Weather?", tools=TOOLS)
    [call] = first.output
    assert call.type == "function_call"
    assert (call.call_id, call.name, call.arguments) == ("call_9", "get_weather", '{"city":"Oslo"}')
    async with sdk.responses.stream(model="replier", input="Weather?", tools=TOOLS) as stream:
        kinds = [event.type async for event in stream]
        streamed = await stream.get_final_response()
    assert "response.function_call_arguments.done" in kinds
    assert streamed.output[0].type == "function_call"
    second = await sdk.responses.create(
        model="replier",
        tools=TOOLS,
        input=[
            {"role": "user", "content": "Weather?"},
            {
                "type": "function_call",
                "call_id": "call_9",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_9", "output": "sunny"},
        ],
    )
    assert second.output_text == "Result: sunny"


async def test_max_output_tokens_makes_an_incomplete_response(sdk: AsyncOpenAI) -> None:
    with registered("long", ScriptedProvider.script("many words " * 20)):
        response = await sdk.responses.create(model="long", input="Hi", max_output_tokens=2)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"reasoning": {"effort": "low"}}, "reasoning"),
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"input": [{"type": "reasoning"}]}, "input[0]"),
    ],
)
async def test_unknown_or_unsupported_fields_are_a_400_naming_them(
    sdk: AsyncOpenAI, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.responses.create(**{"model": "replier", "input": "Hi", **fields})
    assert caught.value.param == param
