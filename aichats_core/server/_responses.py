"""``POST /v1/responses``: a ``response`` object, or its semantic events as SSE.

One provider call per request, through the same core call as chat completions (tools,
JSON output, ``max_output_tokens``). Text becomes one ``message`` output item holding one
``output_text`` part; each ``ToolCall`` a ``function_call`` item. A stream sends
``response.created`` and ``response.in_progress`` at once, the items' events as the answer
comes, and ``response.completed`` (``response.incomplete`` when cut at
``max_output_tokens``); a failure after that is an ``error`` event then ``response.failed``.
The text is kept while it streams: the ``.done`` events repeat it, as the API has them.
"""

from __future__ import annotations

import json
import uuid
from contextlib import aclosing
from typing import Any

from aiohttp import web

from aichats_core import Finish, TextChunk, ToolCall, Usage
from aichats_core.server import _openai
from aichats_core.server._catalog import resolve
from aichats_core.server._chat import event_stream, in_band, start_calls
from aichats_core.server._errors import (
    ApiError,
    answer_too_large,
    bad_request,
    shutting_down,
)
from aichats_core.server._middlewares import began
from aichats_core.server._pacing import Tick
from aichats_core.server._request import read_json
from aichats_core.server._responses_input import ResponsesRequest, parse_responses
from aichats_core.server._state import STATE

KEEPALIVE = b": keep-alive\n\n"


def _ident(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class _Answer:
    """What the answer holds so far, and the ``response`` object it makes."""

    def __init__(self, asked: ResponsesRequest) -> None:
        self.asked = asked
        self.ident = _ident("resp")
        self.created = _openai.now()
        self.message_id = _ident("msg")
        self.text: list[str] = []
        self.items: list[dict[str, Any]] = []
        """The output items, in order; the message item is in it once text came."""
        self.message: dict[str, Any] | None = None
        self.reason = "stop"
        self.reported: tuple[int | None, int | None] = (None, None)
        self.chars = 0

    def message_item(self, status: str) -> dict[str, Any]:
        part = {"type": "output_text", "text": "".join(self.text), "annotations": []}
        return {
            "type": "message",
            "id": self.message_id,
            "status": status,
            "role": "assistant",
            "content": [part] if status == "completed" else [],
        }

    @staticmethod
    def call_item(call: ToolCall, ident: str, status: str) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": ident,
            "call_id": call.id,
            "name": call.name,
            "arguments": call.arguments if status == "completed" else "",
            "status": status,
        }

    def body(self, status: str) -> dict[str, Any]:
        done = status != "in_progress"
        incomplete = self.reason in ("length", "content_filter")
        final = ("incomplete" if incomplete else "completed") if done else status
        output = [
            self.message_item("completed") if item is self.message else item for item in self.items
        ]
        body: dict[str, Any] = {
            "id": self.ident,
            "object": "response",
            "created_at": self.created,
            "status": final,
            "error": None,
            "incomplete_details": (
                {"reason": "max_output_tokens" if self.reason == "length" else "content_filter"}
                if done and incomplete
                else None
            ),
            "instructions": self.asked.instructions,
            "max_output_tokens": self.asked.max_output_tokens,
            "model": self.asked.model,
            "output": output if done else [],
            "parallel_tool_calls": True,
            "tool_choice": self.asked.tool_choice,
            "tools": self.asked.tools,
            "usage": self.usage() if done else None,
        }
        if done:
            body["output_text"] = "".join(self.text)
        return body

    def usage(self) -> dict[str, Any]:
        used = _openai.usage(self.asked.messages, self.chars, self.reported)
        return {
            "input_tokens": used["prompt_tokens"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": used["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": used["total_tokens"],
        }


async def responses(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    asked = parse_responses(await read_json(request))
    target = resolve(asked.model, state.served)
    if target.image:
        raise bad_request(f"{asked.model!r} is an image model; use POST /v1/images/generations")
    [events] = start_calls(state, target.provider, target.model, asked.messages, asked.features, 1)
    answer = _Answer(asked)
    if not asked.stream:
        limit = state.limits.max_answer_bytes
        async with aclosing(state.answer(request, events)) as items:
            async for event in items:
                _take(answer, event)
                if answer.chars > limit:
                    raise answer_too_large(target.provider, limit)
        return web.json_response(answer.body("completed"))
    return await _stream(request, answer, state.watch(request, events, keepalive=True))


def _take(answer: _Answer, event: object) -> None:
    """One event of a call answered in one piece."""
    if isinstance(event, TextChunk) and event.text:
        if answer.message is None:
            answer.message = answer.message_item("in_progress")
            answer.items.append(answer.message)
        answer.text.append(event.text)
        answer.chars += len(event.text)
    elif isinstance(event, ToolCall):
        answer.items.append(answer.call_item(event, _ident("fc"), "completed"))
        answer.chars += len(event.arguments)
    elif isinstance(event, Finish):
        answer.reason = event.reason
    elif isinstance(event, Usage):
        answer.reported = _openai.add_usage(answer.reported, event)


class _Events:
    """The SSE response of a streamed answer: ``event:`` and ``data:`` lines, numbered."""

    def __init__(self, request: web.Request, answer: _Answer) -> None:
        self.request = request
        self.answer = answer
        self.response: web.StreamResponse | None = None
        self.sequence = 0
        self.open_message: int | None = None
        """The output index of the message item while its text streams."""

    async def begin(self) -> web.StreamResponse:
        if self.response is None:
            response = self.response = event_stream()
            began(response)
            await response.prepare(self.request)
            body = self.answer.body("in_progress")
            await self.send("response.created", response=body)
            await self.send("response.in_progress", response=body)
        return self.response

    async def send(self, kind: str, **fields: Any) -> None:
        response = await self.begin()
        data = json.dumps(
            {"type": kind, "sequence_number": self.sequence, **fields},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        self.sequence += 1
        await response.write(_openai.utf8(f"event: {kind}\ndata: {data}\n\n"))

    async def text(self, text: str) -> None:
        answer = self.answer
        place = {"item_id": answer.message_id, "content_index": 0}
        if self.open_message is None:
            self.open_message = len(answer.items)
            answer.message = answer.message_item("in_progress")
            answer.items.append(answer.message)
            item = answer.message_item("in_progress")
            await self.send("response.output_item.added", output_index=self.open_message, item=item)
            part = {"type": "output_text", "text": "", "annotations": []}
            await self.send(
                "response.content_part.added", output_index=self.open_message, part=part, **place
            )
        answer.text.append(text)
        answer.chars += len(text)
        await self.send(
            "response.output_text.delta",
            output_index=self.open_message,
            delta=text,
            logprobs=[],
            **place,
        )

    async def close_message(self) -> None:
        if self.open_message is None:
            return
        index, self.open_message = self.open_message, None
        answer = self.answer
        place = {"item_id": answer.message_id, "output_index": index, "content_index": 0}
        item = answer.message_item("completed")
        text = item["content"][0]["text"]
        await self.send("response.output_text.done", text=text, logprobs=[], **place)
        await self.send("response.content_part.done", part=item["content"][0], **place)
        await self.send("response.output_item.done", output_index=index, item=item)

    async def call(self, call: ToolCall) -> None:
        await self.close_message()
        answer = self.answer
        ident, index = _ident("fc"), len(answer.items)
        done = answer.call_item(call, ident, "completed")
        answer.items.append(done)
        answer.chars += len(call.arguments)
        started = answer.call_item(call, ident, "in_progress")
        await self.send("response.output_item.added", output_index=index, item=started)
        place = {"item_id": ident, "output_index": index}
        await self.send("response.function_call_arguments.delta", delta=call.arguments, **place)
        await self.send(
            "response.function_call_arguments.done", arguments=call.arguments, name=call.name,
            **place,
        )  # fmt: skip
        await self.send("response.output_item.done", output_index=index, item=done)

    async def finish(self) -> web.StreamResponse:
        await self.close_message()
        body = self.answer.body("completed")
        kind = "response.completed" if body["status"] == "completed" else "response.incomplete"
        await self.send(kind, response=body)
        response = await self.begin()
        await response.write_eof()
        return response

    async def fail(self, error: ApiError) -> web.StreamResponse:
        details = error.body()["error"]
        await self.send(
            "error", code=details["code"], message=details["message"], param=details["param"]
        )
        body = self.answer.body("completed")
        body["status"], body["incomplete_details"] = "failed", None
        body["error"] = {"code": details["code"] or "server_error", "message": details["message"]}
        await self.send("response.failed", response=body)
        response = await self.begin()
        await response.write_eof()
        return response


async def _stream(request: web.Request, answer: _Answer, watched: Any) -> web.StreamResponse:
    out = _Events(request, answer)
    try:
        async with aclosing(watched) as items:
            async for item in items:
                if item is Tick.KEEPALIVE:
                    await (await out.begin()).write(KEEPALIVE)
                elif item is Tick.CLOSING:
                    if out.response is None:
                        raise shutting_down()
                    return await out.fail(shutting_down())
                elif item is Tick.ABANDONED:
                    raise ConnectionResetError("the client went away")
                elif isinstance(item, TextChunk):
                    if item.text:
                        await out.text(item.text)
                elif isinstance(item, ToolCall):
                    await out.call(item)
                elif isinstance(item, Finish):
                    answer.reason = item.reason
                elif isinstance(item, Usage):
                    answer.reported = _openai.add_usage(answer.reported, item)
        return await out.finish()
    except ConnectionResetError:
        raise
    except Exception as exc:  # the stream's boundary, as in _chat._stream
        if out.response is None:
            raise
        return await out.fail(in_band(request, exc))
