"""Image generation: ``POST {base_url}/images/generations``, answered as an ``ImageResponse``.

The image comes back inline (``b64_json``), so the caller gets a ``data:`` URI that needs no
second request and does not expire; a service that answers a URL anyway has it passed on as
it is (``aichats image`` and the server download it with the core's rules).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aichats_core.errors import InvalidRequestError, ResponseFormatError

from aichats_openai._errors import quote, refuse_unexpected
from aichats_openai._wire import with_extra

if TYPE_CHECKING:
    from aichats_core import ImageResponse
    from aichats_core.http import HttpSession
    from aichats_core.types import Messages

    from aichats_openai._options import Settings

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"RIFF", "image/webp"),  # RIFF....WEBP: the only RIFF an image service answers
)
_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg", "webp": "image/webp"}
INLINE_ONLY_PREFIX = "gpt-image-"
"""OpenAI's GPT image models always answer ``b64_json`` and refuse ``response_format``."""


def image_body(model: str, messages: Messages, extra_body: Mapping[str, Any]) -> dict[str, Any]:
    """One image of the last message's text; ``extra_body`` (``size``, ``quality``...) over it."""
    prompt = messages[-1].text.strip() if messages else ""
    if not prompt:
        raise InvalidRequestError(
            f"image model {model!r}: the last message has no text to draw an image from"
        )
    body: dict[str, Any] = {"model": model, "prompt": prompt, "n": 1}
    if not model.startswith(INLINE_ONLY_PREFIX):
        body["response_format"] = "b64_json"
    return with_extra(body, extra_body)


async def generate_image(
    http: HttpSession, options: Settings, model: str, messages: Messages
) -> ImageResponse:
    from aichats_core import ImageResponse

    body = image_body(model, messages, options.extra_body)
    async with http.request(
        "POST",
        f"{options.base_url}/images/generations",
        json=body,
        headers=options.headers("application/json"),
        allow_redirects=False,
    ) as response:
        await refuse_unexpected(http.provider, response, ("application/json",))
        payload = await http.read_json(response)
    return ImageResponse(images=[image_uri(http.provider, payload)], alt=body["prompt"])


def image_uri(provider: str, payload: object) -> str:
    """``data[0]`` of an images answer as a ``data:`` URI (``b64_json``), or its ``url``."""
    data = payload.get("data") if isinstance(payload, Mapping) else None
    first = data[0] if isinstance(data, list) and data else None
    if not isinstance(first, Mapping):
        raise ResponseFormatError(
            provider, f"the images answer has no 'data' list of images: {quote(payload)}"
        )
    inline = first.get("b64_json")
    if isinstance(inline, str) and inline:
        assert isinstance(payload, Mapping)
        return f"data:{_mime(provider, inline, payload.get('output_format'))};base64,{inline}"
    url = first.get("url")
    if isinstance(url, str) and url:
        return url
    raise ResponseFormatError(
        provider, f"the images answer has neither b64_json nor url in data[0]: {quote(payload)}"
    )


def _mime(provider: str, inline: str, output_format: object) -> str:
    """The type the service names (``output_format``), else the one its first bytes say."""
    if isinstance(output_format, str) and output_format.lower() in _FORMATS:
        return _FORMATS[output_format.lower()]
    try:
        head = base64.b64decode(inline[:16], validate=True)
    except (binascii.Error, ValueError):
        raise ResponseFormatError(
            provider, f"the images answer's b64_json is not base64: {quote(inline)}"
        ) from None
    return next((mime for magic, mime in _MAGIC if head.startswith(magic)), "image/png")
