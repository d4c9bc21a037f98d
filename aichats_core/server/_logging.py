"""Secrets never reach the server's log, whatever a client sends.

aiohttp logs the raw bytes of a request it cannot parse (a header with a NUL, a line over
8190 bytes), API key included, in the message and in the exception text of the traceback.
``Redactor`` is a logging filter that rewrites each record before any handler sees it: the
configured secrets, in the shapes a log can hold them (raw, escaped as in a ``repr``, as
UTF-8 bytes, percent-encoded, base64 inside a Basic credential, cut short by a truncated
line), and the values of credential headers and query parameters, whoever's they are.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

REDACTED = "[redacted]"

LOGGER_NAMES = (
    "aiohttp.access",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.internal",
    "aiohttp.client",
    "asyncio",
    "aichats_core",
    "aichats_core.server",
    "gunicorn.error",
    "gunicorn.access",
)
"""The loggers whose records are filtered where they are made (a filter on a logger does not
see its children's records: the handlers of the root logger get the filter too)."""

_CREDENTIALS = re.compile(
    # A credential header's value: "Authorization: Bearer x", "('Cookie', 'x')", "cookie=x".
    r"(\b(?:proxy-)?authorization|\b(?:set-)?cookie|\bx-api-key|\bapi-key)"
    r"(['\"]?\s*[:=,]\s*['\"]?)((?:(?!\\[rn])[^\r\n'\"])*)"
    # A credential without its header, as in a truncated line: "b'Bearer x...'".
    r"|(\b(?:bearer|basic|digest)\s+)([^\s'\",\\]+)"
    # The value of a query parameter named like a credential: "?api_key=x", "&access_token=x",
    # "&client_secret=x", "&X-Amz-Signature=x": any name that ends in key, token, secret,
    # password or signature.
    r"|([?&;](?:[\w.\-\[\]]{0,40}?(?:key|token|secret|password|signature)|auth|sig)=)"
    r"([^&\s'\"#\\]*)",
    re.IGNORECASE,
)
SECRET_NAME = re.compile(r"(?:key|token|secret|password|signature)$", re.IGNORECASE)
"""A header or parameter name whose value is a credential (``x-api-key``, ``client_secret``,
``access_token``), as the query part of ``_CREDENTIALS`` takes them."""
_MARKERS = (
    *("authorization", "cookie", "api-key", "bearer", "basic", "digest"),
    *("key=", "token=", "auth=", "password=", "secret=", "sig=", "signature="),
)
"""What ``_CREDENTIALS`` can match contains one of these: the cheap test that spares an
ordinary log line the regular expression."""

_MIN_SUBSTRING = 8
"""Secrets at least this long are redacted wherever they appear, and so is any start of one
at least this long (a truncated line); shorter ones only as a whole word, lest a key "k"
blank every "k" of the log."""
_MAX_PREFIX = 64


class Redactor(logging.Filter):
    """Rewrites log records so that no secret and no credential value is left in them."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        given = {secret for secret in secrets if secret}
        long = [secret for secret in given if len(secret) >= _MIN_SUBSTRING]
        shapes = sorted({shape for secret in long for shape in _shapes(secret)}, key=len)
        patterns = [re.escape(shape) for shape in reversed(shapes)]
        patterns += [_prefixes(secret) for secret in long]
        patterns += [_word(secret) for secret in given if len(secret) < _MIN_SUBSTRING]
        self._secrets = re.compile("|".join(patterns)) if patterns else None

    def redact(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(REDACTED, text)
        lowered = text.lower()
        if any(marker in lowered for marker in _MARKERS):
            text = _CREDENTIALS.sub(_credential, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "aichats_redacted", None) is self:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # a bad format: its parts still need hiding
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), ()
        if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            record.exc_info = None  # the formatter prints exc_text; a traceback object would
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        record.aichats_redacted = self
        return True


def _credential(match: re.Match[str]) -> str:
    name, separator, _, scheme, _, parameter, _ = match.groups()
    if name is not None:
        return f"{name}{separator}{REDACTED}"
    if scheme is not None:
        return f"{scheme}{REDACTED}"
    return f"{parameter}{REDACTED}"


def _shapes(secret: str) -> set[str]:
    """``secret`` as it can appear in a log line."""
    raw = secret.encode("utf-8", "surrogateescape")
    shapes = {
        secret,
        repr(secret)[1:-1],
        repr(raw)[2:-1],
        json.dumps(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        raw.decode("latin-1"),
        quote(raw, safe=""),
        quote_plus(raw, safe=""),
    }
    shapes |= {shape.lower() for shape in shapes if "%" in shape}
    for prefix in (b"", b":", b"x:"):  # alone, and as the password of a Basic credential
        shapes |= _base64_shapes(prefix + raw)
    return shapes


def _base64_shapes(raw: bytes) -> set[str]:
    """The base64 characters that encode ``raw`` at each of the three alignments it can have
    inside a longer encoded string (only the characters no neighbouring byte touches)."""
    shapes = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode("ascii").rstrip("=")
        start, end = (0, 2, 3)[offset], (offset + len(raw)) * 8 // 6
        inner = encoded[start:end]
        if len(inner) >= _MIN_SUBSTRING:
            shapes |= {inner, inner.replace("+", "-").replace("/", "_")}
    return shapes


def _prefixes(secret: str) -> str:
    """A pattern for ``secret`` or any start of it at least ``_MIN_SUBSTRING`` long."""
    head, tail = secret[:_MIN_SUBSTRING], secret[_MIN_SUBSTRING:_MAX_PREFIX]
    pattern = ""
    for char in reversed(tail):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    rest = re.escape(secret[_MAX_PREFIX:])
    full = f"{re.escape(secret[:_MAX_PREFIX])}{rest}|" if rest else ""
    return f"{full}{re.escape(head)}{pattern}"


def _word(secret: str) -> str:
    return rf"(?<![\w-]){re.escape(secret)}(?![\w-])"


def url_credentials(text: str) -> list[str]:
    """The password and ``user:password`` in ``text`` if it is a URL with them (a proxy's,
    a base URL's), as written and percent-decoded; else nothing."""
    if "://" not in text or "@" not in text:
        return []
    try:
        userinfo = urlsplit(text.strip()).netloc.rpartition("@")[0]
    except ValueError:
        return []
    _, colon, password = userinfo.partition(":")
    if not colon or not password:
        # A user name alone is hardly a secret: redacting a short one would blank ordinary
        # words of the log ("proxy"), so only a long one, which may be a token, counts.
        return [userinfo, unquote(userinfo)] if len(userinfo) >= _MIN_SUBSTRING else []
    return [password, unquote(password), userinfo, unquote(userinfo)]


def protect_logs(
    secrets: Iterable[str], loggers: Iterable[str] = LOGGER_NAMES
) -> Callable[[], None]:
    """Filter the records of ``loggers`` and of the root logger's handlers with a ``Redactor``
    of ``secrets``; returns the function that removes the filter again."""
    redactor = Redactor(secrets)
    targets: list[logging.Filterer] = [logging.getLogger(name) for name in loggers]
    targets += logging.getLogger().handlers
    for target in targets:
        target.addFilter(redactor)

    def remove() -> None:
        for target in targets:
            target.removeFilter(redactor)

    return remove
