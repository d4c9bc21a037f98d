"""Circuit breaking over real sockets: the emulator fails as scripted, the breaker opens after
transient failures in a row, chains skip it, a probe closes it, a 429's Retry-After sets the
cooldown, and a chain whose providers all cool waits within its deadline."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from aichats_core import Client, Finish, TextChunk
from aichats_core.errors import (
    AllProvidersFailedError,
    ProviderHTTPError,
    ProviderUnavailableError,
    RateLimitError,
)
from aichats_core.health import BreakerPolicy, HealthTracker
from aichats_core.hooks import BreakerClosed, BreakerOpened, flush
from providers.aichats.emulator import AiChatsEmulator, Script

QUICK = BreakerPolicy(failures=3, window=60, cooldown=0.4, max_wait=5)


def chain_options(first: AiChatsEmulator, second: AiChatsEmulator) -> dict[str, Any]:
    return {"aichats": {"base_url": first.url}, "backup": {"base_url": second.url}}


async def fail(client: Client, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ProviderHTTPError):
            await client.complete("aichats", "Hi")


async def test_failures_in_a_row_open_the_breaker_and_the_call_is_refused_at_once(
    emulator: AiChatsEmulator,
) -> None:
    emulator.enqueue(*[Script(status=503)] * 3)
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health) as client:
        await fail(client, 3)
        before = len(emulator.requests)
        with pytest.raises(ProviderUnavailableError) as caught:
            client.stream("aichats", "Hi")  # refused at the call, before any network
    error = caught.value
    assert len(emulator.requests) == before  # nothing was sent
    assert error.provider == "aichats"
    assert error.model == "gpt-4"
    assert 0 < (error.until - datetime.now(UTC)).total_seconds() <= 0.4
    assert "ignore_breaker=True" in str(error)
    assert "HTTP 503" in str(error)
    assert health.health("aichats").status == "cooling"


async def test_a_success_between_failures_starts_the_count_again(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(status=503), Script(status=503), Script(), Script(status=503))
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health) as client:
        await fail(client, 2)
        assert await client.complete("aichats", "Hi")
        await fail(client, 1)
        assert await client.complete("aichats", "Hi")  # only 1 in a row: still closed
    assert health.health("aichats").status == "degraded"  # 2 of 5 answered


async def test_permanent_failures_do_not_open_the_breaker(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(*[Script(status=403)] * 4)
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health) as client:
        await fail(client, 4)
        assert await client.complete("aichats", "Hi")  # the service answers: no cooldown
    measured = health.health("aichats")
    assert measured.last_error_message is not None
    assert "403" in measured.last_error_message


async def test_an_open_provider_is_skipped_by_a_chain_and_named_in_the_trail(
    emulator: AiChatsEmulator, backup: AiChatsEmulator
) -> None:
    emulator.enqueue(*[Script(status=502)] * 3)
    backup.enqueue(Script(text="from backup"))
    health = HealthTracker(QUICK)
    async with Client(health=health) as client:
        for _ in range(3):
            with pytest.raises(ProviderHTTPError):
                await client.complete("aichats", "Hi", base_url=emulator.url)
        sent = len(emulator.requests)
        events = [
            event
            async for event in client.stream(
                ["aichats", "backup"], "Hi", provider_options=chain_options(emulator, backup)
            )
        ]
    assert len(emulator.requests) == sent  # skipped, not called
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.provider == "backup"
    assert [(f.provider, f.error) for f in finish.failures] == [
        ("aichats", "ProviderUnavailableError")
    ]
    assert "cooling down" in finish.failures[0].message


async def test_the_half_open_probe_closes_the_breaker(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(*[Script(status=503)] * 3)
    seen: list[object] = []
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health, hooks=[seen.append]) as client:
        await fail(client, 3)
        with pytest.raises(ProviderUnavailableError):
            client.stream("aichats", "Hi")
        await asyncio.sleep(0.45)
        never_read = client.stream("aichats", "Hi")  # takes no probe: it never starts
        probe = client.stream("aichats", "Hi")
        first = await probe.__anext__()  # the one probe, under way
        with pytest.raises(ProviderUnavailableError, match="is being probed") as caught:
            client.stream("aichats", "Hi")  # while the probe is out, others wait
        wait = (caught.value.until - datetime.now(UTC)).total_seconds()
        assert 0 < wait <= 1  # told to look again soon, not after the probe's timeout
        assert isinstance(first, TextChunk)
        rest = await probe.text()
        assert (first.text + rest).startswith("Hello from the AiChats emulator")
        await never_read.aclose()
        assert await client.complete("aichats", "Hi")  # closed
    assert flush()
    changes = [type(event) for event in seen if isinstance(event, BreakerOpened | BreakerClosed)]
    assert changes == [BreakerOpened, BreakerClosed]
    measured = health.health("aichats")
    assert (measured.status, measured.cooling_until, measured.attempts) == ("degraded", None, 5)


async def test_a_failed_probe_reopens_for_twice_as_long(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(*[Script(status=503)] * 4)
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health) as client:
        await fail(client, 3)
        await asyncio.sleep(0.45)
        await fail(client, 1)  # the probe fails
        with pytest.raises(ProviderUnavailableError) as caught:
            client.stream("aichats", "Hi")
    left = (caught.value.until - datetime.now(UTC)).total_seconds()
    assert 0.5 < left <= 0.8


async def test_a_429s_retry_after_sets_the_cooldown(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(status=503), Script(status=503), Script(status=429, retry_after=7))
    health = HealthTracker(QUICK)  # a 0.4 s cooldown, but the service asked for 7 s
    async with Client(base_url=emulator.url, health=health) as client:
        await fail(client, 2)
        with pytest.raises(RateLimitError):
            await client.complete("aichats", "Hi")
        with pytest.raises(ProviderUnavailableError) as caught:
            client.stream("aichats", "Hi")
    left = (caught.value.until - datetime.now(UTC)).total_seconds()
    assert 6 < left <= 7
    assert "retry after 7s" in str(caught.value)


async def test_ignore_breaker_calls_a_cooling_provider_and_its_answer_closes_it(
    emulator: AiChatsEmulator,
) -> None:
    emulator.enqueue(*[Script(status=503)] * 3)
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health) as client:
        await fail(client, 3)
        assert await client.complete("aichats", "Hi", ignore_breaker=True)
        assert await client.complete("aichats", "Hi")
    assert health.health("aichats").status != "cooling"


async def test_a_chain_of_cooling_providers_waits_for_the_first_back_within_its_deadline(
    emulator: AiChatsEmulator, backup: AiChatsEmulator
) -> None:
    emulator.enqueue(*[Script(status=503)] * 3)
    backup.enqueue(*[Script(status=503)] * 3)
    health = HealthTracker(QUICK)
    options = chain_options(emulator, backup)
    async with Client(health=health) as client:
        for name, running in (("aichats", emulator), ("backup", backup)):
            for _ in range(3):
                with pytest.raises(ProviderHTTPError):
                    await client.complete(name, "Hi", base_url=running.url)
        with pytest.raises(AllProvidersFailedError) as caught:  # 0.4 s does not fit 0.1 s
            await client.complete(
                ["aichats", "backup"], "Hi", provider_options=options, deadline=0.1
            )
        assert {type(error) for error in caught.value.exceptions} == {ProviderUnavailableError}
        began = time.monotonic()
        events = [
            event
            async for event in client.stream(
                ["aichats", "backup"], "Hi", provider_options=options, deadline=2
            )
        ]
        waited = time.monotonic() - began
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert finish.provider == "aichats"
    assert 0.1 < waited < 1.5
    assert [f.provider for f in finish.failures] == ["aichats", "backup"]  # both were cooling


async def test_without_health_nothing_is_measured_nor_refused(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(*[Script(status=503)] * 6)
    async with Client(base_url=emulator.url, health=False) as client:
        await fail(client, 6)
        assert await client.complete("aichats", "Hi")


def test_a_bad_policy_or_deadline_is_refused_at_once() -> None:
    from aichats_core import stream
    from aichats_core.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="failures must be 1 or more"):
        BreakerPolicy(failures=0)
    with pytest.raises(InvalidRequestError, match="deadline is seconds"):
        stream("aichats", "Hi", deadline=-1)
    with pytest.raises(InvalidRequestError, match="health is True, False or a HealthTracker"):
        Client(health="yes")  # type: ignore[arg-type]


async def test_a_conversations_turn_heeds_the_breaker_unless_told_not_to(
    emulator: AiChatsEmulator,
) -> None:
    emulator.enqueue(*[Script(status=503)] * 3)
    health = HealthTracker(QUICK)
    async with Client(base_url=emulator.url, health=health) as client:
        await fail(client, 3)
        chat = client.conversation("aichats")
        with pytest.raises(ProviderUnavailableError):
            await chat.send("Hi")
        assert chat.messages == ()  # a refused turn adds nothing
        assert await chat.send("Hi", ignore_breaker=True)
        assert len(chat.messages) == 2
