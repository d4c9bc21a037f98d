"""Fixtures: the fake service on a loopback port, and an environment that cannot change results."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aichats_core.testing import reset_health
from fake_openai import FakeOpenAI

from aichats_openai import OpenAICompatible

_real_connect = socket.socket.connect


def _loopback_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0]).split("%")[0]
        if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
            raise AssertionError(f"test tried to reach {address!r}: only loopback is allowed")
    _real_connect(self, address)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing leaves the machine; keys, URLs and proxies from the shell do not leak in."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_connect)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NO_PROXY", "no_proxy", "AICHATS_PROVIDERS"):
        monkeypatch.delenv(name, raising=False)
    for cls in OpenAICompatible.__subclasses__():  # the presets' own key variables
        for preset in (cls, *cls.__subclasses__()):
            if preset.api_key_env:
                monkeypatch.delenv(preset.api_key_env, raising=False)
    for scheme in ("http", "https", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    OpenAICompatible.forget_models()
    reset_health()  # one test's failures open no breaker for the next


@contextlib.asynccontextmanager
async def _serving() -> AsyncIterator[FakeOpenAI]:
    service = FakeOpenAI()
    await service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """A fresh fake OpenAI-compatible service; ``fake.url`` is its ``/v1`` root."""
    async with _serving() as service:
        yield service


@pytest.fixture
async def other_fake() -> AsyncIterator[FakeOpenAI]:
    """A second fake service, e.g. where ``fake`` redirects to."""
    async with _serving() as service:
        yield service
