"""``aichats chat`` without a prompt, driven through a real pseudo-terminal: typing, the
streamed answer, Ctrl-C, Ctrl-D, the commands, and the input history between chats."""

from __future__ import annotations

from pathlib import Path

import pexpect
from pty_chat import spawn

from aichats_core.history import HistoryStore
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

PROMPT = "> "


def chat(emulator: AiChatsEmulator, *args: str, banner: str = "") -> pexpect.spawn:
    """The REPL, once it shows its first prompt (after ``banner``, when given)."""
    child = spawn("chat", "--base-url", emulator.url, *args)
    if banner:
        child.expect(banner)
    child.expect_exact("/help for commands")
    child.expect_exact(PROMPT)
    return child


def leave(child: pexpect.spawn) -> int:
    child.sendeof()  # Ctrl-D
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus is not None
    return child.exitstatus


def the_only_conversation(home: Path) -> list:  # type: ignore[type-arg]
    with HistoryStore(home / "history.db") as store:
        [summary] = store.conversations()
        return store.conversation(summary.id).turns


def test_type_a_prompt_read_the_answer_and_leave_with_ctrl_d(
    emulator: AiChatsEmulator, home: Path
) -> None:
    child = chat(emulator)
    child.sendline("Hi there")
    child.expect_exact(default_reply("Hi there"))
    child.expect_exact(PROMPT)
    child.sendline("And more")
    child.expect_exact("You said: User: Hi there")  # the history went with it
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    turns = the_only_conversation(home)
    assert [(t.prompt, t.status) for t in turns] == [
        ("Hi there", "complete"),
        ("And more", "complete"),
    ]


def test_ctrl_c_stops_the_answer_keeps_it_and_stays(emulator: AiChatsEmulator, home: Path) -> None:
    words = " ".join(f"w{i}" for i in range(40))
    emulator.enqueue(Script(text=words, events=40, delay=0.1))
    child = chat(emulator)
    child.sendline("Tell me a long story")
    child.expect_exact("w2")  # streaming: the first words are on screen
    child.sendintr()  # Ctrl-C
    child.expect_exact("[stopped; what arrived is kept]")
    child.expect_exact(PROMPT)
    child.sendline("/history")
    child.expect(r"assistant: w0 w1 w2[^\r\n]*")
    shown = child.after
    child.expect_exact(PROMPT)
    assert "w39" not in shown
    child.sendintr()  # at the prompt: a fresh line, not the end
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    [turn] = the_only_conversation(home)
    assert turn.status == "interrupted"
    assert turn.answer.startswith("w0 w1 w2")
    assert "w39" not in turn.answer


def test_commands(emulator: AiChatsEmulator, home: Path, tmp_path: Path) -> None:
    child = chat(emulator)
    child.sendline("/help")
    child.expect_exact("/retry")
    child.expect_exact(PROMPT)
    child.sendline("/provider nosuch")
    child.expect_exact("error: ")
    child.expect_exact("nosuch")
    child.expect_exact(PROMPT)
    child.sendline("/model nosuch")
    child.expect_exact("does not support model 'nosuch'")
    child.expect_exact(PROMPT)
    child.sendline("/model gpt-4")
    child.expect_exact("model: gpt-4")
    child.expect_exact(PROMPT)
    child.sendline("/system Be brief")
    child.expect_exact(PROMPT)
    child.sendline("Hi")
    child.expect_exact(
        default_reply("System: Be brief\nUser: Hi\nAssistant:").replace("\n", "\r\n")
    )
    child.expect_exact(PROMPT)
    child.sendline("/retry")
    child.expect_exact("You said: System: Be brief\r\nUser: Hi\r\nAssistant:")
    child.expect_exact(PROMPT)
    child.sendline("/history")
    child.expect_exact("system: Be brief")
    child.expect_exact(PROMPT)
    assert child.before.count("user: Hi") == 1  # the retried turn replaced the first
    image = tmp_path / "cat.png"
    child.sendline(f"/image a cat {image}")
    child.expect(r"saved (\d+) bytes to ")
    child.expect_exact(PROMPT)
    child.sendline("/new")
    child.expect_exact("new conversation")
    child.expect_exact(PROMPT)
    child.sendline("Fresh")
    child.expect_exact("You said: System: Be brief\r\nUser: Fresh\r\nAssistant:")
    child.expect_exact(PROMPT)
    child.sendline("/unknown")
    child.expect_exact("unknown command /unknown; /help lists them")
    child.expect_exact(PROMPT)
    child.sendline("/exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert image.read_bytes().startswith(b"\x89PNG")
    with HistoryStore(home / "history.db") as store:
        titles = sorted(s.title for s in store.conversations())
    assert titles == ["Fresh", "Hi", "a cat"]  # the image is a turn of its own


def test_the_input_history_persists_between_chats(emulator: AiChatsEmulator) -> None:
    child = chat(emulator)
    child.sendline("remember this line")
    child.expect_exact(default_reply("remember this line"))
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    child = chat(emulator)
    child.send("\x1b[A")  # the up arrow recalls it
    child.send("\r")
    child.expect_exact(default_reply("remember this line"))
    child.expect_exact(PROMPT)
    assert leave(child) == 0


def test_continue_the_latest_conversation_or_a_given_one(
    emulator: AiChatsEmulator, home: Path
) -> None:
    child = chat(emulator)
    child.sendline("First")
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    [turn] = the_only_conversation(home)
    child = chat(emulator, "-c", banner=r"continuing conversation \w+ \(1 turns\)")
    child.sendline("Second")
    child.expect_exact("You said: User: First")
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    assert [t.prompt for t in the_only_conversation(home)] == ["First", "Second"]
    with HistoryStore(home / "history.db") as store:
        [summary] = store.conversations()
    child = chat(emulator, "--cid", summary.id[:10])
    child.sendline("Third")
    child.expect_exact("User: Second")
    child.expect_exact(PROMPT)
    assert leave(child) == 0
    assert [t.prompt for t in the_only_conversation(home)] == ["First", "Second", "Third"]
    assert turn.conversation_id == summary.id


def test_help_and_listing_import_neither_the_repl_nor_the_history() -> None:
    """Start-up stays what it was: the REPL's and the history's modules load only when a
    chat runs."""
    import subprocess
    import sys

    code = (
        "import sys, contextlib, io\n"
        "from aichats_core.cli import main\n"
        "for argv in (['--help'], ['chat', '--help'], ['providers']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try:\n"
        "            main(argv)\n"
        "        except SystemExit:\n"
        "            pass\n"
        "heavy = ['readline', 'aichats_core.history', 'aichats_core.cli._repl', 'aiohttp',"
        " 'pydantic']\n"
        "if 'coverage' not in sys.modules:  # coverage keeps its data in SQLite\n"
        "    heavy.append('sqlite3')\n"
        "print([name for name in heavy if name in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_lines_are_kept_when_the_terminal_closes(emulator: AiChatsEmulator, home: Path) -> None:
    import signal

    child = chat(emulator)
    child.sendline("/history")
    child.expect_exact(PROMPT)
    child.sendline("typed before the window closed")
    child.expect_exact(default_reply("typed before the window closed"))
    child.expect_exact(PROMPT)
    child.kill(signal.SIGHUP)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 128 + signal.SIGHUP
    lines = (home / "chat-input-history").read_text().splitlines()
    assert lines[-2:] == ["/history", "typed before the window closed"]
    [turn] = the_only_conversation(home)
    assert turn.status == "complete"


def test_an_unbalanced_quote_in_image_is_an_error_line(emulator: AiChatsEmulator) -> None:
    child = chat(emulator)
    child.sendline('/image "a cat')
    child.expect_exact("error: /image")
    child.expect_exact(PROMPT)
    assert leave(child) == 0
