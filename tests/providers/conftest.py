from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from providers.aichats.emulator import AiChatsEmulator


@pytest.fixture
async def emulator() -> AsyncIterator[AiChatsEmulator]:
    """A fresh AiChats emulator on a free loopback port."""
    async with AiChatsEmulator() as running:
        yield running
