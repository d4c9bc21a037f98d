"""Proxies over real sockets: every request of a call uses them; credentials go nowhere else.

The proxy is the recording forward proxy of ``forward_proxy.py``; the service is the emulator.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import pytest
from forward_proxy import ForwardProxy

import aichats_core
from aichats_core import Client, TextChunk
from aichats_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
)
from aichats_core.http import HttpSession, ProxySettings
from providers.aichats.emulator import AiChatsEmulator, Script

SECRET = "s3cret"
TOKEN = base64.b64encode(f"user:{SECRET}".encode()).decode()


def routed(proxy: ForwardProxy) -> list[tuple[str, str]]:
    """(method, path) of each request the proxy forwarded, dropping the scheme and host."""
    return [(r.method, "/" + r.url.split("/", 3)[3]) for r in proxy.requests]


async def draw_and_chat(emulator: AiChatsEmulator, **options: Any) -> None:
    text = await aichats_core.complete("aichats", "hi", base_url=emulator.url, **options)
    assert text.endswith("You said: hi")
    uri = await aichats_core.complete(
        "aichats", "a cat", model="dalle", base_url=emulator.url, **options
    )
    assert uri.startswith("data:image/png;base64,")


def assert_went_through(proxy: ForwardProxy, emulator: AiChatsEmulator) -> None:
    image_path = emulator.requests[-1].path
    assert image_path.startswith("/images/")
    assert routed(proxy) == [
        ("POST", "/chat/send2/"),
        ("POST", "/chat/send2/"),
        ("GET", image_path),
    ]
    assert all(r.url.startswith(emulator.url + "/") for r in proxy.requests)  # absolute-form


async def test_the_proxy_option_carries_the_chat_and_the_image_download(
    emulator: AiChatsEmulator, forward_proxy: ForwardProxy
) -> None:
    await draw_and_chat(emulator, proxy=forward_proxy.url)
    assert_went_through(forward_proxy, emulator)


async def test_text_still_streams_through_the_proxy(
    emulator: AiChatsEmulator, forward_proxy: ForwardProxy
) -> None:
    emulator.script = Script(text="first second third", events=3, stall_after=1, stall_for=30)
    started = time.perf_counter()
    async with aichats_core.stream(
        "aichats", "x", base_url=emulator.url, proxy=forward_proxy.url
    ) as events:
        first = await anext(events)
    assert isinstance(first, TextChunk)
    assert first.text.strip() == "first"
    assert time.perf_counter() - started < 5  # not held back until the stalled body ends
    assert routed(forward_proxy) == [("POST", "/chat/send2/")]


async def test_http_proxy_from_the_environment_carries_both_requests(
    emulator: AiChatsEmulator, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    await draw_and_chat(emulator)
    assert_went_through(forward_proxy, emulator)


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost", "127.0.0.0/8", "other.example,*"])
async def test_no_proxy_bypasses_the_environment_proxy(
    emulator: AiChatsEmulator,
    forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
    no_proxy: str,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    await draw_and_chat(emulator)
    assert forward_proxy.requests == []
    assert len(emulator.requests) == 3


async def test_no_proxy_for_another_host_or_port_does_not_bypass(
    emulator: AiChatsEmulator, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.com, 127.0.0.1:1, [::1]")
    await draw_and_chat(emulator)
    assert_went_through(forward_proxy, emulator)


async def test_the_option_wins_over_no_proxy(
    emulator: AiChatsEmulator, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")
    await draw_and_chat(emulator, proxy=forward_proxy.url)
    assert_went_through(forward_proxy, emulator)


async def test_a_client_reads_the_environment_once_when_its_session_starts(
    emulator: AiChatsEmulator, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with Client(base_url=emulator.url) as client:
        monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
        await client.complete("aichats", "x")
    assert forward_proxy.requests == []
    async with Client(base_url=emulator.url) as client:
        await client.complete("aichats", "x")
    assert routed(forward_proxy) == [("POST", "/chat/send2/")]


async def test_proxy_credentials_are_sent_to_the_proxy_only(emulator: AiChatsEmulator) -> None:
    async with ForwardProxy(credentials=("user", SECRET)) as proxy:
        await draw_and_chat(emulator, proxy=proxy.url_with("user", SECRET))
    assert_went_through(proxy, emulator)
    assert {r.proxy_authorization for r in proxy.requests} == {f"Basic {TOKEN}"}
    assert not any(SECRET in r.url for r in proxy.requests)


def assert_no_secret(text: str) -> None:
    assert SECRET not in text
    assert TOKEN not in text


def assert_error_hides_the_secret(error: BaseException) -> None:
    assert_no_secret(str(error))
    assert_no_secret(repr(error))
    if isinstance(error, ProviderError):
        assert_no_secret(error.detail)


async def test_a_proxy_refusing_the_credentials_is_a_407_without_them(
    emulator: AiChatsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with ForwardProxy(credentials=("user", "other")) as proxy:
        with pytest.raises(ProviderHTTPError) as caught:
            await aichats_core.complete(
                "aichats", "x", base_url=emulator.url, proxy=proxy.url_with("user", SECRET)
            )
    assert caught.value.status == 407
    assert "proxy" in str(caught.value)
    assert_error_hides_the_secret(caught.value)
    assert emulator.requests == []
    for record in caplog.records:
        assert_no_secret(record.getMessage())


async def test_a_proxy_that_is_down_is_a_connection_error_without_the_credentials(
    unused_tcp_port: int, emulator: AiChatsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    proxy = f"http://user:{SECRET}@127.0.0.1:{unused_tcp_port}"
    with pytest.raises(ProviderConnectionError, match="cannot connect to the proxy") as caught:
        await aichats_core.complete("aichats", "x", base_url=emulator.url, proxy=proxy)
    assert_error_hides_the_secret(caught.value)
    assert caught.value.__cause__ is not None
    assert_no_secret(str(caught.value.__cause__))
    for record in caplog.records:
        assert_no_secret(record.getMessage())


async def test_a_working_proxied_call_logs_no_credentials(
    emulator: AiChatsEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with ForwardProxy(credentials=("user", SECRET)) as proxy:
        await draw_and_chat(emulator, proxy=proxy.url_with("user", SECRET))
    for record in caplog.records:
        assert_no_secret(record.getMessage())


async def test_reprs_hide_proxy_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = f"http://user:{SECRET}@127.0.0.1:3128"
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    async with HttpSession("acme", proxy=proxy) as http:
        assert "***@127.0.0.1:3128" in repr(http)
        assert_no_secret(repr(http))
    assert_no_secret(repr(ProxySettings.from_environment()))
    async with Client(proxy=proxy) as client:
        assert_no_secret(repr(client))


@pytest.mark.parametrize(
    ("proxy", "complaint"),
    [
        (f"user:{SECRET}@127.0.0.1:3128", "is not a URL such as"),
        (f"socks5://user:{SECRET}@127.0.0.1:1080", "scheme 'socks5'"),
        (f"http://user:{SECRET}@127.0.0.1:99999", "is not a valid URL"),
        (f"http://user:{SECRET}@/", "names no host"),
    ],
)
async def test_an_unusable_proxy_option_is_refused_without_quoting_it(
    emulator: AiChatsEmulator, proxy: str, complaint: str
) -> None:
    with pytest.raises(InvalidRequestError, match=complaint) as caught:
        await aichats_core.complete("aichats", "x", base_url=emulator.url, proxy=proxy)
    assert "proxy option" in str(caught.value)
    assert_error_hides_the_secret(caught.value)
    assert emulator.requests == []


async def test_an_unusable_environment_proxy_names_the_variable(
    emulator: AiChatsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"socks5h://user:{SECRET}@127.0.0.1:1080")
    with pytest.raises(InvalidRequestError, match="HTTP_PROXY") as caught:
        await aichats_core.complete("aichats", "x", base_url=emulator.url)
    assert_error_hides_the_secret(caught.value)
