"""Reading a request body: in time, bounded after decompression, JSON of bounded depth, or a 4xx.

aiohttp's parser is told not to inflate bodies (``auto_decompress=False``): it would inflate a
gzip bomb as it arrived, before anything could check the key or the size. Here the bytes are
counted as they arrive and again as they inflate, and reading stops at the body limit.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib

from aiohttp import web

from aichats_core.server._errors import ApiError, bad_request
from aichats_core.server._limits import ServerLimits
from aichats_core.server._state import STATE

_CHUNK = 65_536
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: pairs are decoded into one character, lone ones
stay and are not text."""


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
    """``raw`` as JSON, refusing what is not text and nesting deeper than the limit."""
    depth = limits.max_json_depth
    try:
        # Each '[' or '{' opens at most one level: a body with few of them needs no walk.
        brackets = raw.count(b"[") + raw.count(b"{")
        # Strict UTF-8: json.loads(bytes) would let UTF-8-encoded surrogates through.
        body = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise _too_deep(depth) from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
        raise bad_request(
            "we could not parse the JSON body of your request; send a JSON object in UTF-8"
        ) from None
    surrogates = _SURROGATE_ESCAPE.search(raw) is not None
    if brackets > depth or surrogates:
        _check_values(body, depth if brackets > depth else None, strings=surrogates)
    return body


def _check_values(body: object, depth: int | None, *, strings: bool) -> None:
    """Walk the parsed body without recursion: its nesting, and lone surrogates."""
    pending: list[tuple[object, int]] = [(body, 0)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, dict):
            children: list[object] = [*value.values()]
            if strings:
                children.extend(value)  # keys are strings too
        elif isinstance(value, list):
            children = value
        else:
            if strings and isinstance(value, str):
                _check_text(value)
            continue
        if depth is not None and level >= depth:
            raise _too_deep(depth)
        pending.extend((child, level + 1) for child in children)


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(
            "the JSON body holds a lone UTF-16 surrogate escape (such as \\ud800), which is"
            " not text; send valid Unicode (a surrogate pair is fine)"
        ) from None


def _too_deep(depth: int) -> ApiError:
    return bad_request(
        f"the JSON body is nested more than {depth} levels deep; this server accepts"
        f" at most {depth} (--max-json-depth)",
        code="json_too_deep",
    )


async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise too_large(limit)  # said before a byte of it is read
    inflate = _inflater(request.headers.get("Content-Encoding", ""))
    parts: list[bytes] = []
    received = 0
    size = 0
    trailing = False
    async for chunk in request.content.iter_chunked(_CHUNK):
        received += len(chunk)
        if received > limit:
            raise too_large(limit)
        if inflate is None:
            parts.append(chunk)
            size = received
        elif inflate.eof:
            trailing = trailing or bool(chunk.strip(b"\0"))
        else:
            size = _inflate_into(parts, inflate, chunk, size, limit)
    if inflate is not None:
        if not inflate.eof:
            raise _bad_encoding(request, "it ends before the compressed data does")
        if trailing or inflate.unused_data.strip(b"\0"):
            raise _bad_encoding(request, "bytes follow the end of the compressed data")
    return b"".join(parts)


def _inflate_into(
    parts: list[bytes], inflate: _Inflater, chunk: bytes, size: int, limit: int
) -> int:
    """Inflate ``chunk`` into ``parts`` a bounded piece at a time; the new total size."""
    data = chunk
    while data and not inflate.eof:
        try:
            piece = inflate.decompress(data, limit - size + 1)
        except zlib.error:
            raise _bad_encoding_text(inflate.encoding, "it is not valid compressed data") from None
        size += len(piece)
        if size > limit:
            raise too_large(limit)
        parts.append(piece)
        data = inflate.unconsumed_tail
    return size


class _Inflater:
    """A zlib decompressor that remembers which Content-Encoding it reads; ``deflate`` bodies
    come zlib-wrapped (as HTTP says) or raw (as some clients send them)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._wbits = _GZIP_WBITS if encoding == "gzip" else None
        self._decompressor = zlib.decompressobj(self._wbits) if self._wbits else None

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._decompressor is None:  # deflate: the first byte says which framing
            wrapped = (data[0] & 0x0F) == 8 and int.from_bytes(data[:2], "big") % 31 == 0
            self._decompressor = zlib.decompressobj(_ZLIB_WBITS if wrapped else _RAW_DEFLATE_WBITS)
        return self._decompressor.decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return self._decompressor is not None and self._decompressor.eof

    @property
    def unconsumed_tail(self) -> bytes:
        return self._decompressor.unconsumed_tail if self._decompressor else b""

    @property
    def unused_data(self) -> bytes:
        return self._decompressor.unused_data if self._decompressor else b""


def _inflater(header: str) -> _Inflater | None:
    encoding = header.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return _Inflater("gzip")
    if encoding == "deflate":
        return _Inflater("deflate")
    raise ApiError(
        415,
        f"Content-Encoding {header.strip()[:40]!r} is not supported; send the body as it is,"
        " or compressed with gzip or deflate (one of them)",
        code="unsupported_content_encoding",
    )


def _bad_encoding(request: web.Request, why: str) -> ApiError:
    return _bad_encoding_text(request.headers.get("Content-Encoding", "").strip().lower(), why)


def _bad_encoding_text(encoding: str, why: str) -> ApiError:
    return bad_request(
        f"the request body says Content-Encoding {encoding}, but {why}; compress it again,"
        " or send it without Content-Encoding",
        code="invalid_content_encoding",
    )


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is over the limit of {limit} bytes (counted after decompression)",
        code="request_too_large",
        close=True,
    )
