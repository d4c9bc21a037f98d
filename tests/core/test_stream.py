from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest

import aichats_core
from aichats_core import Client, Finish, ImageResponse, TextChunk, Usage
from aichats_core.errors import (
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderContractError,
    ProviderNotFoundError,
    RateLimitError,
    StreamInterruptedError,
)
from aichats_core.testing import ScriptedProvider, registered


async def collect(events: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in events]


async def test_str_items_become_text_chunks_and_a_finish_event_closes_the_stream() -> None:
    provider = ScriptedProvider.script("Hel", "lo")
    events = await collect(aichats_core.stream(provider, "Hi"))
    assert events == [
        TextChunk(text="Hel"),
        TextChunk(text="lo"),
        Finish(provider="ScriptedProvider", model="scripted"),
    ]


async def test_typed_events_pass_through_unchanged() -> None:
    image = ImageResponse(images=["data:image/png;base64,AA=="], alt="cat")
    usage = Usage(prompt_tokens=1, completion_tokens=2)
    provider = ScriptedProvider.script(TextChunk(text="a"), image, usage)
    events = await collect(aichats_core.stream(provider, "Hi", model="scripted-image"))
    assert events[:3] == [TextChunk(text="a"), image, usage]
    assert events[3] == Finish(provider="ScriptedProvider", model="scripted-image")


async def test_a_provider_is_selected_by_name_and_receives_validated_messages_and_options() -> None:
    provider = ScriptedProvider.script("ok", options={"base_url": None})
    with registered("my-fake", provider):
        text = await aichats_core.complete(
            "My_Fake",
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            proxy="http://proxy.invalid:3128",
            timeout=5,
            base_url="http://127.0.0.1:1",
        )
    assert text == "ok"
    [call] = provider.calls
    assert [m.role for m in call.messages] == ["system", "user"]
    assert call.proxy == "http://proxy.invalid:3128"
    assert call.options == {"timeout": 5, "base_url": "http://127.0.0.1:1"}


async def test_complete_returns_the_first_image_for_an_image_answer() -> None:
    provider = ScriptedProvider.script(
        ImageResponse(images=["data:image/png;base64,AA==", "x"], alt="a")
    )
    assert (
        await aichats_core.complete(provider, "cat", model="scripted-image")
        == "data:image/png;base64,AA=="
    )


def test_bad_input_fails_at_the_call_before_any_provider_runs() -> None:
    provider = ScriptedProvider.script("never")
    with pytest.raises(InvalidRequestError):
        aichats_core.stream(provider, [{"role": "wizard", "content": "x"}])
    with pytest.raises(ModelNotSupportedError) as caught:
        aichats_core.stream(provider, "Hi", model="gpt-99")
    assert caught.value.models == ["scripted", "scripted-image"]
    assert "choose one of: scripted, scripted-image" in str(caught.value)
    with pytest.raises(ProviderNotFoundError):
        aichats_core.stream("no-such-provider", "Hi")
    assert provider.calls == []


async def test_an_empty_model_means_the_default_and_aliases_resolve() -> None:
    provider = ScriptedProvider.script("x", model_aliases={"big": "scripted-image"})
    await collect(aichats_core.stream(provider, "Hi", model=""))
    await collect(aichats_core.stream(provider, "Hi", model="big"))
    assert [call.model for call in provider.calls] == ["scripted", "scripted-image"]


async def test_errors_from_the_provider_propagate_typed() -> None:
    provider = ScriptedProvider.script(error=RateLimitError("Scripted", retry_after=2))
    with pytest.raises(RateLimitError) as caught:
        await aichats_core.complete(provider, "Hi")
    assert caught.value.retry_after == 2


async def test_an_interrupted_stream_carries_the_text_received_so_far() -> None:
    provider = ScriptedProvider.script(
        "Hello", " wor", error=StreamInterruptedError("Scripted", "connection cut")
    )
    received = []
    with pytest.raises(StreamInterruptedError) as caught:
        async for event in aichats_core.stream(provider, "Hi"):
            received.append(event)
    assert caught.value.partial_text == "Hello wor"
    assert len(received) == 2  # no Finish: the stream did not complete


async def test_a_stream_that_keeps_no_text_holds_none_and_complete_still_tells_it() -> None:
    """``keep_partial_text=False`` (a relay of long answers) keeps nothing for the error;
    ``complete()`` keeps the text anyway, once, and hands it to the interruption."""
    cut = StreamInterruptedError("Scripted", "connection cut")
    provider = ScriptedProvider.script("Hello", " wor", error=cut)
    with pytest.raises(StreamInterruptedError) as caught:
        async for _ in aichats_core.stream(provider, "Hi", keep_partial_text=False):
            pass
    assert caught.value.partial_text == ""
    provider = ScriptedProvider.script("Hello", " wor", error=StreamInterruptedError("S", "cut"))
    with pytest.raises(StreamInterruptedError) as caught:
        await aichats_core.complete(provider, "Hi")
    assert caught.value.partial_text == "Hello wor"
    async with aichats_core.Client() as client:
        provider = ScriptedProvider.script("Hi", " there", error=StreamInterruptedError("S", "cut"))
        with pytest.raises(StreamInterruptedError) as caught:
            await client.complete(provider, "Hi")
    assert caught.value.partial_text == "Hi there"


class _Garbage(ScriptedProvider):
    items: ClassVar[tuple[Any, ...]] = ("fine", 42)


async def test_garbage_from_a_provider_is_a_contract_error_naming_it() -> None:
    with registered("garbage", _Garbage), pytest.raises(ProviderContractError) as caught:
        await aichats_core.complete("garbage", "Hi")
    assert "provider 'garbage' yielded int 42" in str(caught.value)


class _Crashing(ScriptedProvider):
    @classmethod
    async def create_async_generator(  # type: ignore[override]
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        yield "partial"
        raise KeyError("oops")


async def test_an_unexpected_exception_in_a_plugin_is_contained() -> None:
    with pytest.raises(ProviderContractError) as caught:
        await aichats_core.complete(_Crashing, "Hi")
    assert "failed with KeyError" in str(caught.value)
    assert isinstance(caught.value.__cause__, KeyError)


class _Tracking(ScriptedProvider):
    closed: ClassVar[list[bool]] = []

    @classmethod
    async def create_async_generator(  # type: ignore[override]
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        try:
            for index in range(1000):
                yield f"{index} "
        finally:
            cls.closed.append(True)


async def test_leaving_a_stream_early_closes_the_provider_at_once() -> None:
    _Tracking.closed.clear()
    async with aichats_core.stream(_Tracking, "Hi") as events:
        async for event in events:
            assert isinstance(event, TextChunk)
            break
    assert _Tracking.closed == [True]


async def test_breaking_out_of_a_plain_loop_also_closes_the_provider() -> None:
    _Tracking.closed.clear()
    async for _event in aichats_core.stream(_Tracking, "Hi"):
        break
    await asyncio.sleep(0)  # the loop finalises the abandoned generator on its next turn
    await asyncio.sleep(0)
    assert _Tracking.closed == [True]


class _SlowTracking(_Tracking):
    @classmethod
    async def create_async_generator(  # type: ignore[override]
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.sleep(10)
            yield "never"
        finally:
            cls.closed.append(True)


async def test_cancelling_a_consumer_propagates_cancelled_error_and_closes_the_provider() -> None:
    _SlowTracking.closed.clear()

    async def consume() -> None:
        async with aichats_core.stream(_SlowTracking, "Hi") as events:
            async for _event in events:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert _SlowTracking.closed == [True]


async def test_client_shares_one_session_and_merges_default_options() -> None:
    provider = ScriptedProvider.script("ok", options={"base_url": None})
    async with Client(timeout=7, base_url="http://127.0.0.1:1") as client:
        await client.complete(provider, "one")
        await client.complete(provider, "two", timeout=3)
        session = client.session
    first, second = provider.calls
    assert first.options["session"] is session
    assert second.options["session"] is session
    assert (first.options["timeout"], second.options["timeout"]) == (7, 3)
    assert session.closed


async def test_a_closed_client_refuses_new_calls() -> None:
    client = Client()
    await client.aclose()
    with pytest.raises(InvalidRequestError, match="closed"):
        client.stream(ScriptedProvider, "Hi")


async def test_only_the_core_sends_finish() -> None:
    provider = ScriptedProvider.script("a", Finish(provider="fake", model="x"))  # type: ignore[arg-type]
    with pytest.raises(ProviderContractError, match="yielded Finish"):
        await aichats_core.complete(provider, "Hi")


async def test_create_async_closes_the_provider_when_it_returns_an_image_early() -> None:
    class ImageFirst(_Tracking):
        @classmethod
        async def create_async_generator(  # type: ignore[override]
            cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[Any]:
            try:
                yield ImageResponse(images=["data:image/png;base64,AA=="])
                yield "never reached"
            finally:
                cls.closed.append(True)

    ImageFirst.closed.clear()
    assert await ImageFirst.create_async("scripted", []) == "data:image/png;base64,AA=="
    assert ImageFirst.closed == [True]


async def test_client_caps_its_connections() -> None:
    async with Client(max_connections=3) as client:
        connector = client.session.connector
        assert connector is not None
        assert connector.limit == 3
    async with Client(max_connections=0) as unlimited:
        assert unlimited.session.connector is not None
        assert unlimited.session.connector.limit == 0
    with pytest.raises(InvalidRequestError, match="max_connections"):
        Client(max_connections=-1)


class _LeakyTransport(ScriptedProvider):
    @classmethod
    async def create_async_generator(  # type: ignore[override]
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        import aiohttp

        yield "half an"
        raise aiohttp.ClientPayloadError("Response payload is not completed")


async def test_a_transport_error_escaping_a_plugin_mid_stream_is_an_interruption() -> None:
    with pytest.raises(StreamInterruptedError) as caught:
        await aichats_core.complete(_LeakyTransport, "Hi")
    assert caught.value.partial_text == "half an"
    assert "cut before the answer was complete" in str(caught.value)


class _Shout(str):
    pass


async def test_str_subclasses_are_text_too() -> None:
    provider = ScriptedProvider.script(_Shout("HELLO"))
    events = [event async for event in aichats_core.stream(provider, "Hi")]
    assert events[0] == TextChunk(text="HELLO")
    assert type(events[0].text) is str  # type: ignore[union-attr]


async def test_a_slow_name_lookup_is_bounded_by_the_timeout() -> None:
    import aiohttp

    from aichats_core.errors import ProviderTimeoutError
    from aichats_core.http import new_client_session
    from providers.aichats import AiChats

    class SlowResolver(aiohttp.abc.AbstractResolver):
        async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[Any]:
            await asyncio.sleep(5)
            return []

        async def close(self) -> None:
            pass

    connector = aiohttp.TCPConnector(resolver=SlowResolver())
    async with new_client_session(connector=connector) as session:
        with pytest.raises(ProviderTimeoutError, match="connecting"):
            await asyncio.wait_for(
                aichats_core.complete(
                    AiChats, "x", base_url="http://slow-dns.invalid", timeout=0.3, session=session
                ),
                timeout=3,
            )


async def test_a_calls_own_session_and_provider_options_merge_over_the_clients() -> None:
    from aichats_core.http import new_client_session

    provider = ScriptedProvider.script("ok", options={"a": None, "b": None})
    with registered("merged", provider):
        async with (
            new_client_session() as own,
            Client(provider_options={"merged": {"a": 1, "b": 1}}) as client,
        ):
            await client.complete(
                ["merged"], "Hi", session=own, provider_options={"Merged": {"b": 2}}
            )
    [call] = provider.calls
    assert call.options["session"] is own
    assert (call.options["a"], call.options["b"]) == (1, 2)


def test_an_image_answer_always_holds_an_image() -> None:
    with pytest.raises(ValueError, match="at least 1 item"):
        ImageResponse(images=[])
