"""Retries and fallback: only before the first event, never text twice, readable final errors."""

from __future__ import annotations

import time
from typing import Any

import pytest

import aichats_core
from aichats_core import Client, Failure, Finish, TextChunk
from aichats_core._retry import RetryPolicy, is_transient
from aichats_core.errors import (
    AllProvidersFailedError,
    InvalidRequestError,
    ModelNotSupportedError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderNotFoundError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.testing import ScriptedProvider, registered

FAST = RetryPolicy(retries=3, backoff=0.001, max_wait=1)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (RateLimitError("P"), True),
        (ProviderHTTPError("P", 503), True),
        (ProviderHTTPError("P", 500), True),
        (ProviderHTTPError("P", 404), False),
        (ProviderHTTPError("P", 401), False),
        (ProviderTimeoutError("P", "slow"), True),
        (ProviderConnectionError("P", "refused"), True),
        (StreamInterruptedError("P", "cut"), True),
        (ResponseFormatError("P", "garbage"), False),
    ],
)
def test_which_errors_are_worth_retrying(error: Any, transient: bool) -> None:
    assert is_transient(error) is transient


def test_waits_grow_exponentially_with_jitter_and_stop_after_the_retries() -> None:
    policy = RetryPolicy(retries=3, backoff=1, max_wait=3)
    error = ProviderTimeoutError("P", "slow")
    for attempt, ceiling in enumerate([1, 2, 3]):
        waits = {policy.wait_before_retry(attempt, error) for _ in range(50)}
        assert all(w is not None and ceiling / 2 <= w <= ceiling for w in waits)
        assert len(waits) > 1  # jittered
    assert policy.wait_before_retry(3, error) is None


def test_retry_after_is_honoured_within_the_ceiling() -> None:
    policy = RetryPolicy(retries=2, backoff=0.01, max_wait=10)
    assert policy.wait_before_retry(0, RateLimitError("P", retry_after=4)) == 4
    assert policy.wait_before_retry(0, RateLimitError("P", retry_after=3600)) is None


def test_negative_settings_are_refused() -> None:
    with pytest.raises(InvalidRequestError):
        RetryPolicy(retries=-1)


async def test_transient_failures_are_retried_until_success() -> None:
    provider = ScriptedProvider.script(
        "ok", fail_first=[RateLimitError("P", retry_after=0.01), ProviderHTTPError("P", 502)]
    )
    assert await aichats_core.complete(provider, "Hi", retries=FAST) == "ok"
    assert len(provider.calls) == 3


async def test_retries_are_opt_in() -> None:
    provider = ScriptedProvider.script("ok", fail_first=[ProviderTimeoutError("P", "slow")])
    with pytest.raises(ProviderTimeoutError):
        await aichats_core.complete(provider, "Hi")
    assert len(provider.calls) == 1


async def test_permanent_failures_are_not_retried() -> None:
    provider = ScriptedProvider.script("ok", fail_first=[ProviderHTTPError("P", 401, "bad key")])
    with pytest.raises(ProviderHTTPError, match="bad key"):
        await aichats_core.complete(provider, "Hi", retries=FAST)
    assert len(provider.calls) == 1


async def test_nothing_is_retried_after_the_first_event() -> None:
    provider = ScriptedProvider.script(
        "Hello", " there", error=StreamInterruptedError("P", "cut"), error_after=1
    )
    with pytest.raises(StreamInterruptedError) as caught:
        await aichats_core.complete(provider, "Hi", retries=FAST)
    assert caught.value.partial_text == "Hello"
    assert len(provider.calls) == 1


async def test_the_wait_honours_retry_after() -> None:
    provider = ScriptedProvider.script("ok", fail_first=[RateLimitError("P", retry_after=0.2)])
    started = time.perf_counter()
    await aichats_core.complete(provider, "Hi", retries=RetryPolicy(retries=1, backoff=0.001))
    assert time.perf_counter() - started >= 0.2


async def test_fallback_moves_on_before_the_first_event_and_finish_names_who_answered() -> None:
    down = ScriptedProvider.script(
        fail_first=[ProviderConnectionError("Down", "refused")], name="Down"
    )
    up = ScriptedProvider.script("from backup", name="Up")
    with registered("down", down), registered("up", up):
        events = [e async for e in aichats_core.stream(["down", "up"], "Hi")]
    failure = Failure(provider="down", error="ProviderConnectionError", message="down: refused")
    assert events == [
        TextChunk(text="from backup"),
        Finish(provider="up", model="scripted", failures=(failure,)),
    ]


async def test_fallback_after_the_first_event_would_repeat_text_so_it_does_not_happen() -> None:
    flaky = ScriptedProvider.script(
        "partial", error=StreamInterruptedError("F", "cut"), name="Flaky"
    )
    backup = ScriptedProvider.script("full answer", name="Backup")
    with pytest.raises(StreamInterruptedError):
        await aichats_core.complete([flaky, backup], "Hi")
    assert backup.calls == []


async def test_when_every_provider_fails_the_error_names_each_and_why() -> None:
    limited = ScriptedProvider.script(
        error=RateLimitError("Limited", retry_after=30), name="Limited"
    )
    broken = ScriptedProvider.script(error=ProviderHTTPError("Broken", 500, "boom"), name="Broken")
    with pytest.raises(AllProvidersFailedError) as caught:
        await aichats_core.complete(
            [limited, broken], "Hi", retries=RetryPolicy(retries=1, backoff=0.001, max_wait=1)
        )
    message = str(caught.value)
    assert message == (
        "all 2 providers failed (Limited: RateLimitError: HTTP 429 (retry after 30s); "
        "Broken: ProviderHTTPError: HTTP 500: boom)"
    )
    assert [name for name, _ in caught.value.errors] == ["Limited", "Broken"]
    assert len(broken.calls) == 2  # retried once: a 500 is transient
    assert len(limited.calls) == 1  # Retry-After beyond the ceiling: move on, do not wait
    assert "Traceback" not in message


async def test_a_chain_skips_providers_without_the_model_but_typos_fail_fast() -> None:
    small = ScriptedProvider.script("small", models=["tiny"], default_model="tiny", name="Small")
    big = ScriptedProvider.script("big", models=["huge"], default_model="huge", name="Big")
    assert await aichats_core.complete([small, big], "Hi", model="huge") == "big"
    with pytest.raises(AllProvidersFailedError) as caught:
        await aichats_core.complete([small, big], "Hi", model="other")
    assert all(isinstance(err, ModelNotSupportedError) for _, err in caught.value.errors)
    with pytest.raises(ProviderNotFoundError):
        aichats_core.stream(["no-such-provider", big], "Hi")
    with pytest.raises(InvalidRequestError, match="empty"):
        aichats_core.stream([], "Hi")


async def test_provider_options_reach_only_their_provider() -> None:
    first = ScriptedProvider.script(
        fail_first=[ProviderConnectionError("A", "down")], name="A", options={"base_url": None}
    )
    second = ScriptedProvider.script("ok", name="B")
    with registered("a", first), registered("b", second):
        await aichats_core.complete(
            ["a", "b"], "Hi", timeout=5, provider_options={"A": {"base_url": "http://127.0.0.1:1"}}
        )
    assert first.calls[0].options == {"timeout": 5, "base_url": "http://127.0.0.1:1"}
    assert second.calls[0].options == {"timeout": 5}


async def test_client_defaults_apply_to_retries_and_provider_options() -> None:
    provider = ScriptedProvider.script(
        "ok", fail_first=[ProviderTimeoutError("P", "slow")], options={"mode": None}
    )
    with registered("p", provider):
        async with Client(retries=FAST, provider_options={"p": {"mode": "x"}}) as client:
            assert await client.complete("p", "Hi") == "ok"
    assert provider.calls[1].options["mode"] == "x"


async def test_a_mistake_of_the_caller_is_not_hidden_by_fallback() -> None:
    picky = ScriptedProvider.script(
        error=InvalidRequestError("unknown option 'tiemout'"), name="Picky"
    )
    backup = ScriptedProvider.script("answer", name="Backup")
    with pytest.raises(InvalidRequestError, match="tiemout"):
        await aichats_core.complete([picky, backup], "Hi")
    assert backup.calls == []
