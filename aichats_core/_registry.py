"""Finding providers: entry points of ``aichats.providers``, plus in-process registrations.

Listing reads entry-point metadata only; a plugin is imported (through stevedore) when it is
selected or when its details are asked for. A plugin that fails to import or breaks the
protocol is recorded as broken and never takes the registry down.

Policies users can rely on:

* names are normalised: case, ``-`` and ``_`` do not matter (``AiChats`` == ``ai-chats``);
* two distributions claiming one name: neither is loaded; both are listed as broken and
  selecting the name raises ``ProviderConflictError`` naming them. A provider registered
  in-process with ``register_provider`` settles it: explicit code wins over installed plugins;
* ``AICHATS_PROVIDERS=a,b`` loads only the installed plugins named there (in-process
  registrations are code, not plugins, and are unaffected);
* discovery is read with ``importlib.metadata`` (fresh, with distribution names) rather than
  stevedore's on-disk cache, which can be stale for a while after an install;
  ``refresh()`` forgets everything this process learnt.

Discovery, the conflict policy and isolated loading are ``_entry_points``', shared with
emulators; this module adds what is the providers' own: the allow-list, in-process
registrations and ``ProviderInfo``.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from aichats_core._boundary import is_plugins_own
from aichats_core._entry_points import (
    Contract,
    EntryPointGroup,
    distribution_names,
)
from aichats_core._entry_points import normalize_name as normalize_name  # where callers look
from aichats_core._provider import Provider, protocol_problems
from aichats_core.errors import (
    InvalidRequestError,
    PluginLoadError,
    ProviderConflictError,
    ProviderNotFoundError,
)

ENTRY_POINT_GROUP = "aichats.providers"
ALLOW_LIST_VARIABLE = "AICHATS_PROVIDERS"
PROVIDER_CONTRACT = Contract("the provider protocol", protocol_problems)


@dataclass(eq=False)
class ProviderInfo:
    """One provider as the registry knows it. Details import the plugin on first access."""

    name: str
    """The registered name (the entry-point name)."""
    distribution: str | None
    """The installed distribution that provides it; None for in-process registrations."""
    source: Literal["entry-point", "in-process"]
    target: str
    """Where the class lives, as ``module:attribute``."""
    _registry: ProviderRegistry = field(repr=False)
    _conflict: tuple[str, ...] = field(default=(), repr=False)
    _entry_point: importlib.metadata.EntryPoint | None = field(default=None, repr=False)
    _provider: type[Provider] | None = field(default=None, repr=False)

    def load(self) -> type[Provider]:
        """The provider class; raises ``PluginLoadError`` if the plugin is broken."""
        if self._provider is None:  # every call selects its provider: make the next one cheap
            self._provider = self._registry._load(self)
        return self._provider

    @property
    def error(self) -> str | None:
        """Why the provider cannot be used, or None when it loads fine."""
        try:
            self.load()
        except PluginLoadError as exc:
            return exc.cause
        return None

    @property
    def broken(self) -> bool:
        return self.error is not None

    def detail(self, attribute: str, default: Any = None) -> Any:
        """A class attribute of the provider, or ``default`` when it is broken, lacks it, or
        reading it raises (plugin code: contained, see ``_boundary``)."""
        try:
            return getattr(self.load(), attribute, default)
        except PluginLoadError:
            return default
        except BaseException as exc:
            if not is_plugins_own(exc):
                raise
            return default


class ProviderRegistry:
    """The set of providers a process can use. Most code uses the module-level functions."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self._plugins = EntryPointGroup(group, PROVIDER_CONTRACT)
        self._lock = threading.RLock()
        self._installed: tuple[str, dict[str, ProviderInfo]] | None = None
        """The installed providers, for the allow-list they were filtered with."""
        self._in_process: dict[str, ProviderInfo] = {}

    # -- discovery -------------------------------------------------------------------------

    def refresh(self) -> None:
        """Forget discovered entry points and loaded plugins; the next call rediscovers them."""
        with self._lock:
            self._plugins.refresh()
            self._installed = None

    def _infos(self) -> dict[str, ProviderInfo]:
        """Every usable name, normalised, to its info; in-process registrations win.

        Computed once per allow-list: reading distribution metadata costs file reads, and
        every call selects its provider through here.
        """
        allow_list = os.environ.get(ALLOW_LIST_VARIABLE, "")
        cached = self._installed  # one read: a refresh in another thread swaps the whole tuple
        if cached is None or cached[0] != allow_list:
            with self._lock:
                cached = (allow_list, self._installed_infos(_parse_allow_list(allow_list)))
                self._installed = cached
        installed = cached[1]
        return {**installed, **self._in_process} if self._in_process else installed

    def _installed_infos(self, allowed: set[str] | None) -> dict[str, ProviderInfo]:
        infos: dict[str, ProviderInfo] = {}
        for key, entry_points in self._plugins.claims(allowed).items():
            distributions = distribution_names(entry_points)
            first = entry_points[0]
            infos[key] = ProviderInfo(
                name=first.name,
                distribution=", ".join(distributions),
                source="entry-point",
                target=first.value,
                _registry=self,
                _conflict=distributions if len(entry_points) > 1 else (),
                _entry_point=first,
            )
        return infos

    def list(self) -> list[ProviderInfo]:
        """Every provider, sorted by name, broken ones included. Imports nothing."""
        return sorted(self._infos().values(), key=lambda info: normalize_name(info.name))

    def info(self, name: str) -> ProviderInfo:
        """The info for ``name`` (normalised), or ``ProviderNotFoundError`` with close matches."""
        infos = self._infos()
        key = normalize_name(name)
        if key in infos:
            return infos[key]
        import difflib  # only an unknown name needs it

        close = difflib.get_close_matches(key, list(infos), n=3, cutoff=0.6)
        hint = ""
        allowed = _parse_allow_list(os.environ.get(ALLOW_LIST_VARIABLE, ""))
        if allowed is not None and any(
            normalize_name(ep.name) == key for ep in self._plugins.discovered()
        ):
            hint = (
                f"It is installed but {ALLOW_LIST_VARIABLE} does not allow it; add it there or"
                " unset the variable."
            )
        raise ProviderNotFoundError(name, close_matches=[infos[k].name for k in close], hint=hint)

    def get(self, name: str) -> type[Provider]:
        """The provider class registered as ``name``."""
        return self.info(name).load()

    # -- registration ----------------------------------------------------------------------

    def register(self, name: str, provider: type[Any], *, replace: bool = False) -> None:
        """Register a provider class in this process, with the checks a plugin gets.

        It takes precedence over an installed plugin of the same name.
        """
        key = normalize_name(name)
        if not key:
            raise InvalidRequestError("a provider name cannot be empty")
        if key == "auto" or key.startswith("auto:"):
            raise InvalidRequestError(
                f"{name!r} is reserved: 'auto' picks among the installed providers; choose"
                " another name"
            )
        problems = protocol_problems(provider)
        if problems:
            raise PluginLoadError(name, distribution=None, cause="; ".join(problems))
        with self._lock:
            if key in self._in_process and not replace:
                raise InvalidRequestError(
                    f"a provider named {name!r} is already registered in this process;"
                    " pass replace=True to replace it"
                )
            module = getattr(provider, "__module__", "?")
            self._in_process[key] = ProviderInfo(
                name=name,
                distribution=None,
                source="in-process",
                target=f"{module}:{provider.__qualname__}",
                _registry=self,
                _provider=provider,
            )

    def registered_here(self, name: str) -> tuple[str, type[Any]] | None:
        """The name and class registered in this process under ``name`` (not an installed
        plugin), or None: what a test restores after replacing it."""
        info = self._in_process.get(normalize_name(name))
        if info is None or info._provider is None:
            return None
        return info.name, info._provider

    def unregister(self, name: str) -> None:
        """Remove an in-process registration (installed plugins cannot be unregistered)."""
        key = normalize_name(name)
        with self._lock:
            if key not in self._in_process:
                raise ProviderNotFoundError(name, hint="It was not registered in this process.")
            del self._in_process[key]

    # -- loading ---------------------------------------------------------------------------

    def _load(self, info: ProviderInfo) -> type[Provider]:
        if info._conflict:
            raise ProviderConflictError(info.name, distributions=info._conflict)
        assert info._entry_point is not None, "entry-point infos always carry their entry point"
        provider: type[Provider] = self._plugins.load(info._entry_point)
        return provider


def _parse_allow_list(raw: str) -> set[str] | None:
    """The names ``AICHATS_PROVIDERS`` allows, or None when it is unset (everything allowed)."""
    if not raw.strip():
        return None
    return {normalize_name(part.strip()) for part in raw.split(",") if part.strip()}


default_registry = ProviderRegistry()


def list_providers() -> list[ProviderInfo]:
    """Every provider of the default registry, sorted by name; importing none of them."""
    return default_registry.list()


def provider_info(name: str) -> ProviderInfo:
    """What the default registry knows of ``name`` (case, ``-`` and ``_`` ignored), without
    importing it; ``ProviderNotFoundError`` with close matches when there is no such provider."""
    return default_registry.info(name)


def get_provider(name: str) -> type[Provider]:
    """The provider class registered as ``name`` (case, ``-`` and ``_`` ignored)."""
    return default_registry.get(name)


def register_provider(name: str, provider: type[Any], *, replace: bool = False) -> None:
    """Register a provider class in this process; it wins over an installed plugin of that name."""
    default_registry.register(name, provider, replace=replace)


def refresh() -> None:
    """Rediscover installed plugins, e.g. after ``pip install`` in a running process."""
    default_registry.refresh()
