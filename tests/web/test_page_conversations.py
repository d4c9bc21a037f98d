"""Conversations in the page: another provider answers when picked, the history survives a
reload and continues with its earlier turns sent, and the sidebar searches and deletes."""

from __future__ import annotations

from browser_site import Site, answer_text, emulator_calls, load, send, wait_for_answer
from playwright.sync_api import Page, expect

from aichats_core.testing import registered
from providers.aichats import AiChats
from providers.aichats.emulator import AiChatsEmulator, Script


def test_switching_provider_gets_the_answer_from_the_one_picked(
    page: Page, site: Site, upstream: AiChatsEmulator
) -> None:
    backup = site.emulator()
    backup.script = Script(text="Answer from the backup provider.")
    with registered("backup", AiChats):
        url = site.serve(
            provider_options={
                "aichats": upstream.provider_options(),
                "backup": backup.provider_options(),
            },
            served_providers=["aichats", "backup"],
        )
        load(page, url)
        expect(page.locator("#model optgroup")).to_have_count(2)
        page.locator("#model").select_option("backup/gpt-4")
        send(page, "Who answers?")
        wait_for_answer(page)

    assert answer_text(page) == "Answer from the backup provider."
    expect(page.locator(".message.assistant .meta")).to_have_text("answered by backup · gpt-4")
    assert [call["messagesHistory"][-1]["content"] for call in emulator_calls(backup)] == [
        "Who answers?"
    ]
    assert emulator_calls(upstream) == []
    expect(page.locator(".history-meta")).to_contain_text("backup")


def test_a_reloaded_conversation_is_in_the_sidebar_and_continues_with_its_history(
    page: Page, url: str, upstream: AiChatsEmulator
) -> None:
    upstream.enqueue(Script(text="Paris is the capital."), Script(text="Rome is."))
    load(page, url)
    send(page, "What is the capital of France?")
    wait_for_answer(page)

    page.reload()
    page.locator("html[data-ready='true']").wait_for(state="attached")
    expect(page.locator(".message")).to_have_count(0)  # a fresh page starts a new chat
    item = page.locator(".history-item")
    expect(item).to_have_count(1)
    expect(item.locator(".history-title")).to_contain_text("What is the capital of France?")
    expect(item.locator(".history-meta")).to_contain_text("aichats · 1 turn")
    item.locator(".history-open").click()

    expect(page.locator(".message.user")).to_have_text("You: What is the capital of France?")
    assert answer_text(page) == "Paris is the capital."
    expect(page.locator(".history-item")).to_have_attribute("aria-current", "true")
    expect(page.locator("#prompt")).to_be_focused()
    send(page, "And of Italy?")
    wait_for_answer(page)

    assert answer_text(page) == "Rome is."
    sent = emulator_calls(upstream)[-1]["messagesHistory"]
    flattened = "\n".join(message["content"] for message in sent)
    assert "What is the capital of France?" in flattened
    assert "Paris is the capital." in flattened  # the earlier answer went to the provider
    assert flattened.index("Paris is the capital.") < flattened.index("And of Italy?")
    expect(page.locator(".history-item")).to_have_count(1)
    expect(page.locator(".history-meta")).to_contain_text("2 turns")


def test_the_sidebar_searches_and_deletes_after_confirmation(
    page: Page, url: str, upstream: AiChatsEmulator, site: Site
) -> None:
    upstream.enqueue(Script(text="Apples are red."), Script(text="Bananas are yellow."))
    load(page, url)
    send(page, "Tell me about apples")
    wait_for_answer(page)
    page.get_by_role("button", name="New chat").click()
    expect(page.locator(".message")).to_have_count(0)
    send(page, "Tell me about bananas")
    wait_for_answer(page)
    expect(page.locator(".history-item")).to_have_count(2)

    page.get_by_label("Search conversations").fill("yellow")  # found in an answer
    expect(page.locator(".history-item")).to_have_count(1)
    banana = page.locator(".history-item")
    expect(banana).to_contain_text("bananas")
    ident = banana.get_attribute("data-id")

    banana.get_by_role("button", name="Delete “Tell me about bananas”").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#delete-cancel")).to_be_focused()
    page.locator("#delete-cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator(".history-item")).to_have_count(1)
    assert site.api(f"/v1/aichats/conversations/{ident}")[0] == 200

    banana.get_by_role("button", name="Delete “Tell me about bananas”").click()
    page.locator("#delete-confirm").click()
    expect(page.locator(".history-item")).to_have_count(0)
    expect(page.locator("#history-empty")).to_have_text("No conversation matches.")
    expect(page.locator(".message")).to_have_count(0)  # the open conversation went with it
    assert site.api(f"/v1/aichats/conversations/{ident}")[0] == 404

    page.get_by_label("Search conversations").fill("")
    expect(page.locator(".history-item")).to_have_count(1)
    expect(page.locator(".history-item")).to_contain_text("apples")


def test_each_answer_shows_its_trail_of_failed_attempts(
    page: Page, site: Site, upstream: AiChatsEmulator
) -> None:
    upstream.enqueue(Script(status=503), Script(text="Second time lucky."))
    url = site.serve(
        provider_options={"aichats": {**upstream.provider_options(), "retries": 1}},
        served_providers=["aichats"],
    )
    load(page, url)
    send(page, "Try twice")
    wait_for_answer(page)
    assert answer_text(page) == "Second time lucky."
    trail = "answered by aichats · gpt-4 after aichats: ProviderHTTPError"
    expect(page.locator(".message.assistant .meta")).to_have_text(trail)
    assert len(emulator_calls(upstream)) == 2

    page.reload()
    page.locator(".history-open").click()
    expect(page.locator(".message.assistant .meta")).to_have_text(trail)  # kept in the history
