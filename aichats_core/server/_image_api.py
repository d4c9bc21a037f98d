"""``POST /v1/images/generations`` and ``GET /v1/images/files/{name}``.

Each of the ``n`` images is one provider call, run concurrently. A provider that answers an
http(s) URL rather than a ``data:`` URI has it downloaded with the core's guarded downloader,
so a client never has to reach the provider's image host itself.
"""

from __future__ import annotations

import asyncio
import base64
from contextlib import aclosing
from urllib.parse import urlsplit

from aiohttp import web

from aichats_core._models import ImageResponse
from aichats_core.errors import ResponseFormatError
from aichats_core.http import decode_data_uri
from aichats_core.server import _openai
from aichats_core.server._catalog import Target, catalog, default_image_target, resolve
from aichats_core.server._errors import ApiError, bad_request, shutting_down
from aichats_core.server._images import StoredImage, is_http_url
from aichats_core.server._pacing import Tick, paced
from aichats_core.server._request import read_json
from aichats_core.server._state import STATE, ServerState

FILES_PATH = "/v1/images/files/"


async def generations(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ask = _openai.parse_images(await read_json(request))
    target = resolve(ask.model) if ask.model else default_image_target()
    if target is None:
        raise bad_request("no installed provider offers an image model", "model")
    if not target.image:
        image_ids = [entry.id for entry in catalog() if entry.image]
        raise bad_request(
            f"{ask.model!r} is a text model; use POST /v1/chat/completions, or one of the image"
            f" models: {', '.join(image_ids) or '(none)'}",
            "model",
        )
    images = await _generate_all(state, target, ask)
    data = []
    for image in images:
        if ask.response_format == "b64_json":
            data.append({"b64_json": base64.b64encode(image.data).decode("ascii")})
        else:
            name = state.images.put(image.data, image.content_type)
            url = request.url.with_path(FILES_PATH + name).with_query(None)
            data.append({"url": str(url)})
    return web.json_response({"created": _openai.now(), "data": data})


async def image_file(request: web.Request) -> web.Response:
    image = request.app[STATE].images.get(request.match_info["name"])
    if image is None:
        raise ApiError(
            404,
            "no such image: it never existed or was forgotten (the server keeps only the most"
            " recent images; use response_format 'b64_json' to keep them yourself)",
            code="image_not_found",
        )
    return web.Response(
        body=image.data,
        content_type=image.content_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def _generate_all(
    state: ServerState, target: Target, ask: _openai.ImageRequest
) -> list[StoredImage]:
    tasks = [asyncio.ensure_future(_generate(state, target, ask.prompt)) for _ in range(ask.n)]
    try:
        return await asyncio.gather(*tasks)
    finally:
        # One failed: the others are no longer wanted, and their errors are not news.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _generate(state: ServerState, target: Target, prompt: str) -> StoredImage:
    events = state.call(target.provider, prompt, target.model)
    uri = None
    async with aclosing(paced(events, interval=None, closing=state.require_closing())) as items:
        async for item in items:
            if item is Tick.CLOSING:
                raise shutting_down()
            if isinstance(item, ImageResponse) and item.images:
                uri = item.images[0]
                break
    if uri is None:
        raise ResponseFormatError(target.provider, "the provider answered no image")
    if is_http_url(uri):
        uri = await _download(state, target.provider, uri)
    return StoredImage(*decode_data_uri(target.provider, uri))


async def _download(state: ServerState, provider: str, url: str) -> str:
    """The image as a data URI, with the rules of a provider's own download: bounded, images
    only, and private addresses only when the provider itself was pointed at one."""
    from aichats_core.http import DEFAULT_TIMEOUT, HttpSession, download_data_uri, is_private_host

    options = state.options_for(provider)
    base_host = urlsplit(str(options.get("base_url") or "")).hostname or ""
    async with HttpSession(
        provider,
        session=state.require_client().session,
        proxy=options.get("proxy"),
        timeout=options.get("timeout", DEFAULT_TIMEOUT),
    ) as http:
        uri: str = await download_data_uri(http, url, allow_private=is_private_host(base_host))
        return uri
