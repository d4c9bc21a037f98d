"""``aichats chat``: one turn with a PROMPT, an interactive chat without one on a terminal.

Either way the turns go through a ``Conversation`` on a ``Client`` that records them in the
history (unless ``--no-log`` or ``AICHATS_HISTORY=0``), so that ``-c``/``--cid`` can continue
any of them, and ``aichats logs`` show them.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aichats_core.cli._commands import _option_flags, _prompt, _provider_options, _write
from aichats_core.cli._parser import default_provider
from aichats_core.errors import InvalidRequestError

if TYPE_CHECKING:
    from aichats_core import Client, Conversation
    from aichats_core.history import ConversationRecord, HistoryStore


def chat_command(args: argparse.Namespace) -> int:
    _end_cleanly_on_hangup_and_terminate()
    if args.prompt is None and sys.stdin.isatty() and not args.json:
        from aichats_core.cli._repl import run_repl

        return run_repl(args)
    prompt = _prompt("-" if args.prompt is None else args.prompt)
    return asyncio.run(_one_turn(args, prompt))


def _end_cleanly_on_hangup_and_terminate() -> None:
    """A closed terminal window (SIGHUP) or a ``kill`` (SIGTERM) ends the chat as an exit
    does, not at once: the answer being streamed is recorded as interrupted, and what the
    history had queued is written."""

    def leave(number: int, frame: object) -> None:
        raise SystemExit(128 + number)

    for name in ("SIGHUP", "SIGTERM"):
        if (number := getattr(signal, name, None)) is not None:
            signal.signal(number, leave)


@dataclass
class ChatSession:
    """What a chat needs while it lasts: the client, the conversation, and where the
    history is (None when this chat is not recorded)."""

    client: Client
    conversation: Conversation
    history: HistoryStore | None
    continued: ConversationRecord | None
    options: dict[str, Any]
    """The call options of the flags (and the emulator's), for every turn and image."""


@asynccontextmanager
async def chat_session(args: argparse.Namespace) -> AsyncIterator[ChatSession]:
    """The client and conversation the flags ask for: a continued one with ``-c``/``--cid``
    (its provider and model too, unless ``-p``/``-m`` say otherwise), else a new one."""
    from aichats_core import Client
    from aichats_core.history import HistoryStore, history_enabled

    store = HistoryStore()  # the client keeps its credentials out of what it records
    continued = _continued(args, store)
    last = continued.last_turn if continued is not None else None
    if args.provider is None:
        args.provider = last.provider if last is not None else default_provider()
    model = args.model
    if model is None and last is not None and last.provider == args.provider:
        model = last.model
    recording = not args.no_log and history_enabled()
    async with AsyncExitStack() as stack:
        options = await stack.enter_async_context(_provider_options(args))
        client = await stack.enter_async_context(Client(history=store if recording else None))
        earlier = continued.messages() if continued is not None and not recording else ()
        system = args.system
        if system is None and last is not None:
            system = last.system
        limits = {"max_tokens": args.max_tokens, "stop": args.stop}
        conversation = client.conversation(
            args.provider,
            model=model,
            system=system,
            id=continued.id if continued is not None else None,
            messages=earlier,
            provider_options=_option_flags(args, [args.provider]) or None,
            **options,
            **{name: value for name, value in limits.items() if value},
        )
        yield ChatSession(client, conversation, store if recording else None, continued, options)


def _continued(args: argparse.Namespace, store: HistoryStore) -> ConversationRecord | None:
    if args.cid:
        return store.conversation(args.cid)
    if not args.continue_:
        return None
    latest = store.latest()
    if latest is None:
        raise InvalidRequestError(
            f"-c: there is no conversation to continue in {store.path}; start one with"
            " `aichats chat PROMPT`"
        )
    return latest


async def _one_turn(args: argparse.Namespace, prompt: str) -> int:
    async with chat_session(args) as session:
        await print_answer(session.conversation, prompt, json_events=args.json)
    return 0


async def print_answer(
    conversation: Conversation,
    prompt: str,
    *,
    json_events: bool = False,
    keep_partial: bool = False,
) -> None:
    """Stream the answer to ``prompt`` to stdout as it arrives, ending on a new line; an
    error that cuts it short is raised after that new line, so that it starts its own."""
    from aichats_core import ImageResponse, TextChunk

    at_line_start = True
    try:
        async with conversation.stream(prompt, keep_partial=keep_partial) as events:
            async for event in events:
                if json_events:
                    _write(event.model_dump_json() + "\n")
                elif isinstance(event, TextChunk):
                    _write(event.text)
                    at_line_start = event.text.endswith("\n")
                elif isinstance(event, ImageResponse):
                    _write(f"[image: {len(event.images)}; save it with `aichats image -o FILE`]")
                    at_line_start = False
    finally:
        if not at_line_start:
            _write("\n")
