"""The chat-completions wire format: the request body, stream chunks, whole answers, model lists.

Pure functions over parsed JSON, with no HTTP, so that each rule can be tested on its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from aichats_core.errors import ResponseFormatError
from aichats_core.http import load_json
from aichats_core.tools import ToolCallAssembler

from aichats_openai._errors import in_band_error, quote
from aichats_openai._messages import wire_messages

if TYPE_CHECKING:
    from aichats_core import FinishReason, ToolCall
    from aichats_core._models import FinishReasonName
    from aichats_core.types import Messages

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: a pair within one string decodes to one character;
split across events, or alone, it leaves a surrogate that is not text."""

STREAM_OPTIONS = {"include_usage": True}
"""Asks for the token counts in a last chunk; a ``None`` in ``extra_body`` drops it."""


FEATURES = ("tools", "tool_choice", "response_format", "stop")
"""What the core passes as arguments (the provider's capabilities) and the request carries as
they are; ``max_tokens`` is sent under the name the endpoint wants (``max_tokens_field``)."""

FINISH_REASONS: dict[str, FinishReasonName] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    # Other services' words for the same ends.
    "function_call": "tool_calls",  # OpenAI's deprecated functions API
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_length": "length",  # Mistral: the context window is full
    "eos": "stop",
    "eos_token": "stop",  # Text Generation Inference
    "end_turn": "stop",
    "stop_sequence": "stop",
}
"""A service's ``finish_reason`` as the unified stream names it; others are dropped (the core
then says ``stop``, or ``tool_calls`` after tool calls)."""


def max_tokens_field(base_url: str) -> str:
    """OpenAI itself wants ``max_completion_tokens`` (``max_tokens`` is deprecated there and
    refused by its reasoning models); compatible servers know ``max_tokens``, and many only it."""
    if urlsplit(base_url).hostname == "api.openai.com":
        return "max_completion_tokens"
    return "max_tokens"


def feature_fields(options: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """The request fields of the call's features, as the core passed them."""
    fields = {name: options[name] for name in FEATURES if options.get(name) is not None}
    choice = fields.get("tool_choice")
    if isinstance(choice, Mapping) and "type" not in choice:
        fields["tool_choice"] = {"type": "function", **choice}
    if options.get("max_tokens") is not None:
        fields[max_tokens_field(base_url)] = options["max_tokens"]
    return fields


def chat_body(
    provider: str,
    model: str,
    messages: Messages,
    extra_body: Mapping[str, Any],
    features: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The request: the messages with their roles, streamed, usage included, the call's
    features, then ``extra_body`` over them."""
    body: dict[str, Any] = {
        "model": model,
        "messages": wire_messages(provider, messages),
        "stream": True,
        "stream_options": STREAM_OPTIONS,
    }
    if features:
        body.update(features)
    return with_extra(body, extra_body)


def with_extra(body: dict[str, Any], extra_body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` with ``extra_body`` merged over it; a ``None`` value removes a field."""
    for key, value in extra_body.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


class ChunkReader:
    """Reads the ``chat.completion.chunk`` events of one stream, remembering what it saw.

    ``feed(data)`` returns the text of one event (the first choice's ``delta.content``);
    an ``{"error": ...}`` event raises the typed error (``_errors.in_band_error``), and an
    event that is not a chunk raises ``ResponseFormatError``.
    """

    __slots__ = (
        "_calls",
        "_carry",
        "finish_reason",
        "finished",
        "provider",
        "text_received",
        "usage",
    )

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self._carry = ""
        """A high surrogate that ended the last text: its pair may open the next event's."""
        self._calls: ToolCallAssembler | None = None
        """The streamed tool calls, made only when the answer has some."""
        self.finished = False
        """A ``finish_reason`` arrived: the answer is complete even if ``[DONE]`` never does."""
        self.finish_reason: object = None
        """The service's ``finish_reason``, as it sent it."""
        self.text_received = False
        self.usage: tuple[int | None, int | None] | None = None
        """``(prompt_tokens, completion_tokens)`` of the last usage report, if any."""

    def feed(self, data: str) -> str:
        try:
            chunk = load_json(data)
        except ValueError as exc:  # also JSON nested too deep
            raise ResponseFormatError(
                self.provider, f"the stream carried an event that is not JSON: {quote(data)}"
            ) from exc
        if not isinstance(chunk, dict):
            raise ResponseFormatError(
                self.provider, f"the stream carried an event that is not an object: {quote(data)}"
            )
        error = chunk.get("error")
        if error is not None:
            raise in_band_error(self.provider, error, text_received=self.text_received)
        usage = chunk.get("usage")
        if usage is not None:
            self.usage = parse_usage(usage)
        choices = chunk.get("choices")
        if choices is None and usage is not None:
            return ""  # a usage-only chunk
        if not isinstance(choices, list):
            raise ResponseFormatError(
                self.provider,
                f"the stream carried an event without a 'choices' list: {quote(data)}"
                " (is base_url an OpenAI-compatible API?)",
            )
        text = ""
        for choice in choices:
            if not isinstance(choice, dict):
                raise ResponseFormatError(
                    self.provider, f"a chunk's choice is not an object: {quote(data)}"
                )
            if choice.get("index", 0) != 0:
                continue  # another of n > 1 answers: the stream carries the first one
            text += self._delta_text(choice, data)
            reason = choice.get("finish_reason")
            if reason is not None:
                self.finished = True
                self.finish_reason = reason
        if self._carry or ("\\u" in data and _SURROGATE_ESCAPE.search(data)):
            text = self._whole_characters(text)
        if text:
            self.text_received = True
        return text

    def close(self) -> None:
        """The stream ended: a surrogate still waiting for its pair is not text."""
        if self._carry:
            raise self._not_text()

    def ending(self) -> list[ToolCall | FinishReason]:
        """What follows the text once the answer ends: its tool calls, then why it ended."""
        calls = self._calls.finish() if self._calls else []
        return ending(calls, self.finish_reason)

    def _whole_characters(self, text: str) -> str:
        """``text`` as valid Unicode: surrogate pairs that JSON escapes split across events
        (``"\\ud83d"`` then ``"\\ude00"``) joined into one character; a lone one refused."""
        text, self._carry = self._carry + text, ""
        if text and "\ud800" <= text[-1] <= "\udbff":
            text, self._carry = text[:-1], text[-1]
        try:
            return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
        except UnicodeDecodeError:
            raise self._not_text() from None

    def _not_text(self) -> ResponseFormatError:
        return ResponseFormatError(
            self.provider,
            "the stream carried a lone UTF-16 surrogate escape (\\ud800-\\udfff) in its text,"
            " which is not Unicode text; the service produced a broken answer",
        )

    def _delta_text(self, choice: Mapping[str, Any], data: str) -> str:
        delta = choice.get("delta")
        if delta is None:
            return ""
        if not isinstance(delta, dict):
            raise ResponseFormatError(
                self.provider, f"a chunk's 'delta' is not an object: {quote(data)}"
            )
        calls = delta.get("tool_calls")
        if calls is not None:
            self._feed_calls(calls, data)
        text = ""
        # A refusal is the model's answer too (structured outputs), not an error of the service.
        for key in ("content", "refusal"):
            value = delta.get(key)
            if isinstance(value, str):
                text += value
            elif value is not None:
                raise ResponseFormatError(
                    self.provider, f"a chunk's delta.{key} is not a string: {quote(data)}"
                )
        return text

    def _feed_calls(self, calls: object, data: str) -> None:
        if not isinstance(calls, list) or not all(isinstance(call, Mapping) for call in calls):
            raise ResponseFormatError(
                self.provider, f"a chunk's delta.tool_calls is not a list of objects: {quote(data)}"
            )
        if self._calls is None:
            self._calls = ToolCallAssembler(self.provider)
        for call in calls:
            self._calls.feed(call)


def ending(calls: list[ToolCall], reason: object) -> list[ToolCall | FinishReason]:
    """The tool calls, then ``FinishReason`` unless the service's word adds nothing.

    A plain ``stop`` is not repeated: the core's default is ``stop``, or ``tool_calls`` after
    tool calls, which is right for the servers (older Ollama) that say ``stop`` after them.
    """
    items: list[ToolCall | FinishReason] = list(calls)
    name = FINISH_REASONS.get(reason) if isinstance(reason, str) else None
    if name is not None and name != "stop":
        from aichats_core import FinishReason

        items.append(FinishReason(reason=name))
    return items


def parse_usage(usage: object) -> tuple[int | None, int | None]:
    """Token counts from a ``usage`` object; counts that are not integers are left out."""
    if not isinstance(usage, Mapping):
        return (None, None)
    return (_count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens")))


class Completion(NamedTuple):
    """A whole ``chat.completion`` answer."""

    text: str
    usage: tuple[int | None, int | None] | None
    ending: list[ToolCall | FinishReason]
    """Its tool calls, then why it ended (``ending``)."""


def parse_completion(provider: str, payload: object) -> Completion:
    """A whole ``chat.completion`` answer, for a service that does not stream."""
    if isinstance(payload, Mapping) and payload.get("error") is not None:
        raise in_band_error(provider, payload["error"], text_received=False)
    choices = payload.get("choices") if isinstance(payload, Mapping) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, Mapping) else None
    content = message.get("content") if isinstance(message, Mapping) else None
    if content is None and isinstance(message, Mapping):
        content = message.get("refusal") or ""
    if not isinstance(content, str):
        raise ResponseFormatError(
            provider,
            f"the JSON answer has no text in choices[0].message.content: {quote(payload)}",
        )
    assert isinstance(payload, Mapping)  # content was found in it
    assert isinstance(first, Mapping)
    assert isinstance(message, Mapping)
    calls = message.get("tool_calls")
    assembler = ToolCallAssembler(provider)
    if calls is not None:
        if not isinstance(calls, list) or not all(isinstance(call, Mapping) for call in calls):
            raise ResponseFormatError(
                provider, f"the JSON answer's message.tool_calls is not a list: {quote(payload)}"
            )
        for call in calls:
            assembler.add(call)
    usage = payload.get("usage")
    return Completion(
        content,
        parse_usage(usage) if usage is not None else None,
        ending(assembler.finish(), first.get("finish_reason")),
    )


def model_ids(provider: str, payload: object) -> list[str]:
    """The ids of a ``GET /models`` answer (``{"data": [{"id": ...}, ...]}``), in its order."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, list) or not all(
        isinstance(entry, Mapping) and isinstance(entry.get("id"), str) for entry in data
    ):
        raise ResponseFormatError(
            provider,
            f"the model list is not {{'data': [{{'id': ...}}, ...]}}: {quote(payload)}"
            " (is base_url an OpenAI-compatible API?)",
        )
    return [entry["id"] for entry in data]


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
