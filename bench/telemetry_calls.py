"""300 short chat calls through one ``Client`` with ``aichats_core.telemetry`` instrumented,
against the same calls without it.

Both talk to the same emulator in alternating batches (see ``short_calls``). Instrumented,
each batch instruments before its calls and, still timed, waits until the hooks' thread has
made every span (``flush``), then uninstruments: "instrumented vs none" is the whole cost,
the spans' CPU included, none of it left to spill into the next batch. Spans go to an SDK
``TracerProvider`` with a ``BatchSpanProcessor``, as deployments set it up, whose exporter
drops them (exporting is the backend's cost, not ours).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from aichats_core import Client
from aichats_core.hooks import flush
from aichats_core.telemetry import instrument
from bench._harness import Comparison, compare, emulator_process


class _Counting(SpanExporter):
    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


async def measure(calls: int = 300, rounds: int = 15, batch: int = 50) -> Comparison:
    exporter = _Counting()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    with emulator_process(text="OK", events=1) as url:
        async with Client(base_url=url, health=False) as client:

            async def plain() -> None:
                for _ in range(batch):
                    assert await client.complete("aichats", "hi") == "OK"

            async def instrumented() -> None:
                uninstrument = instrument(provider)
                try:
                    await plain()
                    assert flush(30)
                finally:
                    uninstrument()

            variants: dict[str, Callable[[], Awaitable[None]]] = {
                "none": plain,
                "instrumented": instrumented,
            }
            result = await compare(f"{calls} short calls", variants, rounds * calls // batch)
    provider.shutdown()  # exports what is left
    assert exporter.spans >= 2 * rounds * calls  # a call span and an attempt span per call
    for times in result.times.values():
        times[:] = [elapsed * calls / batch for elapsed in times]
    result.extra["instrumented vs none"] = result.ratio("instrumented", "none")
    return result
