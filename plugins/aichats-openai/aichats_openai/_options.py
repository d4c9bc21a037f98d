"""The per-call options: declared for the core to check (``OpenAIOptions``), then resolved
against the environment for one request (``Settings``).

The core checks every call against ``OpenAIOptions`` before any network: a misspelt option
(``api-key``, ``temprature``) that was silently ignored would send a request the caller did not
mean. Its refusals (``InvalidOptionError``) quote the value given; the api key and the header
values never reach them (``Hidden``), since a malformed key is still a secret.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from aichats_core.errors import InvalidOptionError, InvalidRequestError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictStr,
    ValidationError,
)

from aichats_openai._errors import quote

if TYPE_CHECKING:
    import aiohttp

RESERVED_BODY_KEYS = frozenset({"messages", "model", "stream"})
"""Request fields that have their own argument; ``extra_body`` may not set them."""
USER_AGENT = "aichats-openai/0.1.0"
CREDENTIAL_HEADER = re.compile(r"auth|key|token|secret|cookie|passw|credential|session", re.I)
"""Names of headers whose values are secrets (``Authorization``, ``api-key``, ``X-Api-Key``,
``Cookie``, ``X-Auth-Token``...): errors mask their values as they mask the API key."""


class Hidden:
    """A value under validation that must not be shown: pydantic quotes the input of a failed
    validation (and the core's refusal quotes it in turn), so a secret is wrapped first and
    its checks read it from here."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"<{type(self.value).__name__}, not shown>"


def check_base_url(value: str) -> str:
    """An http(s) API root without query or fragment, stripped of spaces and trailing ``/``."""
    value = value.strip()
    if not value:
        raise ValueError("base_url must be a URL such as https://api.openai.com/v1, not ''")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"base_url must be an http(s) URL such as http://127.0.0.1:8000/v1, not {quote(value)}"
        )
    if parts.query or parts.fragment:
        raise ValueError(
            f"base_url must not carry a query or a fragment ({quote(value)});"
            " endpoints are appended to it"
        )
    return value.rstrip("/")


def check_api_key(value: object) -> str | None:
    # The value is never quoted in these messages: it is a secret, even when it is malformed.
    value = value.value if isinstance(value, Hidden) else value
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"api_key must be a string, not {type(value).__name__}")
    if any(ord(char) < 0x20 or char == "\x7f" for char in value) or value != value.strip():
        raise ValueError(
            "api_key contains whitespace or control characters at its ends or inside;"
            " check how it was copied"
        )
    return value


def _base_url(value: str | None) -> str | None:
    return None if value is None else check_base_url(value)


def _extra_body(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    reserved = sorted(RESERVED_BODY_KEYS & set(value))
    if reserved:
        raise ValueError(
            f"extra_body may not set {', '.join(map(repr, reserved))}: the model is the"
            " 'model' argument, the messages are the call's, and the provider always streams"
        )
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"extra_body is not JSON-serialisable: {exc}") from None
    return value


def _extra_headers(value: object) -> dict[str, str] | None:
    value = value.value if isinstance(value, Hidden) else value
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(
            f"extra_headers must be a dict of header names to values, not {type(value).__name__}"
        )
    for name, header in value.items():
        if not isinstance(name, str) or not name or not name.isascii() or not name.isprintable():
            raise ValueError(f"extra_headers has an invalid name {quote(name)}")
        if " " in name or ":" in name:
            raise ValueError(f"extra_headers has an invalid name {quote(name)}")
        if not isinstance(header, str) or "\r" in header or "\n" in header:
            # Not quoted: a header value is often a credential.
            raise ValueError(
                f"the value of extra_headers[{name!r}] must be a string without line breaks"
            )
    return dict(value)


def _image_models(value: list[str] | None) -> list[str] | None:
    if value is not None and not all(value):
        raise ValueError("image_models must list model ids, not empty strings")
    return value


class OpenAIOptions(BaseModel):
    """What a call may set beyond the core's ``timeout`` and ``session``
    (``OpenAICompatible.Options``). Unset ones come from the environment, then the defaults
    (``Settings.resolve``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: Annotated[
        StrictStr | None, AfterValidator(lambda v: None if v is None else check_base_url(v))
    ] = Field(
        default=None,
        description="The API root, e.g. http://127.0.0.1:8000/v1"
        " (default $OPENAI_BASE_URL, else https://api.openai.com/v1).",
    )
    api_key: Annotated[str | None, PlainValidator(check_api_key), BeforeValidator(Hidden)] = Field(
        default=None,
        repr=False,
        description="Sent as Authorization: Bearer (default $OPENAI_API_KEY; '' sends none).",
    )
    extra_body: Annotated[dict[StrictStr, Any] | None, AfterValidator(_extra_body)] = Field(
        default=None,
        description="Fields merged into the chat request; a None value removes one.",
    )
    extra_headers: Annotated[
        dict[str, str] | None, PlainValidator(_extra_headers), BeforeValidator(Hidden)
    ] = Field(
        default=None,
        repr=False,
        description="Headers over the defaults; credential headers' values are masked.",
    )
    image_models: Annotated[list[StrictStr] | None, AfterValidator(_image_models)] = Field(
        default=None,
        description="Model ids answered by POST /images/generations instead of a chat"
        " (default: the provider's image_models, for openai gpt-image-* and dall-e-*).",
    )


def validated(provider: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked as the core checks a call's, for the methods that the core does not
    call (``list_models``); only the declared ones, the core's pass through as given."""
    declared = {
        name: value for name, value in options.items() if name in OpenAIOptions.model_fields
    }
    try:
        model = OpenAIOptions.model_validate(declared)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        option = str(error["loc"][0]) if error["loc"] else "?"
        raise InvalidOptionError(
            provider,
            option,
            sorted([*OpenAIOptions.model_fields, "timeout"]),
            f"{provider}: option {option!r}: {error['msg']}",
        ) from None
    return {**options, **{name: getattr(model, name) for name in declared}}


@dataclass(frozen=True)
class Settings:
    """One request's options, resolved; the API key never appears in its ``repr``."""

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
    image_models: tuple[str, ...] | None = None
    """The models that make images, when the call names them (else the provider's own)."""

    @classmethod
    def resolve(
        cls,
        provider: str,
        options: Mapping[str, Any],
        *,
        default_url: str,
        base_url_env: str | None,
        api_key_env: str | None,
    ) -> Settings:
        """The options of a call, as the core validated them; those not given (or None) come
        from the environment, checked as the options are, then from the defaults."""
        base_url = options.get("base_url")
        if base_url is None:
            base_url = _from_environment(provider, base_url_env, check_base_url) or default_url
        api_key = options.get("api_key")
        if api_key is None:
            api_key = _from_environment(provider, api_key_env, check_api_key) or ""
        image_models = options.get("image_models")
        return cls(
            base_url=base_url,
            api_key=api_key,
            session=options.get("session"),
            timeout=options.get("timeout"),
            extra_body=options.get("extra_body") or {},
            extra_headers=options.get("extra_headers") or {},
            image_models=None if image_models is None else tuple(image_models),
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


def _from_environment(provider: str, variable: str | None, check: Any) -> str | None:
    """The value of ``variable``, checked by ``check``; None when unset or empty."""
    value = os.environ.get(variable) if variable else None
    if not value:
        return None
    try:
        checked: str = check(value)
    except ValueError as exc:
        raise InvalidRequestError(f"{provider}: ${variable}: {exc}") from None
    return checked
