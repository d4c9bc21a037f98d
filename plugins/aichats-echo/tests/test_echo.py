"""aichats-echo's own tests. They use the installed plugin, by name, as an application would.

Run them where the distribution is installed (``pip install plugins/aichats-echo``, or the
aichats suite's ``tests/plugins/test_echo_plugin_install.py``, which installs it in a temporary
directory and runs this file there).
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import aichats_core
import pytest
from aichats_core import Finish, ImageResponse, Message, TextChunk
from aichats_core.errors import (
    InvalidOptionError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderConnectionError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from hypothesis import given as examples
from hypothesis import settings
from hypothesis import strategies as st

from aichats_echo import Echo
from aichats_echo._image import svg_card
from aichats_echo._provider import given
from aichats_echo._text import split_words

SVG = "{http://www.w3.org/2000/svg}"


async def events(messages: str | list[Message], **options: Any) -> list[object]:
    """Every event of one call, ``Finish`` included."""
    return [event async for event in aichats_core.stream("echo", messages, **options)]


async def collect(stream: aichats_core.ResultStream, into: list[object]) -> None:
    """Consume ``stream`` into ``into``, so a test can look at what came before an error."""
    async for event in stream:
        into.append(event)


def texts(items: Sequence[object]) -> list[str]:
    return [item.text for item in items if isinstance(item, TextChunk)]


def decode_svg(uri: str) -> ET.Element:
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix)
    return ET.fromstring(base64.b64decode(uri[len(prefix) :]))


# -- discovery ---------------------------------------------------------------------------------


def test_installed_plugin_is_discovered_by_its_entry_point() -> None:
    infos = {info.name: info for info in aichats_core.list_providers()}
    assert infos["echo"].distribution == "aichats-echo"
    assert infos["echo"].target == "aichats_echo:Echo"
    assert not infos["echo"].broken
    assert aichats_core.get_provider("Echo") is Echo


def test_importing_the_plugin_stays_light() -> None:
    """``aichats providers`` imports plugins for their details: no HTTP stack. pydantic comes
    with the declared ``Options`` (the core checks them when a provider loads)."""
    code = (
        "import sys, aichats_core, aichats_echo; aichats_core.get_provider('echo');"
        " print(sorted({'aiohttp', 'aichats_echo._image'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


# -- echo --------------------------------------------------------------------------------------


async def test_echo_streams_the_message_word_by_word_then_finishes() -> None:
    items = await events("hello there, world")
    assert texts(items) == ["hello ", "there, ", "world"]
    assert items[-1] == Finish(provider="echo", model="echo")
    assert len(items) == 4


@pytest.mark.parametrize(
    "message",
    ["hello there", "  leading and trailing  ", "tabs\tand\nnew lines\n", "   ", "", "one"],
)
async def test_echo_returns_the_message_exactly(message: str) -> None:
    assert await aichats_core.complete("echo", message) == message


async def test_echo_answers_the_last_user_message_of_a_conversation() -> None:
    conversation: list[Message | dict[str, str]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first question"},
        Message(role="assistant", content="first answer"),
        {"role": "user", "content": "second question"},
        {"role": "assistant", "content": "an unfinished answer"},
    ]
    assert await aichats_core.complete("echo", conversation) == "second question"


async def test_without_a_user_message_echo_refuses() -> None:
    with pytest.raises(InvalidRequestError, match="Echo: there is no user message"):
        await aichats_core.complete("echo", [{"role": "system", "content": "hi"}])


@pytest.mark.parametrize(("size", "expected"), [(2, ["a b ", "c d ", "e"]), (10, ["a b c d e"])])
async def test_chunk_words_groups_words(size: int, expected: list[str]) -> None:
    assert texts(await events("a b c d e", chunk_words=size)) == expected


async def test_delay_comes_before_every_chunk() -> None:
    started = time.monotonic()
    stream = aichats_core.stream("echo", "one two three", delay=0.05)
    first = await stream.__anext__()
    first_after = time.monotonic() - started
    rest = [event async for event in stream]
    total = time.monotonic() - started
    assert first == TextChunk(text="one ")
    assert first_after >= 0.04
    assert total >= 0.14
    assert texts(rest) == ["two ", "three"]


@settings(max_examples=200, database=None, deadline=None)
@examples(st.text())
def test_words_join_back_to_any_text(text: str) -> None:
    words = split_words(text)
    assert "".join(words) == text
    assert all(word.strip() or word == text for word in words)


# -- lorem -------------------------------------------------------------------------------------


async def test_lorem_is_fifty_deterministic_words_by_default() -> None:
    first = await aichats_core.complete("echo", "anything", model="lorem")
    second = await aichats_core.complete("echo", "something else", model="lorem")
    assert first == second
    assert first.startswith("Lorem ipsum dolor sit amet, consectetur")
    assert first.endswith(".")
    assert len(first.split()) == 50


@pytest.mark.parametrize(
    ("words", "expected"),
    [(0, ""), (1, "Lorem."), (5, "Lorem ipsum dolor sit amet.")],
)
async def test_lorem_words_option(words: int, expected: str) -> None:
    assert await aichats_core.complete("echo", "x", model="lorem", words=words) == expected


async def test_lorem_repeats_for_long_answers_and_streams_word_by_word() -> None:
    items = await events("x", model="lorem", words=200)
    assert len(texts(items)) == 200
    assert "".join(texts(items)).count("Lorem") == 3
    assert items[-1] == Finish(provider="echo", model="lorem", options=["words"])


async def test_lorem_needs_no_user_message() -> None:
    answer = await aichats_core.complete(
        "echo", [{"role": "system", "content": "s"}], model="lorem", words=2
    )
    assert answer == "Lorem ipsum."


# -- image -------------------------------------------------------------------------------------


async def test_image_is_an_svg_data_uri_showing_the_prompt() -> None:
    prompt = "a <red> cat & a \"dog\" on 'mars'"
    items = await events(prompt, model="image")
    assert len(items) == 2
    image, finish = items
    assert isinstance(image, ImageResponse)
    assert image.alt == prompt
    assert len(image.images) == 1
    svg = decode_svg(image.images[0])
    assert svg.tag == f"{SVG}svg"
    assert svg.find(f"{SVG}rect") is not None
    lines = [tspan.text or "" for tspan in svg.findall(f"{SVG}text/{SVG}tspan")]
    assert " ".join(lines) == prompt
    assert svg.findtext(f"{SVG}title") == prompt
    assert finish == Finish(provider="echo", model="image")


async def test_image_is_deterministic_and_differs_by_prompt() -> None:
    cat = await aichats_core.complete("echo", "cat", model="image")
    assert cat == await aichats_core.complete("echo", "cat", model="image")
    assert cat != await aichats_core.complete("echo", "dog", model="image")


async def test_long_prompts_are_wrapped_and_cut() -> None:
    svg = decode_svg(await aichats_core.complete("echo", "word " * 500, model="image"))
    lines = svg.findall(f"{SVG}text/{SVG}tspan")
    assert 1 < len(lines) <= 10
    assert (lines[-1].text or "").endswith("\u2026")


@settings(max_examples=200, database=None, deadline=None)
@examples(st.text())
def test_svg_is_well_formed_for_any_prompt(prompt: str) -> None:
    ET.fromstring(svg_card(prompt).encode("utf-8"))


# -- options and models ------------------------------------------------------------------------


async def test_unknown_options_are_refused_at_the_call_naming_the_known_ones() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        aichats_core.stream("echo", "hi", dealy=1)  # refused before the stream is read
    error = caught.value
    assert (error.provider, error.option) == ("echo", "dealy")
    assert {"chunk_words", "delay", "fail", "words", "timeout"} <= set(error.accepted)
    assert "did you mean 'delay'?" in str(error)


@pytest.mark.parametrize(
    "options",
    [
        {"delay": -1},
        {"delay": "1"},
        {"delay": True},
        {"delay": float("nan")},
        {"delay": float("inf")},
        {"chunk_words": 0},
        {"chunk_words": 1.5},
        {"chunk_words": True},
        {"chunk_words": "2"},
        {"words": -1},
        {"fail": "explode"},
    ],
)
async def test_bad_option_values_are_refused_at_the_call(options: dict[str, Any]) -> None:
    name = next(iter(options))
    with pytest.raises(InvalidOptionError, match=f"option {name!r}") as caught:
        aichats_core.stream("echo", "hi", **options)
    assert (caught.value.provider, caught.value.option) == ("echo", name)


async def test_a_refused_option_produces_nothing_even_with_a_failure_asked_for() -> None:
    received: list[object] = []
    with pytest.raises(InvalidOptionError):
        await collect(aichats_core.stream("echo", "hi", fail="timeout", words=-1), received)
    assert received == []


def test_the_options_are_declared_with_their_defaults() -> None:
    fields = Echo.Options.model_fields
    assert list(fields) == ["delay", "chunk_words", "words", "fail"]
    assert {name: field.default for name, field in fields.items()} == {
        "delay": 0.0,
        "chunk_words": 1,
        "words": 50,
        "fail": None,
    }
    assert all(field.description for field in fields.values())
    assert Echo.Options.model_config.get("extra") == "forbid"


def test_options_given_fill_in_the_defaults_and_drop_the_cores() -> None:
    options = given({"words": 3, "chunk_words": None, "timeout": 5, "session": object()})
    assert (options.delay, options.chunk_words, options.words, options.fail) == (0.0, 1, 3, None)


async def test_good_values_of_every_option_are_accepted() -> None:
    answer = await aichats_core.complete(
        "echo", "x", model="lorem", words=3, chunk_words=2, delay=0, fail=None, timeout=1
    )
    assert answer == "Lorem ipsum dolor."


async def test_session_and_timeout_are_accepted_as_a_client_passes_them() -> None:
    async with aichats_core.Client(timeout=5) as client:
        assert await client.complete("echo", "through a client") == "through a client"


async def test_unknown_models_are_refused_listing_the_models() -> None:
    with pytest.raises(ModelNotSupportedError) as caught:
        aichats_core.stream("echo", "hi", model="gpt-4")
    assert caught.value.models == ["echo", "lorem", "image"]


async def test_the_class_works_without_the_registry() -> None:
    assert await Echo.create_async("", [Message(role="user", content="direct call")]) == (
        "direct call"
    )
    uri = await Echo.create_async("image", [Message(role="user", content="x")])
    assert uri.startswith("data:image/svg+xml;base64,")


# -- simulated failures ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["echo", "lorem", "image"])
@pytest.mark.parametrize(
    ("fail", "error"),
    [
        ("rate_limit", RateLimitError),
        ("timeout", ProviderTimeoutError),
        ("connection", ProviderConnectionError),
        ("format", ResponseFormatError),
    ],
)
async def test_failures_are_raised_before_any_text(
    model: str, fail: str, error: type[Exception]
) -> None:
    received: list[object] = []
    with pytest.raises(error) as caught:
        await collect(aichats_core.stream("echo", "hello there", model=model, fail=fail), received)
    assert received == []
    assert caught.value.provider == "echo"  # type: ignore[attr-defined]  # as registered
    assert f"fail={fail!r}" in str(caught.value)


async def test_rate_limit_says_when_to_retry() -> None:
    with pytest.raises(RateLimitError) as caught:
        await aichats_core.complete("echo", "hi", fail="rate_limit")
    assert caught.value.status == 429
    assert caught.value.retry_after == 1.0


async def test_interrupted_stream_yields_half_then_raises_with_the_partial_text() -> None:
    received: list[object] = []
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(
            aichats_core.stream("echo", "one two three four", fail="interrupted"), received
        )
    assert received == [TextChunk(text="one "), TextChunk(text="two ")]
    assert caught.value.partial_text == "one two "
    assert caught.value.provider == "echo"


async def test_interrupted_through_create_async_also_carries_the_partial_text() -> None:
    with pytest.raises(StreamInterruptedError) as caught:
        await Echo.create_async("lorem", [], fail="interrupted", words=4)
    assert caught.value.partial_text == "Lorem ipsum "


async def test_failures_honour_the_delay() -> None:
    started = time.monotonic()
    with pytest.raises(ProviderTimeoutError):
        await aichats_core.complete("echo", "hi", fail="timeout", delay=0.05)
    assert time.monotonic() - started >= 0.04
