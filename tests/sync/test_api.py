"""The sync API's names and signatures are the async API's."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import aichats_core
from aichats_core import ResultStream, TextChunk, sync
from aichats_core.sync._loop import background
from aichats_core.sync._proxy import SyncProxy, blocking, streaming


def parameters(function: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())


def test_all_is_exactly_the_public_api() -> None:
    assert sync.__all__ == [
        "Client",
        "Conversation",
        "SyncResultStream",
        "complete",
        "conversation",
        "stream",
    ]
    assert dir(sync) == sync.__all__
    for name in sync.__all__:
        assert getattr(sync, name).__module__ == "aichats_core.sync", name


def test_the_calls_take_exactly_what_the_async_calls_take() -> None:
    assert inspect.signature(sync.complete) == inspect.signature(aichats_core.complete)
    assert parameters(sync.stream) == parameters(aichats_core.stream)
    assert inspect.signature(sync.stream).return_annotation == "SyncResultStream"
    assert parameters(sync.Client) == parameters(aichats_core.Client)
    for name in ("complete", "stream"):
        assert parameters(getattr(sync.Client, name)) == parameters(
            getattr(aichats_core.Client, name)
        )
        assert getattr(sync.Client, name).__doc__ == getattr(aichats_core.Client, name).__doc__


class Counter:
    """An async object of the kind a proxy serves: state that belongs to its loop."""

    def __init__(self) -> None:
        self.count = 0

    async def add(self, step: int, *, times: int = 1) -> int:
        self.count += step * times
        return self.count

    def counted(self, prefix: str) -> ResultStream:
        if not prefix:
            raise ValueError("a prefix, please")  # raised at the call, as validation is

        async def events() -> AsyncIterator[TextChunk]:
            for n in range(self.count):
                yield TextChunk(text=f"{prefix}{n}")

        return ResultStream(events())  # type: ignore[arg-type]


class SyncCounter(SyncProxy[Counter]):
    add = blocking(Counter, lambda counter: counter.add)
    counted = streaming(Counter, lambda counter: counter.counted)


def test_a_proxy_blocks_on_coroutine_methods_and_iterates_stream_methods() -> None:
    home = background()
    counter = SyncCounter(home.run(_built()), home)
    assert counter.add(2, times=2) == 4
    assert [e.text for e in counter.counted("n") if isinstance(e, TextChunk)] == [
        "n0",
        "n1",
        "n2",
        "n3",
    ]
    with pytest.raises(ValueError, match="a prefix, please"):
        counter.counted("")  # at the call, on the loop thread, re-raised here
    assert parameters(SyncCounter.add) == parameters(Counter.add)
    assert SyncCounter.add.__qualname__ == "SyncCounter.add"


async def _built() -> Counter:
    return Counter()
