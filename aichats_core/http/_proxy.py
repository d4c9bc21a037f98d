"""Which proxy a request goes through, and keeping proxy credentials out of every message.

aiohttp's ``trust_env=True`` looks the environment up on every request, through a thread,
which more than doubles the cost of short calls. Reading ``HTTP(S)_PROXY``/``NO_PROXY`` once
per session keeps the behaviour users expect without that cost.
"""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """Hide ``user:password@`` in any URL inside ``text``."""
    return _CREDENTIALS.sub("***@", text)


@dataclass(frozen=True)
class ProxySettings:
    """A snapshot of the proxy environment, taken once per session."""

    proxies: dict[str, str]

    @classmethod
    def from_environment(cls) -> ProxySettings:
        return cls(urllib.request.getproxies_environment())

    def proxy_for(self, url: str, explicit: str | None = None) -> str | None:
        """The explicit proxy, else the environment's for ``url`` unless NO_PROXY matches."""
        if explicit:
            return explicit
        if not self.proxies:
            return None
        parts = urlsplit(url)
        proxy = self.proxies.get(parts.scheme)
        if proxy is None or self._bypassed(parts.hostname or "", parts.port):
            return None
        return proxy

    def _bypassed(self, host: str, port: int | None) -> bool:
        """NO_PROXY as curl and urllib read it: ``*``, host names, ``.suffix``, ``host:port``."""
        for entry in self.proxies.get("no", "").split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return True
            name, _, entry_port = entry.partition(":")
            if entry_port and str(port) != entry_port:
                continue
            name = name.lstrip(".")
            if host == name or host.endswith("." + name):
                return True
        return False
