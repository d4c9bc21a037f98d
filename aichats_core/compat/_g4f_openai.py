"""g4f's ``OpenaiTemplate``: a port of an OpenAI-compatible service is its attributes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

from aichats_core.compat._g4f_base import AsyncGeneratorProvider, ProviderModelMixin
from aichats_core.compat._g4f_errors import MissingAuthError, ResponseError
from aichats_core.compat._g4f_helpers import filter_none
from aichats_core.compat._g4f_responses import FinishReason, ResponseType, Usage


class OpenaiTemplate(AsyncGeneratorProvider, ProviderModelMixin):
    """A provider for a service speaking OpenAI's chat completions: set ``api_base`` (the
    URL before ``/chat/completions``), ``default_model``, ``models``, and ``api_key`` or
    ``needs_auth`` as the service wants. Answers stream (server-sent events), over the core's
    HTTP layer: proxies, per-silence timeouts and error statuses as for native providers.
    ``api_key``, ``api_base``, ``temperature``, ``max_tokens``, ``top_p``, ``stop``,
    ``headers`` and ``extra_body`` are options of the call. A service that answers one JSON
    object rather than a stream is read too."""

    api_base: ClassVar[str] = ""
    api_key: ClassVar[str | None] = None
    api_endpoint: ClassVar[str | None] = None
    supports_message_history = True
    supports_system_message = True

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: list[dict[str, Any]],
        proxy: str | None = None,
        timeout: float = 120,
        api_key: str | None = None,
        api_base: str | None = None,
        api_endpoint: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        stop: str | list[str] | None = None,
        headers: Mapping[str, str] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[str | ResponseType]:
        from aichats_core.http import HttpSession

        key = api_key or cls.api_key
        if cls.needs_auth and not key:
            raise MissingAuthError(
                "this service needs an API key: give the api_key option (-o NAME.api_key=...)"
            )
        base = (api_base or cls.api_base).rstrip("/")
        endpoint = api_endpoint or cls.api_endpoint or f"{base}/chat/completions"
        body = {
            **filter_none(
                model=cls.get_model(model), messages=messages, stream=True,
                temperature=temperature, max_tokens=max_tokens, top_p=top_p, stop=stop,
            ),
            **(extra_body or {}),
        }  # fmt: skip
        sent = {"accept": "text/event-stream", **(headers or {})}
        if key:
            sent.setdefault("authorization", f"Bearer {key}")
        async with (
            HttpSession("", proxy=proxy, timeout=timeout) as http,
            http.request("POST", endpoint, json=body, headers=sent) as answer,
        ):
            if answer.content_type == "application/json":  # a service that does not stream
                for item in _items(await http.read_json(answer), "message"):
                    yield item
                return
            async for read in http.iter_sse_json(answer, done_marker=True):
                for _, chunk in read:
                    for item in _items(chunk, "delta"):
                        yield item


def _items(chunk: object, part: str) -> list[str | ResponseType]:
    """The text, usage and finish reason a chunk carries (its first choice's ``delta`` when
    streamed, ``message`` when whole)."""
    if not isinstance(chunk, dict):
        raise ResponseError(f"a streamed chunk is {type(chunk).__name__}, not an object")
    if (error := chunk.get("error")) is not None:
        message = error.get("message", error) if isinstance(error, dict) else error
        raise ResponseError(f"the service answered an error: {message!s:.200}")
    items: list[str | ResponseType] = []
    choices = chunk.get("choices") or [{}]
    choice = choices[0] if isinstance(choices, list) and isinstance(choices[0], dict) else {}
    delta = choice.get(part)
    content = delta.get("content") if isinstance(delta, dict) else None
    if isinstance(content, str) and content:
        items.append(content)
    if isinstance(usage := chunk.get("usage"), dict):
        items.append(Usage(**{k: v for k, v in usage.items() if isinstance(k, str)}))
    if isinstance(reason := choice.get("finish_reason"), str):
        items.append(FinishReason(reason))
    return items
