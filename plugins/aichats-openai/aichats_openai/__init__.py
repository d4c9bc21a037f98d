"""aichats-openai: an aichats provider for any OpenAI-compatible chat-completions endpoint.

Once installed, it is the provider ``openai``::

    >>> import aichats_core
    >>> await aichats_core.complete(  # doctest: +SKIP
    ...     "openai", "Hello", base_url="http://127.0.0.1:8000/v1", model="aichats/gpt-4"
    ... )
    'Hello from the AiChats emulator! You said: Hello'

Importing this package imports neither pydantic nor aiohttp: ``aichats providers`` imports
plugins to list their details and has to start fast.
"""

from __future__ import annotations

from aichats_openai._provider import OpenAICompatible

__all__ = ["OpenAICompatible"]
__version__ = "0.1.0"
