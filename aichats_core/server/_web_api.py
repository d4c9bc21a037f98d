"""The chat page's JSON API, under ``/v1/aichats/``, behind the same bearer key as the rest.

- ``GET providers``: the providers served, their models and measured health;
- ``GET conversations?q=&limit=``, ``GET conversations/{id}``, ``DELETE conversations/{id}``:
  the history ``aichats logs`` reads (the SQLite file under ``AICHATS_HOME``);
- ``POST chat``: one turn of a conversation, as server-sent events of JSON objects
  (``conversation``, ``text``, ``image``, then ``finish`` with the fallback trail, or
  ``error``), recorded in that history. A client that leaves stops the provider, and the
  partial answer is kept as an interrupted turn.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from aiohttp import web

from aichats_core import Finish, ImageResponse, TextChunk, provider_info
from aichats_core.errors import (
    AiChatsError,
    InvalidRequestError,
    ProviderUnavailableError,
    RateLimitError,
)
from aichats_core.health import tracker
from aichats_core.history import HistoryStore
from aichats_core.redaction import Scrubber
from aichats_core.server._catalog import catalog, resolve
from aichats_core.server._chat import event_stream, in_band
from aichats_core.server._errors import ApiError, bad_request, shutting_down
from aichats_core.server._middlewares import began
from aichats_core.server._pacing import Tick
from aichats_core.server._request import read_json
from aichats_core.server._state import STATE, ServerState

if TYPE_CHECKING:
    from aichats_core import Conversation

PREFIX = "/v1/aichats/"
_scrub = Scrubber()
_LIMIT = 50


async def providers(request: web.Request) -> web.Response:
    """What the picker offers: each provider served, with its models and their health."""
    measured = tracker()
    found: dict[str, dict[str, Any]] = {}
    for entry in catalog(request.app[STATE].served):
        model = entry.id.partition("/")[2]
        row = found.get(entry.provider)
        if row is None:
            row = found[entry.provider] = {
                "name": entry.provider,
                "working": provider_info(entry.provider).detail("working"),
                "health": measured.health(entry.provider).as_json(),
                "models": [],
            }
        row["models"].append(
            {
                "id": entry.id,
                "model": model,
                "image": entry.image,
                "health": measured.health(entry.provider, model).as_json(),
            }
        )
    return web.json_response({"providers": list(found.values())})


async def conversations(request: web.Request) -> web.Response:
    store = _history(request.app[STATE])
    text = request.query.get("q", "").strip()
    limit = _limit(request.query.get("limit"))
    if text:
        found = await asyncio.to_thread(store.search, text, limit)
    else:
        found = await asyncio.to_thread(store.conversations, limit)
    return web.json_response({"conversations": [summary.to_json() for summary in found]})


async def conversation(request: web.Request) -> web.Response:
    store = _history(request.app[STATE])
    record = await asyncio.to_thread(_found, store, request.match_info["id"])
    return web.json_response(record.to_json())


async def forget(request: web.Request) -> web.Response:
    store = _history(request.app[STATE])
    ident = request.match_info["id"]
    await asyncio.to_thread(_removed, store, ident)
    return web.Response(status=204)


async def chat(request: web.Request) -> web.StreamResponse:
    """One turn: validated before the stream begins (a bad model or body is a 4xx), then
    relayed as events; the turn is recorded when it ends, cut short or not."""
    state = request.app[STATE]
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    model, prompt = _text(body, "model"), _text(body, "prompt")
    ident, system = _optional(body, "conversation_id"), _optional(body, "system")
    target = resolve(model, state.served)
    options = dict(state.options_for(target.provider))
    proxy, retries = options.pop("proxy", None), options.pop("retries", None)
    if ident is not None:
        _history(state)  # continuing needs the history: 404 history_off without it
    client = state.web_client or state.require_client()  # without history, turns go unrecorded

    def start() -> Conversation:  # reads the history: SQLite, off the loop
        try:
            return client.conversation(
                target.provider, model=target.model, system=system, id=ident, proxy=proxy,
                retries=retries, provider_options={target.provider: options},
            )  # fmt: skip
        except InvalidRequestError as exc:  # an unknown id: a 404 now, not mid-stream
            raise _no_conversation(str(exc), "conversation_id") from None

    talk = await asyncio.to_thread(start)
    events = talk.stream(prompt, keep_partial=True)
    response = event_stream()
    began(response)
    await response.prepare(request)
    await _send(response, {"type": "conversation", "id": talk.id})
    received: list[str] = []
    try:
        async with aclosing(state.watch(request, events, keepalive=True)) as items:
            async for item in items:
                if item is Tick.KEEPALIVE:
                    await response.write(b": keep-alive\n\n")
                elif item is Tick.CLOSING:  # the server shuts down: the turn is cut, and said so
                    await _send(response, _error(request, shutting_down(), received))
                    break
                elif isinstance(item, Tick):
                    break  # the client left (Stop): nobody to tell; the turn is kept, cut
                elif isinstance(item, ImageResponse) and _remote(item):
                    await _send(response, await _kept_image(state, target.provider, item))
                else:
                    await _send(response, _event(item, received))
    except (AiChatsError, ApiError) as exc:
        await _send(response, _error(request, exc, received))
    except Exception as exc:  # noqa: BLE001 - a bug: logged by in_band, told as a 500 would be
        await _send(response, _error(request, exc, received))
    finally:
        await events.aclose()
        await client.flush_history()  # the next turn, or a reload, reads it back
    return response


def _event(event: Any, received: list[str]) -> dict[str, Any]:
    if isinstance(event, TextChunk):
        received.append(event.text)
        return {"type": "text", "text": event.text}
    if isinstance(event, ImageResponse):
        return {"type": "image", "url": event.images[0] if event.images else ""}
    if isinstance(event, Finish):
        trail = [  # the server's logs have the details; the page gets them scrubbed
            {"provider": f.provider, "error": f.error, "message": _scrub(f.message)[:300]}
            for f in event.failures
        ]
        return {
            "type": "finish",
            "provider": event.provider,
            "model": event.model,
            "reason": event.reason,
            "failures": trail,
        }
    return {"type": type(event).__name__.lower()}  # usage, tool calls: named, not shown


def _remote(image: ImageResponse) -> bool:
    return bool(image.images) and image.images[0].startswith(("http://", "https://"))


async def _kept_image(state: ServerState, provider: str, image: ImageResponse) -> dict[str, Any]:
    """An image the provider answered as a URL, fetched (with the provider's download rules)
    and kept by this server: the page's CSP shows images from its own origin only, and a
    download link works only there."""
    from aichats_core.http import image_bytes
    from aichats_core.server._images import FILES_PATH, SERVED_TYPES

    options = state.options_for(provider)
    data, kind = await image_bytes(
        provider, image.images[0], options, session=state.require_client().session
    )
    if kind not in SERVED_TYPES:
        from aichats_core.errors import ResponseFormatError

        raise ResponseFormatError(provider, f"the image is {kind!r}, which the page cannot show")
    return {"type": "image", "url": FILES_PATH + state.images.put(data, kind)}


def _error(request: web.Request, exc: Exception, received: list[str]) -> dict[str, Any]:
    """A failure as the page shows it: the server's own wording (no upstream detail, no
    credentials), when to retry, and the text that came before."""
    retry_after = (
        exc.retry_after if isinstance(exc, RateLimitError | ProviderUnavailableError) else None
    )
    return {
        "type": "error",
        "error": type(exc).__name__ if isinstance(exc, AiChatsError) else "ServerError",
        "message": exc.message if isinstance(exc, ApiError) else in_band(request, exc).message,
        "retry_after": retry_after,
        "partial_text": "".join(received),
    }


async def _send(response: web.StreamResponse, event: dict[str, Any]) -> None:
    line = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    await response.write(f"data: {line}\n\n".encode())


def _history(state: ServerState) -> HistoryStore:
    if state.history is None:
        raise ApiError(
            404,
            "this server keeps no history (AICHATS_HISTORY=0); conversations are not recorded",
            code="history_off",
        )
    return state.history


def _found(store: HistoryStore, ident: str) -> Any:
    try:
        return store.conversation(ident)
    except InvalidRequestError as exc:
        raise _no_conversation(str(exc), "id") from None


def _removed(store: HistoryStore, ident: str) -> None:
    """Delete by the whole id only: a prefix (which reading accepts) must not delete."""
    if _found(store, ident).id != ident:
        raise _no_conversation(f"no conversation {ident!r}", "id")
    store.remove(ident)


def _no_conversation(message: str, param: str) -> ApiError:
    """A 404 for an unknown conversation, its message without the history's file path."""
    public = message.split(" in the history at ", 1)[0]
    return ApiError(404, public, param=param, code="conversation_not_found")


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"'{name}' must be a non-empty string", name)
    return value


def _optional(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string or null", name)
    return value or None


def _limit(raw: str | None) -> int:
    if raw is None:
        return _LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise bad_request("'limit' must be a whole number from 1 to 500", "limit")
    return int(raw)
