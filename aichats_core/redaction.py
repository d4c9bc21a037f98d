"""Keeping credentials out of text that is kept or shown: ``Scrubber`` redacts error texts.

The history redacts the errors it records with it, and the server the upstream reasons it
passes to clients. Error text quotes URLs, headers and request details: it goes through the
same redaction as the server's log (known secrets in every shape, credential headers and
query parameters), plus URL userinfo, API-key shapes and cookie strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aichats_core.server._logging import Redactor

__all__ = ["Scrubber"]

# Two or more ``name=value`` pairs joined by ";": a Cookie header's value quoted without its name.
_COOKIE_RUN = re.compile(r"[\w.-]+=[^;\s'\"]+(?:;\s*[\w.-]+=[^;\s'\"]*)+")
_COOKIE_VALUE = re.compile(r"=[^;]*")
# API keys in the shapes vendors give them (``sk-...``, ``sk-proj-...``, ``gsk_...``), which
# services quote back in their errors ("Incorrect API key provided: sk-...").
_API_KEY = re.compile(r"\b(?:sk|gsk|xai|pk|rk)[-_][A-Za-z0-9_-]{16,}")


class Scrubber:
    """Redacts error texts; ``secrets`` are values known to be credentials (a cookie string,
    a proxy password) to be hidden wherever they appear."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(secrets)
        self._redactor: Redactor | None = None

    def __call__(self, text: str) -> str:
        if "@" in text:
            # Imported here: aichats_core.http imports aiohttp, and a turn with no error
            # text, the usual one, must not pay for it.
            from aichats_core.http import redact as hide_userinfo

            text = hide_userinfo(text)
        text = self._redact(text)
        text = _API_KEY.sub(_redacted, text)
        return _COOKIE_RUN.sub(_hide_cookie_values, text)

    def _redact(self, text: str) -> str:
        if self._redactor is None:
            from aichats_core.server._logging import Redactor

            self._redactor = Redactor(self._secrets)
        return self._redactor.redact(text)


def _redacted(match: re.Match[str]) -> str:
    from aichats_core.server._logging import REDACTED

    return REDACTED


def _hide_cookie_values(match: re.Match[str]) -> str:
    from aichats_core.server._logging import REDACTED

    return _COOKIE_VALUE.sub(f"={REDACTED}", match.group())
