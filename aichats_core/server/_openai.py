"""The OpenAI wire format: requests in, ``chat.completion`` objects, chunks and images out.

Shapes follow the official ``openai`` package's types. Unknown request fields are ignored, as
OpenAI does; fields asking for what no provider does (``logprobs``, audio, ``logit_bias``) are
refused with ``param`` naming them, rather than silently answered wrong. Tools, JSON output,
image parts, ``max_tokens`` and ``stop`` go to the core, which refuses a provider that cannot
take them (``CapabilityError``) and enforces ``max_tokens`` and ``stop`` for the others.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aichats_core import ToolCall, Usage
from aichats_core.server._errors import bad_request

ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
"""OpenAI roles aichats understands, and what they become (``developer`` is a system prompt)."""

MAX_IMAGES = 4
"""Images one request may ask for (``n``); each is one provider call."""
MAX_CHOICES = 8
"""Choices one chat request may ask for (``n``); each is one provider call, run at once."""

_NUMBERS = ("temperature", "top_p", "presence_penalty", "frequency_penalty")
_INTEGERS = ("seed",)
_STRINGS = ("user", "service_tier", "reasoning_effort", "prompt_cache_key", "safety_identifier")
_REFUSED = {
    "functions": "'functions' is deprecated and not supported: use 'tools'",
    "function_call": "'function_call' is deprecated and not supported: use 'tool_choice'",
    "logprobs": "'logprobs' is not supported: providers report no token probabilities",
    "top_logprobs": "'top_logprobs' is not supported: providers report no token probabilities",
    "logit_bias": "'logit_bias' is not supported: providers take no token biases",
    "audio": "audio output is not supported",
    "prediction": "'prediction' (predicted outputs) is not supported",
    "web_search_options": "'web_search_options' is not supported: no provider searches the web",
}
"""Fields asking for what no provider does, refused whenever they ask for anything."""
_IMAGE_DETAILS = ("auto", "low", "high")


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    """In the core's shape (``validate_messages`` takes them)."""
    stream: bool
    include_usage: bool
    features: dict[str, Any] = field(default_factory=dict)
    """``tools``, ``tool_choice``, ``response_format``, ``max_tokens``, ``stop``, for the core."""
    n: int = 1


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    model: str | None
    n: int
    response_format: Literal["url", "b64_json"]


def parse_chat(body: object) -> ChatRequest:
    """Validate a ``POST /v1/chat/completions`` body; sampling parameters are checked, then
    ignored (providers take none); tools, JSON output, ``max_tokens`` and ``stop`` go to the
    core, which passes them on or enforces them."""
    fields = _object(body)
    model = _model(fields, required=True)
    assert model is not None
    for name in _NUMBERS:
        _check(fields, name, (int, float), "a number")
    for name in _INTEGERS:
        _check(fields, name, (int,), "an integer")
    for name in _STRINGS:
        _check(fields, name, (str,), "a string")
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
        features=chat_features(fields),
        n=choices(fields.get("n")),
    )


def choices(n: object) -> int:
    """``n``: how many answers, each one provider call."""
    if n is None:
        return 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_CHOICES:
        raise bad_request(f"'n' must be an integer from 1 to {MAX_CHOICES}", "n")
    return n


def chat_features(fields: dict[str, Any]) -> dict[str, Any]:
    """The call features of a chat request, their outer shapes checked (the core checks the
    rest): ``max_completion_tokens`` wins over the older ``max_tokens``."""
    features: dict[str, Any] = {}
    tools = fields.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise bad_request("'tools' must be a list of function tools", "tools")
        if tools:  # an empty list, as some clients send, asks for nothing
            features["tools"] = tools
    choice = fields.get("tool_choice")
    if choice is not None and not (choice == "none" and not features.get("tools")):
        if not isinstance(choice, str | dict):
            raise bad_request("'tool_choice' must be a string or an object", "tool_choice")
        features["tool_choice"] = choice
    if fields.get("parallel_tool_calls") is False:
        raise bad_request(
            "'parallel_tool_calls': false is not supported: a model may make several calls",
            "parallel_tool_calls",
        )
    response_format = fields.get("response_format")
    if response_format is not None:
        if not isinstance(response_format, dict):
            raise bad_request("'response_format' must be an object", "response_format")
        if response_format != {"type": "text"}:
            features["response_format"] = response_format
    for name in ("max_completion_tokens", "max_tokens"):
        value = fields.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise bad_request(f"'{name}' must be an integer of 1 or more", name)
        features.setdefault("max_tokens", value)
    stop = fields.get("stop")
    if stop is not None and stop != [] and stop != "":
        sequences = [stop] if isinstance(stop, str) else stop
        if (
            not isinstance(sequences, list)
            or not 1 <= len(sequences) <= 4
            or not all(isinstance(s, str) and s for s in sequences)
        ):
            raise bad_request(
                "'stop' must be a string or a list of 1 to 4 non-empty strings", "stop"
            )
        features["stop"] = sequences
    return features


def _refuse_unsupported(fields: dict[str, Any]) -> None:
    for name, why in _REFUSED.items():
        value = fields.get(name)
        if value is not None and value is not False and value != {} and value != "none":
            raise bad_request(why, name)
    modalities = fields.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise bad_request("only the 'text' modality is supported", "modalities")


def _messages(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty list of messages", "messages")
    return [_message(message, f"messages[{index}]") for index, message in enumerate(value)]


def _message(message: object, where: str) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise bad_request(f"{where} must be an object with 'role' and 'content'", where)
    role = message.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise bad_request(
            f"{where}.role {role!r} is not supported; use system, developer, user, assistant"
            " or tool (function messages are deprecated: use tool)",
            f"{where}.role",
        )
    for name in ("function_call", "audio"):
        if message.get(name):
            raise bad_request(f"{where}.{name} is not supported", f"{where}.{name}")
    converted: dict[str, Any] = {"role": ROLES[role]}
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        converted["tool_calls"] = _tool_calls(calls, f"{where}.tool_calls")
        content = message.get("content")
        converted["content"] = "" if content is None else _content(content, where, images=False)
    else:
        if calls:
            raise bad_request(f"{where}.tool_calls: only assistant messages carry tool calls")
        converted["content"] = _content(message.get("content"), where, images=role == "user")
    if role == "tool":
        ident = message.get("tool_call_id")
        if not isinstance(ident, str) or not ident:
            raise bad_request(
                f"{where}.tool_call_id must be the id of the tool call it answers",
                f"{where}.tool_call_id",
            )
        converted["tool_call_id"] = ident
    return converted


def _tool_calls(calls: object, where: str) -> list[dict[str, str]]:
    """OpenAI's ``{"id", "type": "function", "function": {"name", "arguments"}}`` as the
    core's ``ToolCall`` (``{"id", "name", "arguments"}``)."""
    if not isinstance(calls, list):
        raise bad_request(f"{where} must be a list of tool calls", where)
    converted = []
    for index, call in enumerate(calls):
        place = f"{where}[{index}]"
        function = call.get("function") if isinstance(call, dict) else None
        if (
            not isinstance(call, dict)
            or call.get("type", "function") != "function"
            or not isinstance(call.get("id"), str)
            or not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments", ""), str)
        ):
            raise bad_request(
                f'{place} must be {{"id": ..., "type": "function", "function": {{"name": ...,'
                ' "arguments": "<JSON text>"}}',
                place,
            )
        converted.append(
            {
                "id": call["id"],
                "name": function["name"],
                "arguments": function.get("arguments") or "{}",
            }
        )
    return converted


def _content(content: object, where: str, *, images: bool) -> str | list[dict[str, Any]]:
    """A string; text parts joined with newlines; or, with an image among them, the parts
    (images only in user messages, as OpenAI takes them)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise bad_request(
            f"{where}.content must be a string or a non-empty list of content parts",
            f"{where}.content",
        )
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        place = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise bad_request(f"{place}.text must be a string", f"{place}.text")
            parts.append({"type": "text", "text": text})
        elif kind == "image_url" and images:
            parts.append(image_part(part.get("image_url"), place))
        else:
            allowed = "text and image_url parts" if images else "text parts"
            raise bad_request(f"{place}: only {allowed} are supported here, not {kind!r}", place)
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def image_part(image: object, place: str) -> dict[str, Any]:
    """``{"url", "detail"?}`` (or, as the Responses API has it, the URL alone) as the core's
    image part."""
    if isinstance(image, str):
        image = {"url": image}
    url = image.get("url") if isinstance(image, dict) else None
    detail = image.get("detail") if isinstance(image, dict) else None
    if not isinstance(url, str) or not url or (detail is not None and detail not in _IMAGE_DETAILS):
        raise bad_request(
            f"{place} must carry an image URL (http(s) or data:) and an optional detail"
            " (auto, low, high)",
            place,
        )
    return {"type": "image_url", "image_url": {"url": url, "detail": detail}}


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


def text_of(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the messages, for a usage estimate."""
    texts = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(part["text"] for part in content if part["type"] == "text")
    return "".join(texts)


def usage(
    messages: Sequence[Mapping[str, Any]],
    answer_chars: int,
    reported: tuple[int | None, int | None] = (None, None),
    calls: int = 1,
) -> dict[str, int]:
    """Token usage: what the provider reported, else estimated from the characters (the
    answer's are counted, so that a stream need not keep its text); with ``n`` > 1, the
    sum over the ``calls`` (each one was sent the prompt)."""
    prompt, completion = reported
    if prompt is None:
        prompt = estimate_tokens(text_of(messages)) * calls
    if completion is None:
        completion = math.ceil(answer_chars / 4)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def add_usage(total: tuple[int | None, int | None], event: Usage) -> tuple[int | None, int | None]:
    """``total`` with one more call's reported counts (a count none reported stays None)."""
    prompt, completion = total
    if event.prompt_tokens is not None:
        prompt = (prompt or 0) + event.prompt_tokens
    if event.completion_tokens is not None:
        completion = (completion or 0) + event.completion_tokens
    return prompt, completion


def tool_call(call: ToolCall) -> dict[str, Any]:
    """A core ``ToolCall`` in OpenAI's wire shape."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


@dataclass
class Choice:
    """One answer of a non-streamed completion, kept as the JSON-escaped bytes of its text."""

    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    chars: int = 0
    calls: list[ToolCall] = field(default_factory=list)
    reason: str = "stop"


def completion(
    ident: str, created: int, model: str, choices: Sequence[Choice], used: dict[str, int]
) -> tuple[dict[str, Any], list[str]]:
    """A ``chat.completion`` whose contents are placeholders, and the placeholders: a random
    marker each, which no provider can write."""
    markers = []
    listed = []
    for index, choice in enumerate(choices):
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if choice.parts or not choice.calls:
            marker = f"\0{uuid.uuid4().hex}"
            markers.append(marker)
            message["content"] = marker
        if choice.calls:
            message["tool_calls"] = [tool_call(call) for call in choice.calls]
        listed.append(
            {
                "index": index,
                "message": message,
                "finish_reason": choice.reason,
                "logprobs": None,
            }
        )
    body = {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": listed,
        "usage": used,
    }
    return body, markers


def completion_pieces(
    ident: str, created: int, model: str, choices: Sequence[Choice], used: dict[str, int]
) -> list[bytes]:
    """A ``chat.completion`` as bytes, each choice's text written as it was kept rather than
    dumped whole once more: the whole answer exists once, not four times."""
    body, markers = completion(ident, created, model, choices, used)
    rest = json.dumps(body, ensure_ascii=False)
    pieces: list[bytes] = []
    texts = iter(choice for choice in choices if choice.parts or not choice.calls)
    for marker in markers:
        head, found, rest = rest.partition(json.dumps(marker))
        assert found, "each content placeholder is in the dump"
        pieces.append((head + '"').encode())
        pieces.extend(next(texts).parts)
        rest = '"' + rest
    pieces.append(rest.encode())
    return pieces


def chunk(
    ident: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    *,
    index: int = 0,
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
        "choices": [
            {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        ],
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
