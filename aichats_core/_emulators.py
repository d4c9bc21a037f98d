"""Emulators: local stand-ins for a provider's service, found by provider name.

A provider distribution may register one under the entry-point group ``aichats.emulators``,
with the provider's name. An emulator is an async context manager with a ``url`` and a
``provider_options()`` method that says how to point the provider at it. That is what
``--emulate`` uses, without the core knowing any provider.
"""

from __future__ import annotations

import importlib.metadata
from types import TracebackType
from typing import Any, Protocol

from aichats_core._registry import normalize_name
from aichats_core.errors import InvalidRequestError, PluginLoadError, ProviderConflictError

ENTRY_POINT_GROUP = "aichats.emulators"


class Emulator(Protocol):
    """A running local service that a provider can be pointed at."""

    @property
    def url(self) -> str: ...

    def provider_options(self) -> dict[str, Any]: ...

    async def __aenter__(self) -> Emulator: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


def find_emulator(provider: str) -> type[Emulator]:
    """The emulator class registered for ``provider``, or a clear error saying there is none."""
    matches = _entry_points_for(provider)
    if len(matches) > 1:  # the registry's policy: report, never pick one silently
        raise ProviderConflictError(
            provider, distributions=[ep.dist.name if ep.dist else "?" for ep in matches]
        )
    if not matches:
        raise InvalidRequestError(
            f"provider {provider!r} ships no emulator, so --emulate cannot be used with it"
        )
    [entry_point] = matches
    try:
        emulator: type[Emulator] = entry_point.load()
    except Exception as exc:
        raise PluginLoadError(
            entry_point.name,
            distribution=entry_point.dist.name if entry_point.dist else None,
            cause=f"its emulator failed to load: {type(exc).__name__}: {exc}",
        ) from exc
    return emulator


def has_emulator(provider: str) -> bool:
    return bool(_entry_points_for(provider))


def _entry_points_for(provider: str) -> list[importlib.metadata.EntryPoint]:
    key = normalize_name(provider)
    return [
        ep
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if normalize_name(ep.name) == key
    ]
