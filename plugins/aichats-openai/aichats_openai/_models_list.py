"""``GET {base_url}/models``: what an endpoint serves, and the model used when none is named.

The list belongs to the endpoint (and to the key: an account may see its own fine-tuned
models), so the provider declares no models of its own and asks the endpoint instead. The
answer is kept for a few minutes per base URL and key, so that calls without a model do not
each cost a round trip.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from aichats_core.errors import InvalidRequestError

from aichats_openai._errors import refuse_unexpected
from aichats_openai._wire import model_ids

if TYPE_CHECKING:
    from aichats_core.http import HttpSession

    from aichats_openai._options import Settings

MODELS_TTL = 300.0
"""Seconds a model list is reused to pick the default model."""
MAX_CACHED = 64
"""Endpoints remembered at once; the oldest is forgotten first."""

_cache: dict[tuple[str, str], tuple[float, tuple[str, ...]]] = {}


def _key(options: Settings) -> tuple[str, str]:
    # A digest, not the credentials themselves: nothing that outlives the call holds a secret.
    # All of them, not only api_key: a service may take its key in a header (Azure's api-key).
    secrets = options.secrets
    digest = hashlib.sha256("\0".join(secrets).encode()).hexdigest()[:32] if secrets else ""
    return (options.base_url, digest)


async def fetch_models(http: HttpSession, options: Settings) -> list[str]:
    """Ask the endpoint for its model ids, in its order, and remember them."""
    async with http.request(
        "GET",
        f"{options.base_url}/models",
        headers=options.headers("application/json"),
        allow_redirects=False,
    ) as response:
        await refuse_unexpected(http.provider, response, ("application/json",))
        payload = await http.read_json(response)
    ids = model_ids(http.provider, payload)
    key = _key(options)
    _cache.pop(key, None)
    _cache[key] = (time.monotonic() + MODELS_TTL, tuple(ids))
    while len(_cache) > MAX_CACHED:
        del _cache[next(iter(_cache))]
    return ids


async def default_model(http: HttpSession, options: Settings) -> str:
    """The first model the endpoint lists (from a recent answer when there is one)."""
    cached = _cache.get(_key(options))
    if cached is not None and cached[0] > time.monotonic():
        ids: list[str] | tuple[str, ...] = cached[1]
    else:
        ids = await fetch_models(http, options)
    if not ids:
        from aichats_core.http import redact

        raise InvalidRequestError(
            f"{http.provider}: no model was given and {redact(options.base_url)}/models lists"
            " none;"
            " pass model='...' with a model the endpoint serves"
        )
    return ids[0]


def forget_models() -> None:
    """Forget every remembered model list, e.g. after an endpoint changed what it serves."""
    _cache.clear()
