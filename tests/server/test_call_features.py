"""Tools, JSON output, image parts, ``max_tokens``, ``stop`` and ``n`` through the server,
driven by the official client against test providers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from aichats_core import FinishReason, Message, ToolCall, Usage
from aichats_core.errors import ProviderHTTPError
from aichats_core.testing import FunctionProvider, ScriptedProvider, registered

StartServer = Callable[..., Awaitable[str]]
WEATHER: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


def _toolbox(messages: list[Message], options: dict[str, Any]) -> Iterator[object]:
    """Calls the tool when asked a question, answers with its result when given one."""
    last = messages[-1]
    if last.role == "tool":
        yield f"It is {json.loads(last.text)['temp']} degrees."
        return
    assert options["tools"][0]["function"]["name"] == "get_weather"
    yield ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')


@pytest.fixture
def tooly() -> Iterator[type[FunctionProvider]]:
    provider = FunctionProvider.of(
        _toolbox, name="Tooly", capabilities=frozenset({"tools", "json_output", "image_input"})
    )
    with registered("tooly", provider):
        yield provider


@pytest.fixture
async def sdk(start_server: StartServer) -> Any:
    async with AsyncOpenAI(
        base_url=await start_server(), api_key="k", max_retries=0, timeout=10
    ) as client:
        yield client


async def test_a_tool_loop_without_streaming(sdk: AsyncOpenAI, tooly: type) -> None:
    first = await sdk.chat.completions.create(model="tooly", messages=ASK, tools=WEATHER)  # type: ignore[arg-type]
    [choice] = first.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert (call.id, call.type, call.function.name) == ("call_1", "function", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    history: list[Any] = [
        *ASK,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    final = await sdk.chat.completions.create(model="tooly", messages=history, tools=WEATHER)  # type: ignore[arg-type]
    assert final.choices[0].message.content == "It is 21 degrees."
    assert final.choices[0].finish_reason == "stop"
    sent = tooly.calls[-1].messages
    assert sent[1].tool_calls == (call_event(),)
    assert (sent[2].role, sent[2].tool_call_id) == ("tool", "call_1")


def call_event() -> ToolCall:
    return ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')


async def test_streamed_tool_calls_are_reassembled_by_the_sdk(
    sdk: AsyncOpenAI, tooly: type
) -> None:
    async with sdk.chat.completions.stream(
        model="tooly",
        messages=ASK,
        tools=WEATHER,  # type: ignore[arg-type]
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    [choice] = final.choices
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1",
        "get_weather",
        '{"city": "Paris"}',
    )


async def test_tools_for_a_provider_without_them_is_a_400_naming_it(
    client: AsyncOpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="aichats", messages=ASK, tools=WEATHER)  # type: ignore[arg-type]
    assert caught.value.param == "tools"
    assert caught.value.code == "unsupported_by_provider"
    assert "'AiChats'" in caught.value.message or "'aichats'" in caught.value.message


async def test_json_mode_reaches_a_provider_that_takes_it(sdk: AsyncOpenAI, tooly: type) -> None:
    formats = [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    ]
    with registered("jsony", FunctionProvider.of(
        lambda messages, options: json.dumps(options["response_format"]),
        name="Jsony", capabilities=frozenset({"json_output"}),
    )):  # fmt: skip
        for response_format in formats:
            answer = await sdk.chat.completions.create(
                model="jsony",
                messages=ASK,
                response_format=response_format,  # type: ignore[arg-type]
            )
            assert json.loads(answer.choices[0].message.content or "") == response_format
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(
                model="aichats", messages=ASK, response_format={"type": "json_object"}
            )
    assert caught.value.param == "response_format"


async def test_image_parts_reach_a_provider_that_takes_them(sdk: AsyncOpenAI, tooly: type) -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "text", "text": "what is it?"},
        {"type": "image_url", "image_url": {"url": url}},
    ]
    seeing = FunctionProvider.of(
        lambda messages, options: messages[-1].content[1].image_url.url,  # type: ignore[union-attr]
        name="Seeing", capabilities=frozenset({"image_input"}),
    )  # fmt: skip
    with registered("seeing", seeing):
        answer = await sdk.chat.completions.create(
            model="seeing",
            messages=[{"role": "user", "content": content}],  # type: ignore[list-item]
        )
    assert answer.choices[0].message.content == url
    assert seeing.calls[0].messages[0].has_images


async def test_stop_across_chunks_and_max_tokens_are_enforced_for_a_text_provider(
    sdk: AsyncOpenAI,
) -> None:
    with registered("words", ScriptedProvider.script("one tw", "o three ", "four five six seven")):
        cut = await sdk.chat.completions.create(model="words", messages=ASK, stop=["two"])
        assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("one ", "stop")
        stream = await sdk.chat.completions.create(
            model="words", messages=ASK, stop="three", stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "one two "
        short = await sdk.chat.completions.create(model="words", messages=ASK, max_tokens=2)
        assert short.choices[0].finish_reason == "length"
        assert len(short.choices[0].message.content or "") < len("one two three four")
        limited = await sdk.chat.completions.create(
            model="words", messages=ASK, max_completion_tokens=1, stream=True
        )
        reasons = [c.choices[0].finish_reason async for c in limited if c.choices]
        assert reasons[-1] == "length"


async def test_n_choices_without_and_with_streaming(sdk: AsyncOpenAI) -> None:
    provider = ScriptedProvider.script("a", "b", Usage(prompt_tokens=3, completion_tokens=2))
    with registered("twice", provider):
        answer = await sdk.chat.completions.create(model="twice", messages=ASK, n=2)
        assert [(c.index, c.message.content) for c in answer.choices] == [(0, "ab"), (1, "ab")]
        assert answer.usage is not None
        assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (6, 4)
        stream = await sdk.chat.completions.create(
            model="twice", messages=ASK, n=2, stream=True, stream_options={"include_usage": True}
        )
        texts = {0: "", 1: ""}
        finished = set()
        async for chunk in stream:
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
                if choice.finish_reason:
                    finished.add(choice.index)
    assert texts == {0: "ab", 1: "ab"}
    assert finished == {0, 1}
    assert len(provider.calls) == 4
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.chat.completions.create(model="twice", messages=ASK, n=9)
    assert caught.value.param == "n"


async def test_a_providers_finish_reason_reaches_the_client(sdk: AsyncOpenAI) -> None:
    with registered(
        "filtered", ScriptedProvider.script("x", FinishReason(reason="content_filter"))
    ):
        answer = await sdk.chat.completions.create(model="filtered", messages=ASK)
    assert answer.choices[0].finish_reason == "content_filter"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
        ({"audio": {"voice": "x"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {"search_context_size": "low"}}, "web_search_options"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"n": 0}, "n"),
    ],
)
async def test_what_stays_unsupported_is_a_400_naming_it(
    client: AsyncOpenAI, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="aichats", messages=ASK, **fields)
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, openai.BadRequestError, "upstream_invalid_request"),
        (404, openai.NotFoundError, "model_not_found"),
    ],
)
async def test_an_upstream_refusal_keeps_its_class_and_reason(
    sdk: AsyncOpenAI, status: int, error: type[openai.APIStatusError], code: str
) -> None:
    body = '{"error": {"message": "context too long for sk-abcdefghijklmnopqrstuvwx"}}'
    with (
        registered(
            "picky", ScriptedProvider.script(error=ProviderHTTPError("Picky", status, body))
        ),
        pytest.raises(error) as caught,
    ):
        await sdk.chat.completions.create(model="picky", messages=ASK)
    assert caught.value.code == code
    assert "context too long" in caught.value.message
    assert "sk-abcdef" not in caught.value.message


async def test_an_upstream_401_is_a_502(sdk: AsyncOpenAI) -> None:
    with (
        registered("locked", ScriptedProvider.script(error=ProviderHTTPError("Locked", 401, "no"))),
        pytest.raises(openai.InternalServerError) as caught,
    ):
        await sdk.chat.completions.create(model="locked", messages=ASK)
    assert caught.value.status_code == 502


async def test_an_unknown_path_lists_the_endpoints(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.embeddings.create(model="aichats", input="x")
    assert "POST /v1/chat/completions" in caught.value.message
    assert "POST /v1/responses" in caught.value.message
