"""Turning an image URL into a ``data:`` URI, bounded in size and time.

The bytes are base64-encoded as they arrive, so the raw image is never held whole: peak
memory stays near the size of the encoded text (about 2.7x the image).
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from aichats_core.errors import ProviderTimeoutError, ResponseFormatError

if TYPE_CHECKING:
    from aichats_core.http._session import HttpSession

DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Largest image a provider downloads unless told otherwise (``max_image_bytes`` option)."""
DEFAULT_IMAGE_TIMEOUT = 120.0
"""Seconds a whole image download may take (``image_timeout`` option)."""

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


def sniff_image_type(head: bytes) -> str | None:
    """The MIME type named by an image's first bytes, or None if they are no known image."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


async def download_data_uri(
    http: HttpSession,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    timeout: float = DEFAULT_IMAGE_TIMEOUT,
) -> str:
    """Download an image and return it as ``data:<mime>;base64,...``.

    The MIME type comes from the response, or from the magic bytes when the server sends a
    generic type; anything that is not an image is refused.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ResponseFormatError(http.provider, f"refusing image URL {url!r}: not http(s)")
    bound = aiohttp.ClientTimeout(total=timeout, sock_connect=http.timeout, sock_read=http.timeout)
    try:
        async with http.request("GET", url, timeout=bound) as response:
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise ResponseFormatError(
                    http.provider,
                    f"the image is {declared} bytes, over the limit of {max_bytes};"
                    " raise max_image_bytes to accept it",
                )
            return await _encode_body(http.provider, response, max_bytes, declared)
    except ProviderTimeoutError as exc:
        raise ProviderTimeoutError(
            http.provider,
            f"the image download timed out (limits: {timeout:g}s in all, {http.timeout}s of"
            " silence); raise image_timeout or timeout if the image host is slow",
        ) from exc


async def _encode_body(
    provider: str, response: aiohttp.ClientResponse, max_bytes: int, declared: int | None
) -> str:
    encoded = bytearray()
    pending = b""  # bytes not yet encoded: base64 works in groups of three
    received = 0
    mime: str | None = None
    async for chunk in response.content.iter_any():
        received += len(chunk)
        if received > max_bytes:
            raise ResponseFormatError(
                provider,
                f"the image is over the limit of {max_bytes} bytes;"
                " raise max_image_bytes to accept it",
            )
        data = pending + chunk if pending else chunk
        if mime is None:
            if len(data) < 16 and (declared is None or received < declared):
                pending = data
                continue
            mime = _image_type(provider, response, data[:16])
            encoded = bytearray(f"data:{mime};base64,".encode())
        usable = len(data) - len(data) % 3
        encoded += binascii.b2a_base64(data[:usable], newline=False)
        pending = data[usable:]
    if mime is None:
        if not pending:
            raise ResponseFormatError(provider, "the image download was empty")
        mime = _image_type(provider, response, pending[:16])
        encoded = bytearray(f"data:{mime};base64,".encode())
    encoded += binascii.b2a_base64(pending, newline=False)
    return encoded.decode("ascii")


def _image_type(provider: str, response: aiohttp.ClientResponse, head: bytes) -> str:
    declared = response.content_type  # aiohttp's default for a missing header is octet-stream
    sniffed = sniff_image_type(head)
    if declared.startswith("image/"):
        return declared
    if sniffed is not None and declared in ("application/octet-stream", "binary/octet-stream"):
        return sniffed
    raise ResponseFormatError(
        provider, f"the image URL {response.url} answered {declared!r}, which is not an image"
    )
