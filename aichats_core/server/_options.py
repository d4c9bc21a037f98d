"""Provider options given as text: ``-o aichats.base_url=http://127.0.0.1:8765`` and the like.

The command line and the gunicorn factory (``AICHATS_SERVE_OPTIONS``) share this syntax, so
it lives apart from the server and imports nothing heavy.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from aichats_core._registry import normalize_name
from aichats_core.errors import InvalidRequestError

OPTIONS_VARIABLE = "AICHATS_SERVE_OPTIONS"
"""Provider options for the gunicorn factory, as ``"aichats.base_url=... other.key=value"``."""


def parse_provider_option(text: str) -> tuple[str, str, Any]:
    """``PROVIDER.KEY=VALUE`` as ``(provider, key, value)``.

    VALUE is read as JSON when it parses (``8765``, ``true``, ``null``, ``"quoted"``), else
    it is the string itself, so URLs need no quoting. The provider name ends at the first dot.
    """
    target, separator, raw = text.partition("=")
    provider, dot, key = target.partition(".")
    if not separator or not dot or not provider.strip() or not key.strip():
        raise InvalidRequestError(
            f"option {text!r} is not PROVIDER.KEY=VALUE (e.g. aichats.base_url=http://127.0.0.1:8765)"
        )
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return provider.strip(), key.strip(), value


def merge_options(
    parsed: Iterable[tuple[str, str, Any]],
) -> dict[str, dict[str, Any]]:
    """Group parsed options by provider; names are normalised, a later key wins."""
    options: dict[str, dict[str, Any]] = {}
    for provider, key, value in parsed:
        options.setdefault(normalize_name(provider), {})[key] = value
    return options


def options_from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The provider options of ``AICHATS_SERVE_OPTIONS`` (shell-style words, quotes allowed)."""
    raw = environ.get(OPTIONS_VARIABLE, "")
    try:
        words = shlex.split(raw)
    except ValueError as exc:
        raise InvalidRequestError(f"{OPTIONS_VARIABLE} cannot be split into words: {exc}") from None
    return merge_options(parse_provider_option(word) for word in words)
