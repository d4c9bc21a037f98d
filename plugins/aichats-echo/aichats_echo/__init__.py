"""aichats-echo: an offline, deterministic aichats provider for testing applications.

Once installed, it is the provider ``echo``::

    >>> import aichats_core
    >>> await aichats_core.complete("echo", "hello there")  # doctest: +SKIP
    'hello there'

Importing this package does not import aiohttp (it has no network), nor the image code:
``aichats providers`` imports plugins to list their details and has to start fast. It does
import pydantic, for the declared ``Echo.Options``, as the core's check of a loaded provider
does anyway.
"""

from __future__ import annotations

from aichats_echo._provider import Echo

__all__ = ["Echo"]
__version__ = "0.1.0"
