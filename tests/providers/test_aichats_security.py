"""AiChats keeps the image URL a service answers out of private networks, end to end.

A service that looks public is built without leaving loopback: the test forward proxy routes
made-up ``.invalid`` names to 127.0.0.1, so the provider talks to ``ai-chats.invalid`` (not a
private endpoint) while the bytes still come from a local server over real sockets.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from forward_proxy import ForwardProxy
from PIL import Image

import aichats_core
from aichats_core.errors import InvalidOptionError, ResponseFormatError
from providers.aichats._provider import allow_private_images
from providers.aichats.emulator import AiChatsEmulator, Script

PUBLIC = "ai-chats.invalid"


@pytest.mark.parametrize(
    ("site", "option", "allowed"),
    [
        ("https://ai-chats.org", None, False),
        ("http://127.0.0.1:8765", None, True),
        ("http://localhost:8765", None, True),
        ("http://[::1]:8765", None, True),
        ("http://192.168.1.20", None, True),
        ("https://ai-chats.org", True, True),
        ("http://127.0.0.1:8765", False, False),
        ("http://[::1", None, False),  # malformed: the request itself reports it
    ],
)
def test_private_image_urls_are_allowed_only_for_a_private_endpoint_or_on_request(
    site: str, option: bool | None, allowed: bool
) -> None:
    assert allow_private_images(site, option) is allowed


async def test_the_option_must_be_a_boolean(emulator: AiChatsEmulator) -> None:
    with pytest.raises(InvalidOptionError, match=r"allow_private_image_urls.*valid boolean"):
        await aichats_core.complete(
            "aichats", "x", model="dalle", base_url=emulator.url, allow_private_image_urls="yes"
        )
    assert emulator.requests == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_emulator_works_by_default(emulator: AiChatsEmulator, host: str) -> None:
    base_url = emulator.url.replace("127.0.0.1", host)
    uri = await aichats_core.complete("aichats", "a fox", model="dalle", base_url=base_url)
    assert uri.startswith("data:image/png;base64,")
    assert emulator.requests[-1].header("Host", "").startswith(host)


async def test_refusal_can_be_forced_even_for_a_private_endpoint(
    emulator: AiChatsEmulator,
) -> None:
    with pytest.raises(ResponseFormatError, match=r"127\.0\.0\.1 is a loopback address"):
        await aichats_core.complete(
            "aichats", "x", model="dalle", base_url=emulator.url, allow_private_image_urls=False
        )
    assert [r.method for r in emulator.requests] == ["POST"]  # the image was never asked for


@pytest.fixture
async def public_looking(emulator: AiChatsEmulator) -> AsyncIterator[tuple[ForwardProxy, str]]:
    """A proxy routing ``ai-chats.invalid`` to the emulator, and the matching ``base_url``."""
    async with ForwardProxy(routes={PUBLIC: "127.0.0.1"}) as proxy:
        port = emulator.url.rsplit(":", 1)[1]
        yield proxy, f"http://{PUBLIC}:{port}"


async def test_a_public_service_naming_an_image_on_its_own_host_works(
    emulator: AiChatsEmulator, public_looking: tuple[ForwardProxy, str]
) -> None:
    proxy, base_url = public_looking
    uri = await aichats_core.complete(
        "aichats", "a fox", model="dalle", base_url=base_url, proxy=proxy.url
    )
    image = Image.open(io.BytesIO(base64.b64decode(uri.partition(",")[2])))
    assert image.size == (64, 64)
    assert [r.url.split("/")[2] for r in proxy.requests] == [f"{base_url[7:]}"] * 2


@pytest.mark.parametrize(
    ("image_host", "named"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),
        ("10.0.0.8", "10.0.0.8 is a private address"),
        ("localhost", "localhost names the local machine"),
    ],
)
async def test_a_public_service_cannot_send_the_client_into_private_networks(
    emulator: AiChatsEmulator,
    public_looking: tuple[ForwardProxy, str],
    image_host: str,
    named: str,
) -> None:
    proxy, base_url = public_looking
    emulator.script = Script(image_host=image_host)
    with pytest.raises(ResponseFormatError) as caught:
        await aichats_core.complete(
            "aichats", "x", model="dalle", base_url=base_url, proxy=proxy.url
        )
    assert caught.value.provider == "aichats"  # the registered name, not the class
    assert named in str(caught.value)
    assert "allow_private_image_urls=True" in str(caught.value)
    assert [r.method for r in proxy.requests] == ["POST"]
    assert [r.method for r in emulator.requests] == ["POST"]


async def test_the_caller_may_allow_private_image_urls(
    emulator: AiChatsEmulator, public_looking: tuple[ForwardProxy, str]
) -> None:
    proxy, base_url = public_looking
    emulator.script = Script(image_host="127.0.0.1")
    uri = await aichats_core.complete(
        "aichats",
        "x",
        model="dalle",
        base_url=base_url,
        proxy=proxy.url,
        allow_private_image_urls=True,
    )
    assert uri.startswith("data:image/png;base64,")
    assert proxy.requests[-1].url.startswith("http://127.0.0.1:")


@pytest.fixture
async def redirecting_service() -> AsyncIterator[dict[str, Any]]:
    """An AiChats-like service answering ``state["image_url"]``, with a redirecting image host."""
    state: dict[str, Any] = {"seen": []}

    async def api(request: web.Request) -> web.Response:
        return web.json_response({"data": [{"url": state["image_url"]}]})

    async def hop(request: web.Request) -> web.Response:
        state["seen"].append(request.path_qs)
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    app.router.add_post("/chat/send2/", api)
    app.router.add_get("/hop", hop)
    async with TestServer(app, host="127.0.0.1") as server:
        state["port"] = server.port
        yield state


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://127.0.0.1:{port}/hop", "127.0.0.1 is a loopback address"),
        ("http://[::ffff:7f00:1]:{port}/hop", "::ffff:7f00:1 is a loopback address"),
    ],
)
async def test_a_redirect_into_a_private_network_is_refused(
    redirecting_service: dict[str, Any], target: str, named: str
) -> None:
    port = redirecting_service["port"]
    redirecting_service["image_url"] = (
        f"http://cdn.invalid:{port}/hop?to={target.format(port=port)}"
    )
    routes = {PUBLIC: "127.0.0.1", "cdn.invalid": "127.0.0.1"}
    async with ForwardProxy(routes=routes) as proxy:
        with pytest.raises(ResponseFormatError, match="allow_private_image_urls") as caught:
            await aichats_core.complete(
                "aichats", "x", model="dalle", base_url=f"http://{PUBLIC}:{port}", proxy=proxy.url
            )
    assert named in str(caught.value)
    assert [r.url.split("/")[2].split(":")[0] for r in proxy.requests] == [PUBLIC, "cdn.invalid"]
    assert len(redirecting_service["seen"]) == 1  # the first hop only


async def test_credentials_in_an_image_url_are_refused(
    redirecting_service: dict[str, Any],
) -> None:
    port = redirecting_service["port"]
    redirecting_service["image_url"] = f"http://admin:hunter2@127.0.0.1:{port}/cat.png"
    with pytest.raises(ResponseFormatError, match="carries credentials") as caught:
        await aichats_core.complete(
            "aichats", "x", model="dalle", base_url=f"http://127.0.0.1:{port}"
        )
    assert "hunter2" not in str(caught.value)
