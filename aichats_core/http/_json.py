"""JSON from a stranger (a service's answer, a client's request), parsed with its nesting bounded.

``json.loads`` recurses once per level: ``[`` * 100000 raises ``RecursionError``, which would
read as a bug of the plugin that parsed it, and a structure just under the interpreter's limit
breaks whatever later walks it (``repr``, pydantic). So the parsed value is walked, without
recursion, and refused when it nests deeper than ``max_depth``; at no cost for the usual value:
each ``[`` or ``{`` opens at most one level, so a text with few of them needs no walk. Parsing
first and walking after keeps the whole check linear in the size of the text.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_JSON_DEPTH = 100
"""Deepest nesting accepted in a service's JSON; real answers stay far below it."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: ``json`` decodes a pair into one character, a lone
one stays a lone surrogate, which is not text."""


class JSONTooDeepError(ValueError):
    """The JSON nests deeper than allowed; a ``ValueError``, like any JSON that is refused."""


class JSONNotTextError(ValueError):
    """A string of the JSON holds a lone surrogate (``"\\ud800"``), which is not text."""


def load_json(
    data: str | bytes, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH, strict_text: bool = False
) -> Any:
    """``json.loads(data)``, raising ``ValueError`` (never ``RecursionError``) for JSON nested
    deeper than ``max_depth``, as for any JSON that cannot be parsed.

    ``strict_text`` also refuses what is not text: bytes that are not UTF-8 (``json.loads``
    would guess UTF-16 or let UTF-8-encoded surrogates through) and lone surrogate escapes.
    """
    if isinstance(data, bytes) and strict_text:
        data = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    if isinstance(data, str):
        brackets = data.count("[") + data.count("{")
        escaped = strict_text and _SURROGATE_ESCAPE.search(data) is not None
    else:
        brackets = data.count(b"[") + data.count(b"{")
        escaped = False
    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONTooDeepError(_too_deep(max_depth)) from None
    if brackets > max_depth or escaped:
        _check(value, max_depth if brackets > max_depth else None, strings=escaped)
    return value


def _check(value: object, max_depth: int | None, *, strings: bool) -> None:
    """Walk ``value`` without recursion: its nesting, and (``strings``) lone surrogates."""
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: list[object] = [*item.values()]
            if strings:
                children.extend(item)  # keys are strings too
        elif isinstance(item, list):
            children = item
        else:
            if strings and isinstance(item, str):
                _check_text(item)
            continue
        if max_depth is not None and level >= max_depth:
            raise JSONTooDeepError(_too_deep(max_depth))
        pending.extend((child, level + 1) for child in children)


def _check_text(value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise JSONNotTextError(
            "a string holds a lone UTF-16 surrogate escape (such as \\ud800), which is not"
            " text; a surrogate pair is fine"
        ) from None


def _too_deep(max_depth: int) -> str:
    return f"it nests more than {max_depth} levels deep"
