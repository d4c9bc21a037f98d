"""OpenTelemetry tracing of calls, following the GenAI semantic conventions (``aichats[otel]``).

``instrument()`` registers one process hook (``aichats_core.hooks``) that turns each call's
events into spans: a ``chat {model}`` span of kind CLIENT per call, child of the caller's
current span, and an INTERNAL span per attempt under it. Spans are made on the hooks' thread
with the times the events carry, so a call pays only what any hook costs it.

Importing this module imports neither opentelemetry nor aiohttp nor pydantic: only
``instrument()`` imports opentelemetry.

>>> uninstrument = instrument()  # doctest: +SKIP
>>> uninstrument()  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aichats_core.errors import InvalidRequestError
from aichats_core.hooks import add_hook

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["instrument", "is_instrumented"]

INSTALL_HINT = "pip install 'aichats[otel]'"

_lock = threading.Lock()
_current: tuple[Any, Callable[[], None]] | None = None  # (its span maker, its hook's remover)


def instrument(tracer_provider: TracerProvider | None = None) -> Callable[[], None]:
    """Trace every call of this process; returns the function that stops it.

    Spans go to ``tracer_provider``, or to the global one (``opentelemetry.trace``), which
    may be set later: it is looked up when spans are made. Instrumenting again replaces the
    earlier instrumentation (spans are never made twice). Raises ``InvalidRequestError``
    when ``opentelemetry-api`` is not installed.
    """
    global _current
    try:
        from opentelemetry import trace
    except ImportError:
        raise InvalidRequestError(f"OpenTelemetry is not installed: {INSTALL_HINT}") from None
    import aichats_core
    from aichats_core._otel import SpanMaker

    tracer = trace.get_tracer("aichats", aichats_core.__version__, tracer_provider)
    maker = SpanMaker(tracer)
    with _lock:
        _stop()
        _current = (maker, add_hook(maker))

    def uninstrument() -> None:
        with _lock:
            if _current is not None and _current[0] is maker:
                _stop()

    return uninstrument


def is_instrumented() -> bool:
    """Whether ``instrument()`` is in force (``create_app`` then reads incoming trace
    context)."""
    return _current is not None


def _stop() -> None:
    global _current
    if _current is not None:
        maker, remove = _current
        remove()
        maker.stop()  # events already queued for it make no spans either
        _current = None
