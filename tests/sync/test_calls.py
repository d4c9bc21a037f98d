"""The sync API over real sockets: the async API's answers, events and errors, blocking."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import aichats_core
from aichats_core import Finish, TextChunk, sync
from aichats_core.errors import (
    AiChatsError,
    InvalidOptionError,
    InvalidRequestError,
    ProviderHTTPError,
    ProviderNotFoundError,
    RateLimitError,
    StreamInterruptedError,
)
from aichats_core.sync._loop import THREAD_NAME, background
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply


def async_error(call: Callable[[], Any]) -> BaseException:
    """What the async API raises for the same call."""

    async def run() -> None:
        result = call()
        if asyncio.iscoroutine(result):
            await result
        else:
            async for _event in result:
                pass

    with pytest.raises(AiChatsError) as caught:
        asyncio.run(run())
    return caught.value


def test_complete_returns_the_answer(emulator: AiChatsEmulator) -> None:
    assert sync.complete("aichats", "hi", base_url=emulator.url) == default_reply("hi")


def test_stream_yields_the_async_apis_typed_events(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(text="one two three", delay=0.01)
    events = list(sync.stream("aichats", "hi", base_url=emulator.url))

    async def async_events() -> list[Any]:
        return [e async for e in aichats_core.stream("aichats", "hi", base_url=emulator.url)]

    assert events == asyncio.run(async_events())
    assert [type(e) for e in events] == [TextChunk, TextChunk, TextChunk, Finish]
    assert "".join(e.text for e in events if isinstance(e, TextChunk)) == "one two three"


def test_text_of_a_stream_and_of_its_rest(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(text="one two three", delay=0.01)
    assert sync.stream("aichats", "hi", base_url=emulator.url).text() == "one two three"
    events = sync.stream("aichats", "hi", base_url=emulator.url)
    assert next(events) == TextChunk(text="one")
    assert events.text() == " two three"
    assert list(events) == []


BAD_CALLS: list[tuple[str, dict[str, Any], type[AiChatsError]]] = [
    ("no-such-provider", {}, ProviderNotFoundError),
    ("aichats", {"no_such_option": 1}, InvalidOptionError),
    ("aichats", {"model": "no-such-model"}, aichats_core.errors.ModelNotSupportedError),
    ("aichats", {"messages": [{"role": "robot", "content": "x"}]}, InvalidRequestError),
    ("aichats", {"provider_options": {"other": {"x": 1}}}, InvalidRequestError),
]


@pytest.mark.parametrize(("provider", "arguments", "error"), BAD_CALLS)
@pytest.mark.parametrize("function", ["complete", "stream"])
def test_a_bad_call_raises_what_the_async_api_raises_at_the_call(
    emulator: AiChatsEmulator,
    function: str,
    provider: str,
    arguments: dict[str, Any],
    error: type[AiChatsError],
) -> None:
    kwargs = {"messages": "hi", "base_url": emulator.url, **arguments}
    with pytest.raises(error) as caught:
        getattr(sync, function)(provider, **kwargs)  # at the call: nothing is iterated
    expected = async_error(lambda: getattr(aichats_core, function)(provider, **kwargs))
    assert type(caught.value) is type(expected)
    assert str(caught.value) == str(expected)
    assert emulator.requests == []


def test_the_error_raised_is_the_async_error_itself_with_its_traceback() -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        sync.stream("no-such-provider", "hi")
    frames = [entry.name for entry in caught.traceback]
    assert frames[0] == "test_the_error_raised_is_the_async_error_itself_with_its_traceback"
    assert "start" in frames  # aichats_core._stream's validation, where it was raised


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (Script(status=429, retry_after=7), RateLimitError),
        (Script(status=500), ProviderHTTPError),
        (Script(text="one two three", delay=0.01, disconnect_after=1), StreamInterruptedError),
    ],
)
def test_a_provider_failure_raises_the_same_typed_error(
    emulator: AiChatsEmulator, script: Script, error: type[AiChatsError]
) -> None:
    emulator.script = script
    with pytest.raises(error) as by_complete:
        sync.complete("aichats", "hi", base_url=emulator.url)
    with pytest.raises(error) as by_stream:
        for _event in sync.stream("aichats", "hi", base_url=emulator.url):
            pass
    expected = async_error(lambda: aichats_core.complete("aichats", "hi", base_url=emulator.url))
    for caught in (by_complete, by_stream):
        assert type(caught.value) is type(expected)
        assert str(caught.value) == str(expected)
    if isinstance(expected, RateLimitError):
        assert by_complete.value.retry_after == expected.retry_after == 7  # type: ignore[attr-defined]
    if isinstance(expected, StreamInterruptedError):
        assert by_complete.value.partial_text == "one"  # type: ignore[attr-defined]


def test_a_client_shares_one_session_across_threads(emulator: AiChatsEmulator) -> None:
    def ask(client: sync.Client, thread: int) -> list[str]:
        prompts = [f"thread {thread} call {n}" for n in range(10)]
        answers = [client.complete("aichats", prompt) for prompt in prompts[:5]]
        answers += [client.stream("aichats", prompt).text() for prompt in prompts[5:]]
        assert answers == [default_reply(prompt) for prompt in prompts]
        return answers

    with sync.Client(base_url=emulator.url) as client, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda thread: ask(client, thread), range(8)))
        session = client._target.session
    assert len(results) == 8
    assert session.closed  # the one session of every call, closed with the client
    assert len(emulator.requests) == 80


def test_a_closed_client_raises_what_a_closed_async_client_raises(
    emulator: AiChatsEmulator,
) -> None:
    client = sync.Client(base_url=emulator.url)
    client.close()
    client.close()  # safe twice

    async def closed_async() -> InvalidRequestError:
        closed = aichats_core.Client(base_url=emulator.url)
        await closed.aclose()
        with pytest.raises(InvalidRequestError) as caught:
            await closed.complete("aichats", "hi")
        return caught.value

    expected = asyncio.run(closed_async())
    for call in (
        lambda: client.complete("aichats", "hi"),
        lambda: client.stream("aichats", "hi"),
        lambda: client.__enter__(),
    ):
        with pytest.raises(InvalidRequestError) as caught:
            call()
        assert str(caught.value) == str(expected)
    assert emulator.requests == []


def test_client_refuses_what_the_async_client_refuses() -> None:
    with pytest.raises(InvalidRequestError, match="max_connections"):
        sync.Client(max_connections=-1)


def test_works_where_the_calling_thread_runs_an_event_loop(emulator: AiChatsEmulator) -> None:
    async def notebook_cell() -> tuple[str, list[Any]]:
        asyncio.get_running_loop()  # a loop runs in this thread, as in a notebook
        with sync.Client(base_url=emulator.url) as client:
            text = client.complete("aichats", "a")
            events = list(sync.stream("aichats", "b", base_url=emulator.url))
        return text, events

    text, events = asyncio.run(notebook_cell())
    assert text == default_reply("a")
    assert events[0] == TextChunk(text=default_reply("b"))


async def test_works_inside_an_async_test(emulator: AiChatsEmulator) -> None:
    assert sync.complete("aichats", "hi", base_url=emulator.url) == default_reply("hi")


def test_one_background_thread_serves_every_call(emulator: AiChatsEmulator) -> None:
    def threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == THREAD_NAME]

    sync.complete("aichats", "one", base_url=emulator.url)
    first = threads()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: sync.complete("aichats", str(n), base_url=emulator.url), range(8)))
    assert threads() == first
    assert len(first) == 1
    assert first[0].daemon


def test_calling_from_the_loop_thread_itself_is_refused() -> None:
    async def from_the_loop() -> str:
        return sync.complete("aichats", "hi")

    with pytest.raises(RuntimeError, match="its own event loop"):
        background().run(from_the_loop())
