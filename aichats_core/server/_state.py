"""What one running app shares between its requests, and how it calls a provider."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from aichats_core._client import Client
from aichats_core._models import MessageInput
from aichats_core._registry import default_registry, normalize_name
from aichats_core._stream import ResultStream
from aichats_core.errors import InvalidRequestError
from aichats_core.server._images import ImageStore

DEFAULT_SHUTDOWN_GRACE = 5.0
"""Seconds open streams may run on after shutdown begins before they are closed."""


def checked_provider_options(
    provider_options: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """Options by normalised provider name; a provider nobody installed is a typo, said now.

    ``proxy`` and ``retries`` are settings of the call rather than of the provider, so they
    are checked here and handed to ``stream()`` as such.
    """
    checked: dict[str, dict[str, Any]] = {}
    for name, options in (provider_options or {}).items():
        default_registry.info(name)  # ProviderNotFoundError, with the close matches
        proxy, retries = options.get("proxy"), options.get("retries", 0)
        if proxy is not None and not isinstance(proxy, str):
            raise InvalidRequestError(f"{name}.proxy must be a URL string, not {proxy!r}")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidRequestError(f"{name}.retries must be an integer >= 0, not {retries!r}")
        checked.setdefault(normalize_name(name), {}).update(options)
    return checked


@dataclass
class ServerState:
    provider_options: dict[str, dict[str, Any]]
    """Options by normalised provider name, given to that provider on every call."""
    api_key: str | None
    max_body_bytes: int
    keepalive_interval: float
    created: int
    """When the app was made: the ``created`` of every model object."""
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    images: ImageStore = field(default_factory=ImageStore)
    client: Client | None = None
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

    def call(
        self, provider: str, messages: str | Iterable[MessageInput], model: str
    ) -> ResultStream:
        """One provider call over the shared client, with that provider's options."""
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
        )


STATE = web.AppKey("aichats_server_state", ServerState)
