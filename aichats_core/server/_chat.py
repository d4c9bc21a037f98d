"""``POST /v1/chat/completions``: one JSON answer, or server-sent ``chat.completion.chunk``s.

A stream commits to HTTP 200 only when there is something to send (the first text, or a
keep-alive after ``keepalive_interval`` of silence): a provider that fails before that gets a
plain JSON error with the right status, which clients can retry. After that, a failure is
sent in-band as ``data: {"error": ...}`` and the stream ends without ``[DONE]``, so a cut
answer never looks complete.
"""

from __future__ import annotations

import json
from contextlib import aclosing
from typing import Any

from aiohttp import web

from aichats_core import ResultStream, TextChunk, Usage
from aichats_core.errors import AiChatsError
from aichats_core.server import _openai
from aichats_core.server._catalog import resolve
from aichats_core.server._errors import (
    ApiError,
    answer_too_large,
    bad_request,
    from_aichats,
    internal_error,
    logger,
    shutting_down,
)
from aichats_core.server._middlewares import began
from aichats_core.server._pacing import Tick
from aichats_core.server._request import read_json
from aichats_core.server._state import STATE, ServerState

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    chat = _openai.parse_chat(await read_json(request))
    target = resolve(chat.model, state.served)
    if target.image:
        raise bad_request(
            f"{chat.model!r} is an image model; use POST /v1/images/generations", "model"
        )
    events = state.call(target.provider, chat.messages, target.model)
    if chat.stream:
        return await _stream(request, state, chat, events)
    return await _complete(request, state, chat, events, target.provider)


async def _complete(
    request: web.Request,
    state: ServerState,
    chat: _openai.ChatRequest,
    events: ResultStream,
    provider: str,
) -> web.StreamResponse:
    """The answer in one piece, collected up to ``max_answer_bytes`` (streams need no bound:
    they are relayed with backpressure). It is kept as the JSON-escaped bytes it is sent as,
    and written piece by piece: the whole answer exists once, not four times."""
    limit = state.limits.max_answer_bytes
    parts: list[bytes] = []
    size = 0
    chars = 0
    reported: tuple[int | None, int | None] = (None, None)
    async with aclosing(state.answer(request, events)) as items:
        async for item in items:
            if isinstance(item, TextChunk):
                escaped = _openai.utf8(json.dumps(item.text, ensure_ascii=False)[1:-1])
                size += len(escaped)
                if size > limit:
                    raise answer_too_large(provider, limit)
                parts.append(escaped)
                chars += len(item.text)
            elif isinstance(item, Usage):
                reported = (item.prompt_tokens, item.completion_tokens)
    used = _openai.usage(chat.messages, chars, reported)
    head, tail = _openai.completion_around_content(
        _openai.completion_id(), _openai.now(), chat.model, used
    )
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(head) + size + len(tail)
    began(response)
    await response.prepare(request)
    await response.write(head)
    for part in parts:
        await response.write(part)
    await response.write(tail)
    await response.write_eof()
    return response


class _EventStream:
    """The SSE response, started on the first thing worth sending."""

    def __init__(self, request: web.Request, chat: _openai.ChatRequest) -> None:
        self.request = request
        self.chat = chat
        self.ident = _openai.completion_id()
        self.created = _openai.now()
        self.response: web.StreamResponse | None = None

    async def begin(self) -> web.StreamResponse:
        if self.response is None:
            response = web.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream; charset=utf-8",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",  # reverse proxies must not hold chunks back
                }
            )
            self.response = response
            began(response)
            await response.prepare(self.request)
            await self.send_chunk({"role": "assistant", "content": ""})
        return self.response

    async def send_chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> None:
        await self.send(
            _openai.chunk(
                self.ident,
                self.created,
                self.chat.model,
                delta,
                finish_reason=finish_reason,
                with_usage=self.chat.include_usage,
            )
        )

    async def send(self, body: dict[str, Any]) -> None:
        response = await self.begin()
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        await response.write(_openai.utf8(f"data: {data}\n\n"))

    async def comment(self) -> None:
        response = await self.begin()
        await response.write(KEEPALIVE)

    async def fail(self, error: ApiError) -> web.StreamResponse:
        """End the stream with an in-band error and without ``[DONE]``."""
        response = await self.begin()
        await self.send(error.body())
        await response.write_eof()
        return response

    async def finish(self, used: dict[str, int]) -> web.StreamResponse:
        await self.send_chunk({}, finish_reason="stop")
        if self.chat.include_usage:
            await self.send(_openai.usage_chunk(self.ident, self.created, self.chat.model, used))
        response = await self.begin()
        await response.write(DONE)
        await response.write_eof()
        return response


async def _stream(
    request: web.Request, state: ServerState, chat: _openai.ChatRequest, events: ResultStream
) -> web.StreamResponse:
    out = _EventStream(request, chat)
    chars = 0
    reported: tuple[int | None, int | None] = (None, None)
    try:
        async with aclosing(state.watch(request, events, keepalive=True)) as items:
            async for item in items:
                if item is Tick.KEEPALIVE:
                    await out.comment()
                elif item is Tick.CLOSING:
                    if out.response is None:
                        raise shutting_down()
                    return await out.fail(shutting_down())
                elif item is Tick.ABANDONED:
                    raise ConnectionResetError("the client went away")
                elif isinstance(item, TextChunk) and item.text:
                    chars += len(item.text)
                    await out.send_chunk({"content": item.text})
                elif isinstance(item, Usage):
                    reported = (item.prompt_tokens, item.completion_tokens)
        return await out.finish(_openai.usage(chat.messages, chars, reported))
    except ConnectionResetError:
        raise  # the client left: nobody to tell (the error middleware ends the request)
    except Exception as exc:  # the stream's boundary, see below
        if out.response is None:
            raise  # nothing sent yet: the error middleware answers with a status
        # The status line is sent: whatever failed, the client learns it in-band, and the
        # stream ends without [DONE]. The provider was closed when the block above exited.
        if isinstance(exc, AiChatsError):
            error = from_aichats(exc)
        else:
            logger.error("internal error in a stream on %s", request.path, exc_info=exc)
            error = internal_error()
        return await out.fail(error)
