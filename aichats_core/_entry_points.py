"""The one loader of plugins: entry points of a group, by normalised name, imported in isolation.

Providers (``aichats.providers``) and emulators (``aichats.emulators``) are both found and
loaded here, so they follow one set of rules: names compared normalised; two distributions
claiming one name load neither; a plugin is imported through stevedore, handed exactly the
chosen entry point; anything it raises at import (``SystemExit`` included), or a failed
contract check, becomes a ``PluginLoadError`` naming the distribution and the cause.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aichats_core._boundary import is_plugins_own
from aichats_core.errors import PluginLoadError, ProviderConflictError

if TYPE_CHECKING:
    from stevedore.named import NamedExtensionManager

EntryPoint = importlib.metadata.EntryPoint


def normalize_name(name: str) -> str:
    """The form names are compared in: lower case, without ``-`` and ``_``."""
    return name.replace("-", "").replace("_", "").lower()


class Contract:
    """What the plugins of a group must be, checked when one is loaded.

    (Plain classes, not dataclasses: this module is on every start-up's path.)
    """

    __slots__ = ("name", "problems", "subject")

    def __init__(
        self, name: str, problems: Callable[[Any], list[str]], *, subject: str = ""
    ) -> None:
        self.name = name
        """As failures say it: ``"the provider protocol"``."""
        self.problems = problems
        """Why a loaded object breaks the contract; empty when it satisfies it."""
        self.subject = subject
        """How a failure's cause begins, for plugins that are not the provider itself
        (``"its emulator: "``): ``PluginLoadError`` always speaks of the provider."""


class Loaded:
    """One entry point's outcome: the plugin, or why it cannot be used."""

    __slots__ = ("failure", "plugin")

    def __init__(self, plugin: Any = None, failure: PluginLoadError | None = None) -> None:
        self.plugin = plugin
        self.failure = failure


class EntryPointGroup:
    """The plugins of one entry-point group: discovered once, each loaded once.

    ``cached=False`` reads the group and imports on every lookup instead, for lookups made
    once per command (an emulator), where a ``pip install`` should be seen without refresh().
    """

    def __init__(self, group: str, contract: Contract, *, cached: bool = True) -> None:
        self.group = group
        self.contract = contract
        self._cached = cached
        self._lock = threading.RLock()
        self._entry_points: list[EntryPoint] | None = None
        self._loaded: dict[tuple[str, str], Loaded] = {}

    def refresh(self) -> None:
        """Forget discovered entry points and loaded plugins; the next lookup rediscovers."""
        with self._lock:
            importlib.invalidate_caches()
            self._entry_points = None
            self._loaded.clear()
            _forget_stevedore_cache(self.group)

    def discovered(self) -> list[EntryPoint]:
        """Every entry point of the group, read with ``importlib.metadata`` (fresh, with
        distribution names) rather than stevedore's on-disk cache, which can be stale."""
        if not self._cached:
            return list(importlib.metadata.entry_points(group=self.group))
        with self._lock:
            if self._entry_points is None:
                self._entry_points = list(importlib.metadata.entry_points(group=self.group))
            return self._entry_points

    def claims(self, allowed: set[str] | None = None) -> dict[str, list[EntryPoint]]:
        """The entry points claiming each normalised name (of ``allowed`` only, when given);
        more than one is a conflict (see ``only``)."""
        claims: dict[str, list[EntryPoint]] = {}
        for entry_point in self.discovered():
            key = normalize_name(entry_point.name)
            if allowed is None or key in allowed:
                claims.setdefault(key, []).append(entry_point)
        return claims

    def only(self, name: str) -> EntryPoint | None:
        """The entry point claiming ``name``, or None; ``ProviderConflictError`` naming the
        distributions when several claim it: the policy is to report, never to pick one."""
        entry_points = self.claims().get(normalize_name(name), [])
        if len(entry_points) > 1:
            raise ProviderConflictError(name, distributions=distribution_names(entry_points))
        return entry_points[0] if entry_points else None

    def load(self, entry_point: EntryPoint) -> Any:
        """The plugin ``entry_point`` names, checked against the contract, or the recorded
        ``PluginLoadError`` (the same one every time: a broken plugin is imported once)."""
        key = (entry_point.name, entry_point.value)
        with self._lock:
            loaded = self._loaded.get(key) if self._cached else None
            if loaded is None:
                loaded = load_entry_point(self.group, entry_point, self.contract)
                if self._cached:
                    self._loaded[key] = loaded
        if loaded.failure is not None:
            raise loaded.failure
        return loaded.plugin


def load_entry_point(group: str, entry_point: EntryPoint, contract: Contract) -> Loaded:
    """Import one plugin through stevedore, turning any failure into a recorded PluginLoadError."""
    failures: list[BaseException] = []

    def on_failure(_manager: Any, _entry_point: Any, exc: BaseException) -> None:
        failures.append(exc)

    candidate: Any = None
    problems: list[str] = []
    try:
        # stevedore reports an Exception through on_failure but lets SystemExit,
        # KeyboardInterrupt and AssertionError through; reading attributes may raise too.
        manager = _single_entry_point_manager(group, entry_point, on_failure)
        candidate = manager.extensions[0].plugin if manager.extensions else None
        if candidate is not None:
            problems = contract.problems(candidate)
    except BaseException as exc:  # plugin code at import: contained (see _boundary)
        if not is_plugins_own(exc):
            raise
        failures.append(exc)
    if failures or candidate is None:
        cause = _describe_failure(failures[0]) if failures else "the entry point did not load"
    elif problems:
        cause = f"{entry_point.value} does not satisfy {contract.name}: " + "; ".join(problems)
    else:
        return Loaded(plugin=candidate)
    distribution = distribution_name(entry_point)
    return Loaded(
        failure=PluginLoadError(
            entry_point.name, distribution=distribution, cause=contract.subject + cause
        )
    )


def _single_entry_point_manager(
    group: str, entry_point: EntryPoint, on_failure: Any
) -> NamedExtensionManager[Any]:
    """A stevedore manager that loads exactly the entry point the group chose.

    Handing stevedore the entry point (instead of letting it enumerate the group) keeps one
    source of truth for discovery and sidesteps its on-disk cache.
    """
    from stevedore.named import NamedExtensionManager

    class _OneEntryPoint(NamedExtensionManager[Any]):
        def list_entry_points(self) -> list[EntryPoint]:
            return [entry_point]

    return _OneEntryPoint(
        group,
        names=[entry_point.name],
        on_load_failure_callback=on_failure,
        on_missing_entrypoints_callback=None,
    )


def _describe_failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def distribution_name(entry_point: EntryPoint) -> str | None:
    """The installed distribution that declares ``entry_point``, as its metadata names it."""
    dist = entry_point.dist
    return None if dist is None else str(dist.metadata["Name"])


def distribution_names(entry_points: Sequence[EntryPoint]) -> tuple[str, ...]:
    return tuple(distribution_name(ep) or "?" for ep in entry_points)


def _forget_stevedore_cache(group: str) -> None:
    """Drop stevedore's process-wide entry-point cache, in case other code used it."""
    try:
        from stevedore.extension import ExtensionManager
    except ImportError:  # pragma: no cover - stevedore is a dependency
        return
    ExtensionManager.ENTRY_POINT_CACHE.pop(group, None)
