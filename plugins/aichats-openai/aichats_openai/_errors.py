"""OpenAI's error bodies made readable, in-band error events typed, and secrets kept out.

OpenAI-compatible services describe a failure as ``{"error": {"message", "type", "code"}}``,
either as the body of an HTTP error status or, once a stream has started, as an event in it.
Both become errors from ``aichats_core.errors`` whose message is the service's own sentence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from aichats_core.errors import (
    AiChatsError,
    ProviderHTTPError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)

if TYPE_CHECKING:
    import aiohttp

MASK = "***"
MIN_SECRET_LENGTH = 8
"""Shorter keys (``"EMPTY"``, ``"ollama"`` for local servers) are too likely to be ordinary
words in a message to be masked; real keys are much longer."""
QUOTE_LENGTH = 120
"""Characters of a value quoted in an error message; longer ones are cut with "..."."""
DEFAULT_IN_BAND_STATUS = 500
"""The status of an in-band error that neither states one nor has a known type: the service
failed while answering, which is what a 5xx says (and what makes it worth a retry)."""

# OpenAI's ``code``/``type`` values, those of services that copy them and those of
# ``aichats serve``, with the HTTP status the same failure has before the stream starts.
_STATUS_OF_KIND = {
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
    "internal_error": 500,
    "api_error": 500,
    "bad_gateway": 502,
    "upstream_error": 502,
    "service_unavailable": 503,
    "overloaded_error": 503,
    "provider_unavailable": 503,
    "server_shutting_down": 503,
    "timeout": 504,
    "upstream_timeout": 504,
}
# The value of a "message" field, even when the excerpt cut the body in the middle of it.
_MESSAGE_FIELD = re.compile(r'"message"\s*:\s*"((?:[^"\\]|\\.)*)("?)')


def describe_error(error: object) -> str | None:
    """``"message (code)"`` from an ``error`` object or string; None if it says nothing."""
    if isinstance(error, str):
        return error.strip() or None
    if not isinstance(error, Mapping):
        return None
    message = error.get("message")
    message = message.strip() if isinstance(message, str) else ""
    kind = next(
        (str(value) for key in ("code", "type") if (value := error.get(key)) not in (None, "")),
        "",
    )
    if message and kind and kind not in message:
        return f"{message} ({kind})"
    return message or kind or None


def message_from_body(body: str) -> str | None:
    """The readable part of an HTTP error body (possibly cut short), or None if it has none.

    Understands ``{"error": {"message": ...}}`` (OpenAI), ``{"error": "..."}``,
    ``{"message": ...}`` and ``{"detail": "..."}`` (FastAPI servers).
    """
    cut = body.endswith("...")
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, Mapping):
        for key in ("error", "detail"):
            if (described := describe_error(payload.get(key))) is not None:
                return described
        return describe_error(payload)
    if cut and (match := _MESSAGE_FIELD.search(body)):  # the excerpt ended inside the JSON
        try:
            message: str = json.loads(f'"{match.group(1)}"')
        except ValueError:
            message = match.group(1)
        return message if match.group(2) else message.removesuffix("...") + "..."
    return None


def readable_http_error(error: ProviderHTTPError) -> ProviderHTTPError:
    """The same error with the service's own message in place of the raw JSON excerpt."""
    message = message_from_body(error.body)
    if message is None:
        if error.status != 404 or error.body.lstrip().startswith("{"):
            return error
        # A bare 404 page, not an API's JSON: almost always a base_url missing its "/v1".
        message = (error.body + "; " if error.body else "") + (
            "is base_url the API root? OpenAI-compatible APIs usually live under /v1"
        )
    if isinstance(error, RateLimitError):
        return RateLimitError(error.provider, message, retry_after=error.retry_after, url=error.url)
    return ProviderHTTPError(error.provider, error.status, message, url=error.url)


def in_band_error(provider: str, error: object, *, text_received: bool) -> AiChatsError:
    """The error for an ``{"error": ...}`` event of the stream.

    Before any text: the ``ProviderHTTPError`` (``RateLimitError`` for 429) that the same
    failure gets as an HTTP status, taken from the event's status or code, else from its type,
    so that retries and fallback treat it the same way. After some text: a
    ``StreamInterruptedError`` (the core fills in ``partial_text``), with that typed error as
    its ``__cause__``: the caller's answer is cut, and that is what matters most then.
    """
    message = describe_error(error) or f"an error event without a message: {quote(error)}"
    status = _status_of(error)
    typed: ProviderHTTPError
    if status == 429:
        retry_after = _retry_after(error.get("retry_after")) if isinstance(error, Mapping) else None
        typed = RateLimitError(
            provider, f"{message} (in the event stream)", retry_after=retry_after
        )
    else:
        typed = ProviderHTTPError(provider, status, f"{message} (in the event stream)")
    if not text_received:
        return typed
    interrupted = StreamInterruptedError(
        provider, f"the service reported an error in the middle of the answer: {message}"
    )
    interrupted.__cause__ = typed
    return interrupted


def _status_of(error: object) -> int:
    if not isinstance(error, Mapping):
        return DEFAULT_IN_BAND_STATUS
    for key in ("status", "status_code", "code"):
        value = error.get(key)
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    for key in ("code", "type"):
        value = error.get(key)
        if isinstance(value, str) and value in _STATUS_OF_KIND:
            return _STATUS_OF_KIND[value]
    return DEFAULT_IN_BAND_STATUS


def _retry_after(value: object) -> float | None:
    """An event's ``retry_after``, read as the ``Retry-After`` header would be."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    from aichats_core.http import parse_retry_after  # call time only: it imports aiohttp

    return parse_retry_after(str(value))


async def refuse_unexpected(
    provider: str, response: aiohttp.ClientResponse, expected: tuple[str, ...]
) -> None:
    """The core's ``refuse_unexpected``, with the likeliest cause of a foreign answer added.

    A redirect is refused there (following it would send the conversation and the credentials
    elsewhere); a body of another content type, mostly an HTML page, comes from a URL that
    is not the API root.
    """
    from aichats_core.http import refuse_unexpected

    try:
        await refuse_unexpected(provider, response, expected=expected)
    except ResponseFormatError as exc:
        raise ResponseFormatError(
            provider,
            f"{exc.detail}; is base_url the API root (such as https://api.openai.com/v1)?",
        ) from None


def quote(value: object) -> str:
    """``value`` for an error message: a string as its ``repr``, anything else as JSON, cut
    to ``QUOTE_LENGTH`` characters, with credentials in URLs hidden."""
    from aichats_core.http import redact  # call time only: it imports aiohttp

    text = redact(value if isinstance(value, str) else json.dumps(value, default=repr))
    if len(text) > QUOTE_LENGTH:
        text = text[: QUOTE_LENGTH - 3] + "..."
    return repr(text) if isinstance(value, str) else text


def scrub(error: BaseException, secrets: Iterable[str]) -> None:
    """Replace each secret with ``***`` in ``error`` and in every exception it is chained to.

    A service that echoes the request (some proxies and debug servers quote the headers in an
    error page) must not put the caller's credentials into logs through an exception. The
    ``args`` and text attributes (``detail``, ``body``, ``url``, notes...) of the error, of its
    ``__cause__`` and ``__context__``, and of theirs, are rewritten in place.
    """
    masks = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    if not masks:
        return
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        current.args = tuple(_masked(arg, masks) for arg in current.args)
        for name, value in list(vars(current).items()):
            masked = _masked(value, masks)
            if masked is not value:
                setattr(current, name, masked)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions


def _masked(value: object, masks: list[str]) -> object:
    """``value`` with the secrets masked: a string, or the strings in a tuple or a list."""
    if isinstance(value, str):
        masked = value
        for secret in masks:
            masked = masked.replace(secret, MASK)
        return value if masked == value else masked
    if isinstance(value, tuple | list) and type(value) in (tuple, list):  # not namedtuples
        items = [_masked(item, masks) if isinstance(item, str) else item for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    return value
