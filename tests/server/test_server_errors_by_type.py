"""The server maps errors by their type: a 429 a plugin got from aiohttp's own
``raise_for_status()`` is answered 429 with Retry-After, and only ``InvalidOptionError`` (the
server's own options) is a misconfiguration, whatever an error's text says."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import pytest
from conftest import StartServer

from aichats_core import AsyncGeneratorProvider
from aichats_core.errors import InvalidOptionError, InvalidRequestError
from aichats_core.server._errors import from_aichats
from aichats_core.testing import registered
from providers.aichats.emulator import API_PATH, AiChatsEmulator, Script

CHAT = {"model": "raw-http", "messages": [{"role": "user", "content": "Hi"}]}


class RawHTTP(AsyncGeneratorProvider):
    """A plugin that calls the emulator with aiohttp itself and its ``raise_for_status()``."""

    default_model = "raw"
    models: ClassVar[list[str]] = ["raw"]
    url = ""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        async with aiohttp.ClientSession() as session, session.post(cls.url) as response:
            response.raise_for_status()
            yield await response.text()


async def test_a_429_from_raise_for_status_is_answered_429_with_retry_after(
    start_server: StartServer, emulator: AiChatsEmulator, http: aiohttp.ClientSession
) -> None:
    emulator.script = Script(status=429, retry_after=2)
    provider = type("RawHTTP", (RawHTTP,), {"url": emulator.url + API_PATH})
    with registered("raw-http", provider):
        base_url = await start_server()
        async with http.post(f"{base_url}/chat/completions", json=CHAT) as response:
            body = await response.json()
    assert response.status == 429
    assert response.headers["Retry-After"] == "2"
    assert response.headers["retry-after-ms"] == "2000"
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["message"] == "provider 'raw-http' is rate limiting; retry after 2s"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        # The word "option" in a message decides nothing: clients pass no provider options.
        (InvalidRequestError("the option 'n' must be 1"), 400, "invalid_request"),
        (InvalidRequestError("unknown options"), 400, "invalid_request"),
        (InvalidOptionError("P", "colour", ["timeout"], "P: refused"), 500, "server_misconfigured"),
    ],
)
def test_request_errors_are_mapped_by_type_not_by_text(
    error: InvalidRequestError, status: int, code: str
) -> None:
    mapped = from_aichats(error)
    assert (mapped.status, mapped.code) == (status, code)
