"""A provider's view of HTTP: sessions, proxies, timeouts, bounded reads and error mapping.

A provider opens one ``HttpSession`` per call from the options it was given. It reuses the
caller's ``aiohttp.ClientSession`` (``session=`` option, as ``Client`` passes) or owns a
short-lived one, so a provider never has to care which.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import weakref
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from aichats_core._closing import AsyncClosing
from aichats_core.errors import (
    InvalidRequestError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.http._errors import TRANSPORT_ERRORS, http_error, translate
from aichats_core.http._json import DEFAULT_MAX_JSON_DEPTH, load_json
from aichats_core.http._proxy import ProxySettings, proxy_problem, redact
from aichats_core.http._responses import read_bounded, read_excerpt
from aichats_core.http._sse import SSEDecoder, SSEEvent, SSEEventDecoder, _EventStream

DEFAULT_TIMEOUT = 60.0
"""Seconds allowed for connecting and for each silence while reading; never unbounded."""
DEFAULT_MAX_JSON_BYTES = 8 * 1024 * 1024

_T = TypeVar("_T")

_proxy_snapshots: weakref.WeakKeyDictionary[aiohttp.ClientSession, ProxySettings] = (
    weakref.WeakKeyDictionary()
)


_answers_in_flight: weakref.WeakKeyDictionary[
    aiohttp.ClientSession, weakref.WeakSet[aiohttp.ClientResponse]
] = weakref.WeakKeyDictionary()
"""Per caller's session (a ``Client``'s), the responses whose bodies calls are reading: what
closing it must interrupt, as aiohttp's ``close()`` leaves such reads waiting forever."""


def interrupt_answers(session: aiohttp.ClientSession, reason: str) -> None:
    """Make every read of an answer through ``session`` fail now (``StreamInterruptedError``
    for the call), before the session is closed under it."""
    for response in list(_answers_in_flight.get(session, ())):
        if not response.content.is_eof():
            response.content.set_exception(aiohttp.ClientPayloadError(reason))


def new_client_session(**kwargs: Any) -> aiohttp.ClientSession:
    """A ``ClientSession`` configured the way aichats expects, with its proxy snapshot taken."""
    # unsafe=True keeps cookies set by hosts given as IP addresses (the local emulator).
    kwargs.setdefault("cookie_jar", aiohttp.CookieJar(unsafe=True))
    session = aiohttp.ClientSession(trust_env=False, **kwargs)
    _proxy_snapshots[session] = ProxySettings.from_environment()
    return session


def _in_flight_of(session: aiohttp.ClientSession) -> weakref.WeakSet[aiohttp.ClientResponse]:
    answers = _answers_in_flight.get(session)
    if answers is None:
        answers = _answers_in_flight[session] = weakref.WeakSet()
    return answers


def _proxy_settings(session: aiohttp.ClientSession) -> ProxySettings:
    settings = _proxy_snapshots.get(session)
    if settings is None:  # a session the caller made: snapshot the environment once for it
        settings = _proxy_snapshots[session] = ProxySettings.from_environment()
    return settings


class HttpSession(AsyncClosing):
    """One provider call's HTTP: reuses ``session`` when given, otherwise owns one until closed.

    Every transport failure inside ``request`` comes out as an error from
    ``aichats_core.errors`` naming ``provider``.
    """

    def __init__(
        self,
        provider: str,
        *,
        session: aiohttp.ClientSession | None = None,
        proxy: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        timeout = _checked_timeout(provider, timeout)
        if proxy and (problem := proxy_problem(proxy)) is not None:
            raise InvalidRequestError(f"{provider}: the proxy option {problem}")
        self.provider = provider
        self.timeout = timeout
        self._explicit_proxy = proxy or None
        self._owns_session = session is None
        self.session = session if session is not None else new_client_session()
        self._proxies = _proxy_settings(self.session)
        self._in_flight = None if session is None else _in_flight_of(session)
        self._client_timeout = _silence_bound(timeout)

    @property
    def client_timeout(self) -> aiohttp.ClientTimeout:
        """What bounds each request: ``timeout`` on connecting and on each silence, no total."""
        return self._client_timeout

    def __repr__(self) -> str:
        proxy = redact(self._explicit_proxy) if self._explicit_proxy else None
        return f"<HttpSession provider={self.provider!r} proxy={proxy!r} timeout={self.timeout!r}>"

    async def aclose(self) -> None:
        """Close the session if this ``HttpSession`` opened it; a caller's session stays open."""
        if self._owns_session:
            await self.session.close()

    def proxy_for(self, url: str) -> str | None:
        """The proxy ``url`` goes through: the ``proxy`` option, else the environment's."""
        if self._explicit_proxy:
            return self._explicit_proxy  # checked when the session was made
        proxy = self._proxies.proxy_for(url)
        if proxy is not None and (problem := proxy_problem(proxy)) is not None:
            scheme = urlsplit(url).scheme.upper()
            raise InvalidRequestError(
                f"{self.provider}: the proxy in {scheme}_PROXY {problem}; fix it, or"
                " exclude the host with NO_PROXY"
            )
        return proxy

    def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
        allow_redirects: bool = True,
    ) -> _Request:
        """Send a request; ``async with`` it to get the response once its status is a success.

        Failures while the caller reads the body inside the ``async with`` are translated too.
        With ``allow_redirects=False`` a redirect is handed over for the caller to vet and follow.
        """
        return _Request(
            self,
            self.session.request(
                method,
                url,
                json=json,
                headers=headers,
                cookies=cookies,
                proxy=self.proxy_for(url),
                timeout=timeout or self._client_timeout,
                allow_redirects=allow_redirects,
            ),
        )

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        excerpt = await read_excerpt(response)
        url = redact(str(response.url))
        raise http_error(self.provider, response.status, response.headers, excerpt, url=url)

    def iter_sse(
        self,
        response: aiohttp.ClientResponse,
        decoder: SSEDecoder | None = None,
        *,
        require_done: bool = False,
    ) -> AsyncIterator[list[str]]:
        """The data of each server-sent event, a list per network read, as soon as it arrives.

        ``require_done`` is the protocol's end rule, for the provider to state: True when the
        protocol ends every answer with ``data: [DONE]``, so that a body ending without it was
        cut, and raises ``StreamInterruptedError`` after the events it did carry (the core adds
        the text so far); False (plain SSE, where the end of the body ends the stream) when
        the protocol says the end of the body also ends the answer. A protocol that ends
        answers in-band as well (OpenAI's ``finish_reason``) passes its own ``decoder`` and
        sets ``decoder.answered`` when that end arrives. Bodies cut by the transport are
        interruptions either way.
        """
        if decoder is None:
            decoder = SSEDecoder(provider=self.provider)
        return self._iter_decoded(response, decoder, require_done, "data: [DONE]")

    def iter_sse_events(
        self,
        response: aiohttp.ClientResponse,
        decoder: SSEEventDecoder | None = None,
        *,
        done_marker: bool = False,
        require_done: bool = False,
    ) -> AsyncIterator[list[SSEEvent]]:
        """Each server-sent event whole (``SSEEvent``: name, data, id, retry), a list per read.

        For protocols that name their events, such as one that signals a failure with
        ``event: error``; ``iter_sse`` stays the faster choice when only the data matters.
        WHATWG rules, with ``iter_sse``'s bounds and its one deviation: a last event that the
        body ends without a blank line is still delivered. ``[DONE]`` is data like any other
        unless ``done_marker`` (the decoder's, when one is given) makes ``data: [DONE]`` the end
        of the stream, not delivered, as in ``iter_sse``. ``require_done`` is ``iter_sse``'s end
        rule: the body must end after that marker, or after the provider set
        ``decoder.answered`` on its protocol's own last event (``event: message_stop``, say);
        otherwise it raises ``StreamInterruptedError`` after the events it carried.
        """
        if decoder is None:
            decoder = SSEEventDecoder(provider=self.provider, done_marker=done_marker)
        elif done_marker and not decoder.done_marker:
            raise ValueError("done_marker=True with a decoder without it: set it on the decoder")
        end = "data: [DONE]" if decoder.done_marker else "the protocol's last event"
        return self._iter_decoded(response, decoder, require_done, end)

    async def iter_sse_json(
        self,
        response: aiohttp.ClientResponse,
        decoder: SSEEventDecoder | None = None,
        *,
        done_marker: bool = False,
        require_done: bool = False,
        max_depth: int = DEFAULT_MAX_JSON_DEPTH,
    ) -> AsyncIterator[list[tuple[str, Any]]]:
        """``iter_sse_events`` for protocols whose data is JSON: ``(event name, value)`` pairs.

        Data that is not JSON, or nests deeper than ``max_depth``, raises
        ``ResponseFormatError`` with an excerpt, after the pairs of the same read before it, so
        no text that came first is lost.
        """
        events = self.iter_sse_events(
            response, decoder, done_marker=done_marker, require_done=require_done
        )
        async for read in events:
            parsed: list[tuple[str, Any]] = []
            for event in read:
                try:
                    parsed.append((event.event, load_json(event.data, max_depth=max_depth)))
                except ValueError as exc:  # also nesting too deep
                    if parsed:
                        yield parsed
                    raise ResponseFormatError(
                        self.provider,
                        f"the stream carried a {event.event!r} event whose data is not JSON"
                        f" ({exc}): {event.data[:80]!r}",
                    ) from exc
            yield parsed

    async def _iter_decoded(
        self,
        response: aiohttp.ClientResponse,
        decoder: _EventStream[_T],
        require_done: bool,
        end: str,
    ) -> AsyncIterator[list[_T]]:
        """The events of each network read, for any decoder; ``end`` names the end marker."""
        async for chunk in response.content.iter_any():
            events = decoder.feed(chunk)
            if events:
                yield events
            if decoder.done:
                await _finish_body(response)
                return
        events = decoder.close()
        if events:
            yield events
        if require_done and not decoder.answered:
            raise StreamInterruptedError(
                self.provider,
                f"the event stream ended without its end marker ({end}): the answer was cut short",
            )

    async def read_json(
        self, response: aiohttp.ClientResponse, *, max_bytes: int = DEFAULT_MAX_JSON_BYTES
    ) -> Any:
        """The response body parsed as JSON, refusing bodies over ``max_bytes``."""
        body = await read_bounded(self.provider, response, max_bytes, what="JSON answer")
        try:
            return load_json(body)
        except ValueError as exc:  # also covers UnicodeDecodeError and nesting too deep
            excerpt = body[:80].decode("utf-8", "replace")
            raise ResponseFormatError(
                self.provider, f"the answer is not valid JSON ({exc}); it starts with {excerpt!r}"
            ) from exc


class _Request:
    """The ``async with`` of ``HttpSession.request``: the boundary where aiohttp's errors end.

    A small class rather than ``@asynccontextmanager``: it runs on every call of every
    provider, and the generator machinery showed up in the short-call benchmark.
    """

    __slots__ = ("_http", "_pending")

    def __init__(self, http: HttpSession, pending: Any) -> None:
        self._http = http
        self._pending = pending  # aiohttp's request context manager, not yet entered

    async def __aenter__(self) -> aiohttp.ClientResponse:
        http = self._http
        try:
            response: aiohttp.ClientResponse = await self._pending.__aenter__()
            if response.status >= 400:
                try:
                    await http._raise_for_status(response)
                finally:
                    response.release()
        except TRANSPORT_ERRORS as exc:
            raise translate(exc, http.provider, reading=False, timeout=http.timeout) from exc
        if http._in_flight is not None:  # a caller's session, which its owner may close
            http._in_flight.add(response)
        return response

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._pending.__aexit__(exc_type, exc, traceback)
        if isinstance(exc, TRANSPORT_ERRORS):
            http = self._http
            raise translate(exc, http.provider, reading=True, timeout=http.timeout) from exc


DRAIN_GRACE = 0.05
"""Seconds a server gets to end its body after ``[DONE]``, so the connection can be reused."""
DRAIN_LIMIT = 64 * 1024


async def _finish_body(response: aiohttp.ClientResponse) -> None:
    """Read what is left after the end of the stream, briefly and boundedly.

    A response released before its body ended cannot return its connection to the pool, and
    the end of a chunked body usually arrives just after ``[DONE]``: waiting that moment is what
    lets many short calls share one connection. A server that keeps talking is cut off.
    """
    if response.content.at_eof():
        return
    drained = 0
    # The answer is complete by now: a timeout or a failure here only means that the connection
    # is not reused (a response released unfinished closes it), never an error for the caller.
    with contextlib.suppress(*TRANSPORT_ERRORS):
        async with asyncio.timeout(DRAIN_GRACE):
            while not response.content.at_eof() and drained <= DRAIN_LIMIT:
                drained += len(await response.content.readany())


@functools.lru_cache(maxsize=32)
def _silence_bound(timeout: float) -> aiohttp.ClientTimeout:
    """``timeout`` on connecting and on each silence, no total; one object per value.

    ``connect`` is what bounds name resolution in aiohttp (``sock_connect`` starts after it);
    it also counts a wait for a free pooled connection, which a ``Client`` with a connection cap
    can make long under load: raise ``timeout`` or ``max_connections`` then.
    """
    return aiohttp.ClientTimeout(
        total=None, connect=timeout, sock_connect=timeout, sock_read=timeout
    )


def _checked_timeout(provider: str, timeout: object) -> float:
    """``timeout`` as seconds: a finite positive number; None means ``DEFAULT_TIMEOUT``.

    No value leaves a stalled stream waiting forever, so None is not "unbounded" here.
    """
    if timeout is None:
        return DEFAULT_TIMEOUT
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidRequestError(
            f"{provider}: timeout must be a finite positive number of seconds, got {timeout!r}"
        )
    return float(timeout)
