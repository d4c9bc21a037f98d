"""``POST /v1/chat/completions``: one JSON answer, or server-sent ``chat.completion.chunk``s.

A stream commits to HTTP 200 only when there is something to send (the first text, or a
keep-alive after ``keepalive_interval`` of silence): a provider that fails before that gets a
plain JSON error with the right status, which clients can retry. After that, a failure is
sent in-band as ``data: {"error": ...}`` and the stream ends without ``[DONE]``, so a cut
answer never looks complete.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from aiohttp import web

from aichats_core import Finish, ResultStream, TextChunk, ToolCall, Usage
from aichats_core.errors import AiChatsError, CapabilityError
from aichats_core.server import _openai
from aichats_core.server._catalog import resolve
from aichats_core.server._errors import (
    ApiError,
    answer_too_large,
    bad_request,
    from_aichats,
    incapable,
    internal_error,
    logger,
    shutting_down,
)
from aichats_core.server._merge import merged
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
    calls = start_calls(state, target.provider, target.model, chat.messages, chat.features, chat.n)
    events: AsyncIterator[Any] = calls[0] if chat.n == 1 else merged(calls)
    if chat.stream:
        return await _stream(request, state, chat, events)
    return await _complete(request, state, chat, events, target.provider)


def start_calls(
    state: ServerState,
    provider: str,
    model: str,
    messages: list[dict[str, Any]],
    features: dict[str, Any],
    n: int,
) -> list[ResultStream]:
    """``n`` calls, not yet started; a provider that cannot take what the request needs is a
    400 naming the parameter (checked by the core, before any network)."""
    try:
        return [state.call(provider, messages, model, features) for _ in range(n)]
    except CapabilityError as exc:
        raise incapable(exc, features) from None


def event_stream() -> web.StreamResponse:
    """An SSE response, not yet prepared."""
    return web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # reverse proxies must not hold chunks back
        }
    )


def in_band(request: web.Request, exc: Exception) -> ApiError:
    """What a stream that began tells its client of ``exc``, in-band."""
    if isinstance(exc, AiChatsError):
        return from_aichats(exc)
    logger.error("internal error in a stream on %s", request.path, exc_info=exc)
    return internal_error()


def indexed(item: Any, n: int) -> tuple[int, Any]:
    """The choice an event belongs to and the event (merged streams carry their index)."""
    return (0, item) if n == 1 else item


async def _complete(
    request: web.Request,
    state: ServerState,
    chat: _openai.ChatRequest,
    events: AsyncIterator[Any],
    provider: str,
) -> web.StreamResponse:
    """The answer in one piece, collected up to ``max_answer_bytes`` (streams need no bound:
    they are relayed with backpressure). It is kept as the JSON-escaped bytes it is sent as,
    and written piece by piece: the whole answer exists once, not four times."""
    limit = state.limits.max_answer_bytes
    choices = [_openai.Choice() for _ in range(chat.n)]
    size = 0
    reported: tuple[int | None, int | None] = (None, None)
    async with aclosing(state.answer(request, events)) as items:
        async for item in items:
            index, event = indexed(item, chat.n)
            choice = choices[index]
            if isinstance(event, TextChunk):
                escaped = _openai.utf8(json.dumps(event.text, ensure_ascii=False)[1:-1])
                size += len(escaped)
                if size > limit:
                    raise answer_too_large(provider, limit)
                choice.parts.append(escaped)
                choice.chars += len(event.text)
            elif isinstance(event, ToolCall):
                size += len(event.arguments)
                if size > limit:
                    raise answer_too_large(provider, limit)
                choice.calls.append(event)
            elif isinstance(event, Finish):
                choice.reason = event.reason
            elif isinstance(event, Usage):
                reported = _openai.add_usage(reported, event)
    chars = sum(choice.chars + sum(len(c.arguments) for c in choice.calls) for choice in choices)
    used = _openai.usage(chat.messages, chars, reported, chat.n)
    pieces = _openai.completion_pieces(
        _openai.completion_id(), _openai.now(), chat.model, choices, used
    )
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = sum(len(piece) for piece in pieces)
    began(response)
    await response.prepare(request)
    for piece in pieces:
        await response.write(piece)
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
        self.calls = [0] * chat.n
        """Tool calls sent so far, per choice: the next one's ``index``."""
        self.finished = [False] * chat.n

    async def begin(self) -> web.StreamResponse:
        if self.response is None:
            response = self.response = event_stream()
            began(response)
            await response.prepare(self.request)
            for index in range(self.chat.n):
                await self.send_chunk({"role": "assistant", "content": ""}, index)
        return self.response

    async def send_chunk(
        self, delta: dict[str, Any], index: int = 0, finish_reason: str | None = None
    ) -> None:
        await self.send(
            _openai.chunk(
                self.ident,
                self.created,
                self.chat.model,
                delta,
                index=index,
                finish_reason=finish_reason,
                with_usage=self.chat.include_usage,
            )
        )

    async def send_call(self, call: ToolCall, index: int) -> None:
        """One tool call as OpenAI streams it: its id and name, then its arguments."""
        position = self.calls[index]
        self.calls[index] += 1
        head = {"name": call.name, "arguments": ""}
        first = {"index": position, "id": call.id, "type": "function", "function": head}
        await self.send_chunk({"tool_calls": [first]}, index)
        arguments = {"index": position, "function": {"arguments": call.arguments}}
        await self.send_chunk({"tool_calls": [arguments]}, index)

    async def end_choice(self, index: int, reason: str) -> None:
        if not self.finished[index]:
            self.finished[index] = True
            await self.send_chunk({}, index, finish_reason=reason)

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
        for index in range(self.chat.n):
            await self.end_choice(index, "stop")
        if self.chat.include_usage:
            await self.send(_openai.usage_chunk(self.ident, self.created, self.chat.model, used))
        response = await self.begin()
        await response.write(DONE)
        await response.write_eof()
        return response


async def _stream(
    request: web.Request, state: ServerState, chat: _openai.ChatRequest, events: AsyncIterator[Any]
) -> web.StreamResponse:
    out = _EventStream(request, chat)
    chars = 0
    reported: tuple[int | None, int | None] = (None, None)
    try:
        async with aclosing(state.watch(request, events, keepalive=True)) as items:
            async for item in items:
                if item is Tick.KEEPALIVE:
                    await out.comment()
                    continue
                if item is Tick.CLOSING:
                    if out.response is None:
                        raise shutting_down()
                    return await out.fail(shutting_down())
                if item is Tick.ABANDONED:
                    raise ConnectionResetError("the client went away")
                index, event = indexed(item, chat.n)
                if isinstance(event, TextChunk):
                    if event.text:
                        chars += len(event.text)
                        await out.send_chunk({"content": event.text}, index)
                elif isinstance(event, ToolCall):
                    chars += len(event.arguments)
                    await out.send_call(event, index)
                elif isinstance(event, Finish):
                    await out.end_choice(index, event.reason)
                elif isinstance(event, Usage):
                    reported = _openai.add_usage(reported, event)
        return await out.finish(_openai.usage(chat.messages, chars, reported, chat.n))
    except ConnectionResetError:
        raise  # the client left: nobody to tell (the error middleware ends the request)
    except Exception as exc:  # the stream's boundary, see below
        if out.response is None:
            raise  # nothing sent yet: the error middleware answers with a status
        # The status line is sent: whatever failed, the client learns it in-band, and the
        # stream ends without [DONE]. The provider was closed when the block above exited.
        return await out.fail(in_band(request, exc))
