"""Turning an image URL that a service named into a ``data:`` URI, safely.

The bytes are base64-encoded as they arrive, so the raw image is never held whole: the peak
is the encoded text twice, as bytes and as the final ``str`` (about 2.7x the image).

The URL comes from the service's answer, so it is not trusted: only http(s), no credentials,
bounded in size and time, an image or nothing, and (unless allowed) no host in a private,
loopback or link-local range, checked again at every redirect. Names are resolved here before
each request and aiohttp resolves them again to connect; a DNS server that answers
differently the second time (DNS rebinding) gets past the check. Closing that gap means
connecting to the checked address itself (``Host`` and TLS server name set by hand), which
loses the cookie jar's view of the host and aiohttp's fallback across a name's addresses;
that trade is not made here. Through a proxy, the proxy resolves names: IP literals are still
refused, and a name the local resolver cannot resolve is left to the proxy.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import math
import socket
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from aichats_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderTimeoutError,
    ReadTimeoutError,
    ResponseFormatError,
)
from aichats_core.http._addresses import ip_literal, is_loopback_name, non_public_kind
from aichats_core.http._proxy import redact

if TYPE_CHECKING:
    from aichats_core.http._session import HttpSession

DEFAULT_MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""Largest image a provider downloads unless told otherwise (``max_image_bytes`` option)."""
DEFAULT_IMAGE_TIMEOUT = 120.0
"""Seconds a whole image download may take, redirects included (``image_timeout`` option)."""
MAX_REDIRECTS = 5
"""Redirects followed (and vetted one by one) before an image URL is given up on."""
ALLOW_PRIVATE_OPTION = "allow_private_image_urls"
"""The provider option that lets an image URL reach private addresses; refusals name it."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)


async def image_bytes(
    provider: str,
    uri: str,
    options: Mapping[str, Any],
    *,
    session: aiohttp.ClientSession | None = None,
) -> tuple[bytes, str]:
    """The bytes and MIME type of the image a provider answered, a ``data:`` URI or a URL.

    For callers outside the provider (the CLI, the server) that must fetch a URL it returned:
    the same rules as a provider's own download, read from that provider's ``options``
    (``proxy``, ``timeout``, ``max_image_bytes``, ``image_timeout``,
    ``allow_private_image_urls``, else private addresses only when its ``base_url`` is one).
    """
    if not isinstance(uri, str):
        raise ResponseFormatError(
            provider, f"the image is {type(uri).__name__}, neither a data: URI nor a URL"
        )
    if _scheme(uri) in ("http", "https"):
        from aichats_core.http._session import DEFAULT_TIMEOUT, HttpSession

        allow_private = _allow_private(provider, options)
        async with HttpSession(
            provider,
            session=session,
            proxy=options.get("proxy"),
            timeout=options.get("timeout", DEFAULT_TIMEOUT),
        ) as http:
            uri = await download_data_uri(
                http,
                uri,
                max_bytes=options.get("max_image_bytes", DEFAULT_MAX_IMAGE_BYTES),
                timeout=options.get("image_timeout", DEFAULT_IMAGE_TIMEOUT),
                allow_private=allow_private,
            )
    return decode_data_uri(provider, uri)


def _scheme(uri: str) -> str:
    """The scheme of ``uri``, lower case; a URL that does not parse is checked (and refused
    with the provider's name) on the download path."""
    scheme, colon, _ = uri.lstrip().partition(":")
    return scheme.lower() if colon else ""


def _allow_private(provider: str, options: Mapping[str, Any]) -> bool:
    """``allow_private_image_urls``, else whether the provider's ``base_url`` is private."""
    from aichats_core.http._addresses import is_private_host

    allow = options.get(ALLOW_PRIVATE_OPTION)
    if allow is not None and not isinstance(allow, bool):
        raise InvalidRequestError(
            f"{provider}: {ALLOW_PRIVATE_OPTION} must be True, False or None, not {allow!r:.60}"
        )
    if allow is not None:
        return allow
    base_url = options.get("base_url") or ""
    try:
        host = urlsplit(str(base_url)).hostname or ""
    except ValueError as exc:
        raise InvalidRequestError(
            f"{provider}: the base_url option {redact(str(base_url))!r} is not a valid URL ({exc})"
        ) from None
    return is_private_host(host)


def decode_data_uri(provider: str, uri: str) -> tuple[bytes, str]:
    """The bytes and MIME type of an image ``data:`` URI; anything else is the provider's fault."""
    header, comma, payload = uri.partition(",")
    header = header.lower()  # RFC 2397: the scheme, the type and ";base64" ignore case
    if not header.startswith("data:") or not comma:
        raise ResponseFormatError(provider, "the image is neither a data: URI nor an http(s) URL")
    mime = header[5:].split(";", 1)[0].strip() or "application/octet-stream"
    base64_encoded = header.endswith(";base64")
    try:
        data = (
            base64.b64decode(payload, validate=True)
            if base64_encoded
            else urllib.parse.unquote_to_bytes(payload)  # RFC 2397: URL-encoded octets
        )
    except ValueError as exc:  # binascii.Error; non-ASCII (or surrogate) characters
        encoding = "base64" if base64_encoded else "URL-encoded text"
        raise ResponseFormatError(
            provider, f"the image data: URI is not valid {encoding} ({exc})"
        ) from exc
    if not mime.startswith("image/"):
        raise ResponseFormatError(provider, f"the answer is {mime!r}, not an image")
    return data, mime


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
    allow_private: bool = False,
) -> str:
    """Download an image and return it as ``data:<mime>;base64,...``.

    The MIME type comes from the response, or from the magic bytes when the server sends a
    generic type; anything that is not an image is refused. ``allow_private`` lets the URL
    (and its redirects) reach private, loopback and link-local addresses: pass it when the
    service itself runs on such an address (an emulator), or when the caller said so.
    Providers expose these bounds as the options ``max_image_bytes``, ``image_timeout`` and
    ``allow_private_image_urls``, which the error messages name.
    """
    max_bytes = _checked_bound(http.provider, "max_image_bytes", max_bytes, integer=True)
    timeout = _checked_bound(http.provider, "image_timeout", timeout, integer=False)
    try:
        async with asyncio.timeout(timeout):
            return await _follow(http, url, max_bytes, allow_private)
    except (ProviderTimeoutError, TimeoutError) as exc:
        # The phase stays what it was; the whole download running out of time is a read.
        phase = type(exc) if isinstance(exc, ProviderTimeoutError) else ReadTimeoutError
        raise phase(
            http.provider,
            f"the image download timed out (limits: {timeout:g}s in all, {http.timeout}s of"
            " silence); raise image_timeout or timeout if the image host is slow",
        ) from exc


def _checked_bound(provider: str, name: str, value: object, *, integer: bool) -> Any:
    """A download bound from the options: a positive (finite) number, an int for sizes."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int if integer else int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        kind = "a positive integer (bytes)" if integer else "a finite positive number of seconds"
        raise InvalidRequestError(f"{provider}: {name} must be {kind}, not {value!r:.60}")
    return value


async def _follow(http: HttpSession, url: str, max_bytes: int, allow_private: bool) -> str:
    """Download ``url``, vetting it and each redirect before anything is sent there."""
    bound = aiohttp.ClientTimeout(total=None, sock_connect=http.timeout, sock_read=http.timeout)
    for _hop in range(MAX_REDIRECTS + 1):
        check_image_url(http.provider, url)
        if not allow_private:
            proxied = http.proxy_for(url) is not None
            await refuse_private(http.provider, url, proxied=proxied, timeout=http.timeout)
        async with _image_request(http, url, bound) as response:
            if response.status in _REDIRECTS:
                url = _redirect_target(http.provider, response)
                continue
            declared = response.content_length
            if declared is not None and declared > max_bytes:
                raise ResponseFormatError(
                    http.provider,
                    f"the image is {declared} bytes, over the limit of {max_bytes};"
                    " raise max_image_bytes to accept it",
                )
            return await _encode_body(http.provider, response, max_bytes, declared)
    raise ResponseFormatError(
        http.provider, f"the image URL redirected more than {MAX_REDIRECTS} times"
    )


@contextlib.asynccontextmanager
async def _image_request(
    http: HttpSession, url: str, bound: aiohttp.ClientTimeout
) -> AsyncIterator[aiohttp.ClientResponse]:
    """``GET url``; a URL that aiohttp refuses is the service's, not the caller's, mistake."""
    try:
        async with http.request("GET", url, timeout=bound, allow_redirects=False) as response:
            yield response
    except InvalidRequestError as exc:
        if not isinstance(exc.__cause__, aiohttp.InvalidURL | UnicodeError):
            raise
        raise _invalid_url(http.provider, url, exc.__cause__) from exc.__cause__
    except UnicodeError as exc:  # a name that IDNA cannot encode, met by aiohttp's resolver
        raise _invalid_url(http.provider, url, exc) from exc


def _invalid_url(provider: str, url: str, exc: BaseException) -> ResponseFormatError:
    return ResponseFormatError(
        provider, f"refusing image URL {redact(url)!r}: not a valid URL ({exc})"
    )


def check_image_url(provider: str, url: str) -> None:
    """Refuse what no image URL from a service may be: not a URL, not http(s), or carrying
    credentials. The URL is parsed as the standard library and yarl (what aiohttp sends)
    read it, and its host must be a name IDNA can encode."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is part of the check
        host = URL(url).raw_host
        if host and ip_literal(host) is None:
            if not host.isprintable() or " " in host:
                raise ValueError(f"the host {host!r} holds spaces or control characters")
            host.encode("idna")  # label lengths, empty labels: what the resolver refuses
    except ValueError as exc:  # UnicodeError too
        raise _invalid_url(provider, url, exc) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ResponseFormatError(
            provider, f"refusing image URL {redact(url)!r}: not an http(s) URL with a host"
        )
    if "@" in parts.netloc:
        raise ResponseFormatError(
            provider,
            f"refusing image URL {redact(url)!r}: it carries credentials, which a service has"
            " no business handing out",
        )


async def refuse_private(provider: str, url: str, *, proxied: bool, timeout: float | None) -> None:
    """Refuse ``url`` when its host is, or resolves to, an address that is not public.

    Every address of a name must be public, whichever one would be used. An IP literal or a
    ``localhost`` name is refused without any lookup. A name that cannot be resolved is a
    ``ProviderConnectionError``, unless the request goes through a proxy, which may know
    names that the local resolver does not.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = ip_literal(host)
    if literal is not None:
        kind = non_public_kind(literal)
        _refuse(provider, url, f"{literal} is {kind}" if kind else None)
        return
    if is_loopback_name(host):
        _refuse(provider, url, f"{host} names the local machine")
    try:
        async with asyncio.timeout(timeout):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, parts.port, type=socket.SOCK_STREAM
            )
    except TimeoutError as exc:
        raise ProviderTimeoutError(
            provider, f"resolving {host!r}, the image host, took over {timeout:g}s"
        ) from exc
    except (OSError, UnicodeError) as exc:  # gaierror, or a name IDNA cannot encode
        if proxied:
            return
        raise ProviderConnectionError(
            provider, f"cannot resolve {host!r}, the image host; check the URL and your network"
        ) from exc
    for *_, sockaddr in infos:
        address = ip_literal(str(sockaddr[0]))
        kind = non_public_kind(address) if address is not None else None
        _refuse(provider, url, f"{host} resolves to {address}, {kind}" if kind else None)


def _refuse(provider: str, url: str, why: str | None) -> None:
    if why is not None:
        raise ResponseFormatError(
            provider,
            f"refusing image URL {redact(url)!r}: {why}, and a service's answer must not send"
            f" the client into private networks; pass {ALLOW_PRIVATE_OPTION}=True if you trust it",
        )


def _redirect_target(provider: str, response: aiohttp.ClientResponse) -> str:
    location = response.headers.get("Location")
    if not location:
        raise ResponseFormatError(
            provider, f"the image URL answered HTTP {response.status} without a Location"
        )
    try:
        return str(response.url.join(URL(location)))
    except ValueError as exc:
        raise ResponseFormatError(
            provider, f"the image URL redirected to an invalid URL {redact(location)!r}"
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
        provider,
        f"the image URL {redact(str(response.url))} answered {declared!r}, which is not an image",
    )
