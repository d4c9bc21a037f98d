"""Browser tests of the chat page: Playwright for Python driving the system's Chromium
(Debian's ``chromium`` package; ``playwright install`` is never needed), headless.

Without a chromium binary the tests here are skipped, saying so; CI installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from browser_site import PageProblems, Site, open_context
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from providers.aichats.emulator import AiChatsEmulator

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM is not None:
        return
    skip = pytest.mark.skip(reason="no chromium binary on PATH (apt-get install chromium)")
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module (each test gets its own context)."""
    assert CHROMIUM is not None
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses root
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def site() -> Iterator[Site]:
    running = Site()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def upstream(site: Site) -> AiChatsEmulator:
    """The AiChats emulator the server's ``aichats`` provider talks to."""
    return site.emulator()


@pytest.fixture
def url(site: Site, upstream: AiChatsEmulator) -> str:
    """A server with no key, AiChats pointed at ``upstream``."""
    return site.serve(
        provider_options={"aichats": upstream.provider_options()},
        served_providers=["aichats"],
    )


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def context(browser: Browser, problems: PageProblems) -> Iterator[BrowserContext]:
    """A fresh desktop-sized, light-theme browser context; it fails the test if a page in it
    threw, violated the CSP or opened a dialog."""
    opened = open_context(browser, problems)
    try:
        yield opened
    finally:
        opened.close()
    assert not problems.errors, problems.errors
    assert not problems.dialogs, problems.dialogs


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
