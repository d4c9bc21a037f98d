"""The ``Host`` a request was sent to: checked against DNS rebinding, and turned into the
public address of the image URLs.

A ``Host`` header is whatever the client wrote, so nothing is built from it before it parsed
as ``name[:port]``, ``IPv4[:port]`` or ``[IPv6][:port]``, and an invalid one is never echoed.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection

from yarl import URL

from aichats_core.errors import InvalidRequestError

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST = re.compile(
    rf"(?P<host>\[[0-9A-Fa-f:.]+\]|{_LABEL}(?:\.{_LABEL})*\.?)(?::(?P<port>[0-9]{{1,5}}))?"
)
_LOOPBACK_NAMES = ("localhost", "localhost.")


def parse_host(value: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a ``Host`` header (an IPv6 host keeps its brackets), or None
    when it is not a valid one: user info, spaces, non-ASCII, a port over 65535...

    >>> parse_host("[::1]:8000"), parse_host("x@y")
    (('[::1]', 8000), None)
    """
    match = _HOST.fullmatch(value)
    if match is None:
        return None
    host, port = match["host"], match["port"]
    if port is not None and int(port) > 65535:
        return None
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    elif len(host) > 253:
        return None
    return host, None if port is None else int(port)


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def rebinding_safe(host: str, names: Collection[str]) -> bool:
    """Whether a request for ``host`` (from ``parse_host``) cannot be a DNS rebinding attack.

    A rebinding page reaches the server under the attacker's domain name, so IP literals are
    safe, and so are ``localhost`` and the names the server was told it is reached by.
    """
    lowered = host.lower()
    return (
        is_ip_literal(host)
        or lowered in _LOOPBACK_NAMES
        or lowered.rstrip(".").endswith(".localhost")
        or lowered.rstrip(".") in names
    )


def checked_public_url(value: str) -> str:
    """A ``public_url`` option (``https://api.example.com``, maybe with a path prefix) without
    its trailing slash, or ``InvalidRequestError``."""
    try:
        url = URL(value)
        url.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        url = None
    if (
        url is None
        or url.scheme not in ("http", "https")
        or not url.host
        or url.user is not None
        or url.query_string
        or url.fragment
    ):
        raise InvalidRequestError(
            f"public_url must be an http(s) URL such as https://api.example.com (no user, query"
            f" or fragment), not {value!r}"
        )
    return str(url).rstrip("/")
