"""The blocking Conversation: the async one's turns, history and store, without a loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aichats_core import Message, TextChunk, sync
from aichats_core.errors import ProviderHTTPError
from aichats_core.history import HistoryStore
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply


def test_a_sync_conversation_sends_its_history(emulator: AiChatsEmulator, tmp_path: Path) -> None:
    with sync.Client(base_url=emulator.url, history=tmp_path / "h.db") as client:
        chat = client.conversation("aichats", system="Be brief")
        first = chat.send("Hi")
        events = list(chat.stream("More"))
    assert first == default_reply("System: Be brief\nUser: Hi\nAssistant:")
    second = "".join(e.text for e in events if isinstance(e, TextChunk))
    assert chat.messages[1:] == (
        Message(role="user", content="Hi"),
        Message(role="assistant", content=first),
        Message(role="user", content="More"),
        Message(role="assistant", content=second),
    )
    with HistoryStore(tmp_path / "h.db") as store:
        assert [t.prompt for t in store.conversation(chat.id).turns] == ["Hi", "More"]


def test_errors_and_changes_between_turns(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(status=500))
    chat = sync.conversation("aichats", base_url=emulator.url)
    with pytest.raises(ProviderHTTPError):
        chat.send("Hi")
    assert chat.messages == ()
    chat.system = "sys"
    chat.model = "gpt-4"
    assert chat.send("Again").endswith("Assistant:")
    assert chat.messages[0] == Message(role="system", content="sys")
    assert (chat.provider, chat.model, chat.options) == (
        "aichats",
        "gpt-4",
        {"base_url": emulator.url},
    )


def test_a_sync_conversation_works_inside_a_running_loop(emulator: AiChatsEmulator) -> None:
    async def notebook_cell() -> str:
        return sync.conversation("aichats", base_url=emulator.url).send("Hi")

    assert asyncio.run(notebook_cell()) == default_reply("Hi")
