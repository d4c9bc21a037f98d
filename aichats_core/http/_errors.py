"""The one place where aiohttp's exceptions become aichats errors.

Callers see which provider failed and what to do; the aiohttp exception stays reachable as
``__cause__`` for debugging.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp

from aichats_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeoutError,
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
        phase = "waiting for the next bytes of the answer" if reading else "connecting"
        bound = f" after {timeout:g}s" if timeout is not None else ""
        return ProviderTimeoutError(
            provider, f"timed out {phase}{bound}; raise the 'timeout' option if the service is slow"
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return InvalidRequestError(f"{provider}: invalid URL {redact(str(exc.url))}")
    if isinstance(exc, aiohttp.TooManyRedirects):
        return ProviderHTTPError(provider, exc.status, "too many redirects")
    if isinstance(exc, aiohttp.ClientResponseError):
        return ProviderHTTPError(provider, exc.status, exc.message)
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return ProviderConnectionError(
            provider, f"cannot resolve host {exc.host!r}; check the URL and your network"
        )
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return ProviderConnectionError(
            provider,
            f"cannot connect to the proxy at {exc.host}:{exc.port}; check the proxy option",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        code = exc.os_error.errno
        reason = os.strerror(code) if code else type(exc.os_error).__name__
        return ProviderConnectionError(
            provider, f"cannot connect to {exc.host}:{exc.port}: {reason}; is the service up?"
        )
    if reading and isinstance(
        exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
    ):
        return StreamInterruptedError(
            provider, f"the connection was cut before the answer was complete ({_short(exc)})"
        )
    return ProviderConnectionError(provider, f"connection failed: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = redact(str(exc)) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
