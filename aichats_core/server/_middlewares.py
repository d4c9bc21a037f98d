"""What every request goes through, outermost first: errors, the Host guard, the API key,
and the JSON content type.

Without an API key, anything that can make a browser send a request could use the server:
a page elsewhere posting a ``text/plain`` body (no CORS preflight for that), or a page whose
domain was rebound to 127.0.0.1. Requiring ``application/json`` forces the preflight, which
this server does not answer; refusing Host names other than its own stops the rebinding.
"""

from __future__ import annotations

import asyncio
import hmac
from contextvars import ContextVar

from aiohttp import web
from aiohttp.typedefs import Handler

from aichats_core.errors import AiChatsError
from aichats_core.server._access_log import CLIENT_GONE
from aichats_core.server._errors import (
    ApiError,
    from_aichats,
    from_http,
    internal_error,
    logger,
)
from aichats_core.server._hosts import parse_host, rebinding_safe
from aichats_core.server._images import FILES_PATH
from aichats_core.server._state import STATE
from aichats_core.server._web_page import is_page

_started: ContextVar[web.StreamResponse | None] = ContextVar("aichats_started", default=None)


def began(response: web.StreamResponse) -> None:
    """Tell the error middleware that ``response`` is prepared: its status line is sent, so a
    failure from now on can only end it, not answer with another response."""
    _started.set(response)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as an OpenAI-style JSON error; tracebacks stay in the log."""
    token = _started.set(None)  # the handler runs in this task: began() sets it for us to see
    start = asyncio.get_running_loop().time()
    try:
        return await handler(request)
    except ConnectionResetError:
        logger.debug("the client of %s %s went away", request.method, request.path)
        return _gone()
    except asyncio.CancelledError:
        # The client hung up and aiohttp cancelled the handler: aiohttp logs no access line
        # for it, so it is logged here, with the status sent (or 499) and a note.
        request.protocol.log_access(request, _gone(), start)
        raise
    except Exception as exc:  # noqa: BLE001 - the server's boundary: sorted, logged, answered
        response = _started.get()
        if response is not None:
            logger.error(
                "failure after the response to %s %s began; it ends here",
                request.method,
                request.path,
                exc_info=exc,
            )
            return response
        return _error_response(request, exc)
    finally:
        _started.reset(token)


def _gone() -> web.StreamResponse:
    """The response of a request whose client went away, marked for the access log."""
    response = _started.get() or web.Response(status=499, reason="Client Closed Request")
    response[CLIENT_GONE] = True
    return response


def _error_response(request: web.Request, exc: Exception) -> web.StreamResponse:
    if isinstance(exc, ApiError):
        return exc.response()
    if isinstance(exc, AiChatsError):
        return from_aichats(exc).response()
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return from_http(exc, request, request.app[STATE].limits.max_body_bytes).response()
    logger.error("internal error answering %s %s", request.method, request.path, exc_info=exc)
    return internal_error().response()


@web.middleware
async def host_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Without an API key, only requests addressed to this server by an IP address,
    ``localhost``, or one of its own names (the bound host, ``public_url``'s) are answered."""
    state = request.app[STATE]
    host = request.headers.get("Host")
    if state.api_key is None and host is not None:
        parsed = parse_host(host)
        if parsed is None:
            raise ApiError(400, "the Host header is not a valid host[:port]", code="invalid_host")
        if not rebinding_safe(parsed[0], state.host_names):
            raise ApiError(
                400,
                "this server answers requests for localhost, IP addresses and its own names"
                " only, as it has no API key (a guard against DNS rebinding); give it an API"
                " key, or name its public address with --public-url",
                code="host_not_allowed",
            )
    return await handler(request)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Authorization: Bearer <key>`` on every route but image files, whose random names are
    their own credential (clients hand those URLs to browsers), and the chat page's static
    files, which hold nothing secret."""
    expected = request.app[STATE].api_key
    if expected is None or request.path.startswith(FILES_PATH) or is_page(request.path):
        return await handler(request)  # the page asks for the key, and sends it to the API
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    # Header bytes that are not UTF-8 arrive as surrogate escapes: compare the bytes sent.
    if not hmac.compare_digest(_raw(given), _raw(expected)):
        message = (
            "incorrect API key provided"
            if given
            else "you didn't provide an API key; send it as 'Authorization: Bearer <key>'"
        )
        raise ApiError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    return await handler(request)


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@web.middleware
async def json_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A POST must say its body is JSON, as every OpenAI client does."""
    routed = request.match_info.http_exception is None  # else the 404 or 405 says more
    if routed and request.method == "POST" and request.content_type != "application/json":
        raise ApiError(
            415,
            "send the request body as JSON, with 'Content-Type: application/json'",
            code="unsupported_media_type",
        )
    return await handler(request)
