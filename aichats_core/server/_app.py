"""The aiohttp application: its settings, routes and lifetime.

The app owns one ``Client``, made on startup and closed on cleanup, so every request shares
one connection pool. When shutdown begins, open streams get ``shutdown_grace`` seconds to
finish; then they end with an in-band error instead of being cut mid-answer.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Collection, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from aichats_core import Client, normalize_name, telemetry
from aichats_core.errors import InvalidRequestError
from aichats_core.history import HistoryStore
from aichats_core.server._chat import chat_completions
from aichats_core.server._hosts import checked_public_url
from aichats_core.server._image_api import generations, image_file
from aichats_core.server._images import FILES_PATH
from aichats_core.server._limits import ServerLimits
from aichats_core.server._middlewares import (
    auth_middleware,
    errors_middleware,
    host_middleware,
    json_middleware,
)
from aichats_core.server._models_api import list_models, retrieve_model
from aichats_core.server._options import checked_provider_options
from aichats_core.server._responses import responses
from aichats_core.server._state import STATE, ServerState
from aichats_core.server._web_api import (
    PREFIX,
    chat,
    conversation,
    conversations,
    forget,
    providers,
)
from aichats_core.server._web_page import index, static

DEFAULT_KEEPALIVE_INTERVAL = 15.0


def create_app(
    *,
    provider_options: Mapping[str, Mapping[str, Any]] | None = None,
    api_key: str | None = None,
    keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
    max_connections: int = 0,
    public_url: str | None = None,
    served_providers: Collection[str] | None = None,
    history: bool | str | os.PathLike[str] | None = None,
    **limits: Any,
) -> web.Application:
    """The OpenAI-compatible API as an aiohttp application, for any aiohttp runner.

    ``provider_options`` gives options to one provider each (``{"aichats": {"base_url":
    ...}}``); ``proxy`` and ``retries`` among them apply to that provider's calls. They are
    checked now: an unknown provider, a broken plugin, or a key the provider does not declare
    raise here. ``api_key`` requires ``Authorization: Bearer <api_key>``. A stream silent for
    ``keepalive_interval`` seconds gets a comment line. ``max_connections`` caps the
    connections to providers (0: no cap; calls beyond a cap wait, and the wait counts against
    their connect timeout). ``public_url`` (``https://api.example.com``) is where clients reach
    the server, e.g. behind a TLS proxy: image URLs start with it, instead of with the
    request's own ``Host``. ``served_providers``, when given, are the only providers served
    (``--emulate``: those pointed at an emulator); requests for others are refused, and no
    other provider is listed or called. The other keywords are the fields of ``ServerLimits``
    (``max_body_bytes``, ``head_timeout``, ...), checked here too.

    ``history`` is where the chat page at ``/`` records and finds its conversations: a path,
    True for the history of ``AICHATS_HOME`` (``aichats logs``' own), False for none (the
    page then has no API); None, the default, is True unless ``AICHATS_HISTORY=0``.

    When ``aichats_core.telemetry`` is instrumented (before this is called), a request's
    ``traceparent`` header makes its calls' spans children of the remote span.
    """
    if api_key is not None and not api_key:
        raise InvalidRequestError("api_key is empty: give a key, or None for no authentication")
    if keepalive_interval <= 0:
        raise InvalidRequestError("keepalive_interval must be positive")
    if max_connections < 0:
        raise InvalidRequestError("max_connections must be 0 (no cap) or more")
    public = checked_public_url(public_url) if public_url is not None else None
    state = ServerState(
        provider_options=checked_provider_options(provider_options),
        api_key=api_key,
        limits=_limits(limits),
        keepalive_interval=keepalive_interval,
        created=int(time.time()),
        max_connections=max_connections,
        public_url=public,
        served=None if served_providers is None else _served(served_providers),
    )
    if public is not None:
        state.host_names.add((URL(public).host or "").lower())
    middlewares = [errors_middleware, host_middleware, auth_middleware, json_middleware]
    if telemetry.is_instrumented():  # else opentelemetry is neither imported nor paid for
        from aichats_core.server._tracing import trace_context_middleware

        middlewares.insert(0, trace_context_middleware)
    app = web.Application(
        client_max_size=state.limits.max_body_bytes,
        middlewares=middlewares,
        # Bodies are inflated by read_json, counting bytes as they come: aiohttp's parser
        # would inflate a gzip bomb before anything could check the key or the size.
        # After a refusal, what is left of a body is read and dropped for 2 s at most (10 by
        # default), so that a client trickling a body cannot hold the connection on.
        handler_args={"auto_decompress": False, "lingering_time": 2.0},
    )
    app[STATE] = state
    app[HISTORY] = _history_path(history)
    app.cleanup_ctx.append(_lifetime)
    app.on_shutdown.append(_begin_grace)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", retrieve_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/responses", responses)
    app.router.add_post("/v1/images/generations", generations)
    app.router.add_get(FILES_PATH + "{name}", image_file)
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
    app.router.add_get(PREFIX + "providers", providers)
    app.router.add_get(PREFIX + "conversations", conversations)
    app.router.add_get(PREFIX + "conversations/{id}", conversation)
    app.router.add_delete(PREFIX + "conversations/{id}", forget)
    app.router.add_post(PREFIX + "chat", chat)
    return app


HISTORY = web.AppKey("aichats_server_history", object)


def _history_path(history: bool | str | os.PathLike[str] | None) -> Path | None:
    from aichats_core.history import default_path, history_enabled

    if history is None:
        history = history_enabled()
    if history is False:
        return None
    return default_path() if history is True else Path(history)


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    state.closing = asyncio.get_running_loop().create_future()
    path = app[HISTORY]
    store = HistoryStore(path) if isinstance(path, Path) else None
    async with Client(max_connections=state.max_connections) as client:
        # The page's client records its turns; it shares the API's connection pool (and so
        # its --max-connections cap).
        web_client = None if store is None else Client(session=client.session, history=store)
        state.client, state.history, state.web_client = client, store, web_client
        try:
            yield
        finally:
            state.client = state.web_client = state.history = None
            if web_client is not None:
                await web_client.aclose()  # writes its last turns; the session is the API's
            if not state.closing.done():
                state.closing.set_result(None)


async def _begin_grace(app: web.Application) -> None:
    """Shutdown began (no new connections): streams may run ``shutdown_grace`` more seconds."""
    state = app[STATE]
    closing = state.require_closing()

    def close() -> None:
        if not closing.done():
            closing.set_result(None)

    handle = asyncio.get_running_loop().call_later(state.shutdown_grace, close)
    closing.add_done_callback(lambda _: handle.cancel())


def _limits(given: dict[str, Any]) -> ServerLimits:
    try:
        return ServerLimits(**given)
    except TypeError:
        raise TypeError(f"create_app() got unexpected keyword arguments: {sorted(given)}") from None


def _served(names: Collection[str]) -> frozenset[str]:
    if isinstance(names, str):
        raise InvalidRequestError("served_providers must be a collection of provider names")
    return frozenset(normalize_name(name) for name in names)
