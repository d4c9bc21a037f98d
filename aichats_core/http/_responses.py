"""Reading answers: content checks, bounded bodies, error excerpts, ``Retry-After``.

Everything here reads at most a bound, so a hostile or broken service cannot make a provider
hold an unbounded body in memory.
"""

from __future__ import annotations

import codecs
import contextlib

import aiohttp

from aichats_core.errors import ProviderHTTPError, ResponseFormatError
from aichats_core.http._errors import TRANSPORT_ERRORS
from aichats_core.http._errors import parse_retry_after as parse_retry_after  # its old home
from aichats_core.http._proxy import redact

ERROR_EXCERPT_BYTES = 300
"""Bytes of an error body quoted in ``ProviderHTTPError``; the rest is never read."""


async def refuse_unexpected(
    provider: str, response: aiohttp.ClientResponse, *, expected: tuple[str, ...]
) -> None:
    """Fail clearly when a successful answer is not what the protocol says.

    A redirect of an API call is refused rather than followed: it would carry the call's
    cookies and body to wherever it points. A body whose content type is not one of
    ``expected`` (a missing header is given the benefit of the doubt) is reported with its
    type and its start, which usually says what went wrong (a block page, a JSON error).
    """
    if 300 <= response.status < 400:
        location = redact(response.headers.get("Location", "(no Location header)"))
        raise ProviderHTTPError(
            provider,
            response.status,
            f"the service redirected the call to {location}; API calls are not followed"
            " elsewhere (they carry your cookies and credentials): check base_url",
            url=redact(str(response.url)),
        )
    declared = response.headers.get("Content-Type")
    if declared is None or declared.split(";", 1)[0].strip().lower() in expected:
        return
    excerpt = await read_excerpt(response)
    hint = " (a bot check or a changed site?)" if declared.startswith("text/html") else ""
    raise ResponseFormatError(
        provider,
        f"the service answered {declared!r} instead of {' or '.join(expected)}{hint}:"
        f" {excerpt or '(empty body)'}",
    )


async def read_excerpt(response: aiohttp.ClientResponse) -> str:
    """The start of an error body, whitespace collapsed, "..." when the body goes on.

    Reads at most ``ERROR_EXCERPT_BYTES`` (+1 to know whether more follows), whatever sizes the
    network delivers them in. A body cut or stalled (the read timeout bounds the wait) keeps what
    arrived: the error status is what matters, and is reported either way.
    """
    raw = bytearray()
    with contextlib.suppress(*TRANSPORT_ERRORS):
        while len(raw) <= ERROR_EXCERPT_BYTES:
            chunk = await response.content.read(ERROR_EXCERPT_BYTES + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
    cut = len(raw) > ERROR_EXCERPT_BYTES
    # Without ``final`` a character split by the cut is dropped rather than shown as U+FFFD.
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(
        bytes(raw[:ERROR_EXCERPT_BYTES]), final=not cut
    )
    excerpt = " ".join(text.split())
    return excerpt + "..." if cut else excerpt


async def read_bounded(
    provider: str, response: aiohttp.ClientResponse, max_bytes: int, *, what: str
) -> bytes:
    """Read the whole body, failing as soon as it exceeds ``max_bytes``."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise ResponseFormatError(provider, _too_large(what, max_bytes, declared))
    body = bytearray()
    async for chunk in response.content.iter_any():
        body += chunk
        if len(body) > max_bytes:
            raise ResponseFormatError(provider, _too_large(what, max_bytes, None))
    return bytes(body)


def _too_large(what: str, max_bytes: int, declared: int | None) -> str:
    size = f" ({declared} bytes)" if declared is not None else ""
    return f"the {what} is larger than the limit of {max_bytes} bytes{size}"
