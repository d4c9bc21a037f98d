"""The answers the server gives before any handler runs: a malformed request, a request head
that took too long, a client over the connection cap.

aiohttp's own answers to these are plain text that quotes the offending bytes back, the
API key among them when it was in the broken header. These are OpenAI-shaped (so SDKs raise
their usual exceptions) and fixed per kind of failure: nothing the client sent is echoed.
"""

from __future__ import annotations

import re
from http import HTTPStatus

from aiohttp import http_exceptions

from aichats_core.server._errors import ApiError

MALFORMED = "malformed_request"

_REASON = re.compile(r"[A-Za-z][A-Za-z -]{2,60}")
"""The fixed reason text llhttp (aiohttp's C parser) puts before the quoted bytes, e.g.
"Invalid header value char"; text with quotes, digits or punctuation may hold client bytes."""


def malformed(exc: BaseException | None) -> ApiError:
    """The answer to a request aiohttp's parser rejected (``exc``, an ``HttpProcessingError``)."""
    if isinstance(exc, http_exceptions.LineTooLong):
        return ApiError(
            431,
            "a line of the request head (the request line or a header) is too long",
            code="request_header_too_large",
        )
    reason = _fixed_reason(exc)
    if reason == "Too many headers received":
        return ApiError(431, "the request has too many headers", code="request_header_too_large")
    what = _KINDS.get(type(exc), "") if exc is not None else ""
    if not what and reason is not None:
        what = reason[0].lower() + reason[1:]
    message = "malformed HTTP request" + (f": {what}" if what else "")
    return ApiError(400, message, code=MALFORMED)


def _fixed_reason(exc: BaseException | None) -> str | None:
    text = getattr(exc, "message", None)
    if not isinstance(text, str):
        return None
    first = re.split(r":?\n|: ", text, maxsplit=1)[0].strip().rstrip(".")
    return first if _REASON.fullmatch(first) else None


_KINDS: dict[type[BaseException], str] = {
    http_exceptions.BadHttpMethod: "the method is not a valid HTTP method",
    http_exceptions.InvalidURLError: "the request target is not a valid URL path",
    http_exceptions.BadStatusLine: "the request line is not METHOD TARGET HTTP/1.x",
    http_exceptions.InvalidHeader: "a header is not valid",
    http_exceptions.TransferEncodingError: "the body is not valid chunked encoding",
    http_exceptions.ContentLengthError: "the body is shorter than its Content-Length",
    http_exceptions.ContentEncodingError: "the body cannot be decoded as its Content-Encoding",
}
"""A fixed description per exception class, checked by exact type (the parser's subclasses
say more than their bases)."""


def head_timeout(seconds: float) -> ApiError:
    return ApiError(
        408,
        f"the request head did not arrive within {seconds:g} s; send it at once",
        code="request_timeout",
    )


def over_capacity(max_clients: int) -> ApiError:
    return ApiError(
        503,
        f"the server is serving as many clients as it may ({max_clients}); retry shortly",
        type="server_error",
        code="server_busy",
        headers={"Retry-After": "1"},
    )


def unexpected(status: int) -> ApiError:
    """A failure that escaped every handler (500), or a handler's unhandled timeout (504)."""
    if status == 504:
        return ApiError(504, "the server timed out answering", type="server_error", code="timeout")
    return ApiError(status, "internal error", type="server_error", code="internal_error")


def raw_answer(error: ApiError) -> bytes:
    """``error`` as a complete HTTP/1.1 response that closes the connection, written straight
    to a transport that has no aiohttp request to answer (a timed-out or refused connection)."""
    body = error.response().text or ""
    data = body.encode()
    lines = [
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in error.headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + data
