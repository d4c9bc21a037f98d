"""g4f's ``debug`` module (``debug.log``, ``debug.error``), on the ``logging`` module."""

from __future__ import annotations

import logging as _logging
from typing import Any

logger = _logging.getLogger("aichats.compat.g4f")
"""Where a port's ``debug.log`` (DEBUG) and ``debug.error`` (WARNING) lines go."""

logging = False
"""g4f's switch, kept for ports that read or set it: here the logger's level decides."""


def log(*text: Any, file: Any = None) -> None:
    """A port's progress line, at DEBUG level."""
    logger.debug(" ".join(map(str, text)))


def error(*error: Any, name: str | None = None) -> None:
    """A problem a port worked around, at WARNING level (an exception shows its type)."""
    parts = [f"{type(e).__name__}: {e}" if isinstance(e, BaseException) else str(e) for e in error]
    logger.warning(" ".join(([name] if name else []) + parts))
