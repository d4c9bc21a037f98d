"""Inflating a request body a bounded piece at a time, counting the bytes as they inflate.

aiohttp's parser is told not to inflate bodies (``auto_decompress=False`` in ``_app.py``): it
would inflate a gzip bomb as it arrived, before anything could check the key or the size. A
1 MB body that would inflate to 1 GiB is refused here after about one megabyte of work.
"""

from __future__ import annotations

import zlib

from aichats_core.server._errors import ApiError, bad_request, body_too_large

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class Inflater:
    """One body's decompressor. ``deflate`` bodies come zlib-wrapped (as HTTP says) or raw
    (as some clients send them): their first two bytes, once they arrived, say which."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib = zlib.decompressobj(_GZIP_WBITS) if encoding == "gzip" else None
        self._start = b""  # a deflate body's first byte, while its second has not come
        self._trailing = False

    def feed(self, chunk: bytes, parts: list[bytes], size: int, limit: int) -> int:
        """Inflate ``chunk`` into ``parts``; the new total size, never over ``limit``."""
        if self._zlib is None:
            chunk = self._start + chunk
            if len(chunk) < 2:
                self._start = chunk
                return size
            self._start = b""
            self._zlib = zlib.decompressobj(
                _ZLIB_WBITS if _zlib_wrapped(chunk) else _RAW_DEFLATE_WBITS
            )
        if self._zlib.eof:
            self._trailing = self._trailing or bool(chunk.strip(b"\0"))
            return size
        data = chunk
        while data and not self._zlib.eof:
            try:
                piece = self._zlib.decompress(data, limit - size + 1)
            except zlib.error:
                raise self._bad("it is not valid compressed data") from None
            size += len(piece)
            if size > limit:
                raise body_too_large(limit)
            parts.append(piece)
            data = self._zlib.unconsumed_tail
        return size

    def finish(self) -> None:
        """The body ended: it must have ended the compressed data, and nothing may follow."""
        if self._zlib is None or not self._zlib.eof:
            raise self._bad("it ends before the compressed data does")
        if self._trailing or self._zlib.unused_data.strip(b"\0"):
            raise self._bad("bytes follow the end of the compressed data")

    def _bad(self, why: str) -> ApiError:
        return bad_request(
            f"the request body says Content-Encoding {self.encoding}, but {why}; compress it"
            " again, or send it without Content-Encoding",
            code="invalid_content_encoding",
        )


def inflater_for(header: str) -> Inflater | None:
    """The inflater a ``Content-Encoding`` asks for; None for a body sent as it is."""
    encoding = header.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return Inflater("gzip")
    if encoding == "deflate":
        return Inflater("deflate")
    raise ApiError(
        415,
        f"Content-Encoding {header.strip()[:40]!r} is not supported; send the body as it is,"
        " or compressed with gzip or deflate (one of them)",
        code="unsupported_content_encoding",
    )


def _zlib_wrapped(start: bytes) -> bool:
    """RFC 1950's header: compression method 8, a window of at most 32 KiB, and a check."""
    return (
        start[0] & 0x0F == 8 and start[0] >> 4 <= 7 and int.from_bytes(start[:2], "big") % 31 == 0
    )
