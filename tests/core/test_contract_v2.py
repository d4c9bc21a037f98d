"""The provider contract, declared and checked by the core: options, messages, registries."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field

import aichats_core
from aichats_core import AsyncGeneratorProvider, Client, Finish, Message, TextChunk
from aichats_core._registry import ProviderRegistry
from aichats_core.errors import (
    AllProvidersFailedError,
    InvalidOptionError,
    InvalidRequestError,
    PluginLoadError,
    ProviderContractError,
    ProviderNotFoundError,
    RateLimitError,
)
from aichats_core.testing import FunctionProvider, ScriptedProvider, registered
from aichats_core.types import Messages
from providers.aichats.emulator import AiChatsEmulator, default_reply


class _Chatty(AsyncGeneratorProvider):
    """A provider with typed options of its own."""

    url = "http://127.0.0.1:9"
    default_model = "m"
    models: ClassVar[list[str]] = ["m"]
    calls: ClassVar[list[dict[str, Any]]] = []

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")
        max_tokens: int | None = Field(default=None, gt=0)
        temperature: float = 1.0

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        cls.calls.append(kwargs)
        raise RateLimitError("chatty", retry_after=1)
        yield ""  # pragma: no cover - an async generator that fails at once


async def _events(stream: aichats_core.ResultStream) -> list[Any]:
    return [event async for event in stream]


# -- options -------------------------------------------------------------------------------


async def test_a_chain_gives_each_provider_the_options_it_declares(
    emulator: AiChatsEmulator,
) -> None:
    """``max_tokens`` goes to the provider that declares it, is withheld from AiChats, which
    does not, and the first provider's 429 is not lost to an options error."""
    _Chatty.calls.clear()
    with registered("chatty", _Chatty):
        events = await _events(
            aichats_core.stream(
                ["chatty", "aichats"], "hi", max_tokens=10, base_url=emulator.url, timeout=5
            )
        )
    assert _Chatty.calls == [{"max_tokens": 10, "timeout": 5.0}]
    [request] = emulator.requests
    assert request.json["messagesHistory"][0]["content"] == "hi"
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert text == default_reply("hi")[:40]  # max_tokens=10, enforced at 4 characters each
    [failure] = events[-1].failures  # the trail: chatty's 429 came first
    assert (failure.provider, failure.error) == ("chatty", "RateLimitError")
    assert events[-1] == Finish(  # AiChats takes no max_tokens: the core enforced it
        provider="aichats",
        model="gpt-4",
        reason="length",
        options=["base_url", "timeout"],
        failures=[failure],
    )


async def test_an_option_no_provider_of_the_chain_declares_is_refused_at_the_call(
    emulator: AiChatsEmulator,
) -> None:
    with registered("chatty", _Chatty), pytest.raises(InvalidOptionError, match="top_k") as caught:
        aichats_core.stream(["chatty", "aichats"], "hi", top_k=3, base_url=emulator.url)
    assert caught.value.option == "top_k"
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("options", "option", "words"),
    [
        ({"temprature": 0.5}, "temprature", "did you mean 'temperature'"),
        ({"temperature": "warm"}, "temperature", "valid number"),
        ({"timeout": "soon"}, "timeout", "valid number"),
        ({"timeout": -1}, "timeout", "greater than 0"),
    ],
)
async def test_a_wrong_option_fails_at_the_call_before_any_network(
    options: dict[str, Any], option: str, words: str
) -> None:
    _Chatty.calls.clear()
    with registered("chatty", _Chatty), pytest.raises(InvalidOptionError) as caught:
        aichats_core.stream("chatty", "hi", **options)  # not iterated: the call itself fails
    assert (caught.value.provider, caught.value.option) == ("chatty", option)
    assert words in str(caught.value)
    assert _Chatty.calls == []


async def test_options_are_given_typed_as_the_provider_declares_them() -> None:
    seen: list[dict[str, Any]] = []

    def answer(messages: list[Message], options: dict[str, Any]) -> str:
        seen.append(options)
        return "ok"

    class Colour(BaseModel):
        model_config = ConfigDict(extra="forbid")
        colour: str = "red"
        size: int = 1

    provider = FunctionProvider.of(answer, Options=Colour)
    assert await aichats_core.complete(provider, "hi", timeout="2.5", size="3") == "ok"
    assert seen == [{"timeout": 2.5, "size": 3}]  # typed; defaults are not filled in


async def test_a_provider_without_options_takes_only_the_cores() -> None:
    provider = ScriptedProvider.script("ok")
    assert await aichats_core.complete(provider, "hi", timeout=3) == "ok"
    with pytest.raises(InvalidOptionError, match="it accepts timeout"):
        aichats_core.stream(provider, "hi", base_url="http://127.0.0.1:9")


async def test_provider_options_must_be_declared_by_their_provider() -> None:
    provider = ScriptedProvider.script("ok", name="Plain")
    with registered("plain", provider), pytest.raises(InvalidOptionError, match="'colour'"):
        aichats_core.stream("plain", "hi", provider_options={"plain": {"colour": "red"}})


@pytest.mark.parametrize(
    ("namespace", "words"),
    [
        ({"Options": dict}, "pydantic model class"),
        (
            {"Options": type("Loose", (BaseModel,), {"__annotations__": {"a": int}, "a": 1})},
            "forbid unknown fields",
        ),
        (
            {
                "Options": type(
                    "Clash",
                    (BaseModel,),
                    {
                        "__annotations__": {"timeout": float},
                        "timeout": 1.0,
                        "model_config": ConfigDict(extra="forbid"),
                    },
                )
            },
            "redeclares the core's option(s) timeout",
        ),
        ({"transient_statuses": [529]}, "transient_statuses"),
        ({"transient_statuses": {200}}, "transient_statuses"),
    ],
)
def test_declarations_are_checked_when_a_provider_is_registered(
    namespace: Mapping[str, Any], words: str
) -> None:
    provider = type("Declared", (ScriptedProvider,), dict(namespace))
    with pytest.raises(PluginLoadError, match=re.escape(words)):
        aichats_core.register_provider("declared", provider)


# -- messages ------------------------------------------------------------------------------


class _Appender(AsyncGeneratorProvider):
    """What g4f's Yqcloud does: append to the messages it was given."""

    url = "http://127.0.0.1:9"
    default_model = "m"
    models: ClassVar[list[str]] = ["m"]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        messages.append({"role": "assistant", "content": "leaked"})  # type: ignore[attr-defined]
        yield "never"


async def test_a_provider_cannot_change_the_messages_of_the_next_attempt() -> None:
    after = ScriptedProvider.script("answer", name="After")
    answer = await aichats_core.complete([_Appender, after], [{"role": "user", "content": "hi"}])
    assert answer == "answer"
    [call] = after.calls
    assert [dict(message) for message in call.messages] == [{"role": "user", "content": "hi"}]
    with pytest.raises(AllProvidersFailedError) as caught:
        await aichats_core.complete([_Appender], "hi")
    assert isinstance(caught.value.errors[0][1], ProviderContractError)


def test_a_message_reads_as_a_read_only_mapping() -> None:
    message = Message(role="user", content="hi")
    assert isinstance(message, Mapping)
    assert (message["role"], message.get("content"), message.get("name", "-")) == (
        "user",
        "hi",
        "-",
    )
    assert "content" in message
    assert "name" not in message
    assert dict(message) == {"role": "user", "content": "hi"}
    assert list(message) == ["role", "content"]
    assert len(message) == 2
    with pytest.raises(KeyError):
        message["name"]
    with pytest.raises(TypeError):
        message["content"] = "changed"  # type: ignore[index]
    assert message.model_dump() == {"role": "user", "content": "hi"}


# -- registries and test doubles -----------------------------------------------------------


async def test_a_client_resolves_names_in_its_own_registry_only() -> None:
    private = ProviderRegistry(group="aichats.tests.no-plugins")  # no installed plugin
    private.register("mine", ScriptedProvider.script("from mine"))
    async with Client(registry=private) as client:
        assert await client.complete("mine", "hi") == "from mine"
        with pytest.raises(ProviderNotFoundError):
            client.stream("aichats", "hi")  # installed, but not in this registry's view
    with pytest.raises(ProviderNotFoundError):
        aichats_core.stream("mine", "hi")  # the default registry never saw it


async def test_registered_restores_what_was_there(emulator: AiChatsEmulator) -> None:
    first, second = ScriptedProvider.script("one"), ScriptedProvider.script("two")
    with registered("swap", first):
        with registered("swap", second):
            assert await aichats_core.complete("swap", "hi") == "two"
        assert await aichats_core.complete("swap", "hi") == "one"
    with pytest.raises(ProviderNotFoundError):
        aichats_core.stream("swap", "hi")


async def test_a_function_provider_answers_from_the_call() -> None:
    async def shout(messages: list[Message], options: dict[str, Any]) -> AsyncIterator[str]:
        for word in messages[-1].content.split():
            yield word.upper() + " "

    provider = FunctionProvider.of(shout)
    assert await aichats_core.complete(provider, "hello there") == "HELLO THERE "
    upper = FunctionProvider.of(lambda messages, options: messages[-1]["content"].upper())
    assert await aichats_core.complete(upper, "hi") == "HI"
    assert upper.calls[0].messages[0].content == "hi"


# -- what review found ---------------------------------------------------------------------


async def test_a_remembered_validation_is_never_one_of_another_type(
    emulator: AiChatsEmulator,
) -> None:
    """``True == 1`` and they hash alike: a strict bool must not be passed by a 1 because a
    True was validated before."""
    ok = await aichats_core.complete(
        "aichats", "a fox", model="dalle", base_url=emulator.url, allow_private_image_urls=True
    )
    assert ok.startswith("data:image/png")
    with pytest.raises(InvalidOptionError, match="allow_private_image_urls"):
        aichats_core.stream("aichats", "x", base_url=emulator.url, allow_private_image_urls=1)


def test_validated_options_are_never_shared() -> None:
    from aichats_core.options import check_options

    first = check_options(_Chatty, {"max_tokens": 2})
    first["max_tokens"] = 99
    first["evil"] = 1
    assert check_options(_Chatty, {"max_tokens": 2}) == {"max_tokens": 2}
    check_options(_Chatty, {})["evil"] = 1
    assert check_options(_Chatty, {}) == {}


async def test_finish_says_which_options_and_cannot_be_changed() -> None:
    provider = ScriptedProvider.script("ok", options={"colour": None})
    [*_, finish] = [event async for event in aichats_core.stream(provider, "hi", colour="red")]
    assert finish.options == ("colour",)
    with pytest.raises(AttributeError):
        finish.options.append("injected")  # type: ignore[attr-defined]


class _BadDeferred(ScriptedProvider):
    Options = aichats_core.DeferredOptions("tests.core.no_such_module:Options")


async def test_a_deferred_options_that_cannot_be_read_is_the_plugins_bug() -> None:
    with pytest.raises(ProviderContractError, match="'Options' cannot be read"):
        aichats_core.stream(_BadDeferred, "hi", timeout=1)


async def test_a_chain_counts_the_options_of_providers_it_skips() -> None:
    """``top_p`` belongs to a provider that cannot serve the model: the chain goes on to the
    next one, which does not get it, instead of refusing the call."""
    skipped = ScriptedProvider.script("never", name="Skipped", options={"top_p": None})
    answers = ScriptedProvider.script("ok", name="Answers", models=["other"])
    events = await _events(aichats_core.stream([skipped, answers], "hi", model="other", top_p=1))
    assert events[-1].withheld == ("top_p",)
    assert answers.calls[0].options == {}


async def test_a_closed_client_leaves_no_session_alive() -> None:
    import gc
    import weakref

    provider = ScriptedProvider.script("ok", options={"colour": None})
    sessions = []
    for _ in range(3):
        async with Client() as client:
            await client.complete(provider, "hi", colour="red")
            sessions.append(weakref.ref(client.session))
        del client
    provider.calls.clear()  # the test double's own record holds the sessions it was given
    gc.collect()
    assert [ref() for ref in sessions] == [None, None, None]


async def test_provider_options_for_a_provider_the_call_does_not_use_are_refused() -> None:
    provider = ScriptedProvider.script("ok", name="Used", options={"colour": None})
    with pytest.raises(InvalidRequestError, match="names 'typo', which this call does not use"):
        aichats_core.stream(provider, "hi", provider_options={"typo": {"colour": "red"}})
    async with Client(provider_options={"elsewhere": {"x": 1}}) as client:  # defaults may
        assert await client.complete(provider, "hi", provider_options={"used": {}}) == "ok"
        with pytest.raises(InvalidRequestError, match="'typo'"):
            client.stream(provider, "hi", provider_options={"typo": {}})
