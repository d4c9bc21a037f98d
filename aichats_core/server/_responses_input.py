"""``POST /v1/responses`` requests (OpenAI's Responses API) as chat requests for the core.

``input`` is a string or a list of items: messages (``{"role", "content"}``, content a string
or ``input_text`` / ``input_image`` / ``output_text`` parts), ``function_call`` items (the
model's earlier tool calls) and ``function_call_output`` items (their results, ``tool``
messages). ``instructions`` is a system message. Unlike chat completions, a field this server
does not know is refused with ``param`` naming it: the Responses API has many (stored state,
built-in tools, reasoning) that a silent ignore would answer wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aichats_core.server._errors import ApiError, bad_request
from aichats_core.server._openai import chat_features, image_part

IGNORED = frozenset(
    {
        "temperature",
        "top_p",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "parallel_tool_calls",
        "truncation",
    }
)
"""Accepted and ignored: sampling (providers take none), bookkeeping (nothing is stored)."""
KNOWN = frozenset(
    {"model", "input", "instructions", "stream", "max_output_tokens", "tools", "tool_choice"}
    | {"text"}
)
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class ResponsesRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    features: dict[str, Any] = field(default_factory=dict)
    instructions: str | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    """As the client gave them (the answer repeats them)."""
    tool_choice: Any = "auto"
    max_output_tokens: int | None = None


def parse_responses(body: object) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    unknown = sorted(set(body) - KNOWN - IGNORED)
    if unknown:
        raise bad_request(
            f"{', '.join(repr(name) for name in unknown)} not supported by this server's"
            " /v1/responses (it keeps no state and runs no built-in tools)",
            unknown[0],
        )
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise bad_request("you must provide a model parameter ('provider/model')", "model")
    if body.get("parallel_tool_calls") is False:
        raise bad_request("'parallel_tool_calls': false is not supported", "parallel_tool_calls")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", "stream")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad_request("'instructions' must be a string", "instructions")
    messages = [{"role": "system", "content": instructions}] if instructions else []
    messages.extend(_input(body.get("input")))
    tools = _tools(body.get("tools"))
    chat_fields: dict[str, Any] = {
        "tools": [_chat_tool(tool) for tool in tools] or None,
        "tool_choice": _tool_choice(body.get("tool_choice")),
        "max_completion_tokens": body.get("max_output_tokens"),
        "response_format": _format(body.get("text")),
    }
    try:
        features = chat_features(chat_fields)
    except ApiError as exc:
        if exc.param == "max_completion_tokens":  # the chat name: say the Responses one
            exc.param, exc.message = "max_output_tokens", "'max_output_tokens' must be 1 or more"
        raise
    return ResponsesRequest(
        model=model.strip(),
        messages=messages,
        stream=bool(stream),
        features=features,
        instructions=instructions,
        tools=tools,
        tool_choice=body.get("tool_choice") or "auto",
        max_output_tokens=features.get("max_tokens"),
    )


def _input(value: object) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise bad_request("'input' must be a string or a non-empty list of input items", "input")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        where = f"input[{index}]"
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message":
            assert isinstance(item, dict)
            messages.append(_message(item, where))
        elif kind == "function_call":
            assert isinstance(item, dict)
            call = _strings(item, where, "call_id", "name", "arguments")
            call = {"id": call["call_id"], "name": call["name"], "arguments": call["arguments"]}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # one assistant turn
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            assert isinstance(item, dict)
            result = _strings(item, where, "call_id", "output")
            messages.append(
                {"role": "tool", "content": result["output"], "tool_call_id": result["call_id"]}
            )
        else:
            raise bad_request(
                f"{where}: only message, function_call and function_call_output items are"
                f" supported, not {kind!r}",
                where,
            )
    return messages


def _strings(item: dict[str, Any], where: str, *names: str) -> dict[str, str]:
    for name in names:
        if not isinstance(item.get(name), str):
            raise bad_request(f"{where}.{name} must be a string", f"{where}.{name}")
    return {name: item[name] for name in names}


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in _ROLES:
        raise bad_request(
            f"{where}.role must be user, assistant, system or developer", f"{where}.role"
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": _ROLES[role], "content": content}
    if not isinstance(content, list) or not content:
        raise bad_request(
            f"{where}.content must be a string or a non-empty list of parts", f"{where}.content"
        )
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        place = f"{where}.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "input_image" and role == "user":
            detail = part.get("detail")
            parts.append(image_part({"url": part.get("image_url"), "detail": detail}, place))
        else:
            raise bad_request(
                f"{place}: only input_text, output_text and (from the user) input_image parts"
                " with a URL are supported",
                place,
            )
    if all(part["type"] == "text" for part in parts):
        return {"role": _ROLES[role], "content": "\n".join(part["text"] for part in parts)}
    return {"role": _ROLES[role], "content": parts}


def _tools(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("'tools' must be a list of function tools", "tools")
    for index, tool in enumerate(value):
        if (
            not isinstance(tool, dict)
            or tool.get("type") != "function"
            or not isinstance(tool.get("name"), str)
        ):
            raise bad_request(
                f'tools[{index}] must be {{"type": "function", "name": ..., "parameters":'
                " {...}}: built-in tools are not supported",
                f"tools[{index}]",
            )
    return value


def _chat_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A Responses function tool (flat) in the chat completions shape the core takes."""
    function = {
        key: tool[key] for key in ("name", "description", "parameters", "strict") if key in tool
    }
    return {"type": "function", "function": function}


def _tool_choice(choice: object) -> object:
    if isinstance(choice, dict) and choice.get("type") == "function" and "function" not in choice:
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _format(text: object) -> dict[str, Any] | None:
    """``text.format`` as a chat ``response_format``."""
    if text is None:
        return None
    form = text.get("format") if isinstance(text, dict) else None
    if (
        not isinstance(text, dict)
        or set(text) - {"format", "verbosity"}
        or (form is not None and not isinstance(form, dict))
    ):
        raise bad_request('\'text\' must be {"format": {"type": ...}}', "text")
    if form is None or form.get("type") == "text":
        return None
    if form.get("type") == "json_schema":
        schema = {
            key: form[key] for key in ("name", "schema", "strict", "description") if key in form
        }
        return {"type": "json_schema", "json_schema": schema}
    return form
