"""The chat page in a real browser: it loads under its CSP, streams an answer as it arrives,
stops one mid-stream (and the server stops the provider), and shows an image inline."""

from __future__ import annotations

import re
import time

from browser_site import Site, answer_text, emulator_calls, load, send, wait_for_answer, wait_until
from playwright.sync_api import Page, expect

from providers.aichats.emulator import AiChatsEmulator, Script

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
WORDS = "Alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike"


def test_the_page_loads_under_its_csp_with_the_models_and_their_health(
    page: Page, url: str
) -> None:
    response = page.goto(url + "/")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    page.locator("html[data-ready='true']").wait_for(state="attached")

    expect(page).to_have_title("aichats")
    options = page.locator("#model option")
    assert options.evaluate_all("all => all.map(o => o.value)") == [
        "aichats/gpt-4",
        "aichats/dalle",
    ]
    expect(page.locator("#model")).to_have_value("aichats/gpt-4")
    expect(page.locator("#health-text")).to_have_text("unknown")  # nothing measured yet
    expect(page.locator("#prompt")).to_be_focused()
    expect(page.locator("#log")).to_have_attribute("role", "log")
    expect(page.locator("#log")).to_have_attribute("aria-live", "polite")
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    expect(page.locator("#history-empty")).to_have_text("No conversations yet.")


def test_an_answer_streams_in_as_it_arrives_and_health_is_then_measured(
    page: Page, url: str, upstream: AiChatsEmulator
) -> None:
    upstream.enqueue(Script(text=WORDS, events=5, delay=0.3))
    load(page, url)
    send(page, "Spell the alphabet")

    expect(page.locator(".message.user")).to_have_text("You: Spell the alphabet")
    expect(page.locator("#stop")).to_be_visible()
    expect(page.locator("#send")).to_be_hidden()
    partial = page.wait_for_function(
        """full => {
            const answer = document.querySelector('.message.assistant .answer');
            const text = answer ? answer.textContent : '';
            return text.length > 0 && text.length < full.length && full.startsWith(text) && text;
        }""",
        arg=WORDS,
    ).json_value()
    assert WORDS.startswith(partial)
    assert len(partial) < len(WORDS)

    wait_for_answer(page)
    assert answer_text(page) == WORDS
    expect(page.locator(".message.assistant .meta")).to_have_text("answered by aichats · gpt-4")
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#prompt")).to_be_focused()
    expect(page.locator("#prompt")).to_have_value("")
    expect(page.locator("#health")).to_have_attribute("data-status", "ok")
    expect(page.locator("#health-text")).to_have_text(re.compile(r"^ok 100% · \d+ ms$"))
    expect(page.locator(".history-item")).to_have_count(1)
    expect(page.locator(".history-item")).to_have_attribute("aria-current", "true")


def test_shift_enter_adds_a_line_and_enter_sends_both(
    page: Page, url: str, upstream: AiChatsEmulator
) -> None:
    load(page, url)
    box = page.locator("#prompt")
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    assert emulator_calls(upstream) == []
    box.press("Enter")
    wait_for_answer(page)
    assert emulator_calls(upstream)[-1]["messagesHistory"][-1]["content"] == (
        "first line\nsecond line"
    )


def _recorded_turn(site: Site, conversation: str) -> dict[str, object]:
    turns: list[dict[str, object]] = []

    def recorded() -> bool:
        status, body = site.api(f"/v1/aichats/conversations/{conversation}")
        turns[:] = body.get("turns", []) if status == 200 else []
        return bool(turns)

    assert wait_until(recorded), "the stopped turn was not recorded"
    return turns[-1]


def test_stop_cancels_the_answer_the_server_stops_the_provider_and_the_text_stays(
    page: Page, url: str, upstream: AiChatsEmulator, site: Site
) -> None:
    upstream.enqueue(Script(text=WORDS, events=13, delay=0.25))  # 3.25 s in all
    load(page, url)
    sent = time.monotonic()
    send(page, "Talk slowly")
    page.wait_for_function(
        "() => (document.querySelector('.message.assistant .answer')?.textContent || '').length > 8"
    )
    page.locator("#stop").click()
    stopped = time.monotonic()

    expect(page.locator(".message.assistant .note")).to_have_text(
        "Stopped; the partial answer is kept."
    )
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#send")).to_be_visible()
    shown = answer_text(page)
    assert 8 < len(shown) < len(WORDS)
    assert WORDS.startswith(shown)

    # The server saw the page leave and closed the provider's stream, long before its end.
    assert wait_until(lambda: upstream.open_streams == 0, within=2.0)
    assert time.monotonic() - sent < 3.0
    conversation = page.locator(".history-item").first.get_attribute("data-id")
    assert conversation
    turn = _recorded_turn(site, conversation)
    assert turn["status"] == "interrupted"
    recorded = str(turn["answer"])
    assert recorded.startswith(shown)
    assert WORDS.startswith(recorded)
    assert recorded != WORDS
    time.sleep(max(0.0, 0.6 - (time.monotonic() - stopped)))
    assert answer_text(page) == shown  # nothing arrived after Stop


def test_escape_stops_an_answer_too(page: Page, url: str, upstream: AiChatsEmulator) -> None:
    upstream.enqueue(Script(text=WORDS, events=13, delay=0.25))
    load(page, url)
    send(page, "Talk slowly")
    page.wait_for_function(
        "() => (document.querySelector('.message.assistant .answer')?.textContent || '').length > 0"
    )
    page.keyboard.press("Escape")
    expect(page.locator(".message.assistant .note")).to_have_text(
        "Stopped; the partial answer is kept."
    )
    assert wait_until(lambda: upstream.open_streams == 0, within=2.0)
    assert len(answer_text(page)) < len(WORDS)


def test_an_image_model_shows_the_image_inline_with_a_download_link(
    page: Page, url: str, upstream: AiChatsEmulator
) -> None:
    load(page, url)
    page.locator("#model").select_option("aichats/dalle")
    send(page, "a red square")
    image = page.locator(".message.assistant img")
    expect(image).to_be_visible()
    wait_for_answer(page)
    source = image.get_attribute("src") or ""
    assert source.startswith("data:image/png;base64,")
    assert image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [
        True,
        64,
        64,
    ]  # the emulator's PNG, decoded by the browser
    expect(image).to_have_attribute("alt", "a red square")
    link = page.get_by_role("link", name="Download image")
    expect(link).to_have_attribute("href", source)
    expect(link).to_have_attribute("download", "aichats-image.png")
    assert emulator_calls(upstream)[-1]["type"] == "image"
    expect(page.locator(".message.assistant .meta")).to_have_text("answered by aichats · dalle")


def test_an_image_turn_in_the_history_says_the_image_is_not_kept(
    page: Page, url: str, upstream: AiChatsEmulator
) -> None:
    load(page, url)
    page.locator("#model").select_option("aichats/dalle")
    send(page, "a blue square")
    wait_for_answer(page)
    page.reload()
    page.locator("html[data-ready='true']").wait_for(state="attached")
    page.locator("#model").select_option("aichats/gpt-4")
    page.locator(".history-open").click()
    expect(page.locator(".message.user")).to_have_text("You: a blue square")
    # The history stores "[image image/png]", not the bytes: the page says so.
    expect(page.locator(".message.assistant .note")).to_have_text(
        "An image (image/png) was made here; the history does not keep images."
    )
    expect(page.locator("#model")).to_have_value("aichats/dalle")  # the conversation's model


def test_an_image_answered_as_a_url_is_shown_from_this_server(page: Page, site: Site) -> None:
    import io

    from aiohttp import web
    from PIL import Image

    from aichats_core import ImageResponse
    from aichats_core.testing import ScriptedProvider, registered

    picture = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(picture, format="PNG")

    async def serve_png(request: web.Request) -> web.Response:
        return web.Response(body=picture.getvalue(), content_type="image/png")

    async def elsewhere() -> str:  # another origin, which the page's CSP does not allow
        app = web.Application()
        app.router.add_get("/red.png", serve_png)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site._runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    origin = site.thread.run(elsewhere())
    drawer = ScriptedProvider.script(
        ImageResponse(images=[f"{origin}/red.png"]),
        name="Drawer",
        options={"base_url": None},
        models=["draw"],
        default_model="draw",
        image_models=["draw"],
    )
    with registered("drawer", drawer):
        url = site.serve(provider_options={"drawer": {"base_url": origin}})
        load(page, url)
        page.locator("#model").select_option("drawer/draw")
        send(page, "a red rectangle")
        image = page.locator(".message.assistant img")
        expect(image).to_be_visible()
        wait_for_answer(page)
        source = image.get_attribute("src") or ""
        assert source.startswith("/v1/images/files/")  # kept by the server, same origin
        assert image.evaluate("img => [img.complete, img.naturalWidth]") == [True, 8]
        link = page.get_by_role("link", name="Download image")
        expect(link).to_have_attribute("href", source)
