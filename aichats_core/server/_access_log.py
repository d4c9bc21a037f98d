"""The access log without what a client may have put a secret in.

Clients put keys in query strings (``?api_key=...``, ``?key=`` as Google's APIs take them).
aiohttp's access log writes the request line as sent; this one writes the path (decoded,
control characters escaped) and only the names of the query parameters, and hides the
values of credential headers should the log format ask for them (``%{Authorization}i``).
Any aiohttp log format works, gunicorn's ``--access-logformat`` included.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web
from aiohttp.web_log import AccessLogger

from aichats_core.server._logging import REDACTED, SECRET_NAME

if TYPE_CHECKING:
    from aiohttp.web_request import BaseRequest
    from multidict import CIMultiDictProxy

CLIENT_GONE = web.ResponseKey("aichats_client_gone", bool)
"""Set on a response whose client went away before it ended: its line says so."""

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})

_NAME = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,40}")


class AccessLog(AccessLogger):
    """aiohttp's ``AccessLogger``, shown a request whose query values are left out."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        # The format's atoms read request.method, .path_qs, .version, .remote and .headers
        # (aiohttp.web_log.AccessLogger._format_*): the stand-in answers those.
        shown = cast("BaseRequest", _Shown(request))
        if not response.get(CLIENT_GONE):
            super().log(shown, response, time)
            return
        logger = self.logger
        self.logger = _Noted(logger)  # type: ignore[assignment]  # what log() calls: info()
        try:
            super().log(shown, response, time)
        finally:
            self.logger = logger


class _Noted:
    """A logger whose lines end with a note that the client went away."""

    __slots__ = ("_logger",)

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def info(self, message: str, *args: object, **kwargs: Any) -> None:
        self._logger.info(message + " (client gone)", *args, **kwargs)

    def exception(self, message: str, *args: object, **kwargs: Any) -> None:
        self._logger.exception(message, *args, **kwargs)


class _Shown:
    """What the access log may know of a request."""

    __slots__ = ("_request",)

    def __init__(self, request: BaseRequest) -> None:
        self._request = request

    @property
    def method(self) -> str:
        return self._request.method

    @property
    def version(self) -> object:
        return self._request.version

    @property
    def remote(self) -> str | None:
        return self._request.remote

    @property
    def path_qs(self) -> str:
        request = self._request
        return shown_path(request.path, request.query_string)

    @property
    def headers(self) -> _Headers:
        return _Headers(self._request.headers)


class _Headers:
    __slots__ = ("_headers",)

    def __init__(self, headers: CIMultiDictProxy[str]) -> None:
        self._headers = headers

    def get(self, name: str, default: str = "-") -> str:
        value = self._headers.get(name)
        if value is None:
            return default
        lowered = name.lower()
        if lowered in SECRET_HEADERS or SECRET_NAME.search(lowered):
            return REDACTED
        if lowered == "referer":
            path, _, query = value.partition("?")
            return shown_path(path, query)
        return value


def shown_path(path: str, query: str) -> str:
    """``path`` printable, and the names of the parameters in ``query``, without values."""
    if not path.isprintable():
        path = path.encode("unicode_escape").decode("ascii")
    if not query:
        return path
    names = []
    for parameter in query.split("&"):
        name, equals, _ = parameter.partition("=")
        names.append((name if _NAME.fullmatch(name) else "?") + ("=..." if equals else ""))
    return f"{path}?{'&'.join(names)}"
