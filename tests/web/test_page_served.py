"""The page as a user gets it: ``aichats web --emulate`` run as a subprocess (the offline
demo), the page it opens loaded in Chromium, a prompt sent, the answer shown and listed."""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aichats_command import AICHATS
from browser_site import answer_text, load, send, wait_for_answer
from playwright.sync_api import Page, expect


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``aichats web --emulate --no-browser`` on a free port; yields the page's URL."""
    process = subprocess.Popen(
        [AICHATS, "web", "--emulate", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "AICHATS_HOME": str(tmp_path)},
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        page = next(line for line in iter(lambda: lines.get(timeout=20), "") if "chat page" in line)
        yield page.split()[-1].rstrip("/")
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_the_offline_demo_answers_in_the_browser_and_lists_the_chat(
    page: Page, served: str
) -> None:
    load(page, served)
    send(page, "Hello from the browser")
    wait_for_answer(page)
    assert answer_text(page) == "Hello from the AiChats emulator! You said: Hello from the browser"
    expect(page.locator(".history-item")).to_have_count(1)
    page.reload()
    page.locator("html[data-ready='true']").wait_for(state="attached")
    expect(page.locator(".history-item")).to_have_count(1)
