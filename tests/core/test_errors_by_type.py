"""Errors by type: HTTP statuses from aiohttp's own ``raise_for_status()``, provider-declared
transient statuses, timeouts by phase, and ``AllProvidersFailedError`` as an ``ExceptionGroup``.

Over real loopback sockets: a small aiohttp server answers the statuses, the AiChats emulator
stalls.
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import aichats_core
from aichats_core import AsyncGeneratorProvider, RetryPolicy
from aichats_core._retry import is_transient, transient_statuses_problem
from aichats_core.errors import (
    AiChatsError,
    AllProvidersFailedError,
    ConnectTimeoutError,
    InvalidOptionError,
    PoolTimeoutError,
    ProviderConnectionError,
    ProviderContractError,
    ProviderHTTPError,
    ProviderNotFoundError,
    ProviderTimeoutError,
    RateLimitError,
    ReadTimeoutError,
    StreamInterruptedError,
)
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator, Script

FAST = RetryPolicy(retries=1, backoff=0.01)


class Statuses:
    """A service answering the queued statuses in turn (with their headers), then 200 "ok"."""

    def __init__(self) -> None:
        self.queue: list[tuple[int, dict[str, str]]] = []
        self.requests = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.queue:
            status, headers = self.queue.pop(0)
            return web.Response(status=status, text="no", headers=headers)
        return web.Response(text="ok")


@pytest.fixture
async def service() -> AsyncIterator[Statuses]:
    statuses = Statuses()
    app = web.Application()
    app.router.add_post("/answer", statuses.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        statuses.url = str(server.make_url("/answer"))
        yield statuses


class RawHTTP(AsyncGeneratorProvider):
    """A plugin that uses aiohttp itself and its ``raise_for_status()``, not aichats_core.http."""

    default_model = "raw"
    models: ClassVar[list[str]] = ["raw"]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        async with aiohttp.ClientSession() as session, session.post(cls.url) as response:
            response.raise_for_status()
            yield await response.text()


@pytest.fixture
def raw(service: Statuses) -> Iterator[type[RawHTTP]]:
    provider = type("RawHTTP", (RawHTTP,), {"url": service.url})
    with registered("raw-http", provider):
        yield provider


async def test_a_429_from_raise_for_status_is_a_rate_limit_error(
    service: Statuses, raw: type[RawHTTP]
) -> None:
    service.queue.append((429, {"Retry-After": "2"}))
    with pytest.raises(RateLimitError) as caught:
        await aichats_core.complete("raw-http", "Hi")
    error = caught.value
    assert (error.provider, error.status, error.retry_after) == ("raw-http", 429, 2)
    assert str(error) == (
        f"raw-http: HTTP 429 from {service.url}: Too Many Requests (retry after 2s)"
    )


async def test_other_statuses_from_raise_for_status_keep_theirs(
    service: Statuses, raw: type[RawHTTP]
) -> None:
    service.queue.append((404, {}))
    with pytest.raises(ProviderHTTPError) as caught:
        await aichats_core.complete("raw-http", "Hi")
    assert type(caught.value) is ProviderHTTPError
    assert caught.value.status == 404
    assert caught.value.url == service.url


async def test_a_429_from_raise_for_status_is_retried(
    service: Statuses, raw: type[RawHTTP]
) -> None:
    service.queue.append((429, {"Retry-After": "0"}))
    assert await aichats_core.complete("raw-http", "Hi", retries=FAST) == "ok"
    assert service.requests == 2


async def test_a_chain_of_rate_limited_providers_is_caught_with_except_star(
    service: Statuses, raw: type[RawHTTP]
) -> None:
    service.queue.append((429, {"Retry-After": "2"}))
    refused = ProviderConnectionError("Down", "refused")
    down = ScriptedProvider.script(error=refused, name="Down")
    caught: list[BaseException] = []
    try:
        await aichats_core.complete(["raw-http", down], "Hi")
    except* RateLimitError as group:
        caught.append(group)
    except* ProviderConnectionError as group:
        caught.append(group)
    limited, connection = caught
    assert isinstance(limited, AllProvidersFailedError)
    assert isinstance(connection, AllProvidersFailedError)
    assert [type(e) for e in limited.exceptions] == [RateLimitError]
    assert limited.errors[0][0] == "raw-http"
    assert isinstance(limited.exceptions[0], RateLimitError)
    assert limited.exceptions[0].retry_after == 2
    assert connection.errors == [("Down", refused)]


# --- transient_statuses ---------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False])
async def test_a_declared_transient_status_is_retried(
    service: Statuses, raw: type[RawHTTP], declared: bool
) -> None:
    if declared:
        raw.transient_statuses = {529}  # type: ignore[attr-defined]
    service.queue.append((529, {}))
    if declared:
        assert await aichats_core.complete("raw-http", "Hi", retries=FAST) == "ok"
        assert service.requests == 2
    else:
        with pytest.raises(ProviderHTTPError, match="HTTP 529"):
            await aichats_core.complete("raw-http", "Hi", retries=FAST)
        assert service.requests == 1


async def test_a_declared_transient_status_falls_back(
    service: Statuses, raw: type[RawHTTP]
) -> None:
    raw.transient_statuses = frozenset({529})  # type: ignore[attr-defined]
    service.queue.extend([(529, {}), (529, {})])
    backup = ScriptedProvider.script("backup", name="Backup")
    events = [e async for e in aichats_core.stream(["raw-http", backup], "Hi", retries=FAST)]
    assert events[-1].provider == "Backup"
    # the trail names a provider of the chain once, by the error that ended its attempts
    assert [(f.provider, f.error) for f in events[-1].failures] == [
        ("raw-http", "ProviderHTTPError")
    ]
    assert service.requests == 2  # retried once, then the next provider


@pytest.mark.parametrize("value", [[529], {"529"}, {True}, {200}, "529"])
async def test_a_malformed_transient_statuses_is_the_plugins_bug(
    service: Statuses, raw: type[RawHTTP], value: object
) -> None:
    raw.transient_statuses = value  # type: ignore[attr-defined]
    service.queue.append((503, {}))
    with pytest.raises(ProviderContractError, match="'transient_statuses' should"):
        await aichats_core.complete("raw-http", "Hi", retries=FAST)
    assert transient_statuses_problem(value) is not None
    assert transient_statuses_problem({429, 529}) is None


def test_is_transient_adds_the_providers_statuses_to_the_defaults() -> None:
    error = ProviderHTTPError("P", 529)
    assert not is_transient(error)
    assert is_transient(error, frozenset({529}))
    assert is_transient(ProviderHTTPError("P", 503), frozenset({529}))
    assert FAST.wait_before_retry(0, error) is None
    assert FAST.wait_before_retry(0, error, frozenset({529})) is not None


# --- timeouts by phase ----------------------------------------------------------------------


async def test_a_wait_for_a_pooled_connection_is_a_pool_timeout() -> None:
    async with (
        AiChatsEmulator(script=Script(text="a b", events=2, stall_after=1, stall_for=30)) as emu,
        aichats_core.Client(max_connections=1) as client,
    ):
        holding = client.stream("aichats", "Hi", base_url=emu.url, timeout=5)
        async with holding:
            await anext(aiter(holding))  # the stream holds the only connection, stalled
            with pytest.raises(PoolTimeoutError) as caught:
                await client.complete("aichats", "Hi", base_url=emu.url, timeout=0.2)
    assert str(caught.value) == (
        "aichats: timed out waiting for a free connection of the pool after 0.2s: all are busy;"
        " raise the Client's max_connections, or the 'timeout' option"
    )
    assert len(emu.requests) == 1  # the second call never reached the service


async def test_every_timeout_is_a_provider_timeout() -> None:
    for phase in (ConnectTimeoutError, ReadTimeoutError, PoolTimeoutError):
        assert issubclass(phase, ProviderTimeoutError)
    async with AiChatsEmulator(script=Script(stall_after=0, stall_for=30)) as emu:
        with pytest.raises(ProviderTimeoutError) as caught:
            await aichats_core.complete("aichats", "Hi", base_url=emu.url, timeout=0.2)
    assert type(caught.value) is ReadTimeoutError
    assert "waiting for the next bytes of the answer" in str(caught.value)


# --- AllProvidersFailedError ----------------------------------------------------------------

LIMITED = RateLimitError("A", "slow down", retry_after=2)
CUT = StreamInterruptedError("B", "cut", partial_text="Hel")
GROUP_ERRORS: list[tuple[str, AiChatsError]] = [("a", LIMITED), ("b", CUT)]


def test_all_providers_failed_is_an_exception_group_of_the_causes() -> None:
    group = AllProvidersFailedError(GROUP_ERRORS)
    assert isinstance(group, ExceptionGroup)
    assert isinstance(group, AiChatsError)
    assert group.exceptions == (LIMITED, CUT)
    assert group.errors == GROUP_ERRORS
    assert str(group) == (
        "all 2 providers failed (a: RateLimitError: HTTP 429: slow down (retry after 2s);"
        " b: StreamInterruptedError: cut)"
    )
    assert repr(group) == f"AllProvidersFailedError({GROUP_ERRORS!r})"


def test_except_star_splits_it_and_keeps_the_names() -> None:
    matched: list[BaseException] = []
    with pytest.raises(AllProvidersFailedError) as rest:
        try:
            raise AllProvidersFailedError(GROUP_ERRORS)
        except* RateLimitError as group:
            matched.append(group)
    [limited] = matched
    assert isinstance(limited, AllProvidersFailedError)
    assert limited.errors == [("a", LIMITED)]
    assert str(limited).startswith("1 of 2 providers failed (a: RateLimitError:")
    assert rest.value.errors == [("b", CUT)]


def test_an_empty_chain_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one provider"):
        AllProvidersFailedError([])


@pytest.mark.parametrize(
    "error",
    [
        AllProvidersFailedError(GROUP_ERRORS),
        ProviderHTTPError("P", 500, "boom", url="http://127.0.0.1:1/x"),
        LIMITED,
        CUT,
        ProviderNotFoundError("x", close_matches=["y"]),
        InvalidOptionError("P", "colour", ["timeout"], "P: no option 'colour'"),
        PoolTimeoutError("P", "busy"),
    ],
)
def test_errors_survive_pickling(error: AiChatsError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert repr(copy) == repr(error)
    assert repr(vars(copy)) == repr(vars(error))  # exceptions compare by identity
