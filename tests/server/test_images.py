"""``POST /v1/images/generations`` with ``b64_json`` and ``url``, through the official client."""

from __future__ import annotations

import base64
import io
from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI
from PIL import Image

from aichats_core import ImageResponse
from aichats_core.server import create_app
from aichats_core.server._images import ImageStore, StoredImage
from aichats_core.server._state import STATE
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats._images import draw
from providers.aichats.emulator import AiChatsEmulator, Script

StartServer = Callable[..., Awaitable[str]]


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


async def test_b64_json_is_the_png_the_provider_drew(
    client: AsyncOpenAI, emulator: AiChatsEmulator
) -> None:
    result = await client.images.generate(
        model="aichats/dalle", prompt="a red fox", response_format="b64_json", size="256x256"
    )
    [image] = result.data or []
    assert image.b64_json is not None
    assert png_size(base64.b64decode(image.b64_json)) == (64, 64)
    assert result.created > 0
    assert emulator.requests[0].json["messagesHistory"][0]["content"] == "a red fox"


async def test_url_images_are_served_without_credentials(
    start_server: StartServer, http: aiohttp.ClientSession
) -> None:
    base_url = await start_server(api_key="s3cret")
    async with AsyncOpenAI(base_url=base_url, api_key="s3cret", max_retries=0, timeout=10) as sdk:
        result = await sdk.images.generate(model="aichats/dalle", prompt="a fox", n=2)
    urls = [image.url for image in result.data or []]
    assert len(set(urls)) == 2
    for url in urls:
        assert url is not None
        assert url.startswith(base_url + "/images/files/")
        async with http.get(url) as response:  # a browser fetches it without the key
            assert response.status == 200
            assert response.content_type == "image/png"
            assert png_size(await response.read()) == (64, 64)


async def test_the_model_defaults_to_the_first_image_model(
    client: AsyncOpenAI, emulator: AiChatsEmulator
) -> None:
    result = await client.images.generate(prompt="a fox", response_format="b64_json")
    assert result.data
    assert emulator.requests[0].json["type"] == "image"


async def test_a_text_model_or_too_many_images_is_a_400(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="aichats/dalle") as caught:
        await client.images.generate(model="aichats/gpt-4", prompt="a fox")
    assert caught.value.param == "model"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(model="aichats/dalle", prompt="a fox", n=5)
    assert caught.value.param == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(model="aichats/dalle", prompt=" ")
    assert caught.value.param == "prompt"


async def test_an_upstream_failure_is_a_502(client: AsyncOpenAI, emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(malformed="no_url"))
    with pytest.raises(openai.InternalServerError) as caught:
        await client.images.generate(model="aichats/dalle", prompt="a fox")
    assert (caught.value.status_code, caught.value.code) == (502, "upstream_error")


async def test_an_image_url_from_the_provider_is_downloaded(start_server: StartServer) -> None:
    png = draw("png", 8, 8)

    async def picture(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    host = web.Application()
    host.router.add_get("/p.png", picture)
    async with TestServer(host, host="127.0.0.1") as image_host:
        origin = str(image_host.make_url("")).rstrip("/")
        provider = ScriptedProvider.script(
            ImageResponse(images=[f"{origin}/p.png"]), options={"base_url": None}
        )
        with registered("pictures", provider):
            # The provider was pointed at a local host, so a local image URL is allowed.
            base_url = await start_server(provider_options={"pictures": {"base_url": origin}})
            async with AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0) as sdk:
                result = await sdk.images.generate(
                    model="pictures/scripted-image", prompt="x", response_format="b64_json"
                )
    [image] = result.data or []
    assert image.b64_json is not None
    assert base64.b64decode(image.b64_json) == png


def test_the_store_forgets_the_least_recently_used_image_first() -> None:
    store = ImageStore(max_images=2, max_bytes=10)
    first = store.put(b"1234", "image/png")
    second = store.put(b"5678", "image/jpeg")
    assert second.endswith(".jpg")
    assert store.get(first) is not None  # now the most recently used
    third = store.put(b"9", "image/png")
    assert store.get(second) is None
    assert store.get(first) is not None
    store.put(b"0123456789", "image/png")  # alone fills the byte budget
    assert store.get(first) is None
    assert store.get(third) is None
    assert len(store) == 1


def test_the_store_refuses_what_it_could_not_keep() -> None:
    store = ImageStore(max_images=2, max_bytes=10)
    kept = store.put(b"1234", "image/png")
    with pytest.raises(ValueError, match="do not fit"):
        store.put(b"0123456789A", "image/png")
    with pytest.raises(ValueError, match="do not fit"):
        store.put_all([StoredImage(b"1", "image/png")] * 3)
    with pytest.raises(ValueError, match="not 'image/svg\\+xml'"):
        store.put(b"<svg/>", "image/svg+xml")
    assert store.get(kept) is not None  # a refusal evicts nothing
    one, two = store.put_all([StoredImage(b"12345", "image/png")] * 2)
    assert store.get(one) is not None  # one answer's images never push each other out
    assert store.get(two) is not None


async def test_images_over_the_stores_budget_are_refused_not_dead_urls(
    emulator: AiChatsEmulator,
) -> None:
    app = create_app(provider_options={"aichats": emulator.provider_options()})
    app[STATE].images = ImageStore(max_bytes=100)  # the emulator's PNG is bigger
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key="k", max_retries=0) as sdk,
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.images.generate(model="aichats/dalle", prompt="x")
        assert (caught.value.code, caught.value.param) == ("image_too_large", "response_format")
        assert len(app[STATE].images) == 0
        result = await sdk.images.generate(
            model="aichats/dalle", prompt="x", response_format="b64_json"
        )
    assert (result.data or [])[0].b64_json


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"stream": True}, "stream"),
        ({"partial_images": 2}, "partial_images"),
        ({"output_format": "webp"}, "output_format"),
    ],
)
async def test_what_images_cannot_do_is_a_400_naming_the_field(
    client: AsyncOpenAI, emulator: AiChatsEmulator, fields: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.images.generate(model="aichats/dalle", prompt="x", extra_body=fields)
    assert caught.value.param == param
    assert emulator.requests == []
