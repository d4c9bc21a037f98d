"""Which proxy a request goes through, and keeping proxy credentials out of every message.

aiohttp's ``trust_env=True`` looks the environment up on every request, through a thread,
which more than doubles the cost of short calls. Reading ``HTTP(S)_PROXY``/``NO_PROXY`` once
per session keeps the behaviour users expect without that cost.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from aichats_core.http._addresses import Address, ip_literal, is_loopback_name

# ``user:password@`` after ``scheme://`` (up to the last "@" of the authority, so a password
# with a raw "@" is hidden whole), or a bare ``user:password@host`` given without a scheme.
_CREDENTIALS = re.compile(r"(?<=://)[^/?#\s]*@|(?<![^\s'\"(<\[=,])[^/@\s:'\"]+:[^/\s'\"]*@")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def redact(text: str) -> str:
    """Hide ``user:password@`` in any URL inside ``text``."""
    return _CREDENTIALS.sub("***@", text)


def proxy_problem(proxy: str) -> str | None:
    """Why aiohttp cannot use ``proxy``, or None. Never quotes the value: it may hold a password."""
    if "://" not in proxy:
        return "is not a URL such as http://host:3128"
    try:
        parts = urlsplit(proxy)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        scheme = f" {parts.scheme!r}," if parts.scheme.isalnum() else ""
        return f"has the scheme{scheme} which aiohttp cannot use (only http:// and https://)"
    if not parts.hostname:
        return "names no host"
    return None


@dataclass(frozen=True, repr=False)
class ProxySettings:
    """A snapshot of the proxy environment, taken once per session.

    The ``proxy`` option wins over the environment; ``NO_PROXY`` only narrows the environment's
    proxies, as in urllib and requests.
    """

    proxies: dict[str, str]

    @classmethod
    def from_environment(cls) -> ProxySettings:
        return cls(urllib.request.getproxies_environment())

    def __repr__(self) -> str:
        shown = {scheme: redact(value) for scheme, value in self.proxies.items()}
        return f"ProxySettings(proxies={shown!r})"

    def proxy_for(self, url: str) -> str | None:
        """The environment's proxy for ``url``, unless NO_PROXY matches it."""
        if not self.proxies:
            return None
        parts = urlsplit(url)
        proxy = self.proxies.get(parts.scheme)
        if proxy is None:
            return None
        try:
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return proxy  # a malformed URL fails in aiohttp with its own message
        if self._bypassed((parts.hostname or "").rstrip("."), port):
            return None
        return proxy

    def _bypassed(self, host: str, port: int | None) -> bool:
        """NO_PROXY as curl reads it: ``*``, names and their subdomains (``.suffix`` too),
        IP addresses, CIDR ranges, ``[IPv6]``, each with an optional ``:port``.

        ``localhost`` and the loopback addresses stand for each other: whoever excludes one
        means the local machine, which a remote proxy cannot reach on the caller's behalf.
        """
        host_ip = ip_literal(host)
        for entry in self.proxies.get("no", "").split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return True
            name, entry_port = _split_port(entry)
            if entry_port is not None and entry_port != port:
                continue
            if _matches(host, host_ip, name.rstrip(".")):
                return True
        return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port``, ``v6`` (a bare IPv6 has no port)."""
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        name, _, port = entry.partition(":")
    else:
        name, port = entry, ""
    return name, int(port) if port.isdigit() else None


def _matches(host: str, host_ip: Address | None, name: str) -> bool:
    if "/" in name:
        try:
            network = ipaddress.ip_network(name, strict=False)
        except ValueError:
            return False
        return host_ip is not None and host_ip.version == network.version and host_ip in network
    entry_ip = ip_literal(name)
    if entry_ip is not None and host_ip is not None:
        return entry_ip == host_ip
    if entry_ip is not None or host_ip is not None:  # an address against a name
        return _is_loopback(host, host_ip) and _is_loopback(name, entry_ip)
    name = name.lstrip(".")
    return host == name or host.endswith("." + name)


def _is_loopback(name: str, address: Address | None) -> bool:
    return address.is_loopback if address is not None else is_loopback_name(name)
