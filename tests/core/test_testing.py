from __future__ import annotations

import pytest

import aichats_core
from aichats_core.errors import ProviderTimeoutError
from aichats_core.testing import ScriptedProvider, registered


async def test_each_script_is_a_separate_class_with_its_own_call_log() -> None:
    first = ScriptedProvider.script("one")
    second = ScriptedProvider.script("two", name="Second")
    assert await aichats_core.complete(first, "a") == "one"
    assert await aichats_core.complete(second, "b") == "two"
    assert [c.messages[0].content for c in first.calls] == ["a"]
    assert [c.messages[0].content for c in second.calls] == ["b"]
    assert ScriptedProvider.calls == []


async def test_an_error_can_be_raised_after_some_items() -> None:
    provider = ScriptedProvider.script(
        "a", "b", "c", error=ProviderTimeoutError("S", "slow"), error_after=1
    )
    seen = []
    with pytest.raises(ProviderTimeoutError):
        async for event in aichats_core.stream(provider, "x"):
            seen.append(event)
    assert len(seen) == 1


async def test_registered_registers_for_the_block_only() -> None:
    provider = ScriptedProvider.script("hi")
    with registered("temporary", provider):
        assert aichats_core.get_provider("temporary") is provider
    with pytest.raises(aichats_core.errors.ProviderNotFoundError):
        aichats_core.get_provider("temporary")


def test_scripted_attributes_can_be_overridden() -> None:
    provider = ScriptedProvider.script(working=False, models=["a", "b"], default_model="a")
    assert (provider.working, provider.models, provider.default_model) == (False, ["a", "b"], "a")
