"""aiohttp's HTTP protocol, held to the server's limits on clients.

- A client has ``head_timeout`` seconds, from its connection or from the end of its previous
  response, to send a whole request head; a partial head then gets a 408 and the connection
  closes (an idle keep-alive connection is just closed). Slowloris holds nothing for long.
- At most ``max_clients`` connections are served at once; the next get an immediate 503 with
  ``Connection: close`` rather than waiting unanswered at the fd limit.
- aiohttp's own error answers (unparsable requests) are OpenAI-shaped and echo nothing.
- Shutdown ends every connection by its deadline: one whose client stopped reading, with a
  write blocked on a full socket buffer, is aborted rather than waited for.

aiohttp internals relied on, each present in aiohttp 3.10.10 as in 3.14:
``RequestHandler._messages`` (the parsed heads waiting to be handled) and
``_request_count`` (how many heads were parsed), ``RequestHandler._loop`` (its event loop),
``RequestHandler.data_received``, ``handle_error`` and ``finish_response`` (overridden;
3.14's ``_resume_reading_if_drained`` calls ``data_received(b"")`` to parse heads it
buffered while paused, which the override tolerates: no bytes are not a begun head),
``Server._kwargs`` (the keywords a ``RequestHandler`` is built with) and
``AppRunner._make_server`` (overridden to build this ``Server``). ``_access_log.AccessLog``
relies on the attributes ``AccessLogger``'s atoms read of a request (``method``,
``path_qs``, ``version``, ``remote``, ``headers``): an atom reading another would write
"Error in logging" instead of the line (tests/server/test_access_log.py runs them all).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from aichats_core.server import _refusals
from aichats_core.server._throttle import EveryInterval

LINGER = 2.0
"""Seconds a connection answered 408 or 503 stays half-closed, so the client reads the
answer before the close (closing with its unread bytes in the buffer would reset it)."""
LINGER_BUDGET = 32
"""Connections lingering at once, at most: each holds an fd that ``max_clients`` does not
count, so a flood of refusals would reach the fd limit. Beyond it the answer is written and
the socket closed at once (the client may then see a reset instead of the answer)."""
ABORT_WAIT = 1.0
"""Seconds shutdown waits for handlers after aborting their connections."""


class ClientHandler(RequestHandler):
    """One client connection: aiohttp's protocol plus the head timeout and the cap."""

    __slots__ = ("_admitted", "_answered", "_body", "_clients", "_head_begun", "_head_timer")

    def __init__(self, clients: ClientServer, **kwargs: Any) -> None:
        super().__init__(clients, **kwargs)
        self._clients = clients
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_begun = False
        """Bytes of a head not yet parsed have arrived (while a response was being sent, too)."""
        self._body: StreamReader | None = None
        """The body of the last head parsed: bytes arriving before its end are not a head."""
        self._admitted = False
        self._answered: asyncio.Transport | None = None
        """The transport given a refusal or a 408, lingering until the client closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        clients = self._clients
        if not clients.admit():
            assert isinstance(transport, asyncio.Transport)
            self.close()  # aiohttp: data_received ignores what the client sends now
            self._answered = transport
            clients.refuse(transport)
            return
        self._admitted = True
        super().connection_made(transport)
        self._wait_for_head()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._body = None
        if self._answered is not None:
            self._clients.forget(self._answered)
            self._answered = None
        if self._admitted:
            self._admitted = False
            self._clients.clients -= 1
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # aiohttp 3.14 also calls this with b"" to parse heads it buffered while paused.
        in_body = self._body is not None and not self._body.is_eof()
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:  # a whole head arrived (or one aiohttp refused)
            self._body = self._messages[-1][1] if self._messages else None
            self._head_begun = False  # (the rest of this chunk, if any, is not told apart)
        elif data and not in_body:
            self._head_begun = True
        timer = self._head_timer
        if timer is not None and self._messages:
            timer.cancel()
            self._head_timer = None

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        sent = await super().finish_response(request, resp, start_time)
        if self.transport is not None and not self._messages and self._head_timer is None:
            self._wait_for_head()  # the next request's head: from the end of this response
        return sent

    def _wait_for_head(self) -> None:
        self._head_timer = self._loop.call_later(self._clients.head_timeout, self._head_late)

    def _head_late(self) -> None:
        self._head_timer = None
        transport = self.transport
        if transport is None or self._messages:
            return
        if not self._head_begun:
            self.force_close()  # idle: nobody is waiting for an answer
            return
        self.close()  # aiohttp: stop the request loop, ignore further bytes
        assert isinstance(transport, asyncio.Transport)
        self._answered = transport
        self._clients.answer_and_close(transport, self._clients.timeout_answer)

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: a response began, none can follow
            raise ConnectionError("a response was sent already; cannot send an error after it")
        if status >= 500:
            error = _refusals.unexpected(status)
            self.logger.error(
                "unexpected error answering %s %s", request.method, request.path, exc_info=exc
            )
        else:
            error = _refusals.malformed(exc)
            # Never the request's bytes (they may hold a key), nor a traceback: a scanner's
            # garbage is routine on a public port. (Under gunicorn the logger is gunicorn's.)
            self.logger.debug(
                "refused a malformed request from %s: %s (%s)",
                request.remote,
                error.message,
                type(exc).__name__,
            )
        response = error.response()
        response.force_close()
        return response


class ClientServer(Server):
    """aiohttp's ``Server`` (the protocol factory) making ``ClientHandler``s and counting
    them."""

    def __init__(self, base: Server, *, head_timeout: float, max_clients: int | None) -> None:
        self._handler_kwargs: dict[str, Any] = dict(base._kwargs)
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            **self._handler_kwargs,
        )
        self.head_timeout = head_timeout
        self.max_clients = max_clients
        self.clients = 0
        self.timeout_answer = _refusals.raw_answer(_refusals.head_timeout(head_timeout))
        self._busy_answer = _refusals.raw_answer(_refusals.over_capacity(max_clients or 0))
        self._lingering: dict[asyncio.Transport, asyncio.TimerHandle] = {}
        self._busy_log = EveryInterval("refusing connections over max_clients")

    def __call__(self) -> ClientHandler:
        return ClientHandler(self, loop=asyncio.get_running_loop(), **self._handler_kwargs)

    def admit(self) -> bool:
        if self.max_clients is not None and self.clients >= self.max_clients:
            return False
        self.clients += 1
        return True

    def refuse(self, transport: asyncio.Transport) -> None:
        self._busy_log(f"{self.clients} clients connected (max_clients {self.max_clients})")
        self.answer_and_close(transport, self._busy_answer)

    def answer_and_close(self, transport: asyncio.Transport, answer: bytes) -> None:
        """Write ``answer``, half-close, and abort after ``LINGER`` unless the client closed;
        past ``LINGER_BUDGET`` lingering connections, close at once."""
        transport.write(answer)
        if len(self._lingering) >= LINGER_BUDGET:
            transport.close()  # the fd is freed once the kernel has the answer
            return
        if transport.can_write_eof():
            transport.write_eof()  # the client reads the answer, then sees the end
        loop = asyncio.get_running_loop()
        self._lingering[transport] = loop.call_later(LINGER, self._end_lingering, transport)

    def _end_lingering(self, transport: asyncio.Transport) -> None:
        self._lingering.pop(transport, None)
        transport.abort()

    def forget(self, transport: asyncio.Transport) -> None:
        """``transport`` closed: it lingers no more."""
        timer = self._lingering.pop(transport, None)
        if timer is not None:
            timer.cancel()

    def pre_shutdown(self) -> None:
        super().pre_shutdown()
        for transport, timer in list(self._lingering.items()):
            timer.cancel()
            transport.abort()
        self._lingering.clear()
        self._busy_log.close()

    async def shutdown(self, timeout: float | None = None) -> None:
        """aiohttp's graceful shutdown, bounded: at ``timeout`` every connection still open is
        aborted, which ends handlers stuck writing to clients that stopped reading."""
        graceful = asyncio.ensure_future(super().shutdown(timeout))
        try:
            done, _ = await asyncio.wait({graceful}, timeout=timeout)
            if not done:
                self.abort_all()
                await asyncio.wait({graceful}, timeout=ABORT_WAIT)
        except asyncio.CancelledError:
            self.abort_all()  # a second signal: stop waiting for anyone
            raise
        finally:
            if not graceful.done():
                graceful.cancel()
            try:
                await graceful
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this task was cancelled, not only the graceful wait

    def abort_all(self) -> None:
        for handler in self.connections:
            if handler.transport is not None:
                handler.transport.abort()


class ClientRunner(web.AppRunner):
    """aiohttp's ``AppRunner`` serving through a ``ClientServer``."""

    __slots__ = ("_head_timeout", "_max_clients")

    def __init__(
        self,
        app: web.Application,
        *,
        head_timeout: float,
        max_clients: int | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self._head_timeout = head_timeout
        self._max_clients = max_clients

    async def _make_server(self) -> Server:
        base = await super()._make_server()  # runs the app's startup, builds aiohttp's Server
        return ClientServer(base, head_timeout=self._head_timeout, max_clients=self._max_clients)
