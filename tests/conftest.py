"""Suite-wide guards: nothing leaves the machine, and no test leaks registrations."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import aichats_core
from aichats_core.testing import reset_health
from providers.aichats.emulator import AiChatsEmulator

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(address: Any) -> None:
    if isinstance(address, tuple) and not _is_loopback(address[0]):
        raise AssertionError(f"test tried to reach {address!r}: only loopback is allowed")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check(address)
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(host, bytes):
        host = host.decode()
    if host is not None and str(host).endswith(".invalid"):
        # RFC 6761 names never resolve: answer as a resolver would, without asking one.
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    if host is not None and not _is_loopback(host):
        raise AssertionError(f"test tried to resolve {host!r}: only loopback is allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that connects to, or resolves, anything but loopback."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Proxies and allow-lists from the developer's shell must not change test outcomes, and
    no test (nor the CLI it runs) writes the developer's own history: ``AICHATS_HOME`` is a
    fresh directory per test."""
    for name in (
        "AICHATS_PROVIDERS",
        "AICHATS_PROVIDER",
        "NO_PROXY",
        "no_proxy",
        "AICHATS_HISTORY",
        "AICHATS_HEALTH",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AICHATS_HOME", str(tmp_path_factory.mktemp("aichats-home")))
    for scheme in ("http", "https", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)
    before = set(aichats_core._registry.default_registry._in_process)
    reset_health()  # one test's failures open no breaker for the next
    yield
    leaked = set(aichats_core._registry.default_registry._in_process) - before
    for name in leaked:
        aichats_core._registry.default_registry.unregister(name)
    assert not leaked, f"test left providers registered: {sorted(leaked)}"


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    """The openai plugin's fake upstream (``openai_fake``) on a free loopback port."""
    from openai_fake import FakeOpenAI

    upstream = FakeOpenAI()
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.close()


@pytest.fixture
async def emulator() -> AsyncIterator[AiChatsEmulator]:
    """A fresh AiChats emulator (the real protocol, over a real socket) on a free loopback
    port."""
    async with AiChatsEmulator() as running:
        yield running
