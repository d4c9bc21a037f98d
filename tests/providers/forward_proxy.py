"""A loopback HTTP forward proxy for tests, so proxy behaviour is checked over real sockets.

It takes absolute-form requests (``GET http://127.0.0.1:8765/x HTTP/1.1``), records each one,
forwards it to a loopback target and relays the answer as it arrives, so server-sent events
still stream through it. It can demand Basic credentials (407 otherwise) and route made-up
host names to 127.0.0.1, which lets a test use a public-looking host without leaving the
machine. One request per connection; every read is bounded in size and time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te", "upgrade"}
)
_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class ProxiedRequest:
    """One request as the proxy received it."""

    method: str
    url: str
    proxy_authorization: str | None


class ForwardProxy:
    """``async with ForwardProxy() as proxy``: ``proxy.url`` to use, ``proxy.requests`` to check."""

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        routes: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.requests: list[ProxiedRequest] = []
        self._expected = None
        if credentials is not None:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            self._expected = f"Basic {token}"
        self._routes = dict(routes or {})
        self._timeout = timeout
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "the proxy is not running"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    async def __aenter__(self) -> ForwardProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError):
            pass  # a client that went away or spoke nonsense: drop it, as a proxy would
        finally:
            self._handlers.discard(task)
            await _close(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(self._timeout):
            head = await reader.readuntil(b"\r\n\r\n")  # bounded by the reader's 64 KiB limit
        request_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
        method, target, _version = request_line.split(" ", 2)
        headers = [(name.strip(), value.strip()) for name, _, value in map(_header, lines)]
        found = {name.lower(): value for name, value in headers}
        self.requests.append(ProxiedRequest(method, target, found.get("proxy-authorization")))
        if self._expected is not None and found.get("proxy-authorization") != self._expected:
            await _reply(writer, "407 Proxy Authentication Required", 'Basic realm="tests"')
            return
        url = urlsplit(target)
        if url.scheme != "http" or not url.hostname or "transfer-encoding" in found:
            await _reply(writer, "501 Not Implemented")
            return
        length = int(found.get("content-length", "0"))
        if length > _MAX_BODY:
            await _reply(writer, "413 Content Too Large")
            return
        async with asyncio.timeout(self._timeout):
            body = await reader.readexactly(length)
            host = self._routes.get(url.hostname, url.hostname)
            upstream_reader, upstream = await asyncio.open_connection(host, url.port or 80)
        try:
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            kept = "".join(f"{n}: {v}\r\n" for n, v in headers if n.lower() not in _HOP_BY_HOP)
            upstream.write(f"{method} {path} HTTP/1.1\r\n{kept}Connection: close\r\n\r\n".encode())
            upstream.write(body)
            await upstream.drain()
            await self._relay(upstream_reader, writer)
        finally:
            await _close(upstream)

    async def _relay(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Copy the answer as it arrives; the target closes after it (``Connection: close``)."""
        while True:
            async with asyncio.timeout(self._timeout):
                chunk = await source.read(65536)
            if not chunk:
                return
            sink.write(chunk)
            await sink.drain()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()


def _header(line: str) -> tuple[str, str, str]:
    name, colon, value = line.partition(":")
    if not colon:
        raise ValueError(f"not a header line: {line!r}")
    return name, colon, value


async def _reply(writer: asyncio.StreamWriter, status: str, authenticate: str = "") -> None:
    extra = f"Proxy-Authenticate: {authenticate}\r\n" if authenticate else ""
    body = status.encode()
    writer.write(
        f"HTTP/1.1 {status}\r\n{extra}Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
