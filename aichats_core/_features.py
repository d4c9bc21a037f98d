"""What a call asks for beyond plain text: tools, a JSON answer, images in messages,
``max_tokens`` and ``stop``; checked at the call against what each provider declares.

These are not provider options (a provider does not declare them in ``Options``): the core
takes them out of the call's options, validates their shape once, and then, provider by
provider, passes them on (``tools`` and ``tool_choice``, ``response_format``, ``max_tokens``,
``stop`` to a provider with the matching capability), enforces them itself (``max_tokens``
and ``stop`` for the others), or refuses the provider (``CapabilityError``: a call that
needs tools, a JSON answer or image input, for a provider without them).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aichats_core._enforce import Limits
from aichats_core._models import Message
from aichats_core.capabilities import (
    IMAGE_INPUT,
    JSON_OUTPUT,
    MAX_TOKENS,
    STOP,
    TOOLS,
    capabilities_of,
)
from aichats_core.errors import CapabilityError, InvalidRequestError

FEATURES = ("tools", "tool_choice", "response_format", "max_tokens", "stop")
"""The call parameters the core handles itself; never a provider's options."""

_TOOL_CHOICES = ("auto", "none", "required")
_FORMATS = ("text", "json_object", "json_schema")
_NEEDS_SAID = {
    TOOLS: "tools (the tools option, or tool calls and tool results in the messages)",
    JSON_OUTPUT: "a JSON answer (response_format)",
    IMAGE_INPUT: "image input (image parts in the messages)",
}


@dataclass(frozen=True)
class Features:
    """The features of one call, their shapes checked."""

    tools: tuple[Mapping[str, Any], ...] | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    response_format: Mapping[str, Any] | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderPlan:
    """What one provider gets of a call's features: the arguments it declares, the messages
    in a shape it takes, and what the core enforces on its answer."""

    arguments: dict[str, Any]
    messages: tuple[Message, ...] | None
    """None: the call's messages as they are."""
    limits: Limits | None


def with_features(
    options: Mapping[str, Any],
    tools: Any = None,
    tool_choice: Any = None,
    response_format: Any = None,
    max_tokens: Any = None,
    stop: Any = None,
) -> Mapping[str, Any]:
    """``options`` with the features a caller gave as arguments, to travel with them; a plain
    call (none given) gets ``options`` back as they are, for five tests and no merge."""
    if (
        tools is None
        and tool_choice is None
        and response_format is None
        and max_tokens is None
        and stop is None
    ):
        return options
    given = {
        "tools": tools,
        "tool_choice": tool_choice,
        "response_format": response_format,
        "max_tokens": max_tokens,
        "stop": stop,
    }
    return {**options, **{name: value for name, value in given.items() if value is not None}}


_FEATURE_NAMES = frozenset(FEATURES)


def split_features(options: Mapping[str, Any]) -> tuple[Mapping[str, Any], Features | None]:
    """The call's options without its features, and the features (None when it has none)."""
    if _FEATURE_NAMES.isdisjoint(options):  # every plain call: keep this cheap
        return options, None
    given = {name: options[name] for name in FEATURES if options.get(name) is not None}
    rest = {name: value for name, value in options.items() if name not in FEATURES}
    return rest, _checked(given) if given else None


def plain(messages: tuple[Message, ...]) -> bool:
    """Messages any provider takes: text only, no tool calls or results."""
    for m in messages:  # a loop, not all(...): this runs at every call
        if type(m.content) is not str or m.tool_calls or m.role == "tool":
            return False
    return True


def needs(features: Features | None, messages: tuple[Message, ...]) -> frozenset[str]:
    """The capabilities a provider must declare to take this call at all."""
    needed = set()
    if features is not None:
        if features.tools:
            needed.add(TOOLS)
        if features.response_format and features.response_format.get("type") != "text":
            needed.add(JSON_OUTPUT)
    for message in messages:
        if message.tool_calls or message.role == "tool":
            needed.add(TOOLS)
        if message.has_images:
            needed.add(IMAGE_INPUT)
    return frozenset(needed)


def plan_for(
    name: str,
    provider: type,
    features: Features | None,
    messages: tuple[Message, ...],
    needed: frozenset[str],
) -> ProviderPlan:
    """What ``provider`` (registered as ``name``) gets of the call, or ``CapabilityError``."""
    declared = capabilities_of(provider) | _declared_as_options(name, provider)
    missing = sorted(needed - declared)
    if missing:
        raise CapabilityError(
            name,
            missing[0],
            f"provider {name!r} cannot take {_NEEDS_SAID[missing[0]]}: it does not declare the"
            f" {missing[0]!r} capability; choose a provider that does (`aichats providers"
            " --json` lists each one's capabilities)",
        )
    arguments: dict[str, Any] = {}
    stop: tuple[str, ...] = ()
    max_tokens = None
    if features is not None:
        if features.tools:
            arguments["tools"] = [dict(tool) for tool in features.tools]
            if features.tool_choice is not None:
                arguments["tool_choice"] = features.tool_choice
        if features.response_format is not None and JSON_OUTPUT in declared:
            arguments["response_format"] = dict(features.response_format)
        if features.max_tokens is not None:
            if MAX_TOKENS in declared:
                arguments["max_tokens"] = features.max_tokens
            else:
                max_tokens = features.max_tokens
        if features.stop:
            if STOP in declared:
                arguments["stop"] = list(features.stop)
            else:
                stop = features.stop
    limits = Limits(stop, max_tokens) if stop or max_tokens is not None else None
    shaped = None if IMAGE_INPUT in declared else _text_only(messages)
    return ProviderPlan(arguments, shaped, limits)


_OPTION_CAPABILITY = {
    "tools": TOOLS,
    "response_format": JSON_OUTPUT,
    "max_tokens": MAX_TOKENS,
    "stop": STOP,
}


_declared: weakref.WeakKeyDictionary[type, frozenset[str]] = weakref.WeakKeyDictionary()


def _declared_as_options(name: str, provider: type) -> frozenset[str]:
    """The capabilities a provider from before capabilities declares as options of its own
    (``max_tokens`` in its ``Options``): they reach it as they always did. Once per class."""
    found = _declared.get(provider)
    if found is None:
        from aichats_core._call_options import _spec_for_call

        accepted = _spec_for_call(name, provider).accepted
        found = frozenset(cap for option, cap in _OPTION_CAPABILITY.items() if option in accepted)
        _declared[provider] = found
    return found


def _text_only(messages: tuple[Message, ...]) -> tuple[Message, ...] | None:
    """Messages whose content is text parts, as plain text (for a provider that takes only
    text); None when they are plain already."""
    if all(type(m.content) is str for m in messages):
        return None
    return tuple(
        m if type(m.content) is str else m.model_copy(update={"content": m.text}) for m in messages
    )


def _checked(given: Mapping[str, Any]) -> Features:
    tools = given.get("tools")
    if tools is not None:
        tools = _tools(tools)
    choice = given.get("tool_choice")
    if choice is not None:
        _tool_choice(choice, tools)
    response_format = given.get("response_format")
    if response_format is not None:
        _response_format(response_format)
    max_tokens = given.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise InvalidRequestError(
            f"max_tokens must be a whole number of 1 or more, not {max_tokens!r}"
        )
    return Features(tools, choice, response_format, max_tokens, _stop(given.get("stop")))


def _tools(tools: object) -> tuple[Mapping[str, Any], ...]:
    """OpenAI's function tools: ``{"type": "function", "function": {"name", "description",
    "parameters"}}``, names unique."""
    if isinstance(tools, str | bytes) or not isinstance(tools, Sequence) or not tools:
        raise InvalidRequestError("tools must be a non-empty list of function tools")
    names = set()
    for index, tool in enumerate(tools):
        where = f"tools[{index}]"
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(tool, Mapping) or tool.get("type") != "function":
            raise InvalidRequestError(
                f'{where} must be {{"type": "function", "function": {{"name": ...}}}}'
            )
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise InvalidRequestError(f"{where}.function must be an object with a string name")
        if not function["name"] or function["name"] in names:
            raise InvalidRequestError(f"{where}.function.name must be non-empty and unique")
        names.add(function["name"])
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, Mapping):
            raise InvalidRequestError(f"{where}.function.parameters must be a JSON schema object")
    return tuple(tools)


def _tool_choice(choice: object, tools: tuple[Mapping[str, Any], ...] | None) -> None:
    if not tools:
        raise InvalidRequestError("tool_choice needs tools: give the tools to choose from")
    if isinstance(choice, str):
        if choice not in _TOOL_CHOICES:
            raise InvalidRequestError(
                f"tool_choice must be one of {', '.join(_TOOL_CHOICES)} or names a tool, not"
                f" {choice!r}"
            )
        return
    function = choice.get("function") if isinstance(choice, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if name not in {tool["function"]["name"] for tool in tools}:
        raise InvalidRequestError(
            'tool_choice must be "auto", "none", "required" or {"type": "function",'
            f' "function": {{"name": ...}}}} naming one of the tools, not {choice!r:.80}'
        )


def _response_format(response_format: object) -> None:
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind not in _FORMATS:
        raise InvalidRequestError(
            'response_format must be {"type": "json_object"}, {"type": "json_schema",'
            f' "json_schema": {{"name": ..., "schema": {{...}}}}}} or {{"type": "text"}}, not'
            f" {response_format!r:.80}"
        )
    if kind == "json_schema":
        assert isinstance(response_format, Mapping)
        schema = response_format.get("json_schema")
        if not isinstance(schema, Mapping) or not isinstance(schema.get("name"), str):
            raise InvalidRequestError(
                "response_format.json_schema must be an object with a name and a schema"
            )


def _stop(stop: object) -> tuple[str, ...]:
    if stop is None:
        return ()
    sequences = [stop] if isinstance(stop, str) else stop
    if (
        not isinstance(sequences, Sequence)
        or not 1 <= len(sequences) <= 4
        or not all(isinstance(s, str) and s for s in sequences)
    ):
        raise InvalidRequestError(
            f"stop must be a non-empty string or a list of 1 to 4 of them, not {stop!r:.80}"
        )
    return tuple(sequences)
