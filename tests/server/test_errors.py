"""Every error case, as the official client sees it, and what is on the wire."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aichats_core import AsyncGeneratorProvider, ProviderModelMixin, errors
from aichats_core.server import _chat, _openai
from aichats_core.server._errors import from_aichats
from aichats_core.server._middlewares import began, errors_middleware
from aichats_core.testing import ScriptedProvider, registered
from aichats_core.types import Messages
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

StartServer = Callable[..., Awaitable[str]]
HELLO = [{"role": "user", "content": "Hi"}]
CHAT = {"model": "aichats", "messages": HELLO, "stream": True}


@pytest.mark.parametrize(
    ("request_fields", "param"),
    [
        ({"model": "aichats/dalle"}, "model"),
        ({"n": 9}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"temperature": "hot"}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"stream_options": {"include_usage": True}}, "stream_options"),
        ({"stream": False, "stream_options": {"include_usage": True}}, "stream_options"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": []}, "messages"),
        # AiChats declares no capabilities: the core refuses, naming the provider.
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, "messages"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,"}},
                        ],
                    }
                ]
            },
            "messages",
        ),
    ],
)
async def test_what_aichats_cannot_do_is_a_400_naming_the_field(
    client: AsyncOpenAI, request_fields: dict[str, Any], param: str
) -> None:
    fields: dict[str, Any] = {"model": "aichats/gpt-4", "messages": HELLO, **request_fields}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(**fields)
    assert (caught.value.status_code, caught.value.param) == (400, param)
    assert caught.value.type == "invalid_request_error"


async def test_a_chat_with_an_image_model_points_to_the_images_endpoint(
    client: AsyncOpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError, match="/v1/images/generations"):
        await client.chat.completions.create(model="aichats/dalle", messages=HELLO)


async def test_an_unknown_model_is_404(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="aichats/gpt-5", messages=HELLO)
    assert (caught.value.code, caught.value.param) == ("model_not_found", "model")
    assert "available models: aichats/gpt-4, aichats/dalle" in caught.value.message


async def test_an_upstream_rate_limit_is_429_with_retry_after(
    client: AsyncOpenAI, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(status=429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="aichats", messages=HELLO)
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "rate_limit_error"
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["message"] == "provider 'aichats' is rate limiting; retry after 7s"


async def test_the_sdk_retries_a_rate_limit_as_told(
    base_url: str, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(status=429, retry_after=0.05), Script(status=429, retry_after=0.05))
    async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=2, timeout=10) as sdk:
        answer = await sdk.chat.completions.create(model="aichats", messages=HELLO)
    assert answer.choices[0].message.content == default_reply("Hi")
    assert len(emulator.requests) == 3


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_failure_before_any_byte_is_a_502(
    client: AsyncOpenAI,
    emulator: AiChatsEmulator,
    caplog: pytest.LogCaptureFixture,
    stream: bool,
) -> None:
    emulator.enqueue(Script(status=500, error_body='{"detail": "upstream exploded"}'))
    with (
        caplog.at_level(logging.WARNING, "aichats_core.server"),
        pytest.raises(openai.InternalServerError) as caught,
    ):
        await client.chat.completions.create(model="aichats", messages=HELLO, stream=stream)
    error = caught.value
    assert (error.status_code, error.type, error.code) == (502, "api_error", "upstream_error")
    # What the upstream said, and where it is, are the server's business only: in its log.
    assert error.body["message"] == "provider 'aichats' answered HTTP 500"
    assert "upstream exploded" in caplog.text
    assert emulator.url in caplog.text
    assert "Traceback" not in caplog.text  # an expected failure: one line


async def test_an_upstream_timeout_is_a_504(
    start_server: StartServer, emulator: AiChatsEmulator
) -> None:
    base_url = await start_server(
        provider_options={"aichats": {**emulator.provider_options(), "timeout": 0.2}}
    )
    emulator.enqueue(Script(text="late", events=1, stall_after=0, stall_for=5))
    async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10) as sdk:
        with pytest.raises(openai.InternalServerError) as caught:
            await sdk.chat.completions.create(model="aichats", messages=HELLO)
    assert (caught.value.status_code, caught.value.code) == (504, "upstream_timeout")
    assert caught.value.body["message"] == "provider 'aichats' timed out"


async def test_authentication(start_server: StartServer) -> None:
    base_url = await start_server(api_key="s3cret")
    async with AsyncOpenAI(base_url=base_url, api_key="wrong", max_retries=0, timeout=10) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list()
        assert (caught.value.status_code, caught.value.code) == (401, "invalid_api_key")
    async with AsyncOpenAI(base_url=base_url, api_key="s3cret", max_retries=0, timeout=10) as sdk:
        answer = await sdk.chat.completions.create(model="aichats", messages=HELLO)
        assert answer.choices[0].message.content == default_reply("Hi")


async def test_a_body_over_the_limit_is_413(start_server: StartServer) -> None:
    base_url = await start_server(max_body_bytes=2_000)
    async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10) as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(
                model="aichats", messages=[{"role": "user", "content": "x" * 5_000}]
            )
    assert (caught.value.status_code, caught.value.code) == (413, "request_too_large")
    assert "2000 bytes" in caught.value.message


async def test_an_unexpected_failure_is_500_and_its_traceback_stays_in_the_log(
    client: AsyncOpenAI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(_chat, "resolve", explode)
    with (
        caplog.at_level(logging.ERROR, "aichats_core.server"),
        pytest.raises(openai.InternalServerError) as caught,
    ):
        await client.chat.completions.create(model="aichats", messages=HELLO)
    assert caught.value.status_code == 500
    assert caught.value.body == {
        "message": "internal error",
        "type": "server_error",
        "param": None,
        "code": "internal_error",
    }
    assert "secret internals" in caplog.text
    assert "Traceback" in caplog.text


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/chat/completions", b"{not json", 400, "invalid_request"),
        ("POST", "/chat/completions", b"\xff\xfe", 400, "invalid_request"),
        ("POST", "/chat/completions", b"[1, 2]", 400, "invalid_request"),
        ("POST", "/chat/completions", b'{"messages": []}', 400, "invalid_request"),
        ("GET", "/chat/completions", b"", 405, "method_not_allowed"),
        ("GET", "/nothing/here", b"", 404, "unknown_url"),
        ("GET", "/images/files/unknown.png", b"", 404, "image_not_found"),
    ],
)
async def test_malformed_requests_get_json_errors_without_tracebacks(
    base_url: str,
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: bytes,
    status: int,
    code: str,
) -> None:
    headers = {"Content-Type": "application/json"} if method == "POST" else {}
    async with http.request(method, base_url + path, data=body, headers=headers) as response:
        text = await response.text()
        assert response.status == status
        assert response.content_type == "application/json"
        payload = await response.json()
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    assert payload["error"]["code"] == code
    assert "Traceback" not in text
    assert 'File "' not in text


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"),
    [
        (errors.ProviderNotFoundError("x"), 404, "invalid_request_error", "model_not_found"),
        (
            errors.ModelNotSupportedError("p", "m", ["a"]),
            404,
            "invalid_request_error",
            "model_not_found",
        ),
        (errors.InvalidRequestError("bad"), 400, "invalid_request_error", "invalid_request"),
        (
            errors.InvalidOptionError("P", "timout", ["timeout"], "P: unknown option(s) 'timout'"),
            500,
            "server_error",
            "server_misconfigured",
        ),
        (
            errors.RateLimitError("P", retry_after=1.5),
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (errors.ProviderTimeoutError("P", "slow"), 504, "api_error", "upstream_timeout"),
        (errors.ProviderConnectionError("P", "refused"), 502, "api_error", "upstream_error"),
        (errors.ResponseFormatError("P", "garbage"), 502, "api_error", "upstream_error"),
        (errors.StreamInterruptedError("P", "cut"), 502, "api_error", "upstream_error"),
        (
            errors.AllProvidersFailedError([("P", errors.ProviderConnectionError("P", "refused"))]),
            502,
            "api_error",
            "upstream_error",
        ),
        (
            errors.PluginLoadError("p", distribution="d", cause="ImportError"),
            503,
            "api_error",
            "provider_unavailable",
        ),
        (errors.AiChatsError("?"), 500, "server_error", "internal_error"),
    ],
)
def test_the_error_mapping(error: errors.AiChatsError, status: int, kind: str, code: str) -> None:
    mapped = from_aichats(error)
    assert (mapped.status, mapped.type, mapped.code) == (status, kind, code)
    if isinstance(error, errors.RateLimitError):
        assert mapped.headers["Retry-After"] == "2"
        assert mapped.headers["retry-after-ms"] == "1500"
    if isinstance(error, errors.ResponseFormatError | errors.PluginLoadError):
        assert mapped.headers["x-should-retry"] == "false"  # a retry repeats the same failure


SECRET = "10.1.2.3:4455 and KeyError('api-token')"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (errors.ProviderConnectionError("P", f"connecting to {SECRET}"), "could not be reached"),
        (errors.ProviderHTTPError("P", 503, SECRET, url=SECRET), "answered HTTP 503"),
        (errors.ProviderTimeoutError("P", f"no answer from {SECRET}"), "timed out"),
        (errors.RateLimitError("P", SECRET, retry_after=2), "is rate limiting; retry after 2s"),
        (errors.RateLimitError("P", SECRET), "is rate limiting"),
        (
            errors.StreamInterruptedError("P", SECRET),
            "stopped before the answer was complete",
        ),
        (
            errors.ResponseFormatError("P", SECRET),
            "answered something this server cannot read (see the server log)",
        ),
        (errors.ProviderContractError("P", SECRET), "failed (see the server log)"),
        (errors.ProviderError("P", SECRET), "failed (see the server log)"),
    ],
)
def test_clients_get_a_fixed_message_and_the_log_gets_the_detail(
    error: errors.ProviderError, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "aichats_core.server"):
        mapped = from_aichats(error)
    assert mapped.message == f"provider 'P' {message}"
    assert SECRET in caplog.text


async def test_an_unreachable_provider_is_named_but_not_its_address(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there
    base_url = await start_server(provider_options={"aichats": {"base_url": f"http://{address}"}})
    async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10) as sdk:
        with (
            caplog.at_level(logging.WARNING, "aichats_core.server"),
            pytest.raises(openai.InternalServerError) as caught,
        ):
            await sdk.chat.completions.create(model="aichats", messages=HELLO)
    assert caught.value.body["message"] == "provider 'aichats' could not be reached"
    assert address in caplog.text


class Buggy(AsyncGeneratorProvider, ProviderModelMixin):
    """A plugin with a bug after its first piece of text."""

    url = "https://buggy.invalid"
    default_model = "m"
    models: ClassVar[list[str]] = ["m"]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        yield "partial "
        raise KeyError("internal-secret-detail")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_plugins_bug_is_logged_with_its_traceback_and_not_shown(
    base_url: str, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture, stream: bool
) -> None:
    body = {"model": "buggy/m", "messages": HELLO, "stream": stream}
    with registered("buggy", Buggy), caplog.at_level(logging.WARNING, "aichats_core.server"):
        async with http.post(base_url + "/chat/completions", json=body) as response:
            text = await response.text()
    assert "internal-secret-detail" not in text
    last = text.strip().split("\n\n")[-1].removeprefix("data: ")
    error = json.loads(last)["error"]
    assert error["message"] == "provider 'buggy' failed (see the server log)"
    assert error["code"] == "upstream_error"
    assert "internal-secret-detail" in caplog.text
    assert "Traceback" in caplog.text  # a plugin's bug: its authors need the traceback


async def test_a_provider_refusing_the_servers_options_is_a_misconfiguration(
    start_server: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    picky = ScriptedProvider.script(
        error=errors.InvalidOptionError("picky", "colour", [], "picky: unknown option(s) 'colour'"),
        error_after=0,
        options={"colour": None},  # declared, so that the refusal comes from the call
    )
    with registered("picky", picky):
        base_url = await start_server(provider_options={"picky": {"colour": "red"}})
        async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10) as sdk:
            with (
                caplog.at_level(logging.ERROR, "aichats_core.server"),
                pytest.raises(openai.InternalServerError) as caught,
            ):
                await sdk.chat.completions.create(model="picky", messages=HELLO)
    assert (caught.value.status_code, caught.value.code) == (500, "server_misconfigured")
    assert caught.value.body["message"].startswith("server misconfigured:")
    assert "colour" not in caught.value.body["message"]
    assert "unknown option(s) 'colour'" in caplog.text


async def test_a_server_bug_mid_stream_ends_the_stream_in_band(
    start_server: StartServer,
    emulator: AiChatsEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base_url = await start_server()
    emulator.enqueue(Script(text="a b c", events=3, delay=0.01))
    real, calls = _openai.chunk, []

    def flaky(*args: Any, **kwargs: Any) -> dict[str, Any]:
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("bug while formatting")
        return real(*args, **kwargs)

    monkeypatch.setattr(_openai, "chunk", flaky)
    port = int(base_url.split(":")[-1].split("/")[0])
    with caplog.at_level(logging.ERROR, "aichats_core.server"):
        raw = await raw_request(port, "POST", "/v1/chat/completions", json.dumps(CHAT).encode())
    # One response: its status line, then the stream, ending with the error and no [DONE].
    assert raw.count(b"HTTP/1.1 ") == 1
    assert raw.startswith(b"HTTP/1.1 200 OK")
    events = [line for line in raw.split(b"\r\n") if line.startswith(b"data: ")]
    error = json.loads(events[-1].removeprefix(b"data: "))["error"]
    assert (error["message"], error["code"]) == ("internal error", "internal_error")
    assert b"[DONE]" not in raw
    assert "bug while formatting" in caplog.text
    assert "Traceback" in caplog.text


async def test_the_error_middleware_never_answers_twice(http: aiohttp.ClientSession) -> None:
    async def half(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        began(response)
        await response.prepare(request)
        await response.write(b"begun")
        raise RuntimeError("after the status line")

    app = web.Application(middlewares=[errors_middleware])
    app.router.add_get("/half", half)
    async with TestServer(app, host="127.0.0.1") as server:
        raw = await raw_request(server.port, "GET", "/half")
    assert raw.count(b"HTTP/1.1 ") == 1
    assert raw.startswith(b"HTTP/1.1 200 OK")
    assert b"begun" in raw
    assert b"internal error" not in raw


async def raw_request(
    port: int, method: str, path: str, body: bytes = b"", headers: bytes = b""
) -> bytes:
    """Bytes on the wire, for what an HTTP client would hide (two responses, bad headers)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + headers
            + b"\r\n"
            + body
        )
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
