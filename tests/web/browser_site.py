"""What the browser tests drive: ``aichats serve``'s app and AiChats emulators on one event
loop in a thread of its own (the sync Playwright API blocks the test's thread), and a few
small helpers for the page."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page
from server_threads import ServerThread

from aichats_core.server import create_app
from providers.aichats.emulator import AiChatsEmulator

__all__ = [
    "DESKTOP",
    "PageProblems",
    "Site",
    "answer_text",
    "emulator_calls",
    "load",
    "open_context",
    "send",
    "wait_for_answer",
    "wait_until",
]

DESKTOP = {"width": 1280, "height": 800}


class Site:
    """The servers of one test: emulators and apps, stopped in reverse order by ``close``."""

    def __init__(self) -> None:
        self.thread = ServerThread()
        self._runners: list[web.AppRunner] = []
        self._emulators: list[AiChatsEmulator] = []
        self.url = ""
        self.api_key: str | None = None

    def emulator(self) -> AiChatsEmulator:
        """A fresh emulator, served from this site's loop."""
        emulator = AiChatsEmulator()
        self.thread.run(emulator.start())
        self._emulators.append(emulator)
        return emulator

    def serve(self, **options: Any) -> str:
        """Start ``create_app(**options)`` on a free loopback port; returns its base URL."""
        self.url = self.thread.run(self._start(options))
        self.api_key = options.get("api_key")
        return self.url

    async def _start(self, options: dict[str, Any]) -> str:
        runner = web.AppRunner(create_app(**options), handle_signals=False, access_log=None)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    def api(self, path: str, method: str = "GET") -> tuple[int, Any]:
        """Call the server's JSON API from the test, as the page would; (status, body)."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        request = urllib.request.Request(self.url + path, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read() or b"null")

    def close(self) -> None:
        for runner in reversed(self._runners):
            self.thread.run(runner.cleanup())
        for emulator in reversed(self._emulators):
            self.thread.run(emulator.stop())
        self.thread.close()


def wait_until(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """Poll ``condition`` for up to ``within`` seconds (for state the browser cannot see)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def send(page: Page, prompt: str) -> None:
    """Type ``prompt`` into the message box and press Enter, as a person would."""
    box = page.locator("#prompt")
    box.fill(prompt)
    box.press("Enter")


def answer_text(page: Page, index: int = -1) -> str:
    """The visible text of one answer (the last by default)."""
    answers = page.locator(".message.assistant .answer:not(.images)")
    count = answers.count()
    return answers.nth(index if index >= 0 else count + index).inner_text()


def wait_for_answer(page: Page, timeout: float = 10_000) -> None:
    """Wait until no answer is streaming (the Send button is back)."""
    page.locator(".message.assistant").last.wait_for()
    page.wait_for_function(
        "() => !document.querySelector('.message.assistant.pending')"
        " && !document.getElementById('send').hidden",
        timeout=timeout,
    )


def emulator_calls(emulator: AiChatsEmulator) -> list[Mapping[str, Any]]:
    """The chat API requests an emulator received, as parsed JSON bodies."""
    return [r.json for r in emulator.requests if r.path == "/chat/send2/" and r.json]


class PageProblems:
    """What the page must never do: throw, or trip its own Content-Security-Policy."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and "401" not in message.text:  # the key prompt's probe
            self.errors.append(message.text)


def open_context(browser: Browser, problems: PageProblems, **options: object) -> BrowserContext:
    options.setdefault("viewport", DESKTOP)
    options.setdefault("color_scheme", "light")
    context = browser.new_context(**options)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)

    def watch(page: Page) -> None:
        page.on("console", problems.console)
        page.on("pageerror", lambda error: problems.errors.append(f"page error: {error}"))
        page.on(
            "dialog", lambda dialog: (problems.dialogs.append(dialog.message), dialog.dismiss())
        )

    context.on("page", watch)
    return context


def load(page: Page, url: str) -> None:
    """Open the page and wait until it has loaded its models and history."""
    page.goto(url + "/")
    page.locator("html[data-ready='true']").wait_for(state="attached")
