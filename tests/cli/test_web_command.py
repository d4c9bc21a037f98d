"""``aichats web``: the server, and the chat page opened in the browser ``$BROWSER`` names;
``--emulate`` makes it a complete offline demo."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from aichats_command import AICHATS


def lines(process: subprocess.Popen[str], count: int, timeout: float = 20) -> list[str]:
    """The first ``count`` lines the process prints (read on a thread: a line may wait in
    the pipe's buffer, where ``select`` does not see it)."""
    found: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for _ in range(count):
            found.put(process.stdout.readline())

    threading.Thread(target=read, daemon=True).start()
    return [found.get(timeout=timeout) for _ in range(count)]


def test_web_emulate_serves_the_page_and_opens_it(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])\n")
    env = {**os.environ, "BROWSER": f"{sys.executable} {browser} %s"}
    process = subprocess.Popen(
        [AICHATS, "web", "--emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        api, page = lines(process, 2)
        assert api.startswith("aichats serve: OpenAI-compatible API at http://127.0.0.1:")
        url = page.split()[-1]
        assert page.startswith("aichats serve: chat page at ")
        assert url.endswith("/")
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text() == url  # the page, in the browser $BROWSER names
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert b"<html" in response.read().lower()
        with urllib.request.urlopen(f"{url}v1/aichats/providers", timeout=10) as response:
            assert b'"aichats/gpt-4"' in response.read()
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
        assert process.stdout is not None
        process.stdout.close()


def test_no_browser_prints_the_url_and_opens_nothing(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    env = {**os.environ, "BROWSER": f"touch {opened}"}
    process = subprocess.Popen(
        [AICHATS, "web", "--emulate", "--port", "0", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        lines(process, 2)
        time.sleep(0.5)
        assert not opened.exists()
    finally:
        process.terminate()
        process.wait(timeout=20)
        assert process.stdout is not None
        process.stdout.close()
