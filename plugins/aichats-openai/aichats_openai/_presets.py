"""Named providers for common OpenAI-compatible services: the same wire format, each with its
own base URL and key variable, registered from this distribution like ``openai``.

Each reads only its own variable: ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` never move a
preset or reach its service. The ``base_url`` and ``api_key`` options override both, as for
``openai`` (``-o groq.base_url=...``). Image models are OpenAI's: a preset names none, and
takes the ``image_models`` option for a service that makes images (Together's FLUX models).
"""

from __future__ import annotations

from typing import ClassVar

from aichats_core.capabilities import IMAGE_INPUT

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
    "OpenRouter",
    "Together",
]


class _Preset(OpenAICompatible):
    base_url_env: ClassVar[str | None] = None
    api_key_env: ClassVar[str | None] = None
    image_models: ClassVar[list[str]] = []
    image_model_prefixes: ClassVar[tuple[str, ...]] = ()


class OpenRouter(_Preset):
    """OpenRouter, many vendors' models behind one key (``$OPENROUTER_API_KEY``)."""

    url = "https://openrouter.ai/api/v1"
    api_key_env = "OPENROUTER_API_KEY"


class Groq(_Preset):
    """Groq (``$GROQ_API_KEY``). It answers 400 to ``logprobs``, ``logit_bias``,
    ``top_logprobs``, ``messages[].name`` and ``n`` other than 1."""

    url = "https://api.groq.com/openai/v1"
    api_key_env = "GROQ_API_KEY"


class Together(_Preset):
    """Together AI (``$TOGETHER_API_KEY``); model ids are ``vendor/model``."""

    url = "https://api.together.ai/v1"
    api_key_env = "TOGETHER_API_KEY"


class DeepSeek(_Preset):
    """DeepSeek (``$DEEPSEEK_API_KEY``). Its models read text only: no ``image_input``."""

    url = "https://api.deepseek.com/v1"
    api_key_env = "DEEPSEEK_API_KEY"
    capabilities: ClassVar[frozenset[str]] = OpenAICompatible.capabilities - {IMAGE_INPUT}


class Mistral(_Preset):
    """Mistral AI's La Plateforme (``$MISTRAL_API_KEY``)."""

    url = "https://api.mistral.ai/v1"
    api_key_env = "MISTRAL_API_KEY"


class Fireworks(_Preset):
    """Fireworks AI (``$FIREWORKS_API_KEY``); model ids are ``accounts/fireworks/models/...``."""

    url = "https://api.fireworks.ai/inference/v1"
    api_key_env = "FIREWORKS_API_KEY"


class Ollama(_Preset):
    """A local Ollama server (no key). What a model can do (tools, images) is the model's."""

    url = "http://localhost:11434/v1"
    needs_key = False


class LMStudio(_Preset):
    """LM Studio's local server (no key; pass ``api_key`` when authentication is on)."""

    url = "http://localhost:1234/v1"
    needs_key = False


class VLLM(_Preset):
    """A vLLM server, ``vllm serve`` (no key; pass the ``--api-key`` it was started with)."""

    url = "http://localhost:8000/v1"
    needs_key = False


class LlamaCpp(_Preset):
    """llama.cpp's ``llama-server`` (no key). Tool calls need it started with ``--jinja``."""

    url = "http://localhost:8080/v1"
    needs_key = False
