"""aichats-echo: an offline, deterministic aichats provider for testing applications.

Once installed, it is the provider ``echo``::

    >>> import aichats_core
    >>> await aichats_core.complete("echo", "hello there")  # doctest: +SKIP
    'hello there'

Importing this package imports neither pydantic nor aiohttp: ``aichats providers`` imports
plugins to list their details and has to start fast.
"""

from __future__ import annotations

from aichats_echo._provider import Echo

__all__ = ["Echo"]
__version__ = "0.1.0"
