from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from aichats_core.testing import registered
from providers.aichats import AiChats
from providers.aichats.emulator import AiChatsEmulator


@pytest.fixture
async def backup() -> AsyncIterator[AiChatsEmulator]:
    """A second emulator, serving the AiChats provider registered again as ``backup``."""
    async with AiChatsEmulator() as running:
        with registered("backup", AiChats):
            yield running
