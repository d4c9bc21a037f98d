"""``provider="auto"``: the installed providers that can serve the call, healthiest first, run
as a chain over real sockets, so ``Finish`` names who answered and the trail who did not."""

from __future__ import annotations

from typing import Any

import pytest

from aichats_core import Client, Finish, ImageResponse
from aichats_core.errors import InvalidRequestError, ModelNotSupportedError, ProviderHTTPError
from aichats_core.health import BreakerPolicy, HealthTracker
from providers.aichats.emulator import AiChatsEmulator, Script


def both(first: AiChatsEmulator, second: AiChatsEmulator) -> dict[str, Any]:
    return {"aichats": {"base_url": first.url}, "backup": {"base_url": second.url}}


async def finish_of(client: Client, provider: str, options: dict[str, Any], **kw: Any) -> Finish:
    events = [e async for e in client.stream(provider, "Hi", provider_options=options, **kw)]
    finish = events[-1]
    assert isinstance(finish, Finish)
    return finish


async def test_auto_falls_back_then_learns_to_call_the_healthy_provider_first(
    emulator: AiChatsEmulator, backup: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(status=503))
    options = both(emulator, backup)
    async with Client(health=HealthTracker()) as client:
        first = await finish_of(client, "auto", options)  # never measured: by name
        assert first.provider == "backup"
        assert [(f.provider, f.error) for f in first.failures] == [("aichats", "ProviderHTTPError")]
        sent = len(emulator.requests)
        second = await finish_of(client, "auto", options)
    assert (second.provider, second.failures) == ("backup", ())  # the one that answered, first
    assert len(emulator.requests) == sent


async def test_auto_leaves_a_cooling_provider_for_last(
    emulator: AiChatsEmulator, backup: AiChatsEmulator
) -> None:
    emulator.enqueue(*[Script(status=503)] * 2)
    backup.enqueue(Script(status=503))
    health = HealthTracker(BreakerPolicy(failures=2, cooldown=30))
    async with Client(health=health) as client:
        for _ in range(2):
            with pytest.raises(ProviderHTTPError):
                await client.complete("aichats", "Hi", base_url=emulator.url)
        with pytest.raises(ProviderHTTPError):  # measured too: 0 of 1, but not cooling
            await client.complete("backup", "Hi", base_url=backup.url)
        finish = await finish_of(client, "auto", both(emulator, backup))
    assert finish.provider == "backup"
    assert finish.model == "gpt-4"


async def test_auto_image_picks_a_provider_of_images_and_its_image_model(
    emulator: AiChatsEmulator,
) -> None:
    async with Client(base_url=emulator.url) as client:
        events = [event async for event in client.stream("auto:image", "a red square")]
    images = [event for event in events if isinstance(event, ImageResponse)]
    finish = events[-1]
    assert isinstance(finish, Finish)
    assert (finish.provider, finish.model) == ("aichats", "dalle")
    assert images[0].images[0].startswith("data:image/png;base64,")


async def test_auto_for_a_model_serves_it_and_refuses_what_none_serves(
    emulator: AiChatsEmulator,
) -> None:
    async with Client(base_url=emulator.url) as client:
        assert await client.complete("auto", "Hi", model="gpt-4")
        with pytest.raises(ModelNotSupportedError) as caught:
            client.stream("auto", "Hi", model="gpt-9")
        assert "gpt-4" in str(caught.value)
        with pytest.raises(ModelNotSupportedError):
            client.stream("auto", "Hi", model="dalle")  # an image model is not text
        with pytest.raises(InvalidRequestError, match="'auto:image' image ones"):
            client.stream("auto:video", "Hi")


def test_auto_is_a_reserved_name() -> None:
    from aichats_core import register_provider
    from aichats_core.testing import ScriptedProvider

    with pytest.raises(InvalidRequestError, match="'auto' is reserved"):
        register_provider("auto", ScriptedProvider.script("x"))
