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
    CallEnded,
    CallStarted,
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
        CallStarted,
        AttemptStarted,
        AttemptFailed,
        RetryScheduled,
        AttemptStarted,
        FirstEvent,
        AttemptFinished,
        CallEnded,
    ]
    began, failed, retry, finished, ended = seen[0], seen[2], seen[3], seen[-2], seen[-1]
    assert (began.providers, began.model) == (("aichats",), None)
    assert isinstance(failed.error, ProviderHTTPError)
    assert failed.started is False
    assert (retry.attempt, retry.provider) == (1, "aichats")
    assert (finished.provider, finished.model, finished.reason) == ("aichats", "gpt-4", "stop")
    assert seen[5].seconds <= finished.seconds <= ended.seconds
    assert (ended.provider, ended.model, ended.error) == ("aichats", "gpt-4", None)
    assert began.call > 0
    assert {event.call for event in seen} == {began.call}


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
        CallStarted,
        AttemptStarted,
        AttemptFailed,
        FallbackTaken,
        AttemptStarted,
        FirstEvent,
        AttemptFinished,
        CallEnded,
    ]
    assert seen[0].providers == ("down", "up")
    assert seen[3].provider == "down"
    assert (seen[-2].prompt_tokens, seen[-2].completion_tokens) == (3, 1)
    assert (seen[-1].provider, seen[-1].prompt_tokens, seen[-1].completion_tokens) == ("up", 3, 1)


async def test_a_call_that_fails_ends_with_its_error_and_a_hook_reads_the_callers_context() -> None:
    import contextvars

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[Any] = []
    read: list[str] = []

    def hook(event: object) -> None:
        seen.append(event)
        if isinstance(event, CallStarted):
            read.append(event.context.run(request_id.get))

    down = ScriptedProvider.script(fail_first=[ProviderHTTPError("Down", 401, "no")], name="D")
    request_id.set("req-7")
    async with Client(hooks=[hook], health=False) as client:
        with pytest.raises(ProviderHTTPError):
            await client.complete(down, "Hi")
    assert flush()
    assert read == ["req-7"]  # read on the hooks' thread, from the caller's context
    ended = seen[-1]
    assert isinstance(ended, CallEnded)
    assert ended.provider is None
    assert isinstance(ended.error, ProviderHTTPError)


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
    # each call's start and end, and its attempt's start, first event and finish
    assert len(bugs) == 5 * 5


def test_a_hook_must_be_callable() -> None:
    with pytest.raises(InvalidRequestError, match="a hook is a function"):
        Client(hooks=["not a function"])  # type: ignore[list-item]
