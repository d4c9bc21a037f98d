"""The OpenAI wire format: requests in, ``chat.completion`` objects, chunks and images out.

Shapes follow the official ``openai`` package's types. Unknown request fields are ignored, as
OpenAI does; fields asking for what aichats cannot do (tools, images in messages, ``n`` > 1)
are refused with ``param`` naming them, rather than silently answered wrong.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aichats_core.server._errors import bad_request

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
"""OpenAI roles aichats understands, and what they become (``developer`` is a system prompt)."""

MAX_IMAGES = 4
"""Images one request may ask for (``n``); each is one provider call."""

_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_INTEGERS = ("max_tokens", "max_completion_tokens", "seed")
_STRINGS = ("user", "service_tier", "reasoning_effort", "prompt_cache_key", "safety_identifier")
_TOOL_FIELDS = ("tools", "functions")
_FORCING_CHOICES = ("tool_choice", "function_call")


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    stream: bool
    include_usage: bool


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    model: str | None
    n: int
    response_format: Literal["url", "b64_json"]


def parse_chat(body: object) -> ChatRequest:
    """Validate a ``POST /v1/chat/completions`` body; sampling parameters are checked, then
    ignored (providers take none)."""
    fields = _object(body)
    model = _model(fields, required=True)
    assert model is not None
    for name in _NUMBERS:
        _check(fields, name, (int, float), "a number")
    for name in _INTEGERS:
        _check(fields, name, (int,), "an integer")
    for name in _STRINGS:
        _check(fields, name, (str,), "a string")
    stop = fields.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise bad_request("'stop' must be a string or a list of strings", "stop")
    _refuse_unsupported(fields)
    stream = fields.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", "stream")
    options = fields.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    if options is not None and stream is not True:
        raise bad_request(
            "'stream_options' is only allowed when 'stream' is true", "stream_options"
        )
    include_usage = (options or {}).get("include_usage", False)
    if not isinstance(include_usage, bool):
        raise bad_request(
            "'stream_options.include_usage' must be true or false", "stream_options.include_usage"
        )
    return ChatRequest(
        model=model,
        messages=_messages(fields.get("messages")),
        stream=bool(stream),
        include_usage=include_usage,
    )


def _refuse_unsupported(fields: dict[str, Any]) -> None:
    for name in _TOOL_FIELDS:
        if fields.get(name):
            raise bad_request(f"'{name}' is not supported: aichats providers call no tools", name)
    for name in _FORCING_CHOICES:
        if fields.get(name) not in (None, "none", "auto"):
            raise bad_request(f"'{name}' is not supported: aichats providers call no tools", name)
    n = fields.get("n")
    if n is not None and n != 1:
        raise bad_request("only n=1 is supported for chat completions", "n")
    if fields.get("logprobs"):
        raise bad_request("'logprobs' is not supported", "logprobs")
    if fields.get("audio") is not None:
        raise bad_request("audio output is not supported", "audio")
    modalities = fields.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise bad_request("only the 'text' modality is supported", "modalities")
    response_format = fields.get("response_format")
    if response_format is not None and response_format != {"type": "text"}:
        raise bad_request(
            "only response_format {'type': 'text'} is supported: providers cannot be held to"
            " a JSON schema",
            "response_format",
        )


def _messages(value: object) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of messages", "messages")
    messages = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad_request(f"{where} must be an object with 'role' and 'content'", where)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise bad_request(
                f"{where}.role {role!r} is not supported; use system, developer, user or"
                " assistant (tool and function messages are not supported)",
                f"{where}.role",
            )
        for name in ("tool_calls", "function_call", "audio"):
            if message.get(name):
                raise bad_request(f"{where}.{name} is not supported", f"{where}.{name}")
        messages.append({"role": ROLES[role], "content": _content(message.get("content"), where)})
    return messages


def _content(content: object, where: str) -> str:
    """A string, or text parts joined with newlines; other parts (images, audio) are refused."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise bad_request(
            f"{where}.content must be a string or a non-empty list of text parts",
            f"{where}.content",
        )
    texts = []
    for index, part in enumerate(content):
        place = f"{where}.content[{index}]"
        if not isinstance(part, dict) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise bad_request(f"{place}: only text parts are supported, not {kind!r}", place)
        text = part.get("text")
        if not isinstance(text, str):
            raise bad_request(f"{place}.text must be a string", f"{place}.text")
        texts.append(text)
    return "\n".join(texts)


def parse_images(body: object) -> ImageRequest:
    """Validate a ``POST /v1/images/generations`` body; ``size``, ``quality`` and ``style``
    are checked, then ignored; streaming and ``output_format`` are refused."""
    fields = _object(body)
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request("'prompt' must be a non-empty string", "prompt")
    for name in ("size", "quality", "style", "user"):
        _check(fields, name, (str,), "a string")
    if fields.get("stream"):
        raise bad_request("streaming images ('stream') is not supported", "stream")
    if fields.get("partial_images"):
        raise bad_request(
            "'partial_images' is not supported: images are not streamed", "partial_images"
        )
    if fields.get("output_format") is not None:
        raise bad_request(
            "'output_format' is not supported: images come in the format the provider draws"
            " (the file name or data says which)",
            "output_format",
        )
    n = fields.get("n", 1)
    if n is None:
        n = 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGES:
        raise bad_request(f"'n' must be an integer from 1 to {MAX_IMAGES}", "n")
    response_format: Literal["url", "b64_json"]
    match fields.get("response_format"):
        case None | "url":
            response_format = "url"  # OpenAI's default for DALL-E
        case "b64_json":
            response_format = "b64_json"
        case _:
            raise bad_request("'response_format' must be 'url' or 'b64_json'", "response_format")
    return ImageRequest(
        prompt=prompt,
        model=_model(fields, required=False),
        n=n,
        response_format=response_format,
    )


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _model(fields: dict[str, Any], *, required: bool) -> str | None:
    model = fields.get("model")
    if model is None and not required:
        return None
    if not isinstance(model, str) or not model.strip():
        raise bad_request("you must provide a model parameter ('provider/model')", "model")
    return model.strip()


def _check(fields: dict[str, Any], name: str, types: tuple[type, ...], what: str) -> None:
    value = fields.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
        raise bad_request(f"'{name}' must be {what}", name)


# -- responses ---------------------------------------------------------------------------------


def completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


def estimate_tokens(text: str) -> int:
    """An estimate, not a count: about four characters per token for English text."""
    return math.ceil(len(text) / 4)


def utf8(text: str) -> bytes:
    """``text`` in UTF-8; a lone surrogate (a provider may decode ``"\\ud800"`` from its JSON)
    is not text and becomes U+FFFD, rather than ending the answer with an error."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


def usage(
    messages: Sequence[dict[str, str]],
    answer_chars: int,
    reported: tuple[int | None, int | None] = (None, None),
) -> dict[str, int]:
    """Token usage: what the provider reported, else estimated from the characters (the
    answer's are counted, so that a stream need not keep its text)."""
    prompt, completion = reported
    if prompt is None:
        prompt = estimate_tokens("".join(m["content"] for m in messages))
    if completion is None:
        completion = math.ceil(answer_chars / 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(
    ident: str, created: int, model: str, text: str, used: dict[str, int]
) -> dict[str, Any]:
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": used,
    }


_CONTENT = "\0"
"""Where the answer goes in ``completion_around_content``: the last string of the dump
that can be this (only ``model`` before it comes from the client)."""


def completion_around_content(
    ident: str, created: int, model: str, used: dict[str, int]
) -> tuple[bytes, bytes]:
    """A ``chat.completion`` as the bytes before and after its content's JSON-escaped text,
    so that a long answer is written as it was kept rather than dumped whole once more."""
    dumped = json.dumps(completion(ident, created, model, _CONTENT, used), ensure_ascii=False)
    head, marker, tail = dumped.rpartition(json.dumps(_CONTENT))
    assert marker, "the content placeholder is in the dump"
    return (head + '"').encode(), ('"' + tail).encode()


def chunk(
    ident: str,
    created: int,
    model: str,
    delta: dict[str, str],
    *,
    finish_reason: str | None = None,
    with_usage: bool = False,
) -> dict[str, Any]:
    """One ``chat.completion.chunk``; ``with_usage`` adds ``usage: null`` as OpenAI does when
    the request asked for usage."""
    body: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
    }
    if with_usage:
        body["usage"] = None
    return body


def usage_chunk(ident: str, created: int, model: str, used: dict[str, int]) -> dict[str, Any]:
    """The chunk after the last one when ``stream_options.include_usage``: no choices."""
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": used,
    }


def model_object(ident: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": ident, "object": "model", "created": created, "owned_by": owner}
