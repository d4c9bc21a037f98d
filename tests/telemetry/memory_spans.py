"""An SDK ``TracerProvider`` exporting to memory, and what the tests read of it."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aichats_core.hooks import flush


@dataclass
class Traced:
    provider: TracerProvider
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        """Every span ended so far, once the hooks' thread has made them."""
        assert flush()
        return list(self.exporter.get_finished_spans())

    def calls(self) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.kind is SpanKind.CLIENT]

    def attempts(self) -> list[ReadableSpan]:
        found = [span for span in self.spans() if span.kind is SpanKind.INTERNAL]
        return sorted(found, key=lambda span: span.start_time or 0)


def memory_provider() -> Traced:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Traced(provider, exporter)
