"""Which addresses are public: the pure half of keeping downloads out of private networks.

A service's answer chooses the image URL, so a hostile or compromised service could point the
client at ``169.254.169.254`` (cloud metadata), a router's admin page or anything listening
on the caller's own machine (server-side request forgery). ``_download`` refuses such URLs
with these answers; nothing here does I/O.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def non_public_reason(address: Address) -> str | None:
    """Why ``address`` is not a public internet address (``"loopback"``...), or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    for reason, applies in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if applies:
            return reason
    # The rest that is neither private nor public, e.g. 100.64.0.0/10 (carrier-grade NAT).
    return None if address.is_global else "not globally routable"


def non_public_kind(address: Address) -> str | None:
    """``"a loopback address"`` and the like for a non-public address, None for a public one."""
    reason = non_public_reason(address)
    if reason is None:
        return None
    if reason.startswith("not "):
        return f"an address that is {reason}"
    return f"{'an' if reason[0] in 'aeiou' else 'a'} {reason} address"


def ip_literal(host: str) -> Address | None:
    """``host`` as an IP address when it is one (``[::1]``, ``fe80::1%eth0``, ``127.0.0.1.``).

    A trailing dot is stripped first: ``127.0.0.1.`` reaches 127.0.0.1, so it must be judged
    as the address, not handed to a resolver (or a proxy) as a name.
    """
    try:
        return ipaddress.ip_address(host.strip("[]").rstrip("."))
    except ValueError:
        return None


def is_loopback_name(host: str) -> bool:
    """``localhost`` and its subdomains, which RFC 6761 reserves for the local machine."""
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


def is_private_host(host: str) -> bool:
    """True for an IP literal outside the public internet, or a ``localhost`` name.

    Pure (no DNS), for deciding whether a provider's own endpoint is local, as the emulator
    is: a service on such an address may name images on it too. A name that resolves to a
    private address (``intranet.example``) is not recognised; its users opt in explicitly.
    """
    if is_loopback_name(host):
        return True
    address = ip_literal(host)
    return address is not None and non_public_reason(address) is not None
