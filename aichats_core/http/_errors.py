"""The one place where aiohttp's exceptions become aichats errors.

Callers see which provider failed and what to do; the aiohttp exception stays reachable as
``__cause__`` for debugging.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import errno
import math
import os
import time
from collections.abc import Mapping

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from aichats_core.errors import (
    ConnectTimeoutError,
    InvalidRequestError,
    PoolTimeoutError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RateLimitError,
    ReadTimeoutError,
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
        return _timeout(exc, provider, reading=reading, timeout=timeout)
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
        # What the provider's own ``response.raise_for_status()`` raised: the body is gone.
        url = redact(str(exc.request_info.real_url))
        return http_error(provider, exc.status, exc.headers, exc.message, url=url)
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


def http_error(
    provider: str,
    status: int,
    headers: Mapping[str, str] | None,
    excerpt: str,
    *,
    url: str = "",
) -> ProviderHTTPError:
    """The error for an HTTP error status: 429 is a ``RateLimitError`` with its Retry-After."""
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RateLimitError(provider, excerpt, retry_after=retry_after, url=url)
    if status == 407:  # only a proxy answers 407
        excerpt = "the proxy wants credentials, or refused the ones in the proxy URL"
    return ProviderHTTPError(provider, status, excerpt, url=url)


def _timeout(
    exc: asyncio.TimeoutError, provider: str, *, reading: bool, timeout: float | None
) -> ProviderTimeoutError:
    """The phase that ran out of time, told apart by aiohttp's exception (and, for a wait for
    a pooled connection, which aiohttp reports as a connection timeout, by where it happened)."""
    bound = f" after {timeout:g}s" if timeout is not None else ""
    if isinstance(exc, aiohttp.ConnectionTimeoutError) and _waited_for_pool(exc):
        return PoolTimeoutError(
            provider,
            f"timed out waiting for a free connection of the pool{bound}: all are busy; raise"
            " the Client's max_connections, or the 'timeout' option",
        )
    error: type[ProviderTimeoutError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error, phase = ConnectTimeoutError, "connecting"
    elif reading:
        error, phase = ReadTimeoutError, "waiting for the next bytes of the answer"
    else:  # connected and the request sent, but no status line yet
        error, phase = ReadTimeoutError, "waiting for the service to answer"
    return error(
        provider, f"timed out {phase}{bound}; raise the 'timeout' option if the service is slow"
    )


_POOL_WAIT = getattr(
    getattr(aiohttp.BaseConnector, "_wait_for_available_connection", None), "__code__", None
)
"""The code of aiohttp's wait for a free connection under a limit (3.10+)."""


def _waited_for_pool(exc: BaseException) -> bool:
    """Whether the timeout struck while aiohttp waited for a free pooled connection.

    aiohttp raises the same ``ConnectionTimeoutError`` for both, from one ``connect`` timeout:
    only the traceback of the cancellation that the timeout caused says where it struck. Read
    on failures only, so calls that succeed pay nothing. Should aiohttp rename that method, a
    pool wait is reported as a connection timeout, which it also is.
    """
    if _POOL_WAIT is None:
        return False
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 4:  # ConnectionTimeoutError <- TimeoutError <- Cancelled
        traceback = cause.__traceback__
        while traceback is not None:
            if traceback.tb_frame.f_code is _POOL_WAIT:
                return True
            traceback = traceback.tb_next
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return False


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322, not the local time
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


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
