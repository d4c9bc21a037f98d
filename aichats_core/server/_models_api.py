"""``GET /v1/models`` and ``GET /v1/models/{id}``.

Providers that take any model id (an empty ``models``, like the ``openai`` plugin's) list
nothing, but ``provider/<any id>`` works with them, and retrieving one answers it. Each model
object also says, beside OpenAI's fields, the provider's declared ``working`` flag and the
``health`` this server measured of that model (``aichats_core.health``; fields OpenAI's
clients ignore).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aichats_core import provider_info
from aichats_core.health import tracker
from aichats_core.server._catalog import catalog, resolve
from aichats_core.server._openai import model_object
from aichats_core.server._state import STATE


async def list_models(request: web.Request) -> web.Response:
    created = request.app[STATE].created
    data = [
        _with_health(model_object(entry.id, created, entry.provider), entry.provider, entry.id)
        for entry in catalog(request.app[STATE].served)
    ]
    return web.json_response({"object": "list", "data": data})


async def retrieve_model(request: web.Request) -> web.Response:
    """The model under its canonical id: ``AiChats`` is ``aichats/gpt-4``, an alias is the
    model it stands for. Unknown ids get 404."""
    target = resolve(request.match_info["model"], request.app[STATE].served)
    canonical = f"{target.provider}/{target.model}" if target.model else target.provider
    found = model_object(canonical, request.app[STATE].created, target.provider)
    return web.json_response(_with_health(found, target.provider, canonical))


def _with_health(model: dict[str, Any], provider: str, ident: str) -> dict[str, Any]:
    name = ident.partition("/")[2]
    model["working"] = provider_info(provider).detail("working")
    model["health"] = tracker().health(provider, name or None).as_json()
    return model
