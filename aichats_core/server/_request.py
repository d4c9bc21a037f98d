"""Reading a request body: in time, bounded after decompression, JSON of bounded depth, or a 4xx."""

from __future__ import annotations

import asyncio

from aiohttp import web

from aichats_core.http import JSONNotTextError, JSONTooDeepError, load_json
from aichats_core.server._errors import ApiError, bad_request, body_too_large
from aichats_core.server._inflate import inflater_for
from aichats_core.server._limits import ServerLimits
from aichats_core.server._state import STATE

_CHUNK = 65_536


async def read_json(request: web.Request) -> object:
    """The parsed body, or an ``ApiError`` (400, 408, 413, 415) that says what to change."""
    limits = request.app[STATE].limits
    try:
        async with asyncio.timeout(limits.body_timeout):
            raw = await _read_body(request, limits.max_body_bytes)
    except TimeoutError:
        raise ApiError(
            408,
            f"the request body did not arrive within {limits.body_timeout:g} seconds;"
            " send it at once",
            code="request_timeout",
            close=True,
        ) from None
    return parse_json(raw, limits)


def parse_json(raw: bytes, limits: ServerLimits) -> object:
    """``raw`` as JSON: UTF-8, text only, nested at most ``max_json_depth`` deep."""
    depth = limits.max_json_depth
    try:
        return load_json(raw, max_depth=depth, strict_text=True)
    except JSONTooDeepError:
        raise bad_request(
            f"the JSON body is nested more than {depth} levels deep; this server accepts"
            f" at most {depth} (--max-json-depth)",
            code="json_too_deep",
        ) from None
    except JSONNotTextError as exc:
        raise bad_request(f"in the JSON body, {exc}; send valid Unicode") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        raise bad_request(
            "we could not parse the JSON body of your request; send a JSON object in UTF-8"
        ) from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise body_too_large(limit)  # said before a byte of it is read
    inflater = inflater_for(request.headers.get("Content-Encoding", ""))
    parts: list[bytes] = []
    received = 0
    size = 0
    async for chunk in request.content.iter_chunked(_CHUNK):
        received += len(chunk)
        if received > limit:
            raise body_too_large(limit)
        if inflater is None:
            parts.append(chunk)
            size = received
        else:
            size = inflater.feed(chunk, parts, size, limit)
    if inflater is not None:
        inflater.finish()
    return b"".join(parts)
