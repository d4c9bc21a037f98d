"""The sync API as a whole process sees it: Ctrl-C, exit, fork and import, each in a child
interpreter run with ``-X dev -W error`` (any warning, unclosed resources included, fails)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

pytestmark = pytest.mark.slow

STALLED = Script(text="first second", stall_after=1, stall_for=30)
"""Sends its first event, then stays silent for far longer than any test runs."""


SLOW_STEP = re.compile(r"Executing <.*> took [0-9.]+ seconds")
"""What asyncio's debug mode (on under ``-X dev``) logs of a loop step slower than 0.1 s, such
as the first call's import of aiohttp: a timing, not a warning."""


@contextmanager
def python(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-X", "dev", "-W", "error", "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            yield child
        finally:
            if child.poll() is None:
                child.kill()


def finish(child: subprocess.Popen[str]) -> tuple[str, str]:
    """The child's output and its stderr, less asyncio's timings."""
    out, err = child.communicate(timeout=20)
    return out, "".join(line for line in err.splitlines(True) if not SLOW_STEP.match(line))


@pytest.mark.parametrize(
    ("first", "blocked_in"),
    [
        ("pass", "sync.complete('aichats', 'hi', base_url=url)"),
        ("next(events)", "next(events)"),  # the second event, which never comes
    ],
)
def test_ctrl_c_cancels_the_call_and_leaves_the_loop_working(
    emulator: AiChatsEmulator, first: str, blocked_in: str
) -> None:
    emulator.enqueue(STALLED)
    with python(
        f"""
        import asyncio, sys
        from aichats_core import sync
        from aichats_core.sync._loop import background

        async def others() -> int:
            return len(asyncio.all_tasks() - {{asyncio.current_task()}})

        url = sys.argv[1]
        events = sync.stream('aichats', 'hi', base_url=url)  # sends nothing until iterated
        {first}
        print('waiting', flush=True)
        try:
            {blocked_in}
        except KeyboardInterrupt:
            print('interrupted', flush=True)
        events.close()
        print('tasks left:', background().run(others()))  # the cancelled call has unwound
        print(sync.complete('aichats', 'again', base_url=url))
        """,
        emulator.url,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "waiting\n"
        time.sleep(0.3)  # blocked by now
        interrupted = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = finish(child)
        assert err == ""
        assert out == f"interrupted\ntasks left: 0\n{default_reply('again')}\n"
        assert child.returncode == 0
        assert time.monotonic() - interrupted < 5


def test_exit_closes_what_is_left_open_without_a_warning(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(), STALLED, STALLED)
    with python(
        """
        import sys
        from aichats_core import sync

        url = sys.argv[1]
        client = sync.Client(base_url=url)
        client.complete('aichats', 'hi')
        events = client.stream('aichats', 'stalled')  # left open, mid-answer
        next(events)
        other = sync.stream('aichats', 'stalled', base_url=url)  # a session of its own
        next(other)
        print('done', flush=True)
        """,
        emulator.url,
    ) as child:
        out, err = finish(child)
        assert (out, err, child.returncode) == ("done\n", "", 0)


def test_a_forked_child_gets_its_own_loop(emulator: AiChatsEmulator) -> None:
    with python(
        """
        import os, sys
        from aichats_core import sync
        from aichats_core.errors import InvalidRequestError

        url = sys.argv[1]
        client = sync.Client(base_url=url)
        print(client.complete('aichats', 'parent'))
        pid = os.fork()
        if pid == 0:
            answers = [sync.complete('aichats', 'child', base_url=url)]
            with sync.Client(base_url=url) as own:
                answers.append(own.complete('aichats', 'own'))
            try:
                client.complete('aichats', 'inherited')
            except InvalidRequestError as exc:
                answers.append(str(exc))
            print(*answers, sep='\\n', flush=True)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print(client.complete('aichats', 'parent again'))
        client.close()
        sys.exit(os.waitstatus_to_exitcode(status))
        """,
        emulator.url,
    ) as child:
        out, err = finish(child)
        assert err == ""
        assert child.returncode == 0
        assert out.splitlines() == [
            default_reply("parent"),
            default_reply("child"),
            default_reply("own"),
            "this Client was opened before the process forked; open a new one in this process",
            default_reply("parent again"),
        ]


def test_importing_starts_nothing_and_loads_no_http_stack() -> None:
    with python(
        """
        import sys, threading
        import aichats_core.sync

        print(threading.active_count(), 'aiohttp' in sys.modules, 'pydantic' in sys.modules)
        """
    ) as child:
        out, err = finish(child)
        assert (out, err) == ("1 False False\n", "")
