"""aichats-openai: an aichats provider for any OpenAI-compatible chat-completions endpoint.

Once installed, it is the provider ``openai``, and presets of it for common services
(``openrouter``, ``groq``, ``together``, ``deepseek``, ``mistral``, ``fireworks``, ``ollama``,
``lmstudio``, ``vllm``, ``llamacpp``)::

    >>> import aichats_core
    >>> await aichats_core.complete(  # doctest: +SKIP
    ...     "openai", "Hello", base_url="http://127.0.0.1:8000/v1", model="aichats/gpt-4"
    ... )
    'Hello from the AiChats emulator! You said: Hello'

Importing this package does not import aiohttp, which waits for the first request:
``aichats providers`` imports plugins to list their details and has to start fast. It imports
pydantic, for the declared ``OpenAICompatible.Options``, as the core's check of a loaded
provider does anyway.
"""

from __future__ import annotations

from aichats_openai._presets import (
    VLLM,
    DeepSeek,
    Fireworks,
    Groq,
    LlamaCpp,
    LMStudio,
    Mistral,
    Ollama,
    OpenRouter,
    Together,
)
from aichats_openai._provider import OpenAICompatible

__all__ = [
    "VLLM",
    "DeepSeek",
    "Fireworks",
    "Groq",
    "LMStudio",
    "LlamaCpp",
    "Mistral",
    "Ollama",
    "OpenAICompatible",
    "OpenRouter",
    "Together",
]
__version__ = "0.1.0"
