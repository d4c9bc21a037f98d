"""Outbound messages in OpenAI's shape: text or content parts, tool calls, tool results.

A plain text message, by far the most common, costs one small dict; only messages that carry
parts, tool calls or a tool result take the longer way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aichats_core import TextPart
from aichats_core.errors import InvalidRequestError

if TYPE_CHECKING:
    from aichats_core import Message
    from aichats_core.types import Messages


def wire_messages(provider: str, messages: Messages) -> list[dict[str, Any]]:
    """The ``messages`` of a chat request, in order, roles kept."""
    return [
        {"role": message.role, "content": message.content}
        if type(message.content) is str and not message.tool_calls and message.role != "tool"
        else _wire_message(provider, index, message)
        for index, message in enumerate(messages)
    ]


def _wire_message(provider: str, index: int, message: Message) -> dict[str, Any]:
    if message.role == "tool":
        if not message.tool_call_id:
            raise InvalidRequestError(
                f"{provider}: messages[{index}] is a tool result without the tool_call_id of"
                " the call it answers"
            )
        # Tool results are text; servers that copy OpenAI (llama.cpp, Ollama) want a string.
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.text}
    wired: dict[str, Any] = {"role": message.role, "content": _content(message)}
    if message.tool_calls:
        wired["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
        if not message.text and type(message.content) is str:
            wired["content"] = None  # what OpenAI itself answers for a pure tool-call turn
    return wired


def _content(message: Message) -> str | list[dict[str, Any]]:
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
        else:
            image: dict[str, Any] = {"url": part.image_url.url}
            if part.image_url.detail is not None:
                image["detail"] = part.image_url.detail
            parts.append({"type": "image_url", "image_url": image})
    return parts
