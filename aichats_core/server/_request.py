"""Reading a request body: bounded by the app's ``client_max_size``, JSON or a 400."""

from __future__ import annotations

import json

from aiohttp import web

from aichats_core.server._errors import bad_request


async def read_json(request: web.Request) -> object:
    """The parsed body. Over the size limit, aiohttp raises 413, which the error middleware
    turns into an OpenAI-style body."""
    raw = await request.read()
    try:
        return json.loads(raw)
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
        raise bad_request(
            "we could not parse the JSON body of your request; send a JSON object"
        ) from None
