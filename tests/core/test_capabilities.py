"""What a call needs beyond text, checked against what each provider declares: refused
before any network, skipped in a chain, passed on, or enforced by the core."""

from __future__ import annotations

from typing import Any

import pytest

import aichats_core
from aichats_core import (
    Finish,
    FinishReason,
    Message,
    TextChunk,
    ToolCall,
)
from aichats_core.capabilities import IMAGE_INPUT, JSON_OUTPUT, MAX_TOKENS, STOP, TOOLS
from aichats_core.errors import (
    CapabilityError,
    InvalidRequestError,
    PluginLoadError,
    ResponseFormatError,
)
from aichats_core.testing import FunctionProvider, ScriptedProvider, registered
from aichats_core.tools import ToolCallAssembler
from providers.aichats.emulator import AiChatsEmulator, Script

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


async def collect(*args: Any, **kwargs: Any) -> list[Any]:
    return [event async for event in aichats_core.stream(*args, **kwargs)]


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextChunk))


# -- refused at the call -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "capability"),
    [
        ({"messages": "Hi", "tools": [WEATHER]}, TOOLS),
        ({"messages": "Hi", "response_format": {"type": "json_object"}}, JSON_OUTPUT),
        ({"messages": [{"role": "user", "content": [IMAGE]}]}, IMAGE_INPUT),
        (
            {
                "messages": [
                    {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "name": "f"}]},
                    {"role": "tool", "content": "42", "tool_call_id": "c"},
                ]
            },
            TOOLS,
        ),
    ],
)
async def test_a_text_only_provider_is_refused_what_it_cannot_take(
    emulator: AiChatsEmulator, call: dict[str, Any], capability: str
) -> None:
    messages = call.pop("messages")
    with pytest.raises(CapabilityError) as caught:
        aichats_core.stream("aichats", messages, base_url=emulator.url, **call)
    assert (caught.value.provider, caught.value.capability) == ("aichats", capability)
    assert "provider 'aichats' cannot take" in str(caught.value)
    assert emulator.requests == []  # nothing was sent


async def test_text_parts_reach_a_text_only_provider_joined(emulator: AiChatsEmulator) -> None:
    parts = [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}]
    events = await collect("aichats", [{"role": "user", "content": parts}], base_url=emulator.url)
    [request] = emulator.requests
    assert request.json["messagesHistory"][0]["content"] == "Hello\nthere"  # one per line
    assert text_of(events).endswith("You said: Hello\nthere")


async def test_a_chain_skips_providers_that_cannot_take_the_call() -> None:
    tooly = ScriptedProvider.script(
        ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}'),
        capabilities=frozenset({TOOLS}),
        name="Tooly",
    )
    with registered("tooly", tooly):
        events = await collect(["aichats", "tooly"], "Weather?", tools=[WEATHER])
    assert events[0] == ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    finish = events[-1]
    assert (finish.provider, finish.reason) == ("tooly", "tool_calls")
    [skipped] = finish.failures
    assert (skipped.provider, skipped.error) == ("aichats", "CapabilityError")
    assert tooly.calls[0].options["tools"] == [WEATHER]


async def test_a_chain_none_of_which_can_take_the_call_is_refused_at_once() -> None:
    other = ScriptedProvider.script("text", name="Other")
    with registered("other", other), pytest.raises(CapabilityError, match="no provider of the"):
        aichats_core.stream(["aichats", "other"], "Hi", tools=[WEATHER])
    assert other.calls == []


# -- passed on ---------------------------------------------------------------------------------


async def test_a_capable_provider_gets_the_features_as_arguments() -> None:
    seen: list[dict[str, Any]] = []

    def answer(messages: list[Message], options: dict[str, Any]) -> str:
        seen.append(options)
        return "done"

    capable = FunctionProvider.of(
        answer, capabilities=frozenset({TOOLS, JSON_OUTPUT, MAX_TOKENS, STOP, IMAGE_INPUT})
    )
    choice = {"type": "function", "function": {"name": "get_weather"}}
    events = await collect(
        capable,
        [{"role": "user", "content": [{"type": "text", "text": "look"}, IMAGE]}],
        tools=[WEATHER],
        tool_choice=choice,
        response_format={"type": "json_object"},
        max_tokens=5,
        stop="END",
    )
    assert text_of(events) == "done"  # the provider applies max_tokens and stop itself
    assert seen == [
        {
            "tools": [WEATHER],
            "tool_choice": choice,
            "response_format": {"type": "json_object"},
            "max_tokens": 5,
            "stop": ["END"],
        }
    ]
    assert capable.calls[0].messages[0].has_images


async def test_tool_calls_and_results_reach_a_tool_provider_as_messages() -> None:
    seen: list[list[Message]] = []

    def answer(messages: list[Message], options: dict[str, Any]) -> str:
        seen.append(messages)
        return "It is sunny."

    tooly = FunctionProvider.of(answer, capabilities=frozenset({TOOLS}))
    history = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "get_weather", "arguments": "{}"}],
        },
        {"role": "tool", "content": '{"sky": "clear"}', "tool_call_id": "call_1"},
    ]
    events = await collect(tooly, history, tools=[WEATHER])
    assert events[-1].reason == "stop"
    [messages] = seen
    assert messages[1].tool_calls[0].name == "get_weather"
    assert (messages[2].role, messages[2].tool_call_id) == ("tool", "call_1")


async def test_a_providers_finish_reason_is_finishs_and_not_passed_on() -> None:
    cut = ScriptedProvider.script("partial", FinishReason(reason="length"), name="Cut")
    events = await collect(cut, "Hi")
    assert [type(e) for e in events] == [TextChunk, Finish]
    assert events[-1].reason == "length"


# -- enforced by the core ----------------------------------------------------------------------


async def test_stop_ends_the_answer_before_it_even_across_chunks(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(text="alpha beta STOPgamma delta", write_size=3))
    events = await collect("aichats", "Hi", base_url=emulator.url, stop=["STOP", "never"])
    assert text_of(events) == "alpha beta "
    assert events[-1].reason == "stop"


async def test_a_stop_prefix_held_back_is_sent_when_no_stop_follows(
    emulator: AiChatsEmulator,
) -> None:
    emulator.enqueue(Script(text="ends with ST", write_size=2))
    events = await collect("aichats", "Hi", base_url=emulator.url, stop="STOP")
    assert text_of(events) == "ends with ST"
    assert events[-1].reason == "stop"


async def test_an_answer_that_fills_max_tokens_exactly_is_complete() -> None:
    exact = ScriptedProvider.script("x" * 8, name="Exact")
    events = await collect(exact, "Hi", max_tokens=2)
    assert (text_of(events), events[-1].reason) == ("x" * 8, "stop")
    events = await collect(exact, "Hi", max_tokens=2, stop="never")
    assert events[-1].reason == "stop"
    cut_first = ScriptedProvider.script("Hello world", name="CutFirst")
    events = await collect(cut_first, "Hi", max_tokens=1, stop="world")
    assert (text_of(events), events[-1].reason) == ("Hell", "length")  # the budget came first


def test_an_image_part_must_be_a_web_or_data_url() -> None:
    part = {"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}
    with pytest.raises(InvalidRequestError, match="content"):
        aichats_core.stream("aichats", [{"role": "user", "content": [part]}])


async def test_max_tokens_cuts_the_answer_and_says_length(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(text="x" * 200, events=10))
    events = await collect("aichats", "Hi", base_url=emulator.url, max_tokens=3)
    assert text_of(events) == "x" * 12  # estimated at 4 characters a token
    assert events[-1].reason == "length"


async def test_a_client_call_takes_the_features_too(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(text="one two three"))
    async with aichats_core.Client(base_url=emulator.url) as client:
        assert await client.complete("aichats", "Hi", stop=" two") == "one"


@pytest.mark.parametrize(
    ("features", "words"),
    [
        ({"tools": []}, "non-empty list"),
        ({"tools": [{"type": "function"}]}, r"tools\[0\]\.function must be"),
        ({"tools": [WEATHER, WEATHER]}, "unique"),
        ({"tool_choice": "auto"}, "tool_choice needs tools"),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice must be"),
        ({"response_format": {"type": "yaml"}}, "response_format must be"),
        ({"response_format": {"type": "json_schema"}}, "json_schema must be an object"),
        ({"max_tokens": 0}, "max_tokens must be"),
        ({"max_tokens": True}, "max_tokens must be"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop must be"),
        ({"stop": [""]}, "stop must be"),
    ],
)
def test_malformed_features_are_refused_at_the_call(features: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidRequestError, match=words):
        aichats_core.stream("aichats", "Hi", **features)


def test_a_provider_declaring_an_unknown_capability_is_refused_at_load() -> None:
    odd = ScriptedProvider.script("x", capabilities=frozenset({"telepathy"}), name="Odd")
    with pytest.raises(PluginLoadError, match="'capabilities' should be a set of"):
        aichats_core.register_provider("odd", odd)


# -- assembling streamed tool calls ------------------------------------------------------------


def test_the_assembler_makes_whole_calls_from_deltas() -> None:
    calls = ToolCallAssembler("p")
    calls.feed({"index": 0, "id": "call_a", "function": {"name": "get_weather", "arguments": ""}})
    calls.feed({"index": 1, "id": "call_b", "function": {"name": "get_time"}})
    calls.feed({"index": 0, "function": {"arguments": '{"city": '}})
    calls.feed({"index": 0, "function": {"arguments": '"Paris"}'}})
    assert calls
    assert calls.finish() == [
        ToolCall(id="call_a", name="get_weather", arguments='{"city": "Paris"}'),
        ToolCall(id="call_b", name="get_time", arguments="{}"),
    ]
    assert not calls
    calls.add({"id": "call_c", "function": {"name": "f", "arguments": "[]"}})
    assert calls.finish() == [ToolCall(id="call_c", name="f", arguments="[]")]


def test_the_assembler_refuses_calls_without_a_name() -> None:
    calls = ToolCallAssembler("p")
    calls.feed({"index": 0, "function": {"arguments": "{}"}})
    with pytest.raises(ResponseFormatError, match="no function name"):
        calls.finish()
    with pytest.raises(ResponseFormatError, match="index"):
        ToolCallAssembler("p").feed({"index": "first"})
