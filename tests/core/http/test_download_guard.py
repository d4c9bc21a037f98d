"""Image URLs named by a service stay out of private networks unless allowed.

Unit level: which addresses count as private, and ``download_data_uri`` refusing before it
sends anything. Names are resolved through a patched ``socket.getaddrinfo`` (what the event
loop's resolver calls), so a public-looking name can resolve anywhere without any DNS.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aichats_core.errors import ProviderConnectionError, ResponseFormatError
from aichats_core.http import HttpSession, download_data_uri, is_private_host, new_client_session
from aichats_core.http._addresses import non_public_reason

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:10.0.0.1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("93.184.216.34", None),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_addresses_are_classified(address: str, reason: str | None) -> None:
    assert non_public_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("LocalHost.", True),
        ("api.localhost", True),
        ("[::1]", True),
        ("::1", True),
        ("10.0.0.5", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("ai-chats.org", False),
        ("8.8.8.8", False),
        ("localhost.example.com", False),
        ("intranet.invalid", False),  # names are not resolved: the decision is pure
        ("", False),
    ],
)
def test_whether_an_endpoint_is_private_is_decided_without_dns(host: str, private: bool) -> None:
    assert is_private_host(host) is private


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names to the addresses they resolve to; anything else does not resolve."""
    table: dict[str, list[str]] = {}

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 80))
            for a in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


@pytest.fixture
async def http() -> AsyncIterator[HttpSession]:
    async with HttpSession("acme", timeout=5) as session:
        yield session


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every connection attempted; the test asserts there was none."""
    attempts: list[Any] = []

    def connect(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise AssertionError(f"connected to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    yield attempts
    assert attempts == []


@pytest.mark.usefixtures("no_connections")
@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://127.0.0.1:8080/x.png", "127.0.0.1 is a loopback address"),
        ("http://[::1]/x.png", "::1 is a loopback address"),
        ("http://[::ffff:169.254.169.254]/x.png", "::ffff:a9fe:a9fe is a link-local address"),
        ("http://10.0.0.1/x.png", "10.0.0.1 is a private address"),
        ("http://0.0.0.0:8000/x.png", "0.0.0.0 is an unspecified address"),
        ("http://localhost:8080/x.png", "localhost names the local machine"),
    ],
)
async def test_private_literals_are_refused_before_any_connection(
    http: HttpSession, url: str, named: str
) -> None:
    with pytest.raises(ResponseFormatError) as caught:
        await download_data_uri(http, url)
    message = str(caught.value)
    assert message.startswith("acme: refusing image URL")
    assert named in message
    assert "private networks" in message
    assert "allow_private_image_urls=True" in message


@pytest.mark.usefixtures("no_connections")
@pytest.mark.parametrize(
    ("addresses", "named"),
    [
        (["10.0.0.7"], "intranet.example resolves to 10.0.0.7, a private address"),
        (["93.184.216.34", "127.0.0.1"], "resolves to 127.0.0.1, a loopback address"),
        (["2606:4700::1", "fe80::1"], "resolves to fe80::1, a link-local address"),
    ],
)
async def test_a_name_is_refused_when_any_of_its_addresses_is_private(
    http: HttpSession, resolver: dict[str, list[str]], addresses: list[str], named: str
) -> None:
    resolver["intranet.example"] = addresses
    with pytest.raises(ResponseFormatError, match="allow_private_image_urls=True") as caught:
        await download_data_uri(http, "https://intranet.example/cat.png")
    assert named in str(caught.value)


async def test_a_name_that_does_not_resolve_is_a_connection_error(
    http: HttpSession, resolver: dict[str, list[str]]
) -> None:
    with pytest.raises(ProviderConnectionError, match=r"cannot resolve 'nowhere\.example'"):
        await download_data_uri(http, "http://nowhere.example/cat.png")


@pytest.mark.usefixtures("no_connections")
@pytest.mark.parametrize("allow_private", [False, True])
@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://user:s3cret@127.0.0.1/x.png", "carries credentials"),
        ("http://token@images.example/x.png", "carries credentials"),
        ("ftp://images.example/x.png", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("http:///x.png", "not an http(s) URL"),
        ("http://[::1/x.png", "not a valid URL"),
        ("http://images.example:99999/x.png", "not a valid URL"),
    ],
)
async def test_malformed_or_credentialed_urls_are_refused_even_when_private_is_allowed(
    http: HttpSession, url: str, complaint: str, allow_private: bool
) -> None:
    with pytest.raises(ResponseFormatError, match=re.escape(complaint)) as caught:
        await download_data_uri(http, url, allow_private=allow_private)
    assert "s3cret" not in str(caught.value)


@pytest.fixture
async def image_host() -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback image host with redirects; yields its URL and the paths it was asked for."""
    seen: list[str] = []

    async def image(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(body=PNG, content_type="image/png")

    async def hop(request: web.Request) -> web.Response:
        seen.append(request.path)
        raise web.HTTPFound(request.query["to"])

    async def forever(request: web.Request) -> web.Response:
        seen.append(request.path)
        raise web.HTTPTemporaryRedirect("/forever")

    app = web.Application()
    app.router.add_get("/cat.png", image)
    app.router.add_get("/hop", hop)
    app.router.add_get("/forever", forever)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/"), seen


async def test_a_loopback_image_is_refused_over_a_real_socket_unless_allowed(
    http: HttpSession, image_host: tuple[str, list[str]]
) -> None:
    base, seen = image_host
    with pytest.raises(ResponseFormatError, match=r"127\.0\.0\.1 is a loopback address"):
        await download_data_uri(http, f"{base}/cat.png", allow_private=False)
    assert seen == []  # refused before the request was sent
    uri = await download_data_uri(http, f"{base}/cat.png", allow_private=True)
    assert uri.startswith("data:image/png;base64,")
    assert seen == ["/cat.png"]


async def test_redirects_are_followed_one_vetted_hop_at_a_time(
    http: HttpSession, image_host: tuple[str, list[str]]
) -> None:
    base, seen = image_host
    uri = await download_data_uri(http, f"{base}/hop?to=/hop%3Fto%3D/cat.png", allow_private=True)
    assert uri.startswith("data:image/png;base64,")
    assert seen == ["/hop", "/hop", "/cat.png"]


async def test_a_redirect_to_another_scheme_is_refused(
    http: HttpSession, image_host: tuple[str, list[str]]
) -> None:
    base, _ = image_host
    with pytest.raises(ResponseFormatError, match=r"not an http\(s\) URL"):
        await download_data_uri(http, f"{base}/hop?to=ftp://x.example/cat.png", allow_private=True)


async def test_endless_redirects_are_given_up_on(
    http: HttpSession, image_host: tuple[str, list[str]]
) -> None:
    base, seen = image_host
    with pytest.raises(ResponseFormatError, match="redirected more than 5 times"):
        await download_data_uri(http, f"{base}/forever", allow_private=True)
    assert len(seen) == 6


async def test_a_session_given_by_the_caller_is_guarded_too(
    image_host: tuple[str, list[str]],
) -> None:
    base, seen = image_host
    async with new_client_session() as session:
        http = HttpSession("acme", session=session)
        with pytest.raises(ResponseFormatError, match="loopback"):
            await download_data_uri(http, f"{base}/cat.png")
    assert seen == []


@pytest.mark.usefixtures("no_connections")
@pytest.mark.parametrize("host", ["127.0.0.1.", "169.254.169.254.", "[::1]"])
async def test_a_trailing_dot_does_not_turn_an_address_into_a_name(host: str) -> None:
    from aichats_core.http._download import refuse_private

    with pytest.raises(ResponseFormatError, match="allow_private_image_urls=True"):
        await refuse_private("acme", f"http://{host}/x.png", proxied=True, timeout=1)
