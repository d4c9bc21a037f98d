from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

import aichats_core
from aichats_core import Client, Finish, ImageResponse, TextChunk
from aichats_core.errors import (
    InvalidOptionError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from providers.aichats import AiChats
from providers.aichats.emulator import AiChatsEmulator, Script, reply_fragments


async def events_of(emulator: AiChatsEmulator, messages: Any, **options: Any) -> list[Any]:
    stream = aichats_core.stream("aichats", messages, base_url=emulator.url, **options)
    return [event async for event in stream]


def text_of(events: list[Any]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextChunk))


def test_class_attributes_follow_the_contract() -> None:
    assert AiChats.url == "https://ai-chats.org"
    assert AiChats.api_endpoint == "https://ai-chats.org/chat/send2/"
    assert AiChats.working is False
    assert AiChats.supports_message_history is True
    assert AiChats.default_model == "gpt-4"
    assert AiChats.models == ["gpt-4", "dalle"]
    assert AiChats.image_models == ["dalle"]
    assert AiChats.endpoints(None) == (AiChats.url, AiChats.api_endpoint)
    assert AiChats.endpoints("http://127.0.0.1:8765/") == (
        "http://127.0.0.1:8765",
        "http://127.0.0.1:8765/chat/send2/",
    )


async def test_a_single_message_is_sent_verbatim_with_browser_headers(
    emulator: AiChatsEmulator,
) -> None:
    events = await events_of(emulator, "Hello there")
    [request] = emulator.requests
    assert (request.method, request.path) == ("POST", "/chat/send2/")
    assert request.json == {
        "type": "chat",
        "messagesHistory": [{"from": "you", "content": "Hello there"}],
    }
    expected = {
        "Accept": "application/json, text/event-stream",
        "Accept-Language": "en-US,en;q=0.9",
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        "Content-Type": "application/json",
        "Origin": emulator.url,
        "Referer": f"{emulator.url}/chat/",
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin",
        "Sec-CH-UA-Mobile": "?0",
        "Sec-CH-UA-Platform": '"Windows"',
    }
    for name, value in expected.items():
        assert request.header(name) == value, name
    assert '"Chromium";v="131"' in (request.header("Sec-CH-UA") or "")
    assert "Chrome/131.0.0.0" in (request.header("User-Agent") or "")
    assert text_of(events) == "Hello from the AiChats emulator! You said: Hello there"
    assert events[-1] == Finish(provider="aichats", model="gpt-4", options=["base_url"])


async def test_a_history_is_flattened_into_role_lines(emulator: AiChatsEmulator) -> None:
    await events_of(
        emulator,
        [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Colour?"},
        ],
    )
    prompt = emulator.requests[0].json["messagesHistory"][0]["content"]
    assert prompt == "System: Be terse.\nUser: Hi\nAssistant: Hello.\nUser: Colour?\nAssistant:"


async def test_text_streams_in_events_and_joins_exactly(emulator: AiChatsEmulator) -> None:
    text = " leading space,\nmulti-line\n\nand trailing  "
    emulator.script = Script(text=text, events=7)
    events = await events_of(emulator, "x")
    assert text_of(events) == text


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("done_marker", [True, False])
@pytest.mark.parametrize("final_blank_line", [True, False])
async def test_every_sse_framing_the_service_may_use_gives_the_same_text(
    emulator: AiChatsEmulator, line_ending: Any, done_marker: bool, final_blank_line: bool
) -> None:
    emulator.script = Script(
        text="one two\nthree ünïcödé 🚀",
        line_ending=line_ending,
        done_marker=done_marker,
        final_blank_line=final_blank_line,
    )
    assert text_of(await events_of(emulator, "x")) == "one two\nthree ünïcödé 🚀"


async def test_text_reaches_the_caller_before_the_stream_ends(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(text="first second third", events=3, stall_after=1, stall_for=30)
    started = time.perf_counter()
    async with aichats_core.stream("aichats", "x", base_url=emulator.url) as events:
        first = await anext(events)
        waited = time.perf_counter() - started
    assert isinstance(first, TextChunk)
    assert first.text.strip() == "first"
    assert waited < 5  # the server is still silent for 30 s: this text did not wait for the end


async def test_events_arriving_separately_are_delivered_separately(
    emulator: AiChatsEmulator,
) -> None:
    emulator.script = Script(text="a b c d", events=4, delay=0.05)
    chunks = [e.text for e in await events_of(emulator, "x") if isinstance(e, TextChunk)]
    assert len(chunks) == 4
    assert "".join(chunks) == "a b c d"


async def test_a_site_cookie_is_kept_and_user_cookies_are_sent(emulator: AiChatsEmulator) -> None:
    async with Client(base_url=emulator.url) as client:
        await client.complete("aichats", "one", cookies="cf_clearance=abc; theme=dark")
        await client.complete("aichats", "two")
    first, second = emulator.requests
    assert first.cookies == {"cf_clearance": "abc", "theme": "dark"}
    assert "ai_chats_session" in second.cookies  # set by the site on the first answer
    assert "cf_clearance" not in second.cookies  # a call's cookies are not kept for others


async def test_no_captured_cookie_is_hard_coded(emulator: AiChatsEmulator) -> None:
    await events_of(emulator, "x")
    assert emulator.requests[0].header("Cookie") is None


@pytest.mark.parametrize(("image_format", "mime"), [("png", "image/png"), ("jpeg", "image/jpeg")])
async def test_dalle_downloads_the_image_as_a_data_uri(
    emulator: AiChatsEmulator, image_format: Any, mime: str
) -> None:
    emulator.script = Script(image_format=image_format, image_size=(40, 30))
    events = await events_of(
        emulator,
        [{"role": "user", "content": "ignored"}, {"role": "user", "content": "a red fox"}],
        model="dalle",
    )
    image = events[0]
    assert isinstance(image, ImageResponse)
    assert image.alt == "a red fox"
    api, download = emulator.requests
    assert api.json == {
        "type": "image",
        "messagesHistory": [{"from": "you", "content": "a red fox"}],
    }
    assert api.header("Referer") == f"{emulator.url}/image/"
    header, _, payload = image.images[0].partition(",")
    assert header == f"data:{mime};base64"
    decoded = Image.open(io.BytesIO(base64.b64decode(payload)))
    assert decoded.size == (40, 30)
    assert download.method == "GET"
    assert download.path.startswith("/images/")


async def test_create_async_returns_the_image_uri_and_the_text(emulator: AiChatsEmulator) -> None:
    uri = await AiChats.create_async(
        "dalle", [aichats_core.Message(role="user", content="cat")], base_url=emulator.url
    )
    assert uri.startswith("data:image/png;base64,")
    text = await AiChats.create_async(
        "", [aichats_core.Message(role="user", content="hi")], base_url=emulator.url
    )
    assert text.endswith("You said: hi")


async def test_the_image_download_gets_no_site_cookie_on_another_host(
    emulator: AiChatsEmulator,
) -> None:
    emulator.script = Script(image_host="localhost")
    async with Client(base_url=emulator.url) as client:
        await client.complete("aichats", "warm up the site cookie")
        await client.complete("aichats", "a cat", model="dalle", cookies={"cf_clearance": "secret"})
    download = emulator.requests[-1]
    assert download.header("Host", "").startswith("localhost")
    assert download.cookies == {}
    assert emulator.requests[-2].cookies.get("cf_clearance") == "secret"


async def test_http_errors_are_typed_with_status_and_excerpt(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(status=503, error_body='{"error": "overloaded, try later"}')
    with pytest.raises(ProviderHTTPError) as caught:
        await events_of(emulator, "x")
    assert caught.value.status == 503
    assert "overloaded, try later" in str(caught.value)
    assert caught.value.provider == "aichats"  # the registered name, not the class


async def test_rate_limits_carry_retry_after(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(status=429, retry_after=7)
    with pytest.raises(RateLimitError) as caught:
        await events_of(emulator, "x")
    assert caught.value.retry_after == 7


async def test_a_cut_stream_raises_with_the_text_so_far(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(text="one two three four", events=4, disconnect_after=2, delay=0.01)
    with pytest.raises(StreamInterruptedError) as caught:
        await events_of(emulator, "x")
    assert caught.value.partial_text == "".join(reply_fragments("one two three four", 4)[:2])


async def test_a_stall_raises_a_timeout_after_the_first_text(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(text="a b", events=2, stall_after=1, stall_for=30)
    received: list[Any] = []
    with pytest.raises(ProviderTimeoutError, match=r"after 0\.3s"):
        async for event in aichats_core.stream("aichats", "x", base_url=emulator.url, timeout=0.3):
            received.append(event)
    assert [e.text.strip() for e in received] == ["a"]


@pytest.mark.parametrize("malformed", ["json", "no_data", "no_url", "bad_url", "not_image"])
async def test_a_bad_image_answer_is_a_format_error(
    emulator: AiChatsEmulator, malformed: Any
) -> None:
    emulator.script = Script(malformed=malformed)
    with pytest.raises(ResponseFormatError):
        await events_of(emulator, "x", model="dalle")


async def test_a_malformed_event_stream_is_a_format_error(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(malformed="sse")
    with pytest.raises(ResponseFormatError, match="UTF-8"):
        await events_of(emulator, "x")


async def test_an_empty_event_stream_is_an_error_not_an_empty_answer(
    emulator: AiChatsEmulator,
) -> None:
    emulator.script = Script(text="", events=0)
    with pytest.raises(ResponseFormatError, match="empty"):
        await events_of(emulator, "x")


async def test_a_refused_connection_is_a_connection_error(unused_tcp_port: int) -> None:
    with pytest.raises(ProviderConnectionError, match="cannot connect"):
        await aichats_core.complete("aichats", "x", base_url=f"http://127.0.0.1:{unused_tcp_port}")


def test_unknown_options_and_models_are_refused_before_any_network() -> None:
    with pytest.raises(ModelNotSupportedError, match="gpt-4, dalle"):
        aichats_core.stream("aichats", "x", model="gpt-5")


async def test_an_unknown_option_is_refused(emulator: AiChatsEmulator) -> None:
    with pytest.raises(InvalidOptionError, match="no option 'temprature'") as caught:
        await events_of(emulator, "x", temprature=1)
    assert emulator.requests == []
    assert (caught.value.provider, caught.value.option) == ("aichats", "temprature")
    assert "base_url" in caught.value.accepted


async def test_leaving_early_closes_the_connection(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(text="a b c d", events=4, stall_after=1, stall_for=30)
    async with Client(base_url=emulator.url) as client:
        async with client.stream("aichats", "x") as events:
            async for _event in events:
                break
        connector = client.session.connector
        assert connector is not None
        await asyncio.sleep(0)
        assert len(connector._acquired) == 0  # released, not left to the garbage collector


@pytest.mark.parametrize("write_size", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("line_ending", ["\r\n", "\r", "\n"])
async def test_reads_split_at_awkward_bytes_over_a_real_socket(
    emulator: AiChatsEmulator, write_size: int, line_ending: Any
) -> None:
    text = "ünï 🚀 cödé\nline two"
    emulator.script = Script(text=text, events=4, line_ending=line_ending, write_size=write_size)
    assert text_of(await events_of(emulator, "x")) == text


async def test_an_image_over_the_size_limit_is_refused(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(image_bytes=50_000)
    with pytest.raises(ResponseFormatError, match="over the limit of 10000"):
        await events_of(emulator, "x", model="dalle", max_image_bytes=10_000)


async def test_a_slow_image_download_is_bounded_in_time(aiohttp_slow_image_server: str) -> None:
    with pytest.raises(ProviderTimeoutError, match=r"image download timed out \(limits: 0\.3s"):
        await aichats_core.complete(
            "aichats", "x", model="dalle", base_url=aiohttp_slow_image_server, image_timeout=0.3
        )


async def test_an_html_page_instead_of_events_says_so() -> None:
    async def bot_check(request: web.Request) -> web.Response:
        return web.Response(text="<html>Checking your browser...</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/chat/send2/", bot_check)
    async with TestServer(app, host="127.0.0.1") as server:
        with pytest.raises(
            ResponseFormatError, match=r"a bot check or a changed site.*Checking your"
        ):
            await aichats_core.complete("aichats", "x", base_url=str(server.make_url("")))


async def test_an_api_redirect_is_refused_and_carries_no_cookies_elsewhere() -> None:
    seen: list[dict[str, str]] = []

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://localhost:{request.url.port}/elsewhere/")

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(dict(request.cookies))
        return web.Response(text="data: stolen\n\n", content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/chat/send2/", redirect)
    app.router.add_post("/elsewhere/", elsewhere)
    async with TestServer(app, host="127.0.0.1") as server:
        with pytest.raises(
            ProviderHTTPError, match="redirected the call to http://localhost"
        ) as caught:
            await aichats_core.complete(
                "aichats", "x", base_url=str(server.make_url("")), cookies="cf_clearance=SECRET"
            )
    assert caught.value.status == 307
    assert seen == []


async def test_a_json_answer_to_a_chat_is_reported_with_its_content() -> None:
    async def blocked(request: web.Request) -> web.Response:
        return web.json_response({"error": "You have been blocked for abuse"})

    app = web.Application()
    app.router.add_post("/chat/send2/", blocked)
    async with TestServer(app, host="127.0.0.1") as server:
        with pytest.raises(ResponseFormatError, match="You have been blocked for abuse") as caught:
            await aichats_core.complete("aichats", "x", base_url=str(server.make_url("")))
    assert "answered 'application/json; charset=utf-8' instead of text/event-stream" in str(
        caught.value
    )


def test_origin_never_carries_a_path() -> None:
    from providers.aichats._provider import browser_headers

    headers = browser_headers("http://127.0.0.1:8765/prefix", "chat")
    assert headers["Origin"] == "http://127.0.0.1:8765"
    assert headers["Referer"] == "http://127.0.0.1:8765/prefix/chat/"


def test_a_malformed_cookie_is_reported_without_its_value() -> None:
    from providers.aichats._provider import parse_cookies

    with pytest.raises(InvalidRequestError) as caught:
        parse_cookies("good=1; s3cr3t-token-without-equals")
    assert "cookie number 2" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
