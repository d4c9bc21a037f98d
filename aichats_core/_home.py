"""The SQLite home: where the history database (and the health it measures) lives, and whether
the command line records conversations at all. Imports nothing heavy: listings read it."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

HOME_ENV = "AICHATS_HOME"
HISTORY_ENV = "AICHATS_HISTORY"
"""Set to ``0``, ``off``, ``false`` or ``no`` to keep ``aichats`` from recording conversations."""

_OFF = frozenset({"0", "off", "false", "no"})
_FILE_NAME = "history.db"


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$AICHATS_HOME/history.db`` when ``AICHATS_HOME`` is set, else ``history.db`` in the
    user's data directory for aichats (XDG on Linux, Application Support on macOS,
    ``%LOCALAPPDATA%`` on Windows). Nothing is created here."""
    environ = os.environ if environ is None else environ
    home = environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / _FILE_NAME
    return data_directory(environ, sys.platform) / _FILE_NAME


def data_directory(environ: Mapping[str, str], platform: str) -> Path:
    """The platform's per-user data directory for aichats, the way platformdirs spells it."""
    if platform == "win32":
        local = environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(local) / "aichats"
    if platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "aichats"
    xdg = environ.get("XDG_DATA_HOME")
    # The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "aichats"


def history_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the command line should record conversations (``AICHATS_HISTORY`` unset or on)."""
    environ = os.environ if environ is None else environ
    return environ.get(HISTORY_ENV, "").strip().lower() not in _OFF
