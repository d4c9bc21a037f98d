"""The chat page at ``/`` and its assets at ``/static/``: files shipped in the package.

They need no API key (the page asks for it, and sends it with each API call) and they carry a
strict Content-Security-Policy: scripts and styles from this server only, no inline script,
nothing framed, nothing sent elsewhere. Provider output never reaches them as HTML: the page
builds its DOM from the JSON API.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from pathlib import PurePosixPath

from aiohttp import web

from aichats_core.server._errors import ApiError

PAGE_PATHS = ("/", "/static/")
"""Where the page lives: answered without an API key."""

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


def is_page(path: str) -> bool:
    return path == "/" or path.startswith("/static/")


async def index(request: web.Request) -> web.Response:
    return _answer(request, "index.html")


async def static(request: web.Request) -> web.Response:
    return _answer(request, request.match_info["name"])


def _answer(request: web.Request, name: str) -> web.Response:
    """The asset, or a 304 when the browser's copy is current: ``no-cache`` makes it ask each
    time, and the ETag (a hash of the file) makes the answer empty when nothing changed."""
    body, kind, etag = _asset(name)
    headers = {**HEADERS, "ETag": etag}
    asked = {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}
    if etag in asked or "*" in asked:
        return web.Response(status=304, headers=headers)
    charset = "utf-8" if kind.startswith("text/") else None
    return web.Response(body=body, content_type=kind, charset=charset, headers=headers)


@functools.lru_cache(maxsize=32)
def _asset(name: str) -> tuple[bytes, str, str]:
    """A shipped asset by name, read once: its bytes, type and ETag. Anything else (a path,
    a dotfile, a name not shipped) is a 404."""
    suffix = PurePosixPath(name).suffix
    if "/" in name or "\\" in name or name.startswith((".", "_")) or suffix not in _TYPES:
        raise _missing(name)  # only the page's own kinds of file: no module, no dotfile
    asset = resources.files("aichats_core.server.web").joinpath(name)
    if not asset.is_file():
        raise _missing(name)
    body = asset.read_bytes()
    return body, _TYPES[suffix], f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _missing(name: str) -> ApiError:
    return ApiError(404, f"no page asset {name!r}", code="not_found")
