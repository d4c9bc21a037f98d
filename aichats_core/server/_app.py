"""The aiohttp application: routes, the error and auth middlewares, and the app's lifetime.

The app owns one ``Client``, made on startup and closed on cleanup, so every request shares
one connection pool. When shutdown begins, open streams get ``shutdown_grace`` seconds to
finish; then they end with an in-band error instead of being cut mid-answer.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from aichats_core._client import Client
from aichats_core.errors import AiChatsError, InvalidRequestError
from aichats_core.server._catalog import catalog, resolve
from aichats_core.server._chat import chat_completions
from aichats_core.server._errors import (
    ApiError,
    from_aichats,
    from_http,
    internal_error,
    logger,
)
from aichats_core.server._image_api import FILES_PATH, generations, image_file
from aichats_core.server._openai import model_object
from aichats_core.server._state import STATE, ServerState, checked_provider_options

DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_KEEPALIVE_INTERVAL = 15.0


def create_app(
    *,
    provider_options: Mapping[str, Mapping[str, Any]] | None = None,
    api_key: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    keepalive_interval: float = DEFAULT_KEEPALIVE_INTERVAL,
) -> web.Application:
    """The OpenAI-compatible API as an aiohttp application, for any aiohttp runner.

    ``provider_options`` gives options to one provider each (``{"aichats": {"base_url":
    ...}}``); ``proxy`` and ``retries`` among them apply to that provider's calls.
    ``api_key`` requires ``Authorization: Bearer <api_key>``. Bodies over ``max_body_bytes``
    get 413; a stream silent for ``keepalive_interval`` seconds gets a comment line.
    """
    if api_key is not None and not api_key:
        raise InvalidRequestError("api_key is empty: give a key, or None for no authentication")
    if max_body_bytes < 1 or keepalive_interval <= 0:
        raise InvalidRequestError("max_body_bytes and keepalive_interval must be positive")
    state = ServerState(
        provider_options=checked_provider_options(provider_options),
        api_key=api_key,
        max_body_bytes=max_body_bytes,
        keepalive_interval=keepalive_interval,
        created=int(time.time()),
    )
    app = web.Application(
        client_max_size=max_body_bytes, middlewares=[_errors_middleware, _auth_middleware]
    )
    app[STATE] = state
    app.cleanup_ctx.append(_lifetime)
    app.on_shutdown.append(_begin_grace)
    app.router.add_get("/v1/models", _list_models)
    app.router.add_get("/v1/models/{model:.+}", _retrieve_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/images/generations", generations)
    app.router.add_get(FILES_PATH + "{name}", image_file)
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    state.closing = asyncio.get_running_loop().create_future()
    async with Client() as client:
        state.client = client
        try:
            yield
        finally:
            state.client = None
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


@web.middleware
async def _errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as an OpenAI-style JSON error; tracebacks stay in the log."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except AiChatsError as exc:
        return from_aichats(exc).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return from_http(exc, request, request.app[STATE].max_body_bytes).response()
    except Exception:  # noqa: BLE001 - the server's boundary: anything else is our bug
        logger.exception("internal error answering %s %s", request.method, request.path)
        return internal_error().response()


@web.middleware
async def _auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Authorization: Bearer <key>`` on every route but image files, whose random names are
    their own credential (clients hand those URLs to browsers)."""
    expected = request.app[STATE].api_key
    if expected is None or request.path.startswith(FILES_PATH):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        message = (
            "incorrect API key provided"
            if given
            else "you didn't provide an API key; send it as 'Authorization: Bearer <key>'"
        )
        raise ApiError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    return await handler(request)


async def _list_models(request: web.Request) -> web.Response:
    created = request.app[STATE].created
    data = [model_object(entry.id, created, entry.provider) for entry in catalog()]
    return web.json_response({"object": "list", "data": data})


async def _retrieve_model(request: web.Request) -> web.Response:
    model_id = request.match_info["model"]
    target = resolve(model_id)
    return web.json_response(model_object(model_id, request.app[STATE].created, target.provider))
