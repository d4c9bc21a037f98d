"""What one running app shares between its requests, and how it calls a provider."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from aichats_core import Client, ResultStream, normalize_name
from aichats_core.history import HistoryStore
from aichats_core.server._images import ImageStore
from aichats_core.server._limits import ServerLimits
from aichats_core.server._pacing import Tick, paced
from aichats_core.server._slots import Slots
from aichats_core.types import MessageInput

T = TypeVar("T")

DEFAULT_SHUTDOWN_GRACE = 5.0
"""Seconds open streams may run on after shutdown begins before they are closed."""
IMAGES_IN_FLIGHT = 8
"""Images generated or being answered at once, over all requests (one with ``n=4`` takes
four); the others wait. Each holds at most ``max_image_bytes`` (20 MiB by default) about
2.4 times over, so this bounds what a burst of image requests costs as a whole."""


@dataclass
class ServerState:
    provider_options: dict[str, dict[str, Any]]
    """Options by normalised provider name, given to that provider on every call."""
    api_key: str | None
    limits: ServerLimits
    keepalive_interval: float
    created: int
    """When the app was made: the ``created`` of every model object."""
    max_connections: int = 0
    """Upstream connections open at once; 0: no cap."""
    public_url: str | None = None
    """Where clients reach the server (``https://api.example.com``), for image URLs."""
    host_names: set[str] = field(default_factory=set)
    """Names, beyond ``localhost`` and IP addresses, that requests may be addressed to when
    there is no API key (the DNS rebinding guard): the bound host and ``public_url``'s."""
    served: frozenset[str] | None = None
    """Normalised names of the only providers served, when not all are (``--emulate``)."""
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    poll_interval: float = 1.0
    """How often a waiting handler checks that its client is still connected."""
    images: ImageStore = field(default_factory=ImageStore)
    image_slots: Slots = field(default_factory=lambda: Slots(IMAGES_IN_FLIGHT))
    client: Client | None = None
    history: HistoryStore | None = None
    """The conversation history the chat page reads and records (``aichats logs``' own)."""
    web_client: Client | None = None
    """The chat page's client: it records its turns in ``history`` (the API's calls are
    never recorded)."""
    closing: asyncio.Future[None] | None = None
    """Done once the grace period after shutdown ran out: open streams must end now."""

    def require_client(self) -> Client:
        if self.client is None:
            raise RuntimeError("the app has not started: run it with an aiohttp runner")
        return self.client

    def require_closing(self) -> asyncio.Future[None]:
        if self.closing is None:
            raise RuntimeError("the app has not started: run it with an aiohttp runner")
        return self.closing

    def options_for(self, provider: str) -> dict[str, Any]:
        return self.provider_options.get(normalize_name(provider), {})

    def watch(
        self, request: web.Request, events: AsyncIterator[T], *, keepalive: bool
    ) -> AsyncGenerator[T | Tick, None]:
        """``events`` paced for ``request``: keep-alives when asked for, the shutdown deadline,
        and the client hanging up. aiohttp cancels a handler whose client left only when its
        runner enables that (``serve()`` does, gunicorn's worker does not), so the connection
        is also checked every ``poll_interval`` while waiting."""

        def abandoned() -> bool:
            transport = request.transport
            return transport is None or transport.is_closing()

        return paced(
            events,
            interval=self.keepalive_interval if keepalive else None,
            closing=self.require_closing(),
            abandoned=abandoned,
            poll=self.poll_interval,
        )

    async def answer(
        self, request: web.Request, events: AsyncIterator[T]
    ) -> AsyncGenerator[T, None]:
        """The events of a call answered in one piece (no keep-alives): a shutdown or a client
        that hung up ends it with an error instead of a tick."""
        from aichats_core.server._errors import shutting_down

        async with aclosing(self.watch(request, events, keepalive=False)) as items:
            async for item in items:
                if item is Tick.CLOSING:
                    raise shutting_down()
                if item is Tick.ABANDONED:
                    raise ConnectionResetError("the client went away")
                if not isinstance(item, Tick):  # keep-alives were not asked for
                    yield item

    def call(
        self,
        provider: str,
        messages: str | Iterable[MessageInput],
        model: str,
        features: Mapping[str, Any] | None = None,
    ) -> ResultStream:
        """One provider call over the shared client, with that provider's options and the
        call's ``features`` (``tools``, ``response_format``, ``max_tokens``, ...)."""
        options = dict(self.options_for(provider))
        proxy = options.pop("proxy", None)
        retries = options.pop("retries", 0)
        return self.require_client().stream(
            provider,
            messages,
            model=model,
            proxy=proxy,
            retries=retries,
            provider_options={provider: options},
            keep_partial_text=False,  # a relay must not hold the answer; nobody reads it here
            **(features or {}),
        )


STATE = web.AppKey("aichats_server_state", ServerState)
