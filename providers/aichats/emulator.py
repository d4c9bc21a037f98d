"""A local aiohttp server that speaks the ai-chats.org protocol.

The real service cannot be reached from everywhere and has been unreliable, so demos, tests
and benchmarks run against this emulator over real sockets instead. It serves
``POST /chat/send2/`` (``type`` ``chat``: a server-sent-events stream; ``type`` ``image``: JSON
with an image URL) and ``GET /images/<id>.<ext>`` (real PNG or JPEG bytes drawn by code), sets a
session cookie like the site, records every request, and can be scripted to misbehave.

Typical use::

    async with AiChatsEmulator() as emu:
        emu.enqueue(Script(text="Hi there", events=2))
        messages = [{"role": "user", "content": "hello"}]
        text = await complete("aichats", messages, **emu.provider_options())

Run it standalone with ``python -m providers.aichats.emulator --port 8765``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import threading
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from types import TracebackType
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler
from yarl import URL

from ._image_formats import MIME_TYPES, ImageFormat

__all__ = [
    "COOKIE_NAME",
    "AiChatsEmulator",
    "RecordedRequest",
    "Script",
    "default_reply",
    "reply_fragments",
    "serve_forever",
]

COOKIE_NAME = "ai_chats_session"
"""Name of the session cookie the emulator hands out, like the real site."""

API_PATH = "/chat/send2/"
IMAGE_PATH = "/images/"

MAX_RECORDED = 10_000
"""Requests kept in ``AiChatsEmulator.requests``; the oldest half goes when it is full."""
_WRITE_SIZE = 64 * 1024  # pre-encoded bodies go out in writes of this size
_SHUTDOWN_TIMEOUT = 2.0  # handlers are woken on stop(); this only bounds a stuck one
_BACKLOG = 1024  # benchmarks open 1,000 connections at once; 128 would drop SYNs
_MAX_IMAGES = 4096  # generated image URLs kept downloadable (oldest forgotten first)
_WORDS = re.compile(r"\s*\S+|\s+")

Malformed = Literal["sse", "json", "no_data", "no_url", "bad_url", "not_image"]
LineEnding = Literal["\n", "\r\n", "\r"]


@dataclass
class Script:
    """How the emulator answers one API request; the defaults behave like the real service.

    ``text`` may contain ``\\n``: each line becomes its own ``data:`` line and the client joins
    them back. SSE cannot carry a bare CR, so ``\\r\\n`` and ``\\r`` in ``text`` are sent as
    ``\\n``. ``malformed="sse"`` applies to chat requests; the other malformed modes apply to
    image requests (a request of the other type is answered normally).
    """

    text: str | None = None
    events: int | None = None
    delay: float = 0.0
    stall_after: int | None = None
    stall_for: float = 0.0
    status: int | None = None
    retry_after: float | None = None
    error_body: str = '{"error": "scripted failure"}'
    disconnect_after: int | None = None
    malformed: Malformed | None = None
    done_marker: bool = True
    line_ending: LineEnding = "\n"
    final_blank_line: bool = True
    image_format: ImageFormat = "png"
    image_size: tuple[int, int] = (64, 64)
    image_bytes: int | None = None
    image_host: str | None = None
    write_size: int | None = None
    """Send the encoded stream in writes of this many bytes, each after ``delay`` seconds,
    regardless of event boundaries: a client then reads at awkward places (mid-line, mid-CRLF,
    mid-character)."""

    def __post_init__(self) -> None:
        # Fail in the test that wrote the script, not later inside the server.
        if self.write_size is not None and self.write_size < 1:
            raise ValueError(f"Script.write_size must be >= 1, got {self.write_size!r}")
        for name in ("events", "stall_after", "disconnect_after", "image_bytes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Script.{name} must be >= 0, got {value!r}")
        if self.delay < 0 or self.stall_for < 0:
            raise ValueError("Script.delay and Script.stall_for must be >= 0")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Script.status must be an HTTP status, got {self.status!r}")
        if self.line_ending not in ("\n", "\r\n", "\r"):
            raise ValueError(f"Script.line_ending must be LF, CRLF or CR, got {self.line_ending!r}")
        if self.image_format not in MIME_TYPES:
            raise ValueError(f"Script.image_format must be png or jpeg, got {self.image_format!r}")
        width, height = self.image_size
        if width <= 0 or height <= 0 or width > 65535 or height > 65535:
            raise ValueError(f"Script.image_size must be within 1..65535, got {self.image_size!r}")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it, for tests to assert on.

    ``headers`` preserves the client's spelling; a repeated header keeps its last value.
    ``json`` is the parsed body, or None when the body is empty or not JSON.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any | None
    cookies: dict[str, str]

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup, as HTTP defines header names."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


def default_reply(prompt: str) -> str:
    """The reply when a script sets no text: derived from the prompt so a demo shows the
    round trip, and deterministic so tests can predict it."""
    return f"Hello from the AiChats emulator! You said: {prompt}"


def reply_fragments(text: str, events: int | None = None) -> list[str]:
    """Split ``text`` into event payloads whose concatenation is ``text`` exactly.

    ``events=None`` gives one word per event with the preceding whitespace kept, so fragments
    such as ``" world"`` exercise the leading-space rule of SSE. ``events=n`` gives ``n``
    fragments of near-equal length (empty ones when ``n`` exceeds the length).
    """
    if events is None:
        return _WORDS.findall(text)
    if events == 0:
        return []
    size, extra = divmod(len(text), events)
    fragments: list[str] = []
    start = 0
    for index in range(events):
        end = start + size + (1 if index < extra else 0)
        fragments.append(text[start:end])
        start = end
    return fragments


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _sse_event(fragment: str, line_ending: str) -> str:
    # Exactly one space after "data:", so a fragment that starts with a space keeps it.
    return "".join(f"data: {line}{line_ending}" for line in fragment.split("\n")) + line_ending


def _sse_events(
    text: str, events: int | None, line_ending: str, done_marker: bool, final_blank_line: bool
) -> list[str]:
    encoded = [_sse_event(fragment, line_ending) for fragment in reply_fragments(text, events)]
    if done_marker:
        encoded.append(f"data: [DONE]{line_ending}{line_ending}")
    if encoded and not final_blank_line:
        encoded[-1] = encoded[-1][: -len(line_ending)]
    return encoded


@lru_cache(maxsize=64)
def _sse_body(
    text: str, events: int | None, line_ending: str, done_marker: bool, final_blank_line: bool
) -> bytes:
    """The whole stream pre-encoded; memoised because benchmarks replay one script many times."""
    return "".join(_sse_events(text, events, line_ending, done_marker, final_blank_line)).encode()


def _format_seconds(seconds: float) -> str:
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0")


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _BadRequest(Exception):
    """The API request does not follow the protocol; answered with HTTP 400."""


def _parse_api_request(body: bytes) -> tuple[str, str]:
    """Validate the request like the real service would; returns (type, prompt)."""
    try:
        payload = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise _BadRequest("request body is not valid JSON") from exc
    if not isinstance(payload, dict):
        raise _BadRequest("request body must be a JSON object")
    kind = payload.get("type")
    if kind not in ("chat", "image"):
        raise _BadRequest("field 'type' must be 'chat' or 'image'")
    history = payload.get("messagesHistory")
    if not isinstance(history, list) or not history:
        raise _BadRequest("field 'messagesHistory' must be a non-empty list")
    for message in history:
        if not (
            isinstance(message, dict)
            and isinstance(message.get("from"), str)
            and isinstance(message.get("content"), str)
        ):
            raise _BadRequest("each message needs string fields 'from' and 'content'")
        try:
            message["content"].encode()
        except UnicodeEncodeError:  # JSON may escape a lone surrogate; no text holds one
            raise _BadRequest("a message's 'content' is not valid Unicode") from None
    prompt: str = history[-1]["content"]
    return kind, prompt


class AiChatsEmulator:
    """The ai-chats.org service on a loopback port, scriptable per request.

    Start it with ``async with`` (or ``start()``/``stop()``); point a provider at it with
    ``provider_options()``. Each ``POST /chat/send2/`` consumes one queued :class:`Script`, or
    uses :attr:`script` when the queue is empty. Every request lands in :attr:`requests`.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, script: Script | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._initial_script = replace(script) if script is not None else Script()
        self.script: Script = replace(self._initial_script)
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Script] = deque()
        self._images: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._stopping = False
        self._sleepers: set[asyncio.Future[None]] = set()
        self._streams: set[asyncio.Transport] = set()
        self._app = self._build_app()

    # ------------------------------------------------------------------ public API

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:54321`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError("the emulator is not running; call start() or use 'async with'")
        return self._url

    @property
    def app(self) -> web.Application:
        """The aiohttp application, for embedding the emulator in another server."""
        return self._app

    def enqueue(self, *scripts: Script) -> None:
        """Queue scripts; each API request consumes the next one, in order."""
        self._queue.extend(scripts)

    @property
    def open_streams(self) -> int:
        """Answers being written now: 0 once every client that asked has been answered or
        has gone (a test of a client that stops mid-stream waits for it)."""
        return len(self._streams)

    def reset(self) -> None:
        """Forget queued scripts and recorded requests; restore the constructor's script
        (``Script()`` unless one was given), so one emulator can serve many tests."""
        self._queue.clear()
        self.requests.clear()
        self.script = replace(self._initial_script)

    def provider_options(self) -> dict[str, str]:
        """Per-call options that point the AiChats provider at this emulator."""
        return {"base_url": self.url}

    async def start(self) -> None:
        """Bind and start serving; with port 0 the OS picks a free port (see :attr:`url`)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port, backlog=_BACKLOG)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        port = int(runner.addresses[0][1])
        self._runner = runner
        self._stopping = False
        self._url = str(URL.build(scheme="http", host=self._host, port=port))

    async def stop(self) -> None:
        """Stop serving. Streams still running are cut (as when a server goes away) rather
        than waited for, so stopping is quick even with stalled or slow clients."""
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        self._url = None
        self._stopping = True
        for sleeper in list(self._sleepers):
            _wake(sleeper)
        for transport in list(self._streams):
            transport.abort()
        try:
            await runner.cleanup()
        finally:
            self._streams.clear()
            self._stopping = False

    async def __aenter__(self) -> AiChatsEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ application

    def _build_app(self) -> web.Application:
        @web.middleware
        async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                body = await request.read()
            except web.HTTPException:  # e.g. 413: still log that the request came
                self._record(request, b"")
                raise
            self._record(request, body)
            return await handler(request)

        app = web.Application(middlewares=[record])
        app.on_response_prepare.append(self._set_session_cookie)
        app.router.add_get("/", self._handle_index)
        app.router.add_post(API_PATH, self._handle_api)
        app.router.add_get(IMAGE_PATH + "{name}", self._handle_image)
        return app

    def _record(self, request: web.Request, body: bytes) -> None:
        if len(self.requests) >= MAX_RECORDED:  # a long-running emulator must not grow forever
            del self.requests[: MAX_RECORDED // 2]
        latest: dict[str, tuple[str, str]] = {}
        for name, value in request.headers.items():
            latest[name.lower()] = (name, value)
        parsed: Any | None = None
        if body:
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query={key: value for key, value in request.query.items()},
                headers=dict(latest.values()),
                body=body,
                json=parsed,
                cookies=dict(request.cookies),
            )
        )

    async def _set_session_cookie(self, request: web.Request, response: web.StreamResponse) -> None:
        # Like the site: a client that arrives without a session gets one. aiohttp has already
        # turned response.cookies into headers when this signal runs, so add the header itself.
        if COOKIE_NAME in request.cookies:
            return
        prefix = COOKIE_NAME + "="
        if any(value.startswith(prefix) for value in response.headers.getall("Set-Cookie", ())):
            return
        response.headers.add("Set-Cookie", f"{prefix}{secrets.token_urlsafe(18)}; Path=/")

    async def _handle_index(self, request: web.Request) -> web.Response:
        return web.Response(
            text=f"<!DOCTYPE html><title>AiChats emulator</title><p>POST {API_PATH} to chat.</p>",
            content_type="text/html",
        )

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        script = self._queue.popleft() if self._queue else self.script
        if script.status is not None:
            return self._scripted_error(script)
        try:
            kind, prompt = _parse_api_request(await request.read())
        except _BadRequest as exc:
            return _json_error(400, str(exc))
        if kind == "image":
            return self._image_reply(request, script, prompt)
        return await self._stream_reply(request, script, prompt)

    def _scripted_error(self, script: Script) -> web.Response:
        assert script.status is not None
        try:
            json.loads(script.error_body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain"
        headers = {}
        if script.retry_after is not None:
            headers["Retry-After"] = _format_seconds(script.retry_after)
        return web.Response(
            status=script.status,
            text=script.error_body,
            content_type=content_type,
            headers=headers,
        )

    # ------------------------------------------------------------------ chat

    async def _stream_reply(
        self, request: web.Request, script: Script, prompt: str
    ) -> web.StreamResponse:
        text = _normalise_newlines(
            script.text if script.text is not None else default_reply(prompt)
        )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        transport = request.transport
        if transport is not None:
            self._streams.add(transport)
        try:
            await response.prepare(request)
            if script.malformed == "sse":
                await self._write_malformed_sse(response, script)
            elif script.write_size is not None or (
                script.delay == 0 and script.stall_after is None and script.disconnect_after is None
            ):
                await self._write_whole(request, response, script, text)
            else:
                await self._write_paced(request, response, script, text)
        except ConnectionError:
            pass  # the client went away (or stop() cut the stream): nothing left to send
        finally:
            if transport is not None:
                self._streams.discard(transport)
        return response

    async def _write_whole(
        self, request: web.Request, response: web.StreamResponse, script: Script, text: str
    ) -> None:
        # Fast path: one encoding, few large writes (a 50,000-event stream is ~10 writes).
        body = _sse_body(
            text, script.events, script.line_ending, script.done_marker, script.final_blank_line
        )
        view = memoryview(body)
        size = script.write_size or _WRITE_SIZE
        for offset in range(0, len(body), size):
            if self._stopping or (script.write_size and await self._pause(script.delay)):
                _cut(request)
                return
            await response.write(view[offset : offset + size])

    async def _write_paced(
        self, request: web.Request, response: web.StreamResponse, script: Script, text: str
    ) -> None:
        # One write per event, so a client sees each event as its own network read.
        disconnect = script.disconnect_after
        events = _sse_events(
            text,
            script.events,
            script.line_ending,
            script.done_marker and disconnect is None,
            script.final_blank_line,
        )
        if disconnect is not None:
            events = events[:disconnect]
        for index, event in enumerate(events):
            if index == script.stall_after and await self._pause(script.stall_for):
                _cut(request)
                return
            if await self._pause(script.delay):
                _cut(request)
                return
            await response.write(event.encode())
        if script.stall_after is not None and script.stall_after >= len(events):
            await self._pause(script.stall_for)
        if disconnect is not None or self._stopping:
            # Abrupt end: no [DONE] and no terminating chunk, so the client sees a cut body.
            _cut(request)

    async def _write_malformed_sse(self, response: web.StreamResponse, script: Script) -> None:
        end = script.line_ending.encode()
        body = b"data: \xff\xfe not UTF-8 \xc3\x28" + end + end
        if script.done_marker:
            body += b"data: [DONE]" + end + end
        await response.write(body)

    async def _pause(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True means stop() was called.

        A plain asyncio.sleep would keep stop() waiting for a scripted stall to run out.
        """
        if self._stopping:
            return True
        if seconds <= 0:
            return False
        loop = asyncio.get_running_loop()
        sleeper: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, sleeper)
        self._sleepers.add(sleeper)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)
        return self._stopping

    # ------------------------------------------------------------------ images

    def _image_reply(self, request: web.Request, script: Script, prompt: str) -> web.Response:
        if script.malformed == "json":
            return web.Response(text='{"data": [{"url": ', content_type="application/json")
        if script.malformed == "no_data":
            return web.json_response({"other": 1})
        if script.malformed == "no_url":
            return web.json_response({"data": [{}]})

        extension = "png" if script.image_format == "png" else "jpg"
        name = f"{secrets.token_hex(8)}.{extension}"
        if script.malformed == "not_image":
            entry = (
                b"<!DOCTYPE html><html><body>Just a moment...</body></html>",
                "text/html; charset=utf-8",
            )
        else:
            from ._images import draw  # the encoders load with the first image, not for chat

            width, height = script.image_size
            data = draw(
                script.image_format, width, height, zlib.crc32(prompt.encode()), script.image_bytes
            )
            entry = (data, MIME_TYPES[script.image_format])
        self._images[name] = entry
        while len(self._images) > _MAX_IMAGES:
            self._images.popitem(last=False)

        # The URL names the host the client used (or the scripted one) on the port it reached.
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if sockname else request.url.port
        host = script.image_host or request.url.host or self._host
        scheme = "ftp" if script.malformed == "bad_url" else "http"
        url = URL.build(scheme=scheme, host=host, port=port, path=IMAGE_PATH + name)
        return web.json_response({"data": [{"url": str(url)}]})

    async def _handle_image(self, request: web.Request) -> web.Response:
        entry = self._images.get(request.match_info["name"])
        if entry is None:
            return _json_error(404, "image not found")
        data, content_type = entry
        return web.Response(body=data, headers={"Content-Type": content_type})


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _cut(request: web.Request) -> None:
    """Close the connection under the response: data already written is flushed, but the
    chunked body never gets its terminating chunk, so the client sees a truncated payload."""
    transport = request.transport
    if transport is not None:
        transport.close()


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run an emulator until cancelled; ``ready(url)`` is called once it is listening."""
    emulator = AiChatsEmulator(host=host, port=port)
    await emulator.start()
    try:
        if ready is not None:
            ready(emulator.url)
        forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await forever
    finally:
        await emulator.stop()


@contextlib.contextmanager
def running_in_thread(emulator: AiChatsEmulator | None = None) -> Iterator[AiChatsEmulator]:
    """``emulator`` (a default one unless given) served from its own event loop in a
    thread, for blocking code: the sync API, a test driving a subprocess. Stopped on exit."""
    running = emulator if emulator is not None else AiChatsEmulator()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aichats-emulator", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(running.start(), loop).result(timeout=30)
        try:
            yield running
        finally:
            asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout=30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not loop.is_running():  # at interpreter exit the thread may be frozen already
            loop.close()


def main(argv: list[str] | None = None) -> None:
    """``python -m providers.aichats.emulator``: serve until Ctrl+C."""
    parser = argparse.ArgumentParser(description="Run the AiChats emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    def announce(url: str) -> None:
        print(f"AiChats emulator listening on {url}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_forever(args.host, args.port, ready=announce))


if __name__ == "__main__":
    main()
