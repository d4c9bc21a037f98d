"""``POST /v1/images/generations`` and ``GET /v1/images/files/{name}``.

Each of the ``n`` images is one provider call, run concurrently. A provider that answers an
http(s) URL rather than a ``data:`` URI has it downloaded with the core's guarded downloader,
so a client never has to reach the provider's image host itself.
"""

from __future__ import annotations

import asyncio
import base64
import math
from contextlib import aclosing

from aiohttp import web

from aichats_core import ImageResponse
from aichats_core.errors import ResponseFormatError
from aichats_core.http import image_bytes
from aichats_core.server import _openai
from aichats_core.server._catalog import Target, catalog, default_image_target, resolve
from aichats_core.server._errors import ApiError, bad_request
from aichats_core.server._hosts import parse_host
from aichats_core.server._images import FILES_PATH, SERVED_TYPES, StoredImage
from aichats_core.server._middlewares import began
from aichats_core.server._request import read_json
from aichats_core.server._state import STATE, ServerState

FILE_HEADERS = {
    "Cache-Control": "private, max-age=3600",
    # The files come from the API's own origin: never let a browser run one as a page.
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


async def generations(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    ask = _openai.parse_images(await read_json(request))
    target = resolve(ask.model, state.served) if ask.model else default_image_target(state.served)
    if target is None:
        raise bad_request("no installed provider offers an image model", "model")
    if not target.image:
        image_ids = [entry.id for entry in catalog(state.served) if entry.image]
        raise bad_request(
            f"{ask.model!r} is a text model; use POST /v1/chat/completions, or one of the image"
            f" models: {', '.join(image_ids) or '(none)'}",
            "model",
        )
    base = public_base(request) if ask.response_format == "url" else ""  # before paying for it
    async with state.image_slots.take(ask.n):
        images = await _generate_all(request, state, target, ask)
        if ask.response_format == "b64_json":
            return await _send_base64(request, images)
        data = [{"url": base + FILES_PATH + name} for name in _keep(state, target, images)]
        return web.json_response({"created": _openai.now(), "data": data})


async def _send_base64(request: web.Request, images: list[StoredImage]) -> web.StreamResponse:
    """The answer written an image at a time: its base64 exists only while it is sent, and
    the whole body never exists at once."""
    head = b'{"created":%d,"data":[' % _openai.now()
    parts = [b'{"b64_json":"', b'"}']
    encoded_sizes = [4 * math.ceil(len(image.data) / 3) for image in images]
    commas = max(len(images) - 1, 0)
    length = len(head) + sum(encoded_sizes) + len(images) * sum(map(len, parts)) + commas + 2
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = length
    began(response)
    await response.prepare(request)
    await response.write(head)
    for index in range(len(images)):
        image, images[index] = images[index], _SENT  # let each image go once it is sent
        await response.write((b"," if index else b"") + parts[0])
        await response.write(base64.b64encode(image.data))
        del image
        await response.write(parts[1])
    await response.write(b"]}")
    await response.write_eof()
    return response


_SENT = StoredImage(b"", "")


def public_base(request: web.Request) -> str:
    """Where the client reaches this server: ``public_url`` when set, else the scheme and the
    ``Host`` of the request, once that parsed as a host (it is never echoed otherwise)."""
    state = request.app[STATE]
    if state.public_url is not None:
        return state.public_url
    host = request.headers.get("Host", "")
    if parse_host(host) is None:
        raise ApiError(
            400,
            "the Host header is not a valid host[:port], so no image URL can be built from it;"
            " send a valid Host, or ask for response_format 'b64_json'",
            param="response_format",
            code="invalid_host",
        )
    return f"{request.scheme}://{host}"


def _keep(state: ServerState, target: Target, images: list[StoredImage]) -> list[str]:
    """Store the images for their URLs, or refuse before storing any of them."""
    for image in images:
        if image.content_type not in SERVED_TYPES:
            raise ApiError(
                502,
                f"provider {target.provider!r} answered an image of type"
                f" {image.content_type!r}, which this server does not serve from its own address"
                f" (only {', '.join(sorted(SERVED_TYPES))}); ask for response_format 'b64_json'",
                type="api_error",
                code="unsupported_image_type",
                headers={"x-should-retry": "false"},
            )
    size = sum(len(image.data) for image in images)
    if size > state.images.max_bytes:
        raise ApiError(
            400,
            f"the images are {size} bytes, more than the {state.images.max_bytes} bytes this"
            " server keeps for URLs; ask for response_format 'b64_json'",
            param="response_format",
            code="image_too_large",
        )
    return state.images.put_all(images)


async def image_file(request: web.Request) -> web.Response:
    image = request.app[STATE].images.get(request.match_info["name"])
    if image is None:
        raise ApiError(
            404,
            "no such image: it never existed or was forgotten (the server keeps only the most"
            " recent images; use response_format 'b64_json' to keep them yourself)",
            code="image_not_found",
        )
    return web.Response(body=image.data, content_type=image.content_type, headers=FILE_HEADERS)


async def _generate_all(
    request: web.Request, state: ServerState, target: Target, ask: _openai.ImageRequest
) -> list[StoredImage]:
    tasks = [
        asyncio.ensure_future(_generate(request, state, target, ask.prompt)) for _ in range(ask.n)
    ]
    try:
        return await asyncio.gather(*tasks)
    finally:
        # One failed: the others are no longer wanted, and their errors are not news.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _generate(
    request: web.Request, state: ServerState, target: Target, prompt: str
) -> StoredImage:
    events = state.call(target.provider, prompt, target.model)
    uri = None
    async with aclosing(state.answer(request, events)) as items:
        async for item in items:
            if isinstance(item, ImageResponse) and item.images:
                uri = item.images[0]
                break
    if uri is None:
        raise ResponseFormatError(target.provider, "the provider answered no image")
    options = state.options_for(target.provider)
    session = state.require_client().session
    return StoredImage(*await image_bytes(target.provider, uri, options, session=session))
