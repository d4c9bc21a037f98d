"""Retries and fallback against the emulator, over real sockets."""

from __future__ import annotations

import pytest

import aichats_core
from aichats_core import Finish
from aichats_core._retry import RetryPolicy
from aichats_core.errors import AllProvidersFailedError, ProviderConnectionError
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator, Script


async def test_a_rate_limited_call_is_retried_after_retry_after(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(status=429, retry_after=0.05), Script(status=503))
    text = await aichats_core.complete(
        "aichats", "Hi", base_url=emulator.url, retries=RetryPolicy(retries=2, backoff=0.01)
    )
    assert text.endswith("You said: Hi")
    assert [r.path for r in emulator.requests] == ["/chat/send2/"] * 3


async def test_falling_back_from_a_dead_service_to_another_provider(unused_tcp_port: int) -> None:
    backup = ScriptedProvider.script("backup answer", name="Backup")
    with registered("backup", backup):
        events = [
            event
            async for event in aichats_core.stream(
                ["aichats", "backup"],
                "Hi",
                provider_options={"aichats": {"base_url": f"http://127.0.0.1:{unused_tcp_port}"}},
            )
        ]
    assert events[-1].model_copy(update={"failures": ()}) == Finish(
        provider="backup", model="scripted"
    )
    [failure] = events[-1].failures
    assert (failure.provider, failure.error) == ("aichats", "ProviderConnectionError")
    assert f"127.0.0.1:{unused_tcp_port}" in failure.message
    assert "base_url" not in backup.calls[0].options


async def test_the_final_error_says_why_each_provider_failed(emulator: AiChatsEmulator) -> None:
    emulator.script = Script(status=500, error_body="upstream exploded")
    second = ScriptedProvider.script(
        error=ProviderConnectionError("Second", "refused"), name="Second"
    )
    with pytest.raises(AllProvidersFailedError) as caught:
        await aichats_core.complete(
            ["aichats", second], "Hi", provider_options={"aichats": {"base_url": emulator.url}}
        )
    assert str(caught.value) == (
        f"all 2 providers failed (aichats: ProviderHTTPError: HTTP 500 from {emulator.url}"
        "/chat/send2/: upstream exploded; Second: ProviderConnectionError: refused)"
    )
