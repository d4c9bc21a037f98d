"""Every error case, as the official client sees it, and what is on the wire."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from aichats_core import errors
from aichats_core.server import _chat
from aichats_core.server._errors import from_aichats
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

StartServer = Callable[..., Awaitable[str]]
HELLO = [{"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(
    ("request_fields", "param"),
    [
        ({"model": "aichats/dalle"}, "model"),
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        ({"temperature": "hot"}, "temperature"),
        ({"stream": "yes"}, "stream"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "1"}]}, "messages[0].role"),
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
            "messages[0].content[1]",
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
    assert "'AiChats' is rate limiting" in caught.value.message


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
    client: AsyncOpenAI, emulator: AiChatsEmulator, stream: bool
) -> None:
    emulator.enqueue(Script(status=500, error_body='{"detail": "upstream exploded"}'))
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="aichats", messages=HELLO, stream=stream)
    error = caught.value
    assert (error.status_code, error.type, error.code) == (502, "api_error", "upstream_error")
    assert error.body["message"].startswith("provider 'AiChats' failed: HTTP 500")
    assert "upstream exploded" in error.message
    assert emulator.url not in error.message  # the upstream's address is none of its business


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
    async with http.request(method, base_url + path, data=body) as response:
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
            errors.RateLimitError("P", retry_after=1.5),
            429,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (errors.ProviderTimeoutError("P", "slow"), 504, "api_error", "upstream_timeout"),
        (errors.ProviderConnectionError("P", "refused"), 502, "api_error", "upstream_error"),
        (errors.ResponseFormatError("P", "garbage"), 502, "api_error", "upstream_error"),
        (errors.StreamInterruptedError("P", "cut"), 502, "api_error", "upstream_error"),
        (errors.AllProvidersFailedError([]), 502, "api_error", "upstream_error"),
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
