"""Errors as OpenAI clients expect them: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a client can see goes through here, so the status codes that drive the SDKs'
exception classes and retries are decided in one place, and no traceback is ever sent.

=========================================  ======  =======================  ==================
aichats error                              status  type                     code
=========================================  ======  =======================  ==================
ProviderNotFoundError, ModelNotSupported   404     invalid_request_error    model_not_found
InvalidOptionError (the server's options)  500     server_error             server_misconfigured
CapabilityError                            400     invalid_request_error    unsupported_by_provider
other InvalidRequestError                  400     invalid_request_error    invalid_request
RateLimitError                             429     rate_limit_error         rate_limit_exceeded
ProviderHTTPError 400, 413, 422            400     invalid_request_error    upstream_invalid_request
ProviderHTTPError 404                      404     invalid_request_error    model_not_found
ProviderTimeoutError                       504     api_error                upstream_timeout
other ProviderError, AllProvidersFailed    502     api_error                upstream_error
PluginLoadError                            503     api_error                provider_unavailable
ProviderUnavailableError (breaker open)    503     api_error                provider_cooling_down
=========================================  ======  =======================  ==================

Errors are mapped by type, never by their text. The messages of upstream failures are fixed per
kind ("provider 'AiChats' could not be reached", "... answered HTTP 503"); their detail goes to
the ``aichats_core.server`` log. An upstream that refused the request itself (HTTP 400, 404,
413, 422) is the client's to fix: it keeps its status class and the upstream's reason, scrubbed
of credentials and cut short. An upstream 401 or 403 is a 502: the credentials it refused are
the server's own (its ``-o`` options), not the client's key to this server, and a 401 would
tell the client to change a key that is right.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from aichats_core import is_transient
from aichats_core.errors import (
    AiChatsError,
    AllProvidersFailedError,
    CapabilityError,
    InvalidOptionError,
    InvalidRequestError,
    ModelNotSupportedError,
    PluginLoadError,
    ProviderConnectionError,
    ProviderContractError,
    ProviderError,
    ProviderHTTPError,
    ProviderNotFoundError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.redaction import Scrubber

logger = logging.getLogger("aichats_core.server")


class ApiError(Exception):
    """A failure to answer with an OpenAI-style error body; raised by handlers, sent by the
    error middleware (or in-band, once a stream has begun)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # the wire name, shadowing the builtin here only
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.close = close
        """Close the connection after answering: what is left of the request is unread."""
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> web.Response:
        response = web.Response(
            status=self.status,
            text=json.dumps(self.body()),
            content_type="application/json",
            headers=self.headers,
        )
        if self.close:
            response.force_close()
        return response


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, message, param=param, code=code)


_CAPABILITY_PARAMS = {"tools": "tools", "json_output": "response_format"}


def incapable(error: CapabilityError, features: Mapping[str, Any]) -> ApiError:
    """The request needs what the provider cannot take: the core's message (it names the
    provider), and ``param`` the parameter asking for it (``messages`` for tool calls and
    results, or images, in the conversation)."""
    param = _CAPABILITY_PARAMS.get(error.capability, "messages")
    if param not in features:
        param = "messages"
    return ApiError(400, str(error), param=param, code="unsupported_by_provider")


def from_aichats(error: AiChatsError) -> ApiError:
    """The client-facing form of an aichats error, logged here with its full detail.

    Clients get a fixed message per kind of failure: the detail of a provider's failure can
    hold upstream addresses, proxy hosts or a plugin's exception text, which stay in the log.
    """
    if isinstance(error, ProviderNotFoundError | ModelNotSupportedError):
        return ApiError(404, str(error), param="model", code="model_not_found")
    if isinstance(error, InvalidOptionError):
        # Clients send no provider options: a refusal of options is the operator's doing.
        logger.error("server misconfigured: %s", error)
        return ApiError(
            500,
            "server misconfigured: a provider refused the options this server gives it;"
            " the server's log says which",
            type="server_error",
            code="server_misconfigured",
            headers={"x-should-retry": "false"},
        )
    if isinstance(error, CapabilityError):
        return incapable(error, {})
    if isinstance(error, InvalidRequestError):
        return bad_request(str(error))
    if isinstance(error, PluginLoadError):
        logger.error("%s", error)
        return ApiError(
            503,
            f"provider {error.name!r} cannot be loaded on this server (a broken or conflicting"
            " plugin); the server's log says why",
            type="api_error",
            code="provider_unavailable",
            headers={"x-should-retry": "false"},
        )
    if isinstance(error, ProviderError | AllProvidersFailedError):
        return _upstream(error)
    logger.error("unmapped aichats error: %s: %s", type(error).__name__, error)
    return internal_error()


def _upstream(error: ProviderError | AllProvidersFailedError) -> ApiError:
    if isinstance(error, AllProvidersFailedError):
        logger.warning("upstream failure: %s", error)
        names = ", ".join(repr(name) for name, _ in error.errors)
        return ApiError(
            502,
            f"every provider failed ({names}); the server's log says why",
            type="api_error",
            code="upstream_error",
        )
    if isinstance(error, ProviderContractError):
        # A plugin's bug: its own traceback (the cause) is what its authors need.
        logger.error("provider %r broke its contract: %s", error.provider, error, exc_info=error)
    else:
        logger.warning("provider %r failed: %s: %s", error.provider, type(error).__name__, error)
    what = f"provider {error.provider!r}"
    if isinstance(error, ProviderUnavailableError):
        return _cooling(what, error)
    if isinstance(error, RateLimitError):
        message = f"{what} is rate limiting"
        headers = {}
        if error.retry_after is not None:
            message += f"; retry after {error.retry_after:g}s"
            # Retry-After takes whole seconds; the OpenAI SDKs prefer the precise variant.
            headers["Retry-After"] = str(max(0, math.ceil(error.retry_after)))
            headers["retry-after-ms"] = str(max(0, round(error.retry_after * 1000)))
        return ApiError(
            429, message, type="rate_limit_error", code="rate_limit_exceeded", headers=headers
        )
    # Retrying a broken answer only repeats it: tell the SDKs, which honour this header. Only
    # the default transient statuses count: a provider's own ``transient_statuses`` are on its
    # class, and the error names the provider as the provider itself did (not necessarily by
    # its registered name), so the class cannot be found from here. The core's retries use them.
    headers = {} if is_transient(error) else {"x-should-retry": "false"}
    if isinstance(error, ProviderHTTPError) and error.status in _REFUSALS:
        return _refused_upstream(what, error)
    if isinstance(error, ProviderTimeoutError):
        return ApiError(
            504, f"{what} timed out", type="api_error", code="upstream_timeout", headers=headers
        )
    return ApiError(
        502, _failure(what, error), type="api_error", code="upstream_error", headers=headers
    )


def _cooling(what: str, error: ProviderUnavailableError) -> ApiError:
    """A provider whose breaker is open: nothing was sent; come back when it may be."""
    wait = error.retry_after
    model = f" for model {error.model!r}" if error.model else ""
    return ApiError(
        503,
        f"{what} is cooling down{model} after repeated failures; retry after {math.ceil(wait)}s"
        " or choose another model",
        type="api_error",
        code="provider_cooling_down",
        headers={"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(round(wait * 1000))},
    )


_REFUSALS = (400, 404, 413, 422)
"""Upstream statuses that say the request itself was wrong: the client's to fix."""
_REASON_CHARS = 300
_scrub = Scrubber()


def _refused_upstream(what: str, error: ProviderHTTPError) -> ApiError:
    """The upstream refused the request: its status class, and its reason, scrubbed."""
    reason = _scrub(_reason(error.body))
    if len(reason) > _REASON_CHARS:
        reason = reason[:_REASON_CHARS] + "..."
    message = f"{what} refused the request (HTTP {error.status})" + (
        f": {reason}" if reason else ""
    )
    headers = {"x-should-retry": "false"}
    if error.status == 404:
        return ApiError(404, message, param="model", code="model_not_found", headers=headers)
    return ApiError(400, message, code="upstream_invalid_request", headers=headers)


def _reason(body: str) -> str:
    """The message of an upstream error body: OpenAI's ``{"error": {"message"}}``, the usual
    variants, or the text itself; printable characters only."""
    text = body.strip()
    try:
        parsed = json.loads(text) if text.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        found = parsed.get("error", parsed)
        if isinstance(found, dict):
            found = found.get("message", found.get("detail"))
        if isinstance(found, str):
            text = found
    return "".join(char if char.isprintable() else " " for char in text[: _REASON_CHARS * 2])


def _failure(what: str, error: ProviderError) -> str:
    """What went wrong upstream, in words that carry no upstream detail."""
    if isinstance(error, ProviderHTTPError):
        return f"{what} answered HTTP {error.status}"
    if isinstance(error, ProviderConnectionError):
        return f"{what} could not be reached"
    if isinstance(error, StreamInterruptedError):
        return f"{what} stopped before the answer was complete"
    if isinstance(error, ResponseFormatError):
        return f"{what} answered something this server cannot read (see the server log)"
    return f"{what} failed (see the server log)"


def internal_error() -> ApiError:
    return ApiError(500, "internal error", type="server_error", code="internal_error")


def body_too_large(limit: int) -> ApiError:
    """Also closes the connection: the rest of the body is not worth reading."""
    return ApiError(
        413,
        f"the request body is over the limit of {limit} bytes (counted after decompression)",
        code="request_too_large",
        close=True,
    )


def answer_too_large(provider: str, limit: int) -> ApiError:
    """A non-streaming answer grew past ``max_answer_bytes``; a stream would have carried it."""
    return ApiError(
        502,
        f"the answer of provider {provider!r} is over this server's limit of {limit} bytes"
        ' for an answer in one piece; ask with "stream": true to receive it as it comes',
        type="api_error",
        code="answer_too_large",
        headers={"x-should-retry": "false"},
    )


def shutting_down() -> ApiError:
    return ApiError(
        503,
        "the server is shutting down; send the request again",
        type="server_error",
        code="server_shutting_down",
    )


def _shown(path: str) -> str:
    """The client's own path, as much of it as a message needs, without control characters."""
    cut = path[:_SHOWN_PATH] + ("..." if len(path) > _SHOWN_PATH else "")
    return "".join(char if char.isprintable() else "?" for char in cut)


_SHOWN_PATH = 100
ENDPOINTS = (
    "GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions, POST /v1/responses,"
    " POST /v1/images/generations"
)
"""What an unknown URL is told exists."""


def from_http(exc: web.HTTPException, request: web.Request, body_limit: int) -> ApiError:
    """aiohttp's own refusals (unknown route, wrong method, body too large) in OpenAI form."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    if exc.status == 404:
        return ApiError(
            404,
            f"unknown request URL: {request.method} {_shown(request.path)}; this server"
            f" serves {ENDPOINTS}",
            code="unknown_url",
        )
    if exc.status == 405:
        allowed = headers.get("Allow", "")
        return ApiError(
            405,
            f"method {request.method} is not allowed on {_shown(request.path)}; use {allowed}",
            code="method_not_allowed",
            headers=headers,
        )
    if exc.status == 413:
        return ApiError(
            413,
            f"the request body is over the limit of {body_limit} bytes",
            code="request_too_large",
        )
    kind = "server_error" if exc.status >= 500 else "invalid_request_error"
    return ApiError(exc.status, exc.reason, type=kind, headers=headers)
