"""Lifecycle hooks: every attempt reported in order, off the call's path; a raising or a
slow hook breaks and delays no call."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

import aichats_core
from aichats_core import Client, RetryPolicy, Usage
from aichats_core.errors import InvalidRequestError, ProviderHTTPError
from aichats_core.hooks import (
    AttemptFailed,
    AttemptFinished,
    AttemptStarted,
    FallbackTaken,
    FirstEvent,
    RetryScheduled,
    add_hook,
    flush,
)
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator, Script


async def test_a_clients_hooks_see_each_attempt_in_order(emulator: AiChatsEmulator) -> None:
    seen: list[Any] = []
    emulator.enqueue(Script(status=503), Script())
    policy = RetryPolicy(retries=1, backoff=0.01)
    async with Client(base_url=emulator.url, hooks=[seen.append], retries=policy) as client:
        await client.complete("aichats", "Hi")
    assert flush()
    assert [type(event) for event in seen] == [
        AttemptStarted,
        AttemptFailed,
        RetryScheduled,
        AttemptStarted,
        FirstEvent,
        AttemptFinished,
    ]
    failed, retry, finished = seen[1], seen[2], seen[-1]
    assert isinstance(failed.error, ProviderHTTPError)
    assert failed.started is False
    assert (retry.attempt, retry.provider) == (1, "aichats")
    assert (finished.provider, finished.model, finished.reason) == ("aichats", "gpt-4", "stop")
    assert seen[4].seconds <= finished.seconds


async def test_a_process_hook_sees_fallbacks_and_usage() -> None:
    seen: list[Any] = []
    down = ScriptedProvider.script(fail_first=[ProviderHTTPError("Down", 503, "busy")], name="D")
    up = ScriptedProvider.script("ok", Usage(prompt_tokens=3, completion_tokens=1), name="U")
    remove = add_hook(seen.append)
    try:
        with registered("down", down), registered("up", up):
            await aichats_core.complete(["down", "up"], "Hi")
    finally:
        remove()
    assert flush()
    kinds = [type(event) for event in seen]
    assert kinds == [
        AttemptStarted,
        AttemptFailed,
        FallbackTaken,
        AttemptStarted,
        FirstEvent,
        AttemptFinished,
    ]
    assert seen[2].provider == "down"
    assert (seen[-1].prompt_tokens, seen[-1].completion_tokens) == (3, 1)


async def test_a_raising_or_slow_hook_neither_breaks_nor_slows_a_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    released = threading.Event()

    def slow(event: object) -> None:
        released.wait(5)

    def broken(event: object) -> None:
        raise RuntimeError("hook bug")

    quick = ScriptedProvider.script("fast", name="Quick")
    with caplog.at_level(logging.ERROR, logger="aichats.hooks"):
        async with Client(hooks=[broken, slow]) as client:
            started = time.perf_counter()
            for _ in range(5):
                assert await client.complete(quick, "Hi") == "fast"
            assert time.perf_counter() - started < 1  # the slow hook blocks only its thread
        released.set()
        assert flush()
    bugs = [
        record
        for record in caplog.records
        if record.name == "aichats.hooks"
        and record.exc_info
        and str(record.exc_info[1]) == "hook bug"
    ]
    assert len(bugs) == 5 * 3  # each call's start, first event and finish, each logged


def test_a_hook_must_be_callable() -> None:
    with pytest.raises(InvalidRequestError, match="a hook is a function"):
        Client(hooks=["not a function"])  # type: ignore[list-item]
