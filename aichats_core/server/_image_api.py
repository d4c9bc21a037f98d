"""``POST /v1/images/generations`` and ``GET /v1/images/files/{name}``.

Each of the ``n`` images is one provider call, run concurrently. A provider that answers an
http(s) URL rather than a ``data:`` URI has it downloaded with the core's guarded downloader,
so a client never has to reach the provider's image host itself.
"""

from __future__ import annotations

import asyncio
import base64
from contextlib import aclosing

from aiohttp import web

from aichats_core._models import ImageResponse
from aichats_core.errors import ResponseFormatError
from aichats_core.http import image_bytes
from aichats_core.server import _openai
from aichats_core.server._catalog import Target, catalog, default_image_target, resolve
from aichats_core.server._errors import ApiError, bad_request, shutting_down
from aichats_core.server._images import StoredImage
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
    options = state.options_for(target.provider)
    session = state.require_client().session
    return StoredImage(*await image_bytes(target.provider, uri, options, session=session))
