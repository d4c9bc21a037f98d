"""``instrument()``: once per process, undone by what it returns, light to import, a clear
error without the extra, and a span maker that neither raises on odd event orders nor
remembers calls that never end."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import time

import pytest
from memory_spans import Traced, memory_provider
from opentelemetry.sdk.trace import TracerProvider

import aichats_core
from aichats_core import _otel
from aichats_core.errors import InvalidRequestError
from aichats_core.hooks import (
    AttemptFinished,
    AttemptStarted,
    CallEnded,
    CallStarted,
    FirstEvent,
    RetryScheduled,
)
from aichats_core.telemetry import instrument, is_instrumented
from providers.aichats.emulator import AiChatsEmulator


async def test_uninstrumenting_stops_spans(emulator: AiChatsEmulator) -> None:
    found = memory_provider()
    uninstrument = instrument(found.provider)
    assert is_instrumented()
    await aichats_core.complete("aichats", "Hi", base_url=emulator.url)
    assert len(found.spans()) == 2
    uninstrument()
    assert not is_instrumented()
    await aichats_core.complete("aichats", "Hi", base_url=emulator.url)
    assert len(found.spans()) == 2
    uninstrument()  # twice: harmless


async def test_instrumenting_again_replaces_the_first(emulator: AiChatsEmulator) -> None:
    first, second = memory_provider(), memory_provider()
    undo_first = instrument(first.provider)
    undo_second = instrument(second.provider)
    try:
        await aichats_core.complete("aichats", "Hi", base_url=emulator.url)
        assert (len(first.spans()), len(second.spans())) == (0, 2)  # never twice
        undo_first()  # stale: the second instrumentation stays
        assert is_instrumented()
        await aichats_core.complete("aichats", "Hi", base_url=emulator.url)
        assert len(second.spans()) == 4
    finally:
        undo_second()
    assert not is_instrumented()


def test_without_opentelemetry_instrument_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    with pytest.raises(InvalidRequestError, match=r"pip install 'aichats\[otel\]'"):
        instrument()
    assert not is_instrumented()


def test_importing_telemetry_or_calling_imports_no_opentelemetry() -> None:
    code = """if True:
        import sys
        import aichats_core.telemetry
        light = [m for m in ("opentelemetry", "aiohttp", "pydantic") if m in sys.modules]
        import aichats_core
        from providers.aichats.emulator import AiChatsEmulator
        import asyncio

        async def main():
            async with AiChatsEmulator() as emulator:
                return await aichats_core.complete("aichats", "Hi", base_url=emulator.url)

        assert asyncio.run(main())
        print(light, [m for m in sys.modules if m.split(".")[0] == "opentelemetry"])
    """
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[] []"


def _tracer() -> tuple[Traced, _otel.SpanMaker]:
    found = memory_provider()
    return found, _otel.SpanMaker(found.provider.get_tracer("test"), max_open=2)


def test_events_of_a_call_never_seen_beginning_are_skipped() -> None:
    found, maker = _tracer()
    maker(AttemptStarted("aichats", "gpt-4", 0, time.time(), call=7))
    maker(FirstEvent("aichats", "gpt-4", 0.1, call=7))
    maker(RetryScheduled("aichats", "gpt-4", 1, 0.1, RuntimeError("x"), call=7))
    maker(AttemptFinished("aichats", "gpt-4", 0.2, "stop", 1, 2, call=7))
    maker(CallEnded(7, "aichats", "gpt-4", 0.3, None, 1, 2))
    maker(object())  # not an event at all
    assert found.exporter.get_finished_spans() == ()
    assert maker.open_calls == 0


def test_calls_that_never_end_are_forgotten_beyond_a_bound() -> None:
    found, maker = _tracer()
    for call in (1, 2, 3):
        maker(CallStarted(call, ("aichats",), "gpt-4", time.time(), contextvars.copy_context()))
    assert maker.open_calls == 2  # the oldest went
    maker(CallEnded(1, "aichats", "gpt-4", 0.1, None, None, None))  # forgotten: no span
    maker(CallEnded(3, "aichats", "gpt-4", 0.1, None, None, None))
    assert [span.name for span in found.exporter.get_finished_spans()] == ["chat gpt-4"]
    assert maker.open_calls == 1


def test_a_tracer_provider_given_leaves_the_global_one_alone(traced: Traced) -> None:
    from opentelemetry import trace

    assert not isinstance(trace.get_tracer_provider(), TracerProvider)
