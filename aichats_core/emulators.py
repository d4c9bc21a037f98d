"""Emulators: local stand-ins for a provider's service, which ``--emulate`` runs and points
the provider at, without the core knowing any provider.

A provider distribution ships one by registering a class that satisfies ``EmulatorClass``
under the entry-point group ``aichats.emulators``, with the provider's name::

    [project.entry-points."aichats.emulators"]
    myprovider = "myprovider.emulator:MyEmulator"

It is found and loaded like a provider (the same loader, conflict policy and isolation), and
checked against the protocol when loaded: what does not satisfy it is a ``PluginLoadError``.
"""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import Any, Protocol

from aichats_core._entry_points import Contract, EntryPointGroup, normalize_name
from aichats_core.errors import InvalidRequestError

__all__ = ["ENTRY_POINT_GROUP", "Emulator", "EmulatorClass", "find_emulator", "has_emulator"]

ENTRY_POINT_GROUP = "aichats.emulators"


class Emulator(Protocol):
    """A local service a provider can be pointed at, serving while its ``async with`` lasts."""

    @property
    def url(self) -> str:
        """Where it listens (``http://127.0.0.1:PORT``), known once it is started."""
        ...

    def provider_options(self) -> dict[str, Any]:
        """The call options that point the provider at it (typically ``base_url``): what
        ``--emulate`` merges into every call."""
        ...

    async def __aenter__(self) -> Emulator: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class EmulatorClass(Protocol):
    """What the entry point names: a class built with no argument (``--emulate`` picks a free
    port) or with the keywords ``host`` and ``port`` (``aichats emulator --host --port``)."""

    def __call__(self, *, host: str = ..., port: int = ...) -> Emulator: ...


def _protocol_problems(candidate: Any) -> list[str]:
    """Why ``candidate`` is not an ``EmulatorClass``; checked at load, without building one."""
    if not isinstance(candidate, type):
        return [f"it is a {type(candidate).__name__}, not a class"]
    problems = [
        f"it has no {name}"
        for name in ("url", "provider_options", "__aenter__", "__aexit__")
        if not hasattr(candidate, name)
    ]
    try:
        signature = inspect.signature(candidate)
    except (TypeError, ValueError):  # no signature to read (a builtin): the call will tell
        return problems
    for arguments in ({}, {"host": "127.0.0.1", "port": 0}):
        try:
            signature.bind(**arguments)
        except TypeError as exc:
            problems.append(
                f"it cannot be built with {', '.join(arguments) or 'no argument'}: {exc}"
            )
    return problems


_EMULATORS = EntryPointGroup(
    ENTRY_POINT_GROUP,
    Contract("the emulator protocol", _protocol_problems, subject="its emulator: "),
    cached=False,  # looked up once per command: a fresh install is seen without refresh()
)


def find_emulator(provider: str) -> EmulatorClass:
    """The emulator class registered for ``provider`` (name normalised), loaded and checked;
    ``InvalidRequestError`` when it ships none, ``PluginLoadError`` (``ProviderConflictError``
    for two distributions) when it cannot be used."""
    entry_point = _EMULATORS.only(provider)
    if entry_point is None:
        raise InvalidRequestError(
            f"provider {provider!r} ships no emulator, so --emulate cannot be used with it"
        )
    emulator: EmulatorClass = _EMULATORS.load(entry_point)
    return emulator


def has_emulator(provider: str) -> bool:
    """Whether a distribution registers an emulator for ``provider``; imports nothing."""
    return bool(_EMULATORS.claims().get(normalize_name(provider)))
