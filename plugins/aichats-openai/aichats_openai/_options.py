"""The per-call options, checked before anything is sent.

A misspelt option (``api-key``, ``temprature``) that was silently ignored would send a request
the caller did not mean, so unknown names and bad values raise ``InvalidRequestError``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aichats_core.errors import InvalidRequestError

from aichats_openai._errors import quote

if TYPE_CHECKING:
    import aiohttp

OPTIONS = ("api_key", "base_url", "extra_body", "extra_headers", "session", "timeout")
"""Every option the provider understands."""
RESERVED_BODY_KEYS = frozenset({"messages", "model", "stream"})
"""Request fields that have their own argument; ``extra_body`` may not set them."""
USER_AGENT = "aichats-openai/0.1.0"
CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|cookie|passw|credential|session", re.I)
"""Names of headers whose values are secrets (``Authorization``, ``api-key``, ``X-Api-Key``,
``Cookie``, ``X-Auth-Token``...): errors mask their values as they mask the API key."""


@dataclass(frozen=True)
class Options:
    """Validated options of one call; the API key never appears in its ``repr``."""

    base_url: str
    """The API root, without a trailing slash: ``https://api.openai.com/v1``."""
    api_key: str = field(default="", repr=False)
    """Sent as ``Authorization: Bearer``; empty sends no ``Authorization`` header."""
    session: aiohttp.ClientSession | None = None
    timeout: float | None = None
    """Seconds for connecting and for each silence while reading (``None``: the default)."""
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    """Fields merged into the chat request; a ``None`` value removes the field."""
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Headers over the defaults; values of credential headers are secrets like the key."""

    @classmethod
    def parse(
        cls,
        provider: str,
        options: Mapping[str, Any],
        *,
        default_url: str,
        base_url_env: str | None,
        api_key_env: str | None,
    ) -> Options:
        """Validate keyword options; unset ones come from the environment, then the defaults."""
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise InvalidRequestError(
                f"{provider}: unknown option(s) {', '.join(map(repr, unknown))};"
                f" it accepts {', '.join(OPTIONS)}"
            )
        base_url = options.get("base_url")
        if base_url is None:
            base_url = (os.environ.get(base_url_env) if base_url_env else None) or default_url
        api_key = options.get("api_key")
        if api_key is None:
            api_key = (os.environ.get(api_key_env) if api_key_env else None) or ""
        return cls(
            base_url=_base_url(provider, base_url),
            api_key=_api_key(provider, api_key),
            session=options.get("session"),
            timeout=options.get("timeout"),  # HttpSession checks it
            extra_body=_extra_body(provider, options.get("extra_body")),
            extra_headers=_extra_headers(provider, options.get("extra_headers")),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every credential the request carries, for errors to mask: the API key and the
        values of credential headers in ``extra_headers``, each also in the parts a service
        may echo alone (the token of ``Bearer <token>``, the values of a ``Cookie``)."""
        found = {self.api_key}
        for name, value in self.extra_headers.items():
            if not CREDENTIAL_HEADER.search(name):
                continue
            found.add(value)
            scheme, space, token = value.strip().partition(" ")
            if space and scheme.isalpha():  # "Bearer <token>", "Basic <base64>"
                found.add(token.strip())
            if "cookie" in name.lower():  # "a=<value>; b=<value>"
                for pair in value.split(";"):
                    found.add(pair.partition("=")[2].strip())
        found.discard("")
        return tuple(sorted(found))

    def headers(self, accept: str) -> dict[str, str]:
        """The request headers: ``Accept``, the API key, then ``extra_headers`` over them."""
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.extra_headers:
            overridden = {name.lower() for name in self.extra_headers}
            headers = {k: v for k, v in headers.items() if k.lower() not in overridden}
            headers.update(self.extra_headers)
        return headers


def _base_url(provider: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(
            f"{provider}: base_url must be a URL such as https://api.openai.com/v1,"
            f" not {type(value).__name__} {quote(value)}"
        )
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(
            f"{provider}: base_url must be an http(s) URL such as http://127.0.0.1:8000/v1,"
            f" not {quote(value)}"
        )
    if parts.query or parts.fragment:
        raise InvalidRequestError(
            f"{provider}: base_url must not carry a query or a fragment ({quote(value)});"
            " endpoints are appended to it"
        )
    return value.rstrip("/")


def _api_key(provider: str, value: object) -> str:
    # The value is never quoted in these messages: it is a secret, even when it is malformed.
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"{provider}: api_key must be a string, not {type(value).__name__}"
        )
    if any(ord(char) < 0x20 or char == "\x7f" for char in value) or value != value.strip():
        raise InvalidRequestError(
            f"{provider}: api_key contains whitespace or control characters at its ends or"
            " inside; check how it was copied"
        )
    return value


def _extra_body(provider: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise InvalidRequestError(
            f"{provider}: extra_body must be a dict of request fields, such as"
            f" {{'temperature': 0.2}}, not {type(value).__name__}"
        )
    reserved = sorted(RESERVED_BODY_KEYS & set(value))
    if reserved:
        raise InvalidRequestError(
            f"{provider}: extra_body may not set {', '.join(map(repr, reserved))}: the model is"
            " the 'model' argument, the messages are the call's, and the provider always streams"
        )
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"{provider}: extra_body is not JSON-serialisable: {exc}"
        ) from exc
    return dict(value)


def _extra_headers(provider: str, value: object) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequestError(
            f"{provider}: extra_headers must be a dict of header names to values,"
            f" not {type(value).__name__}"
        )
    for name, header in value.items():
        if not isinstance(name, str) or not name or not name.isascii() or not name.isprintable():
            raise InvalidRequestError(f"{provider}: extra_headers has an invalid name {name!r}")
        if " " in name or ":" in name:
            raise InvalidRequestError(f"{provider}: extra_headers has an invalid name {name!r}")
        if not isinstance(header, str) or "\r" in header or "\n" in header:
            # Not quoted: a header value is often a credential.
            raise InvalidRequestError(
                f"{provider}: the value of extra_headers[{name!r}] must be a string without"
                " line breaks"
            )
    return dict(value)
