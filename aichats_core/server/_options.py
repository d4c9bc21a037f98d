"""The server's settings as text, and the start-up checks of provider options.

``-o aichats.base_url=http://127.0.0.1:8765`` on the command line and ``AICHATS_SERVE_OPTIONS``
for the gunicorn factory share one syntax, and both front ends assemble ``create_app``'s
arguments here, so this module imports nothing heavy: the command line parses with it.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aichats_core import normalize_name, provider_info
from aichats_core.errors import InvalidRequestError

API_KEY_VARIABLE = "AICHATS_API_KEY"
"""The bearer token clients must send; ``--api-key`` wins over it."""
OPTIONS_VARIABLE = "AICHATS_SERVE_OPTIONS"
"""Provider options for the gunicorn factory, as ``"aichats.base_url=... other.key=value"``."""
MAX_CONNECTIONS_VARIABLE = "AICHATS_MAX_CONNECTIONS"
PUBLIC_URL_VARIABLE = "AICHATS_PUBLIC_URL"
LIMIT_VARIABLES = {
    "max_body_bytes": ("AICHATS_MAX_BODY_BYTES", int),
    "head_timeout": ("AICHATS_HEAD_TIMEOUT", float),
    "body_timeout": ("AICHATS_BODY_TIMEOUT", float),
    "max_clients": ("AICHATS_MAX_CLIENTS", int),
    "max_answer_bytes": ("AICHATS_MAX_ANSWER_BYTES", int),
    "max_json_depth": ("AICHATS_MAX_JSON_DEPTH", int),
}
"""The environment variable of each ``ServerLimits`` field, and the type of its value."""

_N = TypeVar("_N", int, float)

CALL_OPTIONS = frozenset({"proxy", "retries"})
"""Options of the call rather than of the provider: the server takes them for every provider."""


def parse_provider_option(text: str) -> tuple[str, str, Any]:
    """``PROVIDER.KEY=VALUE`` as ``(provider, key, value)``.

    VALUE is read as JSON when it parses (``8765``, ``true``, ``null``, ``"quoted"``), else
    it is the string itself, so URLs need no quoting. The provider name ends at the first dot.
    """
    target, separator, raw = text.partition("=")
    provider, dot, key = target.partition(".")
    if not separator or not dot or not provider.strip() or not key.strip():
        # The value is never quoted: it may be a key given in the wrong place.
        shown = f"{target!r}=..." if separator else "without '='"
        raise InvalidRequestError(
            f"option {shown} is not PROVIDER.KEY=VALUE"
            " (e.g. aichats.base_url=http://127.0.0.1:8765)"
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


def app_options(
    *,
    provider_options: Mapping[str, Mapping[str, Any]] | None = None,
    api_key: str | None = None,
    max_connections: int | None = None,
    public_url: str | None = None,
    **limits: float | None,
) -> dict[str, Any]:
    """``create_app``'s keyword arguments; ``None`` (and an empty key) leaves its default.
    ``limits`` are ``ServerLimits`` fields."""
    given = {
        "provider_options": provider_options,
        "api_key": api_key or None,
        "max_connections": max_connections,
        "public_url": public_url or None,
        **limits,
    }
    return {name: value for name, value in given.items() if value is not None}


def app_options_from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """``create_app``'s keyword arguments for the gunicorn factory, from the ``AICHATS_*``
    variables."""
    return app_options(
        provider_options=options_from_environment(environ),
        api_key=environ.get(API_KEY_VARIABLE),
        max_connections=_number(environ, MAX_CONNECTIONS_VARIABLE, int),
        public_url=environ.get(PUBLIC_URL_VARIABLE),
        **{
            field: _number(environ, variable, kind)
            for field, (variable, kind) in LIMIT_VARIABLES.items()
        },
    )


def _number(environ: Mapping[str, str], name: str, kind: Callable[[str], _N]) -> _N | None:
    raw = environ.get(name)
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise InvalidRequestError(f"{name} must be {what}, not {raw!r}") from None


def checked_provider_options(
    provider_options: Mapping[str, Mapping[str, Any]] | None,
) -> dict[str, dict[str, Any]]:
    """Options by normalised provider name, checked now rather than at the first request.

    The provider must be installed (else the close matches are named) and load; each key
    must be an option it declares (its ``Options``) or the core's, with a value of the
    right type (``InvalidOptionError`` otherwise). ``proxy`` and ``retries`` are settings of
    the call, checked here for every provider.
    """
    from aichats_core.options import check_options

    checked: dict[str, dict[str, Any]] = {}
    for name, options in (provider_options or {}).items():
        info = provider_info(name)  # ProviderNotFoundError, with the close matches
        provider = info.load()  # PluginLoadError: the plugin is broken
        if "session" in options:
            raise InvalidRequestError(
                f"{name}.session cannot be set: the server shares its own session"
            )
        _check_shared_values(name, options)
        given = {key: value for key, value in options.items() if key not in CALL_OPTIONS}
        typed = check_options(provider, given, name=info.name)
        call = {key: value for key, value in options.items() if key in CALL_OPTIONS}
        checked.setdefault(normalize_name(name), {}).update({**typed, **call})
    return checked


def _check_shared_values(name: str, options: Mapping[str, Any]) -> None:
    """The values of the call's settings (``proxy``, ``retries``) and of ``base_url``, which
    the provider's ``Options`` types as a string: the rest is the provider's to check."""
    from aichats_core.http import proxy_problem

    proxy, retries = options.get("proxy"), options.get("retries", 0)
    if proxy is not None and not isinstance(proxy, str):
        raise InvalidRequestError(
            f"{name}.proxy must be a URL string, not a {type(proxy).__name__}"
        )
    if proxy and (problem := proxy_problem(proxy)) is not None:
        raise InvalidRequestError(f"{name}.proxy {problem}")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise InvalidRequestError(f"{name}.retries must be an integer >= 0, not {retries!r}")
    base_url = options.get("base_url")
    if base_url is not None and (problem := _url_problem(base_url)) is not None:
        raise InvalidRequestError(f"{name}.base_url {problem}")


def _url_problem(value: object) -> str | None:
    """Why ``value`` is no base URL (the same rules as a proxy's: http or https, a host and
    a port that parse), never quoting it: it may hold credentials."""
    from aichats_core.http import proxy_problem

    if not isinstance(value, str):
        return f"must be a URL string, not a {type(value).__name__}"
    return proxy_problem(value)
