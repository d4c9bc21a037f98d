"""The interactive ``aichats chat``: a prompt with line editing and a persistent input
history, answers streamed as they arrive, and ``/commands``.

Ctrl-C stops the answer being streamed (the turn is kept, as an interrupted one, with what
arrived) and returns to the prompt; at the prompt it clears the line. Ctrl-D exits. One
event loop (an ``asyncio.Runner``) lasts the whole chat, so that the client keeps its
connections between turns; the prompt is read while the loop is idle. Only this module
imports ``readline``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shlex
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aichats_core.cli._chat import ChatSession, chat_session, print_answer
from aichats_core.errors import AiChatsError, InvalidRequestError

if TYPE_CHECKING:
    import asyncio

_T = TypeVar("_T")

PROMPT = "> "
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")
_ANY = frozenset({"timeout", "max_tokens", "stop"})
"""Options of the flags that every provider takes, kept when ``/provider`` switches."""
HELP = """\
/provider NAME      chat with another provider from the next turn (its default model)
/model NAME         use another model of this provider
/system TEXT        set the system message (/system alone removes it)
/image PROMPT [FILE]  draw PROMPT with this provider's image model, save it to FILE
/retry              ask the last prompt again, forgetting its answer
/new                start a new conversation
/history            show this conversation
/help               this list
/exit               leave (Ctrl-D too); Ctrl-C stops an answer"""


def run_repl(args: argparse.Namespace) -> int:
    import asyncio

    lines = _InputHistory.open()
    with asyncio.Runner() as runner:
        stack = AsyncExitStack()
        session = runner.run(stack.enter_async_context(chat_session(args)))
        try:
            Repl(runner, session, args, lines).run()
        finally:
            runner.run(stack.aclose())
    return 0


class Repl:
    """Reads lines until Ctrl-D or ``/exit``: prompts go to the conversation, ``/``-lines
    are commands."""

    def __init__(
        self,
        runner: asyncio.Runner,
        session: ChatSession,
        args: argparse.Namespace,
        lines: _InputHistory,
    ) -> None:
        self.lines = lines
        self.runner = runner
        self.session = session
        self.args = args
        self.last_prompt: str | None = None
        self.last_kept = False
        self.images = 0
        self.commands: dict[str, Callable[[str], bool | None]] = {
            "/provider": self.provider,
            "/model": self.model,
            "/system": self.system,
            "/image": self.image,
            "/retry": self.retry,
            "/new": self.new,
            "/history": self.history,
            "/help": self.help,
            "/exit": lambda _: True,
        }

    @property
    def conversation(self) -> Any:
        return self.session.conversation

    def run(self) -> None:
        self.banner()
        while True:
            try:
                line = input(PROMPT).strip()
            except EOFError:  # Ctrl-D
                print()
                return
            except KeyboardInterrupt:  # Ctrl-C at the prompt: a fresh line
                print()
                continue
            if not line:
                continue
            self.lines.remember()
            if line.startswith("/"):
                name, _, rest = line.partition(" ")
                command = self.commands.get(name)
                if command is None:
                    say(f"unknown command {name}; /help lists them")
                elif self.guarded(functools.partial(command, rest.strip())):
                    return
                continue
            self.ask(line)

    def banner(self) -> None:
        conversation = self.conversation
        continued = self.session.continued
        where = "not recorded" if self.session.history is None else "recorded"
        if continued is not None:
            say(f"continuing conversation {continued.id} ({len(continued.turns)} turns)")
        say(
            f"chatting with {conversation.provider} ({conversation.model or 'default model'});"
            f" {where}. /help for commands, Ctrl-D to leave."
        )

    def ask(self, prompt: str) -> None:
        self.last_prompt = prompt
        before = len(self.conversation.messages)
        self.guarded(lambda: self.runner.run(self._answer(prompt)))
        self.last_kept = len(self.conversation.messages) > before  # for /retry

    async def _answer(self, prompt: str) -> None:
        await print_answer(self.conversation, prompt, keep_partial=True)

    def guarded(self, action: Callable[[], _T]) -> _T | None:
        """``action``, with its errors said on one line; Ctrl-C during it stops it."""
        try:
            return action()
        except KeyboardInterrupt:
            say("[stopped; what arrived is kept]")
        except AiChatsError as exc:
            say(f"error: {exc}")
        return None

    # -- commands: each returns True to leave ------------------------------------------------

    def provider(self, name: str) -> None:
        from aichats_core import get_provider

        if not name:
            say(f"provider: {self.conversation.provider}")
            return
        get_provider(name)  # an unknown name fails here, with the installed ones listed
        conversation = self.conversation
        conversation.provider, conversation.model = name, None
        # The flags' -o options, --base-url, --cookie and the emulator were the first
        # provider's; the core's own (timeout) hold for any.
        conversation.provider_options = None
        conversation.options = {k: v for k, v in conversation.options.items() if k in _ANY}
        say(f"provider: {name} (its default model)")

    def model(self, name: str) -> None:
        from aichats_core import get_provider, resolve_model

        provider = self.conversation.provider
        if not name:
            say(f"model: {self.conversation.model or 'default'}")
            return
        resolve_model(provider, get_provider(provider), name)  # refused before any network
        self.conversation.model = name
        say(f"model: {name}")

    def system(self, text: str) -> None:
        self.conversation.system = text or None
        say(f"system message: {text}" if text else "system message removed")

    def image(self, text: str) -> None:
        try:
            words = shlex.split(text) if text else []
        except ValueError as exc:  # an unbalanced quote
            raise InvalidRequestError(f"/image {text}: {exc}; quote the prompt whole") from None
        if not words:
            raise InvalidRequestError("/image needs a prompt: /image PROMPT [FILE]")
        if len(words) > 1 and words[-1].lower().endswith(IMAGE_SUFFIXES):
            target: Path | None = Path(words.pop())
        else:
            target = None
        data = self.runner.run(self._draw(" ".join(words)))
        path = target or self._next_image_path()
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise InvalidRequestError(f"cannot write {path}: {exc.strerror}") from exc
        say(f"saved {len(data)} bytes to {path}")

    async def _draw(self, prompt: str) -> bytes:
        from aichats_core import get_provider
        from aichats_core.http import image_bytes

        provider = self.conversation.provider
        models = getattr(get_provider(provider), "image_models", [])
        if not models:
            raise InvalidRequestError(
                f"provider {provider!r} lists no image models; /provider another"
            )
        options = self.session.options
        uri = await self.session.client.complete(provider, prompt, model=models[0], **options)
        return (await image_bytes(provider, uri, options))[0]

    def _next_image_path(self) -> Path:
        while True:
            self.images += 1
            path = Path(f"image-{self.images}.png")
            if not path.exists():
                return path

    def retry(self, _: str) -> None:
        if self.last_prompt is None:
            say("nothing to retry yet")
            return
        if self.last_kept:  # its answer is in the conversation: replaced by the new one
            self.conversation.forget(1)
        self.ask(self.last_prompt)

    def new(self, _: str) -> None:
        old = self.conversation
        self.session.conversation = self.session.client.conversation(
            old.provider, model=old.model, system=old.system, provider_options=old.provider_options,
            **old.options,
        )  # fmt: skip
        self.session.continued = None
        self.last_prompt = None
        say("new conversation")

    def history(self, _: str) -> None:
        messages = self.conversation.messages
        if not messages:
            say("(nothing said yet)")
        for message in messages:
            say(f"{message.role}: {message.content}")

    def help(self, _: str) -> None:
        say(HELP)


def say(text: str) -> None:
    print(text, flush=True)


class _InputHistory:
    """The prompts typed in earlier chats, for the up arrow (``readline``, when Python has
    it), kept in a file next to the conversation history."""

    def __init__(self, readline: Any, path: Path | None) -> None:
        self.readline = readline
        self.path = path
        self.failed = False

    @classmethod
    def open(cls) -> _InputHistory:
        try:
            import readline
        except ImportError:  # no line editing on this Python: input() still works
            return cls(None, None)
        from aichats_core.history import default_path

        path = default_path().parent / "chat-input-history"
        readline.set_history_length(1000)
        readline.parse_and_bind("tab: complete")
        readline.set_completer(_complete_command)
        readline.set_completer_delims(" ")
        with contextlib.suppress(OSError):  # none yet
            readline.read_history_file(path)
        return cls(readline, path)

    def remember(self) -> None:
        """Add the line just typed to the file at once: a chat that ends by a closed window
        or a signal keeps its lines too."""
        if self.readline is None or self.path is None:
            return
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                self.path.touch(mode=0o600)
            self.readline.append_history_file(1, self.path)
        except OSError as exc:
            if not self.failed:
                print(f"aichats: could not save the input history: {exc}", file=sys.stderr)
            self.failed = True


def _complete_command(text: str, state: int) -> str | None:
    names = [name for name in HELP.split() if name.startswith("/") and name.startswith(text)]
    return names[state] if state < len(names) else None
