"""Capabilities through the installed plugin: tools (a whole tool loop, streamed and not), JSON
output, image input, ``max_tokens`` and ``stop``, ``FinishReason``; image generation (the
Python API and ``aichats image``); the presets, by name, with their keys from the environment.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import aichats_core
import pytest
from aichats_core import (
    Finish,
    ImagePart,
    ImageResponse,
    Message,
    TextChunk,
    TextPart,
    ToolCall,
)
from aichats_core.errors import InvalidOptionError, InvalidRequestError, ProviderHTTPError
from fake_openai import (
    DEFAULT_TEXT,
    JSON_TEXT,
    FakeOpenAI,
    ImageReply,
    Reply,
    png_bytes,
    tool_call_deltas,
)

import aichats_openai
from aichats_openai import OpenAICompatible
from aichats_openai._wire import max_tokens_field

KEY = "sk-test-0123456789abcdef"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'}
PIXEL = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()

PRESETS = {
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "together": ("https://api.together.ai/v1", "TOGETHER_API_KEY"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "mistral": ("https://api.mistral.ai/v1", "MISTRAL_API_KEY"),
    "fireworks": ("https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY"),
    "ollama": ("http://localhost:11434/v1", None),
    "lmstudio": ("http://localhost:1234/v1", None),
    "vllm": ("http://localhost:8000/v1", None),
    "llamacpp": ("http://localhost:8080/v1", None),
}


async def events(fake: FakeOpenAI, messages: Any = "Hi", **options: Any) -> list[Any]:
    options.setdefault("base_url", fake.url)
    options.setdefault("model", "fake-model")
    provider = options.pop("provider", "openai")
    return [event async for event in aichats_core.stream(provider, messages, **options)]


def text_of(items: list[Any]) -> str:
    return "".join(item.text for item in items if isinstance(item, TextChunk))


def finish_of(items: list[Any]) -> Finish:
    assert isinstance(items[-1], Finish)
    return items[-1]


async def run_cli(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``python -m aichats_core ARGV`` in a fresh process, while this loop serves the fake."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aichats_core",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


# -- tools -------------------------------------------------------------------------------------


@pytest.mark.parametrize("json_answer", [False, True], ids=["streamed", "whole"])
async def test_a_complete_tool_loop(fake: FakeOpenAI, json_answer: bool) -> None:
    fake.enqueue(
        Reply(text="", tool_calls=[CALL], finish_reason="tool_calls", json_answer=json_answer),
        Reply(text="It is 21 C and sunny in Paris.", json_answer=json_answer),
    )
    first = await events(fake, "Weather in Paris?", tools=[WEATHER], tool_choice="auto")
    calls = [event for event in first if isinstance(event, ToolCall)]
    assert calls == [ToolCall(id="call_1", name="get_weather", arguments=CALL["arguments"])]
    assert finish_of(first).reason == "tool_calls"
    assert text_of(first) == ""
    sent = fake.chat_requests[0].json
    assert sent["tools"] == [WEATHER]
    assert sent["tool_choice"] == "auto"

    conversation = [
        Message(role="user", content="Weather in Paris?"),
        Message(role="assistant", content="", tool_calls=tuple(calls)),
        Message(role="tool", tool_call_id="call_1", content='{"celsius": 21, "sky": "sunny"}'),
    ]
    second = await events(fake, conversation, tools=[WEATHER])
    assert text_of(second) == "It is 21 C and sunny in Paris."
    assert finish_of(second).reason == "stop"
    assert not [event for event in second if isinstance(event, ToolCall)]
    assert fake.chat_requests[1].json["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": CALL["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 21, "sky": "sunny"}'},
    ]


def test_the_fake_streams_each_calls_arguments_in_several_pieces() -> None:
    deltas = tool_call_deltas([CALL], 3)
    assert deltas[0] == {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    pieces = [delta["function"]["arguments"] for delta in deltas[1:]]
    assert len(pieces) == 3
    assert "".join(pieces) == CALL["arguments"]


async def test_parallel_calls_after_some_text_come_whole_and_in_order(fake: FakeOpenAI) -> None:
    other = {"id": "call_2", "name": "get_time", "arguments": '{"zone": "Europe/Paris"}'}
    tools = [WEATHER, {"type": "function", "function": {"name": "get_time"}}]
    fake.enqueue(
        Reply(text="Let me check.", tool_calls=[CALL, other], finish_reason="tool_calls"),
    )
    items = await events(fake, "Weather and time?", tools=tools)
    assert text_of(items) == "Let me check."
    calls = [event for event in items if isinstance(event, ToolCall)]
    assert [(call.id, call.name, call.arguments) for call in calls] == [
        ("call_1", "get_weather", CALL["arguments"]),
        ("call_2", "get_time", other["arguments"]),
    ]
    # The calls come after the text and before Usage and Finish.
    kinds = [event.kind for event in items]
    assert kinds[-4:] == ["tool_call", "tool_call", "usage", "finish"]


async def test_tool_calls_with_a_stop_finish_still_end_for_tool_calls(fake: FakeOpenAI) -> None:
    """Some servers (older Ollama) say ``stop`` after tool calls."""
    fake.enqueue(Reply(text="", tool_calls=[CALL], finish_reason="stop"))
    items = await events(fake, "Weather?", tools=[WEATHER])
    assert finish_of(items).reason == "tool_calls"


async def test_a_named_tool_choice_is_sent_as_openai_names_it(fake: FakeOpenAI) -> None:
    await events(fake, tools=[WEATHER], tool_choice={"function": {"name": "get_weather"}})
    assert fake.chat_requests[0].json["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


async def test_a_call_without_features_sends_none_of_their_fields(fake: FakeOpenAI) -> None:
    await events(fake)
    sent = fake.chat_requests[0].json
    assert set(sent) == {"model", "messages", "stream", "stream_options"}


async def test_a_tool_result_without_its_call_id_is_refused_before_sending(
    fake: FakeOpenAI,
) -> None:
    messages = [Message(role="user", content="Hi"), Message(role="tool", content="21")]
    with pytest.raises(InvalidRequestError, match="tool_call_id"):
        await events(fake, messages, tools=[WEATHER])
    assert fake.chat_requests == []


async def test_malformed_tool_call_deltas_are_a_format_error(fake: FakeOpenAI) -> None:
    from aichats_core.errors import ResponseFormatError
    from fake_openai import chunk

    fake.enqueue(Reply(text="", raw_events=[chunk({"tool_calls": {"index": 0}})]))
    with pytest.raises(ResponseFormatError, match="tool_calls"):
        await events(fake, tools=[WEATHER])


# -- JSON output, image input ----------------------------------------------------------------


@pytest.mark.parametrize("json_answer", [False, True], ids=["streamed", "whole"])
async def test_json_mode_passes_response_format_as_given(
    fake: FakeOpenAI, json_answer: bool
) -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "greeting", "schema": {"type": "object"}, "strict": True},
    }
    fake.enqueue(Reply(json_answer=json_answer, json_when_asked=True))
    items = await events(fake, "Greet me in JSON", response_format=schema)
    assert fake.chat_requests[0].json["response_format"] == schema
    assert json.loads(text_of(items)) == json.loads(JSON_TEXT)


async def test_image_parts_reach_the_upstream_in_openais_shape(fake: FakeOpenAI) -> None:
    message = Message(
        role="user",
        content=(
            TextPart(text="What is in this image?"),
            ImagePart(image_url={"url": PIXEL, "detail": "low"}),  # type: ignore[arg-type]
            ImagePart(image_url={"url": "https://example.com/cat.png"}),  # type: ignore[arg-type]
        ),
    )
    await events(fake, [message])
    assert fake.chat_requests[0].json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ]
    assert len(fake.image_parts) == 2


# -- max_tokens, stop, finish reasons ------------------------------------------------------------


@pytest.mark.parametrize("json_answer", [False, True], ids=["streamed", "whole"])
async def test_max_tokens_reaches_the_upstream_and_length_is_the_finish(
    fake: FakeOpenAI, json_answer: bool
) -> None:
    fake.enqueue(Reply(json_answer=json_answer))
    items = await events(fake, max_tokens=2)
    assert fake.chat_requests[0].json["max_tokens"] == 2
    assert "max_completion_tokens" not in fake.chat_requests[0].json
    assert text_of(items) == "Hello there,"  # cut by the service, not by the core
    assert finish_of(items).reason == "length"


async def test_stop_reaches_the_upstream(fake: FakeOpenAI) -> None:
    items = await events(fake, stop=["how", "###"])
    assert fake.chat_requests[0].json["stop"] == ["how", "###"]
    assert text_of(items) == "Hello there, "
    assert finish_of(items).reason == "stop"


def test_openai_itself_gets_max_completion_tokens() -> None:
    assert max_tokens_field("https://api.openai.com/v1") == "max_completion_tokens"
    assert max_tokens_field("http://127.0.0.1:8000/v1") == "max_tokens"
    assert max_tokens_field("https://api.groq.com/openai/v1") == "max_tokens"


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ("content_filter", "content_filter"),
        ("length", "length"),
        ("model_length", "length"),
        ("stop", "stop"),
        ("eos", "stop"),
        ("something_new", "stop"),
    ],
)
async def test_the_services_finish_reason_becomes_finish_reason(
    fake: FakeOpenAI, sent: str, reason: str
) -> None:
    fake.enqueue(Reply(finish_reason=sent, honour_limits=False))
    items = await events(fake)
    assert text_of(items) == DEFAULT_TEXT
    assert finish_of(items).reason == reason


async def test_done_without_a_finish_reason_still_yields_the_tool_calls(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(Reply(text="", tool_calls=[CALL], finish_reason=None))
    items = await events(fake, tools=[WEATHER])
    assert [event.id for event in items if isinstance(event, ToolCall)] == ["call_1"]
    assert finish_of(items).reason == "tool_calls"


# -- image generation ------------------------------------------------------------------------


async def test_an_image_model_asks_images_generations(fake: FakeOpenAI) -> None:
    items = await events(fake, "a cat on a sofa", model="dall-e-3")
    images = [event for event in items if isinstance(event, ImageResponse)]
    assert len(images) == 1
    assert images[0].images == [PIXEL]
    assert images[0].alt == "a cat on a sofa"
    assert fake.chat_requests == []
    assert fake.image_requests[0].json == {
        "model": "dall-e-3",
        "prompt": "a cat on a sofa",
        "n": 1,
        "response_format": "b64_json",
    }


async def test_gpt_image_models_get_no_response_format_and_name_their_type(
    fake: FakeOpenAI,
) -> None:
    fake.image_replies.append(ImageReply(output_format="webp"))
    uri = await aichats_core.complete("openai", "a cat", base_url=fake.url, model="gpt-image-1")
    assert uri.startswith("data:image/webp;base64,")
    assert "response_format" not in fake.image_requests[0].json


async def test_an_image_url_answer_is_passed_on(fake: FakeOpenAI) -> None:
    fake.image_replies.append(ImageReply(url=True))
    uri = await aichats_core.complete("openai", "a cat", base_url=fake.url, model="dall-e-2")
    assert uri == fake.url.removesuffix("/v1") + "/files/image.png"


async def test_the_image_models_option_says_which_models_make_images(fake: FakeOpenAI) -> None:
    await events(fake, "a cat", model="flux-schnell", image_models=["flux-schnell"])
    await events(fake, "hello", model="dall-e-3", image_models=["flux-schnell"])
    assert [request.json["model"] for request in fake.image_requests] == ["flux-schnell"]
    assert [request.json["model"] for request in fake.chat_requests] == ["dall-e-3"]
    assert OpenAICompatible.is_image_model("gpt-image-9")  # the families, when not given
    with pytest.raises(InvalidOptionError, match="image_models"):
        await events(fake, model="x", image_models="flux-schnell")


async def test_an_image_model_refuses_chat_features(fake: FakeOpenAI) -> None:
    with pytest.raises(InvalidRequestError, match="image model"):
        await events(fake, "a cat", model="dall-e-3", tools=[WEATHER])
    assert fake.requests == []


async def test_a_malformed_images_answer_is_a_format_error(fake: FakeOpenAI) -> None:
    from aichats_core.errors import ResponseFormatError

    fake.image_replies.append(ImageReply(payload={"data": []}))
    with pytest.raises(ResponseFormatError, match="data"):
        await events(fake, "a cat", model="dall-e-3")


async def test_aichats_image_writes_a_real_png(fake: FakeOpenAI, tmp_path: Path) -> None:
    target = tmp_path / "cat.png"
    status, _, err = await run_cli(
        "image", "-p", "openai", "--base-url", fake.url, "a cat", "-o", str(target)
    )
    assert status == 0, err
    assert target.read_bytes() == png_bytes()
    assert fake.image_requests[0].json["model"] == OpenAICompatible.image_models[0]
    assert fake.image_requests[0].json["prompt"] == "a cat"


async def test_aichats_image_with_a_model_uses_it(fake: FakeOpenAI, tmp_path: Path) -> None:
    target = tmp_path / "cat.png"
    status, _, err = await run_cli(
        "image", "-p", "openai", "--base-url", fake.url, "-m", "dall-e-2", "a cat", "-o",
        str(target),
    )  # fmt: skip
    assert status == 0, err
    assert target.read_bytes().startswith(b"\x89PNG")
    assert fake.image_requests[0].json["model"] == "dall-e-2"


# -- presets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_is_registered_with_its_url_and_key_variable(name: str) -> None:
    cls = aichats_core.get_provider(name)
    assert issubclass(cls, OpenAICompatible)
    assert cls is getattr(aichats_openai, cls.__name__)
    url, variable = PRESETS[name]
    assert (cls.url, cls.api_key_env, cls.base_url_env) == (url, variable, None)
    assert cls.image_models == []
    expected = set(OpenAICompatible.capabilities)
    if name == "deepseek":
        expected.discard("image_input")  # its models read text only
    assert cls.capabilities == expected
    infos = {info.name: info for info in aichats_core.list_providers()}
    assert infos[name].distribution == "aichats-openai"


async def test_a_preset_takes_its_key_from_its_own_variable(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.api_key = KEY
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-must-not-travel-0123")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # must not move it
    items = await events(fake, provider="groq", tools=[WEATHER], max_tokens=50)
    assert text_of(items) == DEFAULT_TEXT
    assert fake.chat_requests[0].headers["Authorization"] == f"Bearer {KEY}"
    assert fake.chat_requests[0].json["tools"] == [WEATHER]


async def test_a_presets_errors_carry_its_registered_name(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.api_key = KEY
    monkeypatch.setenv("GROQ_API_KEY", "sk-wrong-key-0123456789")
    with pytest.raises(ProviderHTTPError) as caught:
        await events(fake, provider="groq")
    assert caught.value.status == 401
    assert caught.value.provider == "groq"
    assert "sk-wrong-key-0123456789" not in str(caught.value)


async def test_deepseek_refuses_image_input_before_any_network(fake: FakeOpenAI) -> None:
    from aichats_core.errors import CapabilityError

    message = Message(role="user", content=(ImagePart(image_url={"url": PIXEL}),))  # type: ignore[arg-type]
    with pytest.raises(CapabilityError):
        await events(fake, [message], provider="deepseek")
    assert fake.requests == []


async def test_aichats_chat_through_a_preset(fake: FakeOpenAI) -> None:
    fake.api_key = KEY
    status, out, err = await run_cli(
        "chat", "-p", "groq", "-m", "llama-3.1-8b-instant", "-o", f"groq.base_url={fake.url}",
        "--no-log", "hi",
        env={"GROQ_API_KEY": KEY},
    )  # fmt: skip
    assert status == 0, err
    assert out.strip() == DEFAULT_TEXT
    assert fake.chat_requests[0].json["model"] == "llama-3.1-8b-instant"


async def test_aichats_providers_lists_the_presets_with_their_capabilities() -> None:
    status, out, err = await run_cli("providers", "--json")
    assert status == 0, err
    rows = {row["name"]: row for row in map(json.loads, out.splitlines())}
    for name in ("openai", *PRESETS):
        assert rows[name]["distribution"] == "aichats-openai"
        assert rows[name]["error"] is None
    assert rows["openai"]["capabilities"] == sorted(OpenAICompatible.capabilities)
    assert rows["groq"]["capabilities"] == sorted(OpenAICompatible.capabilities)
    assert "image_input" not in rows["deepseek"]["capabilities"]
    assert rows["openai"]["image_models"][0] == "gpt-image-1"
    assert rows["groq"]["image_models"] == []


@pytest.mark.parametrize("name", ["openai", "groq", "openrouter"])
def test_a_hosted_service_without_its_key_is_refused_before_any_network(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("OPENAI_API_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)

    async def call() -> str:
        return await aichats_core.complete(name, "Hi", model="m")

    with pytest.raises(InvalidRequestError, match=r"needs an API key: set [A-Z_]+_API_KEY"):
        asyncio.run(call())  # a network attempt would fail the loopback-only guard instead


def test_a_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from aichats_openai._presets import Ollama

    assert Ollama.needs_key is False
    assert OpenAICompatible.needs_key is True
