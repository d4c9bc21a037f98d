"""A small OpenAI-compatible service for the tests, on a real loopback socket.

It serves ``GET /v1/models``, ``POST /v1/chat/completions`` (streamed as
``chat.completion.chunk`` events, or as one JSON answer) and ``POST /v1/images/generations``,
checks the API key like OpenAI does, records every request, and answers each chat request with
the next queued ``Reply``, which can script the failures a real service has: error statuses,
in-band error events, malformed chunks, streams cut short; and tool calls, streamed as deltas in
several pieces or whole in a JSON answer. Like a model, it honours ``max_tokens`` (or
``max_completion_tokens``: one delta is one token) with ``finish_reason: "length"`` and
``stop`` sequences, and answers JSON text when asked for ``response_format`` JSON (with
``Reply(json_when_asked=True)``).
``redirect_to`` makes it redirect every request elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

DEFAULT_TEXT = "Hello there, how are you?"
JSON_TEXT = '{"greeting": "Hello there", "question": "how are you?"}'
"""The answer to a request for JSON (``response_format``), when the reply does not name one."""


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A real PNG image, opaque red, ``width`` x ``height``."""

    def block(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + block(b"IHDR", header)
        + block(b"IDAT", zlib.compress(rows))
        + block(b"IEND", b"")
    )


@dataclass
class Reply:
    """How the fake answers one chat request. The defaults behave like OpenAI."""

    text: str = DEFAULT_TEXT
    pieces: list[str] | None = None
    """The deltas to send; by default the words of ``text``, each with its leading space."""
    usage: tuple[int, int] | None = (9, 6)
    """``(prompt_tokens, completion_tokens)`` sent in a last chunk with no choices."""
    finish_reason: str | None = "stop"
    done: bool = True
    """End with ``data: [DONE]``."""
    one_write: bool = False
    """Send every event in a single write, so the client reads them together."""
    status: int = 200
    error: Any = None
    """With ``status >= 400``: the ``error`` of the body. Otherwise: an in-band error event,
    sent after ``error_after`` deltas."""
    error_after: int = 0
    body: str | None = None
    """With ``status >= 400``: the raw error body instead of OpenAI's JSON."""
    headers: dict[str, str] = field(default_factory=dict)
    raw_events: list[str] | None = None
    """``data`` values sent as they are, after the deltas (malformed chunks)."""
    cut_after: int | None = None
    """Close the connection after this many deltas, without ending the chunked body."""
    end_after: int | None = None
    """End the body cleanly after this many deltas: no finish_reason, no [DONE]."""
    stall_after: int | None = None
    """Fall silent for ``stall_for`` seconds after this many deltas."""
    stall_for: float = 0.0
    json_answer: bool = False
    """Answer one ``chat.completion`` JSON document instead of a stream."""
    content_type: str = "text/event-stream"
    raw_body: str | None = None
    """Send this body, with ``content_type`` and status 200, instead of any event."""
    tool_calls: list[dict[str, str]] | None = None
    """Calls to make, each ``{"id", "name", "arguments"}``: streamed after the text, each
    call's first delta with its id and name and its arguments split over ``tool_pieces``
    deltas, or whole in ``message.tool_calls`` of a JSON answer. Set ``finish_reason`` to
    ``"tool_calls"`` as OpenAI does (the default ``"stop"`` is what some servers send)."""
    tool_pieces: int = 3
    honour_limits: bool = True
    """Cut the answer at the request's ``max_tokens`` (``"length"``) or ``stop`` sequence."""
    json_when_asked: bool = False
    """Answer ``JSON_TEXT`` instead of the default text to a request for JSON
    (``response_format``). Off by default: a gateway benchmark checks the same text for
    every request."""


@dataclass
class ImageReply:
    """How the fake answers one image request."""

    status: int = 200
    url: bool = False
    """Answer ``data[0].url`` (an image the fake serves) instead of ``b64_json``."""
    output_format: str | None = None
    """Sent as the answer's ``output_format``, as GPT image models do."""
    payload: Any = None
    """Answer this JSON instead (malformed answers)."""


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    json: Any


def chunk(delta: dict[str, Any], finish_reason: str | None = None, index: int = 0) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "fake-model",
            "choices": [{"index": index, "delta": delta, "finish_reason": finish_reason}],
        }
    )


def tool_call_deltas(calls: list[dict[str, str]], pieces: int) -> list[dict[str, Any]]:
    """The streamed ``delta.tool_calls`` of ``calls``: per call, a first delta with its index,
    id, type and name (no arguments), then its arguments in ``pieces`` parts."""
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        first = {"index": index, "id": call["id"], "type": "function"}
        deltas.append({**first, "function": {"name": call["name"], "arguments": ""}})
        arguments = call["arguments"]
        size = -(-len(arguments) // pieces) or 1
        for start in range(0, len(arguments), size):
            part = arguments[start : start + size]
            deltas.append({"index": index, "function": {"arguments": part}})
    return deltas


def whole_tool_calls(calls: list[dict[str, str]]) -> list[dict[str, Any]]:
    """``message.tool_calls`` of a JSON answer."""
    return [
        {
            "id": call["id"],
            "type": "function",
            "function": {"name": call["name"], "arguments": call["arguments"]},
        }
        for call in calls
    ]


def openai_error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"message": message, "type": kind, "param": None, "code": code}


class FakeOpenAI:
    """The fake service. ``url`` is its API root (``http://127.0.0.1:PORT/v1``)."""

    def __init__(self, *, models: list[str] | None = None, api_key: str | None = None) -> None:
        self.models = ["fake-model", "fake-model-mini"] if models is None else models
        self.api_key = api_key
        """When set, requests without ``Authorization: Bearer <api_key>`` get a 401."""
        self.models_status = 200
        self.redirect_to: str | None = None
        """When set, every request is redirected (``redirect_status``) to the same path under
        this API root instead of being answered."""
        self.redirect_status = 307
        self.requests: list[Recorded] = []
        self.replies: deque[Reply] = deque()
        self.image_replies: deque[ImageReply] = deque()
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_get("/files/image.png", self._image_file)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self._server.make_url("/v1"))

    @property
    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    @property
    def image_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path == "/v1/images/generations"]

    @property
    def image_parts(self) -> list[dict[str, Any]]:
        """Every ``image_url`` part of every message the chat requests carried, in order."""
        return [
            part
            for request in self.chat_requests
            for message in request.json["messages"]
            if isinstance(message.get("content"), list)
            for part in message["content"]
            if part.get("type") == "image_url"
        ]

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    async def _record(self, request: web.Request) -> None:
        body = await request.read()
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                dict(request.headers),
                json.loads(body) if body else None,
            )
        )

    def _redirect(self, request: web.Request) -> web.Response | None:
        if self.redirect_to is None:
            return None
        location = self.redirect_to + request.path.removeprefix("/v1")
        return web.Response(status=self.redirect_status, headers={"Location": location})

    def _unauthorised(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        given = request.headers.get("Authorization", "")
        if given == f"Bearer {self.api_key}":
            return None
        # Like many servers, it quotes the key it was given: the client must mask it.
        shown = given.removeprefix("Bearer ")
        return web.json_response(
            {
                "error": openai_error(
                    f"Incorrect API key provided: {shown}. You can find your API key in your"
                    " account settings.",
                    "invalid_request_error",
                    "invalid_api_key",
                )
            },
            status=401,
        )

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (refused := self._redirect(request) or self._unauthorised(request)) is not None:
            return refused
        if self.models_status != 200:
            return web.Response(status=self.models_status, text="Not Found")
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if (refused := self._redirect(request) or self._unauthorised(request)) is not None:
            return refused
        reply = self.replies.popleft() if self.replies else Reply()
        reply = _as_asked(reply, self.requests[-1].json)
        if reply.status >= 400:
            text = reply.body
            if text is None:
                text = json.dumps({"error": reply.error or openai_error("failed", "server_error")})
            return web.Response(
                status=reply.status,
                text=text,
                content_type="application/json" if reply.body is None else "text/plain",
                headers=reply.headers,
            )
        if reply.json_answer:
            message: dict[str, Any] = {"role": "assistant", "content": reply.text}
            if reply.tool_calls:
                message = {**message, "content": reply.text or None}
                message["tool_calls"] = whole_tool_calls(reply.tool_calls)
            return web.json_response(
                {
                    "object": "chat.completion",
                    "model": "fake-model",
                    "choices": [
                        {"index": 0, "message": message, "finish_reason": reply.finish_reason}
                    ],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                }
            )
        return await self._stream(request, reply)

    async def _images(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (refused := self._redirect(request) or self._unauthorised(request)) is not None:
            return refused
        reply = self.image_replies.popleft() if self.image_replies else ImageReply()
        if reply.status >= 400:
            error = openai_error("image generation failed", "server_error")
            return web.json_response({"error": error}, status=reply.status)
        if reply.payload is not None:
            return web.json_response(reply.payload)
        image: dict[str, Any] = {"revised_prompt": self.requests[-1].json.get("prompt")}
        if reply.url:
            image["url"] = str(self._server.make_url("/files/image.png"))
        else:
            image["b64_json"] = base64.b64encode(png_bytes()).decode()
        answer: dict[str, Any] = {"created": 1700000000, "data": [image]}
        if reply.output_format is not None:
            answer["output_format"] = reply.output_format
        return web.json_response(answer)

    async def _image_file(self, request: web.Request) -> web.Response:
        return web.Response(body=png_bytes(), content_type="image/png")

    async def _stream(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": reply.content_type, **reply.headers})
        await response.prepare(request)
        if reply.raw_body is not None:
            await response.write(reply.raw_body.encode())
            await response.write_eof()
            return response
        pieces = reply.pieces if reply.pieces is not None else words(reply.text)
        events = [chunk({"role": "assistant", "content": ""})]
        stop = reply.error_after if reply.error is not None else None
        for sent, piece in enumerate(pieces):
            if sent in (stop, reply.cut_after, reply.end_after):
                break
            events.append(chunk({"content": piece}))
        else:
            for delta in tool_call_deltas(reply.tool_calls or [], reply.tool_pieces):
                events.append(chunk({"tool_calls": [delta]}))
        if reply.error is not None:
            events.append(json.dumps({"error": reply.error}))
        elif reply.cut_after is None and reply.end_after is None:
            events += reply.raw_events or []
            if reply.finish_reason is not None:
                events.append(chunk({}, reply.finish_reason))
            if reply.usage is not None:
                prompt, completion = reply.usage
                usage = {"prompt_tokens": prompt, "completion_tokens": completion}
                events.append(json.dumps({"object": "chat.completion.chunk", "choices": [],
                                          "usage": usage}))  # fmt: skip
            if reply.done:
                events.append("[DONE]")
        encoded = [f"data: {event}\n\n".encode() for event in events]
        if reply.one_write:
            await response.write(b"".join(encoded))
        else:
            for index, event in enumerate(encoded):
                if reply.stall_after is not None and index == reply.stall_after + 1:
                    await asyncio.sleep(reply.stall_for)  # +1: the role chunk goes first
                await response.write(event)
                await asyncio.sleep(0.01)  # each event its own network read
        if reply.cut_after is not None and request.transport is not None:
            await asyncio.sleep(0.01)
            request.transport.close()  # no terminating chunk: the client sees a cut body
            return response
        await response.write_eof()
        return response


def _as_asked(reply: Reply, body: Any) -> Reply:
    """The reply as a model would give it for this request: JSON text when asked for JSON,
    cut at ``stop`` or after ``max_tokens`` deltas."""
    if not reply.honour_limits or not isinstance(body, dict) or reply.status >= 400:
        return reply
    text, pieces, finish = reply.text, reply.pieces, reply.finish_reason
    response_format = body.get("response_format") or {}
    asked_json = response_format.get("type") in ("json_object", "json_schema")
    if reply.json_when_asked and asked_json and text == DEFAULT_TEXT:
        text = JSON_TEXT
    stops = body.get("stop") or []
    for sequence in [stops] if isinstance(stops, str) else stops:
        if sequence in text:
            text, pieces = text[: text.index(sequence)], None
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(limit, int) and pieces is None and len(words(text)) > limit:
        text, finish = "".join(words(text)[:limit]), "length"
    if (text, pieces, finish) == (reply.text, reply.pieces, reply.finish_reason):
        return reply
    return replace(reply, text=text, pieces=pieces, finish_reason=finish)


def words(text: str) -> list[str]:
    """``"a b c"`` -> ``["a", " b", " c"]``: deltas that join back to the text."""
    parts = text.split(" ")
    return [parts[0], *(" " + part for part in parts[1:])] if text else []
