"""JSON from a service, parsed with its nesting bounded.

``json.loads`` recurses once per level: ``[`` * 100000 raises ``RecursionError``, which would
read as a bug of the plugin that parsed it, and a structure just under the interpreter's limit
breaks whatever later walks it (``repr``, pydantic). A service's answer is refused before
parsing when it nests deeper than ``DEFAULT_MAX_JSON_DEPTH``, at no cost for the usual answer: each
``[`` or ``{`` opens at most one level, so an answer with few of them needs no closer look.
"""

from __future__ import annotations

import json
import re
from typing import Any

DEFAULT_MAX_JSON_DEPTH = 100
"""Deepest nesting accepted in a service's JSON; real answers stay far below it."""

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[][{}]', re.DOTALL)
"""Strings (whose brackets do not count) and brackets."""


class JSONTooDeepError(ValueError):
    """The JSON nests deeper than allowed; a ``ValueError``, like any JSON that is refused."""


def load_json(data: str | bytes, *, max_depth: int = DEFAULT_MAX_JSON_DEPTH) -> Any:
    """``json.loads(data)``, raising ``ValueError`` (never ``RecursionError``) for JSON nested
    deeper than ``max_depth``, as for any JSON that cannot be parsed."""
    if isinstance(data, str):
        brackets = data.count("[") + data.count("{")
    else:
        brackets = data.count(b"[") + data.count(b"{")
    if brackets > max_depth:
        _check_depth(data, max_depth)
    try:
        return json.loads(data)
    except RecursionError:  # a caller already deep in its own stack
        raise JSONTooDeepError(_too_deep(max_depth)) from None


def _check_depth(data: str | bytes, max_depth: int) -> None:
    if isinstance(data, bytes):
        data = data.decode(json.detect_encoding(data), "replace")
    depth = 0
    for match in _TOKENS.finditer(data):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > max_depth:
                raise JSONTooDeepError(_too_deep(max_depth))
        elif token == "]" or token == "}":
            depth -= 1


def _too_deep(max_depth: int) -> str:
    return f"it nests more than {max_depth} levels deep"
