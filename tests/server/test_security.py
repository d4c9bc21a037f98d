"""What stands between the API and the rest of the world: the key, the Host guard, the JSON
content type, and how image files and their URLs are served."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from aichats_core import ImageResponse
from aichats_core.errors import InvalidRequestError
from aichats_core.server import create_app
from aichats_core.server._hosts import checked_public_url, parse_host, rebinding_safe
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator

StartServer = Callable[..., Awaitable[str]]
CHAT = {"model": "aichats", "messages": [{"role": "user", "content": "Hi"}]}
IMAGE = {"model": "aichats/dalle", "prompt": "a fox"}


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].split("/")[0])


async def raw(port: int, head: bytes, body: bytes = b"") -> tuple[bytes, bytes]:
    """The status line and body of one request written by hand (``head`` ends before the
    blank line)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        length = b"Content-Length: %d\r\n" % len(body) if body else b""
        writer.write(head + b"\r\nConnection: close\r\n" + length + b"\r\n" + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()
    header, _, payload = data.partition(b"\r\n\r\n")
    return header.split(b"\r\n")[0], payload


async def test_an_authorization_header_that_is_not_utf8_is_a_wrong_key(
    start_server: StartServer,
) -> None:
    port = port_of(await start_server(api_key="s3cret"))
    for value in (b"Bearer \xff\xfe", b"\xff\xfe s3cret", b"Bearer s3cret\xff"):
        status, body = await raw(
            port, b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + value
        )
        assert status == b"HTTP/1.1 401 Unauthorized", value
        assert json.loads(body)["error"]["code"] == "invalid_api_key"
    status, _ = await raw(
        port, b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret"
    )
    assert status == b"HTTP/1.1 200 OK"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_post_must_say_it_is_json(
    base_url: str, http: aiohttp.ClientSession, content_type: str | None
) -> None:
    # A page elsewhere may POST text/plain without a CORS preflight; JSON forces one.
    headers = {"Content-Type": content_type} if content_type else {}
    async with http.post(
        base_url + "/chat/completions",
        data=json.dumps(CHAT).encode(),
        headers={**headers, "Origin": "https://evil.example"},
    ) as response:
        assert response.status == 415
        error = (await response.json())["error"]
    assert error["code"] == "unsupported_media_type"
    async with http.post(
        base_url + "/chat/completions",
        data=json.dumps(CHAT),
        headers={"Content-Type": "application/json; charset=utf-8"},
    ) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8000", True),
        ("[::1]:8000", True),
        ("192.168.1.5", True),  # an IP address cannot be rebound
        ("localhost:8000", True),
        ("LOCALHOST.", True),
        ("app.localhost", True),
        ("evil.example:8000", False),
        ("api.example.com", True),  # the public URL's name
    ],
)
async def test_without_a_key_only_its_own_host_names_are_answered(
    start_server: StartServer, http: aiohttp.ClientSession, host: str, allowed: bool
) -> None:
    base_url = await start_server(public_url="https://api.example.com")
    async with http.get(base_url + "/models", headers={"Host": host}) as response:
        assert response.status == (200 if allowed else 400)
        if not allowed:
            assert (await response.json())["error"]["code"] == "host_not_allowed"


async def test_with_a_key_any_host_name_is_answered(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    base_url = await start_server(api_key="k")
    headers = {"Host": "proxy.example", "Authorization": "Bearer k"}
    async with http.get(base_url + "/models", headers=headers) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("example.com", ("example.com", None)),
        ("example.com:443", ("example.com", 443)),
        ("[::1]:8000", ("[::1]", 8000)),
        ("10.0.0.1", ("10.0.0.1", None)),
        ("x@y", None),
        ("a b", None),
        ("x:99999", None),
        ("[::1", None),
        ("[nothex]", None),
        ("h\u00e9.com", None),
        ("", None),
        ("example.com/path", None),
    ],
)
def test_host_headers_parse_strictly(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert parse_host(value) == parsed


def test_rebinding_safe_hosts() -> None:
    assert rebinding_safe("[::1]", set())
    assert rebinding_safe("myhost", {"myhost"})
    assert not rebinding_safe("myhost", set())


@pytest.mark.parametrize(
    "host", [b"evil example", b"x@y", b"x:99999", b"[::1", b"h\xc3\xa9.com", b"<script>"]
)
async def test_an_invalid_host_is_refused_before_an_image_is_made_and_never_echoed(
    start_server: StartServer, emulator: AiChatsEmulator, host: bytes
) -> None:
    port = port_of(await start_server(api_key="k"))  # with a key, the Host guard is off
    head = (
        b"POST /v1/images/generations HTTP/1.1\r\nHost: "
        + host
        + b"\r\nAuthorization: Bearer k\r\nContent-Type: application/json"
    )
    status, body = await raw(port, head, json.dumps(IMAGE).encode())
    assert status == b"HTTP/1.1 400 Bad Request"
    error = json.loads(body)["error"]
    assert (error["code"], error["param"]) == ("invalid_host", "response_format")
    assert host.decode(errors="replace") not in error["message"]
    assert emulator.requests == []  # nothing was generated for nothing


async def test_image_urls_start_with_the_public_url(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    base_url = await start_server(public_url="https://api.example.com/aichats/")
    async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0, timeout=10) as sdk:
        result = await sdk.images.generate(**IMAGE)
    [image] = result.data or []
    assert image.url is not None
    assert image.url.startswith("https://api.example.com/aichats/v1/images/files/")
    # Served here all the same: the proxy in front maps the prefix away.
    name = image.url.rsplit("/", 1)[1]
    async with http.get(base_url + "/images/files/" + name) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    "url", ["ftp://example.com", "https://user:pw@example.com", "https://x.com/?q=1", "nothing"]
)
def test_a_public_url_must_be_a_plain_http_url(url: str) -> None:
    with pytest.raises(InvalidRequestError, match="public_url"):
        create_app(public_url=url)
    assert checked_public_url("https://api.example.com/") == "https://api.example.com"


async def test_image_files_cannot_run_as_pages(
    client: AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    result = await client.images.generate(**IMAGE)
    [image] = result.data or []
    assert image.url is not None
    async with http.get(image.url) as response:
        assert response.status == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"


async def test_an_svg_is_not_served_from_the_api_origin(client: AsyncOpenAI) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    with registered("pics", ScriptedProvider.script(ImageResponse(images=[uri]))):
        with pytest.raises(openai.InternalServerError) as caught:
            await client.images.generate(model="pics/scripted-image", prompt="x")
        assert (caught.value.status_code, caught.value.code) == (502, "unsupported_image_type")
        assert "b64_json" in caught.value.body["message"]  # type: ignore[index]
        result = await client.images.generate(
            model="pics/scripted-image", prompt="x", response_format="b64_json"
        )
    [image] = result.data or []
    assert base64.b64decode(image.b64_json or "") == svg  # the client's to handle as it likes
