"""How the page looks and how fast it comes: themes (the system's, or the toggle remembered),
a phone-sized screen with the sidebar behind a button, the screenshots in docs/, and the
load time measured by the browser itself."""

from __future__ import annotations

import os
import statistics
from pathlib import Path

from browser_site import PageProblems, Site, load, open_context, send, wait_for_answer
from playwright.sync_api import Browser, Page, expect

from providers.aichats.emulator import AiChatsEmulator, Script

DOCS_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
SCREENSHOTS_ENV = "AICHATS_SCREENSHOTS"
"""Set to 1 (``make screenshots``) to write the docs' screenshots; else they go to a temporary
directory, so that a test run leaves the tree as it was."""
PHONE = {"width": 375, "height": 812}

ANSWER = """Python's **asyncio** runs many waits at once on one thread. The core idea:

1. `async def` makes a coroutine;
2. `await` hands control back to the event loop until the result is ready.

```python
import asyncio

async def main():
    await asyncio.sleep(1)
    print("done")

asyncio.run(main())
```
More in the docs: https://docs.python.org/3/library/asyncio.html"""


def test_the_theme_follows_the_system_and_the_toggle_is_remembered(
    browser: Browser, url: str, problems: PageProblems
) -> None:
    context = open_context(browser, problems, color_scheme="dark")
    try:
        page = context.new_page()
        load(page, url)
        html = page.locator("html")
        expect(html).to_have_attribute("data-theme", "dark")
        toggle = page.locator("#theme-toggle")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")

        toggle.click()
        expect(html).to_have_attribute("data-theme", "light")
        expect(toggle).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != background
        page.reload()
        page.locator("html[data-ready='true']").wait_for(state="attached")
        expect(html).to_have_attribute("data-theme", "light")  # localStorage beats the system
        assert page.evaluate("() => localStorage.getItem('aichats.theme')") == "light"
    finally:
        context.close()
    assert not problems.errors, problems.errors


def test_keyboard_focus_is_visible(page: Page, url: str) -> None:
    load(page, url)
    page.keyboard.press("Shift+Tab")  # from the message box to the system prompt's toggle
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline == ["SUMMARY", "solid", "3px"]


def _converse(page: Page, upstream: AiChatsEmulator) -> None:
    upstream.enqueue(
        Script(text="Paris."),
        Script(text="A sorted list keeps its order as you insert with `bisect.insort`."),
        Script(text=ANSWER, events=12),
    )
    for prompt in ("What is the capital of France?", "How do I keep a list sorted?"):
        send(page, prompt)
        wait_for_answer(page)
        page.get_by_role("button", name="New chat").click()
    send(page, "Explain asyncio in two lines, with an example")
    wait_for_answer(page)


def test_screenshots_for_the_docs_and_the_phone_layout(
    browser: Browser,
    page: Page,
    url: str,
    upstream: AiChatsEmulator,
    problems: PageProblems,
    tmp_path: Path,
) -> None:
    IMAGES = DOCS_IMAGES if os.environ.get(SCREENSHOTS_ENV) == "1" else tmp_path
    load(page, url)
    _converse(page, upstream)
    expect(page.locator(".history-item")).to_have_count(3)
    page.locator("#prompt").fill("Thanks! And how do I cancel a task?")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "web-chat.png"))

    phone = open_context(
        browser, problems, viewport=PHONE, color_scheme="dark", is_mobile=True, has_touch=True
    )
    try:
        small = phone.new_page()
        load(small, url)
        expect(small.locator("html")).to_have_attribute("data-theme", "dark")
        sidebar = small.locator("#sidebar")
        toggle = small.get_by_role("button", name="Show conversations")
        expect(sidebar).to_be_hidden()  # collapsed behind the button
        expect(toggle).to_have_attribute("aria-expanded", "false")
        toggle.click()
        expect(sidebar).to_be_visible()
        expect(small.locator("#toggle-sidebar")).to_have_attribute("aria-expanded", "true")
        small.locator(".history-open").first.click()  # opening one hides the sidebar again
        expect(sidebar).to_be_hidden()
        expect(small.locator(".message.assistant pre")).to_be_visible()
        width = small.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways at 375 px ({width} px)"
        small.screenshot(path=str(IMAGES / "web-chat-phone.png"))
    finally:
        phone.close()
    assert (IMAGES / "web-chat.png").stat().st_size > 10_000
    assert (IMAGES / "web-chat-phone.png").stat().st_size > 10_000


READY = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const ready = performance.getEntriesByName('aichats:ready')[0];
    return {ready: ready.startTime, dom: nav.domContentLoadedEventEnd, load: nav.loadEventEnd};
}"""


def test_page_load_time(page: Page, url: str, site: Site) -> None:
    """From navigation start to the page ready (models and history loaded), as the browser
    measures it. The issue's target is 100 ms here; the bound is loose on purpose."""
    load(page, url)
    first = page.evaluate(READY)
    runs = []
    for _ in range(7):
        page.reload()
        page.locator("html[data-ready='true']").wait_for(state="attached")
        runs.append(page.evaluate(READY))
    ready = statistics.median(run["ready"] for run in runs)
    print(
        f"\npage load: first {first['ready']:.1f} ms to ready;"
        f" reloads median {ready:.1f} ms to ready"
        f" (DOMContentLoaded {statistics.median(r['dom'] for r in runs):.1f} ms,"
        f" load {statistics.median(r['load'] for r in runs):.1f} ms),"
        f" all: {[round(r['ready'], 1) for r in runs]}"
    )
    assert ready < 1000
    assert first["ready"] < 1000
