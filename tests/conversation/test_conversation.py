"""Conversations over the AiChats emulator: history sent again, turns kept or not, and the
history store they are recorded in."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

import aichats_core
from aichats_core import Client, Finish, Message, TextChunk
from aichats_core.errors import (
    AllProvidersFailedError,
    InvalidRequestError,
    ProviderHTTPError,
    StreamInterruptedError,
)
from aichats_core.history import HistoryStore
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply


def sent_prompts(emulator: AiChatsEmulator) -> list[str]:
    return [r.json["messagesHistory"][0]["content"] for r in emulator.requests if r.json]


async def test_each_turn_sends_the_history_flattened_through_aichats(
    emulator: AiChatsEmulator,
) -> None:
    async with Client(base_url=emulator.url) as client:
        chat = client.conversation("aichats", system="Be brief")
        first = await chat.send("Hi")
        second = await chat.send("And then?")
    assert first == default_reply("System: Be brief\nUser: Hi\nAssistant:")
    assert sent_prompts(emulator) == [
        "System: Be brief\nUser: Hi\nAssistant:",
        f"System: Be brief\nUser: Hi\nAssistant: {first}\nUser: And then?\nAssistant:",
    ]
    assert second == default_reply(sent_prompts(emulator)[1])
    assert chat.messages == (
        Message(role="system", content="Be brief"),
        Message(role="user", content="Hi"),
        Message(role="assistant", content=first),
        Message(role="user", content="And then?"),
        Message(role="assistant", content=second),
    )


async def test_a_streamed_turn_joins_the_history_when_it_ends(emulator: AiChatsEmulator) -> None:
    async with Client(base_url=emulator.url) as client:
        chat = client.conversation("aichats")
        stream = chat.stream("Hi")
        assert chat.messages == ()  # not before it ends
        events = [event async for event in stream]
    assert isinstance(events[-1], Finish)
    text = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert chat.messages == (
        Message(role="user", content="Hi"),
        Message(role="assistant", content=text),
    )


async def test_a_failed_turn_adds_nothing(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(status=500))
    async with Client(base_url=emulator.url) as client:
        chat = client.conversation("aichats")
        with pytest.raises(ProviderHTTPError):
            await chat.send("Hi")
        assert chat.messages == ()
        await chat.send("Again")
    assert sent_prompts(emulator) == ["Hi", "Again"]  # the failed turn is not sent again


@pytest.mark.parametrize("keep_partial", [False, True])
async def test_a_cut_turn_keeps_its_partial_answer_only_when_asked(
    emulator: AiChatsEmulator, keep_partial: bool
) -> None:
    emulator.enqueue(Script(text="one two three", events=3, disconnect_after=1))
    async with Client(base_url=emulator.url) as client:
        chat = client.conversation("aichats")
        with pytest.raises(StreamInterruptedError) as caught:
            await chat.send("Hi", keep_partial=keep_partial)
    partial = caught.value.partial_text
    assert partial
    expected = (Message(role="user", content="Hi"), Message(role="assistant", content=partial))
    assert chat.messages == (expected if keep_partial else ())


async def test_leaving_a_turn_early_is_an_interrupted_turn(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(text="one two three", events=3, delay=0.05))
    async with Client(base_url=emulator.url) as client:
        chat = client.conversation("aichats")
        async with chat.stream("Hi", keep_partial=True) as stream:
            async for event in stream:
                assert isinstance(event, TextChunk)
                first = event.text
                break
    assert chat.messages[-1] == Message(role="assistant", content=first)


async def test_provider_and_model_may_change_between_turns(emulator: AiChatsEmulator) -> None:
    other = ScriptedProvider.script("scripted answer", name="Other")
    with registered("other", other):
        async with Client() as client:
            chat = client.conversation("aichats", base_url=emulator.url)
            await chat.send("Hi")
            chat.provider, chat.options = "other", {}
            assert await chat.send("Who?") == "scripted answer"
            assert await chat.send("Once", provider="aichats", base_url=emulator.url)
    assert [m.content for m in other.calls[0].messages][-1] == "Who?"
    assert len(other.calls[0].messages) == 3  # Hi, its answer, Who?
    assert len(chat.messages) == 6


async def test_fallback_chains_work_inside_a_conversation(emulator: AiChatsEmulator) -> None:
    down = ScriptedProvider.script(fail_first=[ProviderHTTPError("Down", 503, "busy")], name="D")
    with registered("down", down):
        async with Client() as client:
            chat = client.conversation(
                ["down", "aichats"], provider_options={"aichats": {"base_url": emulator.url}}
            )
            events = [event async for event in chat.stream("Hi")]
    assert events[-1].provider == "aichats"
    assert [f.provider for f in events[-1].failures] == ["down"]
    assert len(chat.messages) == 2


async def test_the_module_level_conversation_needs_no_client(emulator: AiChatsEmulator) -> None:
    chat = aichats_core.conversation("aichats", base_url=emulator.url)
    await chat.send("Hi")
    await chat.send("Again")
    assert sent_prompts(emulator)[1].startswith("User: Hi\nAssistant: ")
    assert chat.id
    assert len(chat.messages) == 4


# -- the history store -------------------------------------------------------------------------


async def test_turns_are_recorded_with_their_outcome(
    emulator: AiChatsEmulator, tmp_path: Path
) -> None:
    emulator.enqueue(
        Script(), Script(status=500), Script(text="a b c", events=3, disconnect_after=1)
    )
    async with Client(base_url=emulator.url, history=tmp_path / "h.db") as client:
        chat = client.conversation("aichats", system="sys")
        answer = await chat.send("first")
        with pytest.raises(ProviderHTTPError):
            await chat.send("second")
        with pytest.raises(StreamInterruptedError) as cut:
            await chat.send("third")
    with HistoryStore(tmp_path / "h.db") as store:
        record = store.conversation(chat.id)
    assert [(t.prompt, t.status) for t in record.turns] == [
        ("first", "complete"),
        ("second", "failed"),
        ("third", "interrupted"),
    ]
    first, failed, interrupted = record.turns
    assert (first.answer, first.provider, first.model, first.system) == (
        answer,
        "aichats",
        "gpt-4",
        "sys",
    )
    assert first.options == ("base_url",)
    assert first.first_event_ms is not None
    assert first.duration_ms >= first.first_event_ms
    assert failed.answer == ""
    assert "HTTP 500" in (failed.error or "")
    assert interrupted.answer == cut.value.partial_text != ""


async def test_one_shot_calls_of_a_client_are_conversations_of_one_turn(
    emulator: AiChatsEmulator, tmp_path: Path
) -> None:
    async with Client(base_url=emulator.url, history=tmp_path / "h.db") as client:
        await client.complete(
            "aichats", [{"role": "system", "content": "s"}, {"role": "user", "content": "hey"}]
        )
        await client.complete("aichats", "again")
    with HistoryStore(tmp_path / "h.db") as store:
        summaries = store.conversations()
    assert sorted(s.title for s in summaries) == ["again", "hey"]
    assert all(s.turns == 1 for s in summaries)


async def test_a_chain_that_fails_records_every_attempt(tmp_path: Path) -> None:
    one = ScriptedProvider.script(fail_first=[ProviderHTTPError("One", 503, "busy")], name="One")
    two = ScriptedProvider.script(fail_first=[ProviderHTTPError("Two", 502, "bad")], name="Two")
    with registered("one", one), registered("two", two):
        async with Client(history=tmp_path / "h.db") as client:
            with pytest.raises(AllProvidersFailedError):
                await client.complete(["one", "two"], "hi")
    with HistoryStore(tmp_path / "h.db") as store:
        [summary] = store.conversations()
        [turn] = store.conversation(summary.id).turns
    assert turn.status == "failed"
    assert [(a["provider"], a["error"]) for a in turn.attempts] == [
        ("one", "ProviderHTTPError"),
        ("two", "ProviderHTTPError"),
    ]


async def test_a_conversation_continues_from_the_history(
    emulator: AiChatsEmulator, tmp_path: Path
) -> None:
    async with Client(base_url=emulator.url, history=tmp_path / "h.db") as client:
        chat = client.conversation("aichats", system="sys")
        answer = await chat.send("Hi")
    async with Client(base_url=emulator.url, history=tmp_path / "h.db") as client:
        again = client.conversation("aichats", id=chat.id)
        await again.send("More")
    assert again.id == chat.id
    assert (
        sent_prompts(emulator)[-1]
        == f"System: sys\nUser: Hi\nAssistant: {answer}\nUser: More\nAssistant:"
    )
    with HistoryStore(tmp_path / "h.db") as store:
        assert [t.prompt for t in store.conversation(chat.id).turns] == ["Hi", "More"]


async def test_no_history_is_written_without_history(
    emulator: AiChatsEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICHATS_HOME", str(tmp_path))
    async with Client(base_url=emulator.url) as client:
        await client.conversation("aichats").send("Hi")
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - after the calls


async def test_option_values_never_reach_the_database(
    emulator: AiChatsEmulator, tmp_path: Path
) -> None:
    secret = "sk-very-secret-value-123"
    async with Client(history=tmp_path / "h.db") as client:
        chat = client.conversation("aichats", base_url=emulator.url, cookies={"session": secret})
        await chat.send("Hi")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("h.db*"))  # noqa: ASYNC240
    assert b"cookies" in raw  # the option's name is kept
    assert secret.encode() not in raw
    with sqlite3.connect(tmp_path / "h.db") as db:
        assert db.execute("select count(*) from turns").fetchone() == (1,)


# -- what the review found ---------------------------------------------------------------------


async def test_a_turn_the_store_cannot_take_as_it_is_costs_no_other_turn(tmp_path: Path) -> None:
    echo = ScriptedProvider.script("ok", name="Echo")
    with registered("echo-test", echo):
        async with Client(history=tmp_path / "h.db") as client:
            await client.complete("echo-test", "good")
            await client.complete("echo-test", "bad \ud800 half a character")
            await client.complete("echo-test", "also good")
    with HistoryStore(tmp_path / "h.db") as store:
        prompts = sorted(s.title for s in store.conversations())
    assert prompts == ["also good", "bad \ufffd half a character", "good"]


async def test_closing_a_client_under_a_streaming_call_interrupts_it(
    emulator: AiChatsEmulator, tmp_path: Path
) -> None:
    emulator.enqueue(Script(text="a b c d e f", events=6, delay=0.3))
    client = Client(base_url=emulator.url, history=tmp_path / "h.db")
    call = asyncio.create_task(client.complete("aichats", "in flight"))
    await asyncio.sleep(0.5)
    await client.aclose()
    with pytest.raises(StreamInterruptedError, match="the Client was closed") as caught:
        await asyncio.wait_for(call, 2)
    assert caught.value.partial_text.startswith("a ")
    async with Client(history=tmp_path / "h.db") as reader:  # flushes what was queued
        assert reader.history is not None
        [summary] = reader.history.conversations()
        [turn] = reader.history.conversation(summary.id).turns
    assert (turn.status, turn.answer) == ("interrupted", caught.value.partial_text)


async def test_credentials_of_a_python_client_stay_out_of_the_database(
    emulator: AiChatsEmulator, tmp_path: Path
) -> None:
    cookie, key = "SECRETVALUE123", "sk-proj-abcdefghijklmnopqrstuvwx"
    emulator.enqueue(
        Script(status=403, error_body=f'{{"error": "session {cookie} expired"}}'),
        Script(status=401, error_body=f'{{"error": "Incorrect API key provided: {key}"}}'),
    )
    async with Client(
        base_url=emulator.url, history=tmp_path / "h.db", cookies=f"session={cookie}"
    ) as client:
        with pytest.raises(ProviderHTTPError):
            await client.complete("aichats", "hi")
        with pytest.raises(ProviderHTTPError):
            await client.conversation("aichats").send("hi")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("h.db*"))  # noqa: ASYNC240
    assert b"expired" in raw  # the errors are recorded...
    assert cookie.encode() not in raw  # ...without the credentials they quote
    assert key.encode() not in raw


async def test_continuing_sends_what_the_live_conversation_would_have(
    emulator: AiChatsEmulator, tmp_path: Path
) -> None:
    """A cut turn not kept, and a turn forgotten by a retry, are not sent again later."""
    emulator.enqueue(Script(text="cut short here", events=3, disconnect_after=1))
    async with Client(base_url=emulator.url, history=tmp_path / "h.db") as client:
        chat = client.conversation("aichats")
        with pytest.raises(StreamInterruptedError):
            await chat.send("lost")  # not kept: keep_partial is off
        await chat.send("first try")
        chat.forget()  # as /retry does
        await chat.send("second try")
        live = [m.content for m in chat.messages]
    async with Client(base_url=emulator.url, history=tmp_path / "h.db") as client:
        again = client.conversation("aichats", id=chat.id)
        assert [m.content for m in again.messages] == live
        await again.send("next")
    assert sent_prompts(emulator)[-1].startswith("User: second try\nAssistant: ")
    with HistoryStore(tmp_path / "h.db") as store:
        turns = store.conversation(chat.id).turns
    assert [(t.prompt, t.kept) for t in turns] == [
        ("lost", False),
        ("first try", False),
        ("second try", True),
        ("next", True),
    ]


async def test_a_turn_that_asks_for_tools_keeps_its_calls() -> None:
    from aichats_core import ToolCall

    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    tooly = ScriptedProvider.script(call, capabilities=frozenset({"tools"}), name="Tooly")
    tool = {"type": "function", "function": {"name": "get_weather"}}
    chat = aichats_core.conversation(tooly, tools=[tool])
    events = [event async for event in chat.stream("Weather in Paris?")]
    assert events[-1].reason == "tool_calls"
    assert chat.messages[-1] == Message(role="assistant", content="", tool_calls=(call,))


async def test_a_tool_loop_inside_a_conversation() -> None:
    from aichats_core import ToolCall

    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Paris"}')
    seen: list[list[Message]] = []

    def answer(messages: list[Message], options: dict[str, object]) -> object:
        seen.append(list(messages))
        return [call] if messages[-1].role == "user" else "Sunny in Paris."

    from aichats_core.testing import FunctionProvider

    tooly = FunctionProvider.of(answer, capabilities=frozenset({"tools"}))
    chat = aichats_core.conversation(
        tooly, tools=[{"type": "function", "function": {"name": "get_weather"}}]
    )
    assert await chat.send("Weather in Paris?") == ""
    with pytest.raises(InvalidRequestError, match="nothing to answer"):
        chat.stream(None)  # the last message is the answer, not a tool result
    with pytest.raises(InvalidRequestError, match="no tool call 'call_9'"):
        chat.add_tool_result("call_9", "?")
    chat.add_tool_result("call_1", '{"sky": "clear"}')
    assert await chat.send(None) == "Sunny in Paris."
    assert [m.role for m in seen[-1]] == ["user", "assistant", "tool"]
    assert [m.role for m in chat.messages] == ["user", "assistant", "tool", "assistant"]
