"""Incoming W3C trace context (``traceparent``) as the parent of a request's calls.

``create_app`` adds this middleware only while ``aichats_core.telemetry`` is instrumented,
so a server without it neither imports opentelemetry nor pays a layer per request.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler
from opentelemetry import context, propagate, trace


@web.middleware
async def trace_context_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler in the context the request's headers carry (the global propagator:
    W3C ``traceparent`` and baggage unless ``OTEL_PROPAGATORS`` says otherwise), so that its
    calls' spans are children of the remote span. A span already current (the aiohttp server
    instrumentation's own, which is a child of the same remote span) is kept."""
    if trace.get_current_span().get_span_context().is_valid:
        return await handler(request)
    token = context.attach(propagate.extract(request.headers))
    try:
        return await handler(request)
    finally:
        context.detach(token)
