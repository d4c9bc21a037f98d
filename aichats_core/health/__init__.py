"""Provider health, measured: every attempt's outcome, and a circuit breaker per provider+model.

Each call tells the tracker of its ``Client`` (the process's own, ``tracker()``, unless the
client was given another, or ``health=False``) how each attempt went. A provider+model that
fails transiently ``BreakerPolicy.failures`` times in a row opens its breaker for a cooldown
(at least the ``Retry-After`` a 429 gave); then one call goes through as a probe, and its
answer closes the breaker. While open, fallback chains skip the provider (the trail names it),
an explicit call to it fails at once with ``ProviderUnavailableError`` (unless
``ignore_breaker=True``), and a call whose providers all cool waits for the first to come
back when that fits its ``deadline``.

>>> from aichats_core import health
>>> health.tracker().health("aichats").status  # doctest: +SKIP
'ok'

Importing this module imports neither aiohttp, pydantic nor sqlite3, and its names load when
first used: ``aichats providers`` pays for health only where some was measured.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aichats_core.lazy import lazy_attributes

if TYPE_CHECKING:
    from aichats_core.health._breaker import BreakerPolicy
    from aichats_core.health._store import HealthStore
    from aichats_core.health._summary import HealthStatus, ProviderHealth
    from aichats_core.health._tracker import HealthTracker

__all__ = [  # noqa: RUF022 - plainly sorted, as tests/core/test_public_api.py sorts every module
    "BreakerPolicy",
    "HEALTH_ENV",
    "HealthStatus",
    "HealthStore",
    "HealthTracker",
    "ProviderHealth",
    "persist_enabled",
    "read_persisted",
    "tracker",
]

HEALTH_ENV = "AICHATS_HEALTH"
"""Set to ``0``, ``off``, ``false`` or ``no`` to keep the command line's health in memory
(nothing read from, or written to, the SQLite home)."""

_OFF = frozenset({"0", "off", "false", "no"})
_process: HealthTracker | None = None
_lock = threading.Lock()


def tracker() -> HealthTracker:
    """This process's tracker, which every ``Client`` (and module-level call) shares unless
    given its own."""
    global _process
    if _process is None:
        from aichats_core.health._tracker import HealthTracker

        with _lock:
            if _process is None:
                _process = HealthTracker()
    return _process


def persist_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the command line persists health (``AICHATS_HEALTH`` unset or on)."""
    environ = os.environ if environ is None else environ
    return environ.get(HEALTH_ENV, "").strip().lower() not in _OFF


def read_persisted(path: str | os.PathLike[str] | None = None) -> HealthTracker | None:
    """A tracker holding what the SQLite home (``path``: the history's file by default) holds
    of every process's calls, for listings; None when no process wrote one, without even
    importing sqlite3. Unreadable files raise ``InvalidRequestError``."""
    from aichats_core._home import default_path

    where = default_path() if path is None else Path(path)
    if not where.exists():
        return None
    from aichats_core.health._store import read_only
    from aichats_core.health._tracker import HealthTracker

    measured = HealthTracker()
    measured.load(read_only(where))
    return measured


__getattr__, __dir__ = lazy_attributes(
    __name__,
    globals(),
    {
        "BreakerPolicy": "aichats_core.health._breaker",
        "HealthStatus": "aichats_core.health._summary",
        "HealthStore": "aichats_core.health._store",  # sqlite3 only for who stores
        "HealthTracker": "aichats_core.health._tracker",
        "ProviderHealth": "aichats_core.health._summary",
    },
    __all__,
)
