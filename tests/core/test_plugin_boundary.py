"""Whatever plugin code raises, ``SystemExit`` and ``KeyboardInterrupt`` included, fails one
call with a typed error naming the plugin; cancellation and a real Ctrl-C still get through."""

from __future__ import annotations

import asyncio
import importlib.metadata
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from aichats_core import AsyncGeneratorProvider, ProviderModelMixin, TextChunk, stream
from aichats_core._entry_points import load_entry_point
from aichats_core._registry import ENTRY_POINT_GROUP, PROVIDER_CONTRACT
from aichats_core.errors import AllProvidersFailedError, ProviderContractError
from aichats_core.testing import ScriptedProvider, registered


class Raiser(AsyncGeneratorProvider, ProviderModelMixin):
    """Yields ``before`` chunks, then raises ``exception``."""

    default_model = "m"
    models: ClassVar[list[str]] = ["m"]
    exception: ClassVar[BaseException] = SystemExit(3)
    before: ClassVar[int] = 1

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        for _ in range(cls.before):
            yield "half "
        raise cls.exception


def raiser(exception: BaseException, before: int = 1) -> type[Raiser]:
    return type("Raiser", (Raiser,), {"exception": exception, "before": before})


async def collect(provider: Any) -> list[object]:
    return [event async for event in stream(provider, "hi")]


async def test_system_exit_mid_stream_is_a_contract_error_naming_the_provider() -> None:
    with registered("exiter", raiser(SystemExit(3))):
        received: list[object] = []
        with pytest.raises(ProviderContractError) as caught:
            async for event in stream("exiter", "hi"):
                received.append(event)
    assert received == [TextChunk(text="half ")]
    assert caught.value.provider == "exiter"
    assert "provider 'exiter' failed with SystemExit: 3" in str(caught.value)
    assert "must not try to end the process" in str(caught.value)
    assert isinstance(caught.value.__cause__, SystemExit)


async def test_a_provider_that_exits_before_answering_falls_back_to_the_next() -> None:
    answering = ScriptedProvider.script("from the next one")
    with registered("exiter", raiser(SystemExit(0), before=0)), registered("next", answering):
        events = await collect(["exiter", "next"])
    assert events[0] == TextChunk(text="from the next one")
    with (
        registered("exiter", raiser(SystemExit(0), before=0)),
        pytest.raises(AllProvidersFailedError) as caught,
    ):
        await collect(["exiter"])
    assert isinstance(caught.value.errors[0][1], ProviderContractError)


async def test_keyboard_interrupt_is_contained_only_when_no_signal_can_raise_it() -> None:
    loop = asyncio.get_running_loop()
    with registered("interrupter", raiser(KeyboardInterrupt())):
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with pytest.raises(KeyboardInterrupt):  # a real Ctrl-C could have raised it
                await collect("interrupter")
            loop.add_signal_handler(signal.SIGINT, lambda: None)  # what `aichats serve` does
            try:
                with pytest.raises(ProviderContractError, match="KeyboardInterrupt"):
                    await collect("interrupter")
            finally:
                loop.remove_signal_handler(signal.SIGINT)
        finally:
            signal.signal(signal.SIGINT, previous)


async def test_cancellation_is_never_contained() -> None:
    with (
        registered("cancelled", raiser(asyncio.CancelledError())),
        pytest.raises(asyncio.CancelledError),
    ):
        await collect("cancelled")
    # The same boundary contains this one.
    with registered("exiter", raiser(SystemExit(1))), pytest.raises(ProviderContractError):
        await collect("exiter")


class ExitingModels(Raiser):
    @classmethod
    def get_model(cls, model: str | None) -> str:
        raise SystemExit("no models today")


async def test_model_resolution_that_exits_is_a_contract_error_at_the_call() -> None:
    with registered("exiter", ExitingModels):
        with pytest.raises(ProviderContractError, match="SystemExit: no models today"):
            stream("exiter", "hi")
        answering = ScriptedProvider.script("fallback")
        with registered("next", answering):
            assert (await collect(["exiter", "next"]))[0] == TextChunk(text="fallback")


@pytest.mark.parametrize(
    ("statement", "cause"),
    [("raise SystemExit(2)", "SystemExit: 2"), ("assert False, 'check'", "AssertionError: check")],
)
def test_a_plugin_that_exits_at_import_is_recorded_as_broken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, statement: str, cause: str
) -> None:
    module = f"exits_at_import_{cause.split(':')[0].lower()}"
    (tmp_path / f"{module}.py").write_text(statement + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    entry_point = importlib.metadata.EntryPoint("exiter", f"{module}:P", ENTRY_POINT_GROUP)
    loaded = load_entry_point(ENTRY_POINT_GROUP, entry_point, PROVIDER_CONTRACT)
    assert loaded.plugin is None
    assert loaded.failure is not None
    assert f"provider 'exiter' cannot be loaded: {cause}" in str(loaded.failure)
