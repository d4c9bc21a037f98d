"""The breaker's edges: a probe that ends with no verdict is released, a cooldown is never
cut short, retries stop once their failures opened it, a refused probe closes it (and says
so), a chain waits only when every provider cools, and the tracker reads safely from another
thread while calls run."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

import aichats_core
from aichats_core import Client, RetryPolicy
from aichats_core.errors import (
    AllProvidersFailedError,
    InvalidRequestError,
    ProviderHTTPError,
    ProviderUnavailableError,
    RateLimitError,
)
from aichats_core.health import BreakerPolicy, HealthTracker
from aichats_core.hooks import BreakerClosed, BreakerOpened, flush
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats import AiChats
from providers.aichats.emulator import AiChatsEmulator, Script

QUICK = BreakerPolicy(failures=2, window=60, cooldown=0.3, max_wait=5)


async def open_breaker(client: Client, emulator: AiChatsEmulator, times: int = 2) -> None:
    emulator.enqueue(*[Script(status=503)] * times)
    for _ in range(times):
        with pytest.raises(ProviderHTTPError):
            await client.complete("aichats", "Hi")


async def test_a_probe_cancelled_before_its_first_event_lets_the_next_call_probe(
    emulator: AiChatsEmulator,
) -> None:
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health) as client:
        await open_breaker(client, emulator)
        await asyncio.sleep(0.35)
        emulator.enqueue(Script(delay=2))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.complete("aichats", "Hi"), 0.2)
        assert await client.complete("aichats", "Hi")  # probes at once, and closes
    assert health.health("aichats").cooling_until is None


async def test_a_probe_that_is_the_callers_mistake_is_no_verdict() -> None:
    down = ProviderHTTPError("S", 503, "busy")
    flaky = ScriptedProvider.script(
        "ok", fail_first=[down, down, InvalidRequestError("bad prompt")], name="Flaky"
    )
    health = HealthTracker(QUICK)
    async with Client(health=health) as client:
        for _ in range(2):
            with pytest.raises(ProviderHTTPError):
                await client.complete(flaky, "Hi")
        await asyncio.sleep(0.35)
        with pytest.raises(InvalidRequestError):  # the probe: a mistake of the caller's
            await client.complete(flaky, "Hi")
        assert await client.complete(flaky, "Hi") == "ok"  # may probe at once, and closes
    assert health.health("Flaky").cooling_until is None


async def test_retries_stop_once_their_failures_opened_the_breaker(
    emulator: AiChatsEmulator,
) -> None:
    emulator.enqueue(*[Script(status=503)] * 6)
    policy = RetryPolicy(retries=5, backoff=0.01)
    async with Client(base_url=emulator.url, health=HealthTracker(QUICK), retries=policy) as c:
        with pytest.raises(ProviderHTTPError):
            await c.complete("aichats", "Hi")
    assert len(emulator.requests) == 2  # the breaker opened after two: no third call


async def test_failures_during_a_cooldown_never_shorten_it(emulator: AiChatsEmulator) -> None:
    health = HealthTracker(BreakerPolicy(failures=2, cooldown=0.3))
    async with Client(base_url=emulator.url, health=health) as client:
        emulator.enqueue(Script(status=503), Script(status=429, retry_after=30))
        with pytest.raises(ProviderHTTPError):
            await client.complete("aichats", "Hi")
        with pytest.raises(RateLimitError):
            await client.complete("aichats", "Hi")  # opens it for the 30 s asked
        emulator.enqueue(*[Script(status=503)] * 2, Script(status=401))
        for _ in range(3):  # sent anyway, as calls under way would be
            with pytest.raises(ProviderHTTPError):
                await client.complete("aichats", "Hi", ignore_breaker=True)
        with pytest.raises(ProviderUnavailableError) as caught:
            client.stream("aichats", "Hi")
    left = (caught.value.until - datetime.now(UTC)).total_seconds()
    assert 28 < left <= 30


async def test_a_refused_probe_closes_the_breaker_and_says_so(emulator: AiChatsEmulator) -> None:
    seen: list[object] = []
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health, hooks=[seen.append]) as client:
        await open_breaker(client, emulator)
        await asyncio.sleep(0.35)
        emulator.enqueue(Script(status=401))
        with pytest.raises(ProviderHTTPError):
            await client.complete("aichats", "Hi")  # the service answers: it is up
        assert await client.complete("aichats", "Hi")
    assert flush()
    changes = [type(e) for e in seen if isinstance(e, BreakerOpened | BreakerClosed)]
    assert changes == [BreakerOpened, BreakerClosed]


async def test_a_chain_waits_only_when_every_provider_cools(emulator: AiChatsEmulator) -> None:
    refusing = ScriptedProvider.script(fail_first=[ProviderHTTPError("R", 401, "no")], name="R")
    health = HealthTracker(BreakerPolicy(failures=2, cooldown=3))
    async with Client(health=health) as client:
        emulator.enqueue(*[Script(status=503)] * 2)
        for _ in range(2):
            with pytest.raises(ProviderHTTPError):
                await client.complete("aichats", "Hi", base_url=emulator.url)
        options: dict[str, Any] = {"aichats": {"base_url": emulator.url}}
        with registered("refusing", refusing):
            began = time.monotonic()
            with pytest.raises(AllProvidersFailedError) as caught:
                await client.complete(["aichats", "refusing"], "Hi", provider_options=options)
    assert time.monotonic() - began < 1  # no 3 s wait: 'refusing' answered, with a refusal
    kinds = [type(error) for _, error in caught.value.errors]
    assert kinds == [ProviderUnavailableError, ProviderHTTPError]


def test_the_tracker_reads_safely_while_calls_run_on_another_thread() -> None:
    from aichats_core import sync

    health = HealthTracker()
    quick = ScriptedProvider.script("ok", name="Quick")
    problems: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                health.health("Quick")
                health.estimate("Quick", "")
            except BaseException as exc:  # noqa: BLE001 - what the test is looking for
                problems.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with sync.Client(health=health) as client:
            for _ in range(600):
                client.complete(quick, "Hi")
    finally:
        done.set()
        reader.join()
    assert problems == []
    assert health.health("Quick").attempts == 200  # the bound on what is kept


async def test_auto_in_any_case_and_its_provider_options_must_name_installed_providers(
    emulator: AiChatsEmulator,
) -> None:
    async with Client(base_url=emulator.url) as client:
        assert await client.complete("Auto", "Hi")
        with pytest.raises(InvalidRequestError, match="'aichat', which is not installed"):
            client.stream("auto", "Hi", provider_options={"aichat": {"timeout": 5}})


def test_a_breaker_over_long_ago_says_nothing() -> None:
    health = HealthTracker(BreakerPolicy(failures=1, cooldown=0.01), window=0.05)
    health.failed("p", "m", "HTTP 503", transient=True)
    time.sleep(0.1)
    assert health.health("p").status == "unknown"


def test_a_persisted_tracker_is_loaded_once() -> None:
    health = HealthTracker()
    health.persist()
    health.succeeded("p", "m", 0.01)
    health.persist()  # already persisting: nothing loaded twice
    assert health.flush()
    health.close()
    again = aichats_core.health.read_persisted()
    assert again is not None
    assert again.health("p").attempts == 1


def test_the_registered_aichats_class_is_usable_for_a_second_name() -> None:
    with registered("spare", AiChats):
        assert aichats_core.provider_info("spare").load() is AiChats
