from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

from aichats_core.server import create_app
from providers.aichats.emulator import AiChatsEmulator

StartServer = Callable[..., Awaitable[str]]
"""Start an app with ``create_app(**options)``; returns its base URL (``.../v1``)."""


@pytest.fixture
async def start_server(emulator: AiChatsEmulator) -> AsyncIterator[StartServer]:
    """Serve apps on loopback, AiChats pointed at the emulator unless options say otherwise."""
    async with AsyncExitStack() as stack:

        async def start(**options: Any) -> str:
            options.setdefault("provider_options", {"aichats": emulator.provider_options()})
            server = await stack.enter_async_context(
                TestServer(create_app(**options), host="127.0.0.1")
            )
            return str(server.make_url("/v1"))

        yield start


@pytest.fixture
async def base_url(start_server: StartServer) -> str:
    return await start_server()


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[AsyncOpenAI]:
    """The official async client, without retries and with a short timeout."""
    async with AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=10) as sdk:
        yield sdk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw HTTP client, for what the SDK hides (bytes on the wire, bad JSON, headers)."""
    async with aiohttp.ClientSession() as session:
        yield session
