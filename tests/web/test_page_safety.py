"""What the page shows when things go wrong or turn hostile: a provider's HTML stays text,
Markdown becomes elements (links only for http(s)), errors read as sentences (a rate limit
with its retry time, a cut stream with its partial text), and a server with a key asks for
it once per tab."""

from __future__ import annotations

import re

from browser_site import PageProblems, Site, answer_text, load, send, wait_for_answer
from playwright.sync_api import BrowserContext, Page, expect

from providers.aichats.emulator import AiChatsEmulator, Script, reply_fragments

HOSTILE = (
    "<script>alert(1)</script> and <img src=x onerror=\"alert('img')\"> and "
    '<a href="javascript:alert(3)">a</a> [click](javascript:alert(4)) **bold**'
)


def _assert_inert(page: Page, problems: PageProblems) -> None:
    log = page.locator("#log")
    expect(log).to_contain_text("<script>alert(1)</script>")
    expect(log).to_contain_text("<img src=x onerror=\"alert('img')\">")
    expect(log).to_contain_text("[click](javascript:alert(4))")  # not a link: not http(s)
    assert log.locator("script, img, iframe, [onerror]").count() == 0
    assert log.locator("a").count() == 0
    expect(log.locator("strong")).to_have_text("bold")
    assert page.evaluate("() => document.scripts.length") == 1  # app.js alone
    assert problems.dialogs == []


def test_html_in_an_answer_is_shown_as_text_live_and_from_the_history(
    page: Page, url: str, upstream: AiChatsEmulator, problems: PageProblems
) -> None:
    upstream.enqueue(Script(text=HOSTILE, events=7))
    load(page, url)
    send(page, "Say something nasty")
    wait_for_answer(page)
    _assert_inert(page, problems)

    page.reload()
    page.locator(".history-open").click()
    expect(page.locator(".message.assistant")).to_have_count(1)
    _assert_inert(page, problems)


MARKDOWN = """Here is **bold**, *emphasis* and `x < y`.
A second line.

- one
- two with [a link](https://example.org/docs)

1. first
2. second

```python
print("<b>not bold</b>")
```
See https://example.org/page."""


def test_markdown_becomes_elements_and_links_open_safely(
    page: Page, url: str, upstream: AiChatsEmulator
) -> None:
    upstream.enqueue(Script(text=MARKDOWN, events=3))
    load(page, url)
    send(page, "Format something")
    wait_for_answer(page)
    answer = page.locator(".message.assistant .answer").first

    expect(answer.locator("p").first).to_contain_text("Here is bold, emphasis and x < y.")
    assert answer.locator("p").first.locator("br").count() == 1
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("em")).to_have_text("emphasis")
    expect(answer.locator("p code")).to_have_text("x < y")
    expect(answer.locator("ul > li")).to_have_text(["one", "two with a link"])
    expect(answer.locator("ol > li")).to_have_text(["first", "second"])
    expect(answer.locator("pre code")).to_have_text('print("<b>not bold</b>")')
    assert answer.locator("pre b").count() == 0
    links = answer.locator("a")
    expect(links).to_have_count(2)
    expect(links.first).to_have_attribute("href", "https://example.org/docs")
    expect(links.last).to_have_attribute("href", "https://example.org/page")  # the dot left out
    for index in range(2):
        expect(links.nth(index)).to_have_attribute("rel", "noopener noreferrer")


def test_a_rate_limit_reads_as_a_sentence_with_its_retry_time(
    page: Page, site: Site, upstream: AiChatsEmulator
) -> None:
    upstream.script = Script(status=429, retry_after=7)
    url = site.serve(
        provider_options={"aichats": {**upstream.provider_options(), "retries": 0}},
        served_providers=["aichats"],
    )
    load(page, url)
    send(page, "Hello?")
    wait_for_answer(page)
    note = page.locator(".message.assistant .note.error")
    expect(note).to_contain_text(
        re.compile(r"^Rate limited: try again in 7 s \(at \d\d?:\d\d:\d\d[^)]*\)\.")
    )
    assert answer_text(page) == ""
    expect(page.locator("#prompt")).to_be_enabled()


def test_a_cut_stream_keeps_its_partial_text_with_a_note(
    page: Page, url: str, upstream: AiChatsEmulator
) -> None:
    text = "One two three four five six"
    upstream.enqueue(Script(text=text, events=6, delay=0.05, disconnect_after=3))
    load(page, url)
    send(page, "Go on")
    wait_for_answer(page)
    assert answer_text(page) == "".join(reply_fragments(text, 6)[:3])
    notes = page.locator(".message.assistant .note")
    expect(notes.first).to_contain_text("StreamInterruptedError")
    expect(notes.last).to_have_text("The answer was cut short; the partial text is kept.")


def test_a_server_with_a_key_asks_for_it_once_per_tab(
    context: BrowserContext, site: Site, upstream: AiChatsEmulator
) -> None:
    url = site.serve(
        provider_options={"aichats": upstream.provider_options()},
        served_providers=["aichats"],
        api_key="s3cret-key",
    )
    page = context.new_page()
    response = page.goto(url + "/")
    assert response is not None
    assert response.status == 200
    dialog = page.locator("#key-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_label("Key", exact=True)).to_be_focused()
    expect(page.locator("#model option")).to_have_count(0)

    page.get_by_label("Key", exact=True).fill("wrong")
    page.get_by_label("Key", exact=True).press("Enter")
    expect(page.locator("#key-error")).to_have_text("That key was refused. Try again.")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")  # the page cannot work without it: the dialog stays
    expect(dialog).to_be_visible()

    page.get_by_label("Key", exact=True).fill("s3cret-key")
    page.get_by_role("button", name="Use key").click()
    expect(dialog).to_be_hidden()
    page.locator("html[data-ready='true']").wait_for(state="attached")
    expect(page.locator("#model option")).to_have_count(2)
    assert page.evaluate("() => sessionStorage.getItem('aichats.apiKey')") == "s3cret-key"
    assert page.evaluate("() => localStorage.getItem('aichats.apiKey')") is None
    send(page, "Hi")
    wait_for_answer(page)
    assert answer_text(page) == "Hello from the AiChats emulator! You said: Hi"

    page.reload()
    page.locator("html[data-ready='true']").wait_for(state="attached")
    expect(dialog).to_be_hidden()  # the tab kept the key
    expect(page.locator(".history-item")).to_have_count(1)

    other_tab = context.browser.new_context()  # type: ignore[union-attr]
    try:
        fresh = other_tab.new_page()
        fresh.goto(url + "/")
        expect(fresh.locator("#key-dialog")).to_be_visible()  # session storage is per tab
    finally:
        other_tab.close()
