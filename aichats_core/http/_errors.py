"""The one place where aiohttp's exceptions become aichats errors.

Callers see which provider failed and what to do; the aiohttp exception stays reachable as
``__cause__`` for debugging.
"""

from __future__ import annotations

import asyncio
import errno
import os

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from aichats_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeoutError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.http._proxy import redact

TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
"""What ``translate`` understands; catch exactly these at the boundary."""


def translate(
    exc: BaseException, provider: str, *, reading: bool, timeout: float | None
) -> ProviderError | InvalidRequestError:
    """The aichats error for a transport failure. ``reading``: the answer had started arriving."""
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's own timeouts subclass it too
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            phase = "connecting"
        elif reading:
            phase = "waiting for the next bytes of the answer"
        else:  # connected and the request sent, but no status line yet
            phase = "waiting for the service to answer"
        bound = f" after {timeout:g}s" if timeout is not None else ""
        return ProviderTimeoutError(
            provider, f"timed out {phase}{bound}; raise the 'timeout' option if the service is slow"
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return InvalidRequestError(f"{provider}: invalid URL {redact(str(exc.url))}")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ProviderHTTPError(provider, exc.status, "too many redirects")
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # the proxy refused an https tunnel
        return ProviderHTTPError(
            provider, exc.status, f"the proxy refused the tunnel: {exc.message}"
        )
    if isinstance(exc, aiohttp.ClientResponseError):
        if isinstance(exc.__cause__, HttpProcessingError):
            return _not_http(exc, provider)
        return ProviderHTTPError(provider, exc.status, exc.message)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ProviderConnectionError(
            provider, f"cannot resolve host {exc.host!r}; check the URL and your network"
        )
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return ProviderConnectionError(
            provider,
            f"cannot connect to the proxy at {exc.host}:{exc.port}; check the proxy option"
            " or the HTTP(S)_PROXY environment variables",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        reason = os.strerror(code) if code else type(exc.os_error).__name__
        return ProviderConnectionError(
            provider, f"cannot connect to {exc.host}:{exc.port}: {reason}; is the service up?"
        )
    if reading and isinstance(
        exc,
        aiohttp.ClientPayloadError
        | aiohttp.ServerDisconnectedError
        | aiohttp.ClientOSError
        | ConnectionResetError,
    ):
        return StreamInterruptedError(
            provider, f"the connection was cut before the answer was complete ({_short(exc)})"
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ProviderConnectionError(
            provider, "the service closed the connection without answering; is it up and healthy?"
        )
    if isinstance(exc, ConnectionResetError) or (
        isinstance(exc, OSError) and exc.errno == errno.ECONNRESET
    ):
        return ProviderConnectionError(
            provider, f"the connection was reset before the service answered ({_short(exc)})"
        )
    return ProviderConnectionError(provider, f"connection failed: {_short(exc)}")


def _not_http(exc: aiohttp.ClientResponseError, provider: str) -> ProviderError:
    """aiohttp could not parse the answer's status line or headers.

    It reports that as a ``ClientResponseError`` with status 400 (its parser's code, chained
    from an ``HttpProcessingError``), but the service sent no status at all: calling it
    "HTTP 400" would blame a request that was fine. A status line that is not HTTP means the
    address is served by something else (an SSH server, TLS, another protocol): a connection
    problem of ``base_url``. Broken headers after a real status line are a malformed answer.
    """
    detail = " ".join(part for part in exc.message.split() if part != "^")
    detail = detail if len(detail) <= 200 else detail[:197] + "..."
    # The pure-Python parser quotes bytes decoded with surrogateescape: not text to pass on.
    detail = redact(detail.encode("utf-8", "backslashreplace").decode())
    url = exc.request_info.real_url
    where = f"{url.host}:{url.port}" if url.host else "the service"
    # Both of aiohttp's parsers quote the line they refused: 'HTTP/1.1 abc OK' is HTTP, broken.
    if exc.message.startswith("Bad status line") and "'HTTP/" not in exc.message:
        return ProviderConnectionError(
            provider,
            f"what answers at {where} does not speak HTTP ({detail}); check base_url: its"
            " scheme, host and port",
        )
    return ResponseFormatError(provider, f"the answer is not valid HTTP ({detail})")


def _short(exc: BaseException) -> str:
    text = redact(_describe(exc)) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _describe(exc: BaseException) -> str:
    """``str(exc)``, minus the internal status code aiohttp puts in payload errors.

    A ``ClientPayloadError`` quotes its parser's exception as ``<ContentLengthError: 400,
    message='...'>``: that 400 only concerns aiohttp's parser, but reads as an HTTP 400 from
    the service. Only the message is kept.
    """
    text = str(exc)
    cause = exc.__cause__
    if isinstance(exc, aiohttp.ClientPayloadError) and cause is not None:
        detail = getattr(cause, "message", None)
        if isinstance(detail, str) and detail:
            return text.replace(repr(cause), detail)
    return text
