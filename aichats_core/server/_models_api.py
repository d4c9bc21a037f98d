"""``GET /v1/models`` and ``GET /v1/models/{id}``.

Providers that take any model id (an empty ``models``, like the ``openai`` plugin's) list
nothing, but ``provider/<any id>`` works with them, and retrieving one answers it.
"""

from __future__ import annotations

from aiohttp import web

from aichats_core.server._catalog import catalog, resolve
from aichats_core.server._openai import model_object
from aichats_core.server._state import STATE


async def list_models(request: web.Request) -> web.Response:
    created = request.app[STATE].created
    data = [
        model_object(entry.id, created, entry.provider)
        for entry in catalog(request.app[STATE].served)
    ]
    return web.json_response({"object": "list", "data": data})


async def retrieve_model(request: web.Request) -> web.Response:
    """The model under its canonical id: ``AiChats`` is ``aichats/gpt-4``, an alias is the
    model it stands for. Unknown ids get 404."""
    target = resolve(request.match_info["model"], request.app[STATE].served)
    canonical = f"{target.provider}/{target.model}" if target.model else target.provider
    return web.json_response(model_object(canonical, request.app[STATE].created, target.provider))
