"""Named server-sent events: ``SSEEventDecoder`` on bytes, then ``iter_sse_events`` and
``iter_sse_json`` over loopback sockets, then a provider that turns ``event: error`` into a
typed error through ``aichats_core.stream()``.

The decoder is checked against ``reference``, the WHATWG algorithm written out line by line
here, for any body and any way the network splits it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, ClassVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aichats_core
from aichats_core import AsyncGeneratorProvider, TextChunk
from aichats_core.errors import (
    ProviderError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.http import HttpSession, SSEDecoder, SSEEvent, SSEEventDecoder
from aichats_core.testing import registered

PROVIDER = "acme"


def decode(pieces: Iterable[bytes], **kwargs: Any) -> list[SSEEvent]:
    dec = SSEEventDecoder(provider=PROVIDER, **kwargs)
    events: list[SSEEvent] = []
    for piece in pieces:
        events += dec.feed(piece)
    return events + dec.close()


def reference(body: bytes, *, done_marker: bool = False) -> list[SSEEvent]:
    """WHATWG's "interpret an event stream", one line at a time, with this project's end rule
    (the end of the body dispatches a last open event) and ``[DONE]`` as ``done_marker`` says."""
    text = body.decode().removeprefix("\ufeff")
    events: list[SSEEvent] = []
    event_type, data, last_id, retry = "", None, None, None
    for line in [*re.split(r"\r\n|\r|\n", text), ""]:
        if not line:  # dispatch
            if data is not None:
                if done_marker and data == "[DONE]":
                    break
                events.append(SSEEvent(event_type or "message", data, last_id, retry))
            event_type, data = "", None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data = value if data is None else f"{data}\n{value}"
        elif name == "id" and "\x00" not in value:
            last_id = value
        elif name == "retry" and re.fullmatch("[0-9]{1,18}", value):  # 18: the decoder's cap
            retry = int(value)
    return events


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


# --- the rules, one by one --------------------------------------------------------------------


def test_named_events_with_ids_and_retry() -> None:
    body = b"event: delta\nid: 1\nretry: 1500\ndata: a\n\nevent: error\ndata: b\ndata: c\n\n"
    assert decode([body]) == [
        SSEEvent("delta", "a", "1", 1500),
        SSEEvent("error", "b\nc", "1", 1500),  # id and retry persist into later events
    ]


def test_an_event_without_a_name_is_a_message() -> None:
    assert decode([b"data: a\n\nevent:\ndata: b\n\nevent\ndata: c\n\n"]) == [
        SSEEvent("message", "a"),
        SSEEvent("message", "b"),
        SSEEvent("message", "c"),
    ]


def test_a_lone_data_line_dispatches_empty_data_but_no_data_line_dispatches_nothing() -> None:
    # SSEDecoder drops both; WHATWG dispatches the first (its data buffer holds "\n").
    body = b"event: ping\ndata\n\nevent: ping\ndata:\n\nevent: lost\nid: 9\n\ndata: x\n\n"
    assert decode([body]) == [
        SSEEvent("ping", ""),
        SSEEvent("ping", ""),
        SSEEvent("message", "x", "9"),  # the id of the undispatched block still counts
    ]
    assert SSEDecoder(provider=PROVIDER).feed(body) == ["x"]


@pytest.mark.parametrize("value", ["1\x00", "\x00"])
def test_an_id_holding_nul_is_ignored(value: str) -> None:
    body = f"id: 5\ndata: a\n\nid: {value}\ndata: b\n\n".encode()
    assert [e.id for e in decode([body])] == ["5", "5"]


def test_an_empty_id_resets_the_last_event_id() -> None:
    assert [e.id for e in decode([b"id: 5\ndata: a\n\nid\ndata: b\n\n"])] == ["5", ""]


@pytest.mark.parametrize("value", ["", "12a", "-1", " 5", "1.5", "\u00b2", "\u0661", "9" * 19])
def test_retry_is_taken_only_when_all_ascii_digits(value: str) -> None:
    body = f"retry: 7\ndata: a\n\nretry: {value}\ndata: b\n\n".encode()
    assert [e.retry for e in decode([body])] == [7, 7]


def test_comments_unknown_fields_and_one_leading_space() -> None:
    body = b": hi\nfoo: bar\nevent:  two spaces\ndata:no space\ndata:  kept\nEvent: x\n\n"
    assert decode([body]) == [SSEEvent(" two spaces", "no space\n kept")]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_each_line_ending_and_a_leading_bom(eol: str) -> None:
    body = f"\ufeffevent: e{eol}id: 1{eol}data: a{eol}{eol}data: b{eol}{eol}".encode()
    assert decode([body]) == [SSEEvent("e", "a", "1"), SSEEvent("message", "b", "1")]


def test_the_fast_path_carries_the_last_id_and_retry() -> None:
    dec = SSEEventDecoder(provider=PROVIDER)
    assert dec.feed(b"id: 7\nretry: 5\ndata: a\n\n") == [SSEEvent("message", "a", "7", 5)]
    # This read is the one-data-line-per-event shape: it takes the fast path.
    assert dec.feed(b"data: b\n\ndata: c\n\n") == [
        SSEEvent("message", "b", "7", 5),
        SSEEvent("message", "c", "7", 5),
    ]
    assert (dec.last_id, dec.retry) == ("7", 5)


def test_done_is_an_event_unless_it_is_the_end_marker() -> None:
    body = b"data: a\n\ndata: [DONE]\n\ndata: after\n\n"
    assert [e.data for e in decode([body])] == ["a", "[DONE]", "after"]
    dec = SSEEventDecoder(provider=PROVIDER, done_marker=True)
    assert [e.data for e in dec.feed(body)] == ["a"]
    assert dec.done
    assert dec.answered
    assert dec.feed(b"data: ignored\n\n") == []
    assert dec.close() == []
    # The same on the per-line path, with a named event before it.
    dec = SSEEventDecoder(provider=PROVIDER, done_marker=True)
    assert dec.feed(b"event: x\ndata: a\n\ndata: [DONE]\n\ndata: b\n\n") == [SSEEvent("x", "a")]
    assert dec.done


def test_a_last_event_without_its_blank_line_is_delivered_at_close() -> None:
    dec = SSEEventDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\n\nevent: end\ndata: b") == [SSEEvent("message", "a")]
    assert dec.close() == [SSEEvent("end", "b")]


def test_bounds_and_utf8_fail_naming_the_provider() -> None:
    with pytest.raises(ResponseFormatError, match=r"acme: .*line longer than 8 bytes"):
        decode([b"event: much too long\n"], max_line_bytes=8)
    with pytest.raises(ResponseFormatError, match=r"acme: .*event longer than 16 bytes"):
        decode([b"event: e\nid: 1\ndata: 1234567\n\n"], max_event_bytes=16)
    dec = SSEEventDecoder(provider=PROVIDER)
    assert dec.feed(b"event: ok\ndata: a\n\ndata: \xff\n\n") == [SSEEvent("ok", "a")]
    with pytest.raises(ResponseFormatError, match=r"acme: .*not valid UTF-8"):
        dec.feed(b"")  # the events before the fault came first; the fault now


# --- properties -------------------------------------------------------------------------------

_value = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=8),
    st.sampled_from(["[DONE]", "", " x", "12", "3a", "\u00b2", "\x00", "9" * 19, ":"]),
)
_name = st.sampled_from(["data", "event", "id", "retry", "", "Data", "data ", "ev"])
_line = st.one_of(
    st.tuples(_name, _value).map(lambda nv: f"{nv[0]}:{nv[1]}"),
    st.tuples(_name, _value).map(lambda nv: f"{nv[0]}: {nv[1]}"),
    _name,  # a field without a colon ("" is a blank line)
    st.sampled_from(["data: a", "data: b", "id: 1", "retry: 20", "retry: " + "9" * 19]),
)
_block = st.one_of(
    st.lists(_line, max_size=4),
    st.lists(st.sampled_from(["data: x", "data: [DONE]"]), min_size=1, max_size=1),  # fast path
)


@st.composite
def _bodies(draw: st.DrawFn) -> bytes:
    """Blocks of lines, each ended by a blank line, or not (then lines run together)."""
    blocks = draw(st.lists(_block, max_size=10))
    lines = [line for block in blocks for line in [*block, *([""] * draw(st.integers(0, 2)))]]
    endings = draw(
        st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=len(lines), max_size=len(lines))
    )
    unterminated = draw(st.booleans())
    if endings and unterminated:
        endings[-1] = ""  # the body ends inside its last line
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + "".join(map(str.__add__, lines, endings))).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_bodies(), data=st.data(), done_marker=st.booleans())
def test_any_body_and_any_split_give_the_reference_events(
    body: bytes, data: st.DataObject, done_marker: bool
) -> None:
    expected = reference(body, done_marker=done_marker)
    assert decode([body], done_marker=done_marker) == expected
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=20))
    assert decode(split_at(body, cuts), done_marker=done_marker) == expected
    assert decode([body[i : i + 1] for i in range(len(body))], done_marker=done_marker) == expected


@settings(max_examples=200, deadline=None)
@given(body=_bodies())
def test_the_data_only_decoder_sees_the_same_data(body: bytes) -> None:
    """``iter_sse`` and ``iter_sse_events(done_marker=True)`` agree but for empty data."""
    data_only = SSEDecoder(provider=PROVIDER)
    expected = data_only.feed(body) + data_only.close()
    assert [e.data for e in decode([body], done_marker=True) if e.data] == expected


# --- over sockets -----------------------------------------------------------------------------

AWKWARD = (1, 2, 3, 5, 7, 11, 4)
"""Write sizes that cut lines, CRLFs and UTF-8 characters in every way."""

MIXED = (
    "\ufeff: a comment\r\n"
    "retry: 3000\r"
    "event: delta\n"
    "id: m-1\r\n"
    'data: {"text": "caf\u00e9 "}\r\n'
    "\r\n"
    ": keep-alive\n\n"
    "data: line one\r"
    "data: line two\n"
    "\r"
    "event: delta\r"
    'data: {"text": "\u4f60\u597d"}\r'
    "\r"
    "event: error\n"
    "id: m-2\n"
    'data: {"type": "overloaded",\n'
    'data:  "message": "try later"}\n'
    "\n"
).encode()
MIXED_EVENTS = [
    SSEEvent("delta", '{"text": "caf\u00e9 "}', "m-1", 3000),
    SSEEvent("message", "line one\nline two", "m-1", 3000),
    SSEEvent("delta", '{"text": "\u4f60\u597d"}', "m-1", 3000),
    SSEEvent("error", '{"type": "overloaded",\n "message": "try later"}', "m-2", 3000),
]

Serve = Callable[[bytes], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(body) -> url``: an aiohttp server streaming ``body`` as an event stream
    in ``AWKWARD`` pieces, each its own write, with a pause that keeps them apart."""
    servers: list[TestServer] = []

    async def start(body: bytes) -> str:
        async def handle(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            start = 0
            for size in itertools.cycle(AWKWARD):
                if start >= len(body):
                    break
                await response.write(body[start : start + size])
                start += size
                await asyncio.sleep(0.001)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_get("/events", handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/events"))

    yield start
    for server in servers:
        await server.close()


async def test_named_events_over_a_socket(serve: Serve) -> None:
    assert reference(MIXED) == MIXED_EVENTS  # the expectation is the spec's, not the decoder's
    url = await serve(MIXED)
    reads: list[list[SSEEvent]] = []
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        async for events in http.iter_sse_events(response):
            reads.append(events)
    assert [event for read in reads for event in read] == MIXED_EVENTS
    assert len(reads) > 1  # delivered as they arrived, not at the end of the body


async def test_json_events_over_a_socket(serve: Serve) -> None:
    url = await serve(MIXED.replace(b"line one", b"[1,").replace(b"line two", b"2]"))
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        pairs = [pair async for read in http.iter_sse_json(response) for pair in read]
    assert pairs == [
        ("delta", {"text": "caf\u00e9 "}),
        ("message", [1, 2]),
        ("delta", {"text": "\u4f60\u597d"}),
        ("error", {"type": "overloaded", "message": "try later"}),
    ]


async def test_data_that_is_not_json_names_the_provider_after_the_events_before_it(
    serve: Serve,
) -> None:
    url = await serve(b'data: {"a": 1}\n\nevent: oops\ndata: <html>nope</html>\n\ndata: 2\n\n')
    pairs: list[tuple[str, Any]] = []
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        with pytest.raises(ResponseFormatError) as caught:
            async for read in http.iter_sse_json(response):
                pairs += read
    assert pairs == [("message", {"a": 1})]
    assert caught.value.provider == PROVIDER
    assert "'oops' event whose data is not JSON" in str(caught.value)
    assert "'<html>nope</html>'" in str(caught.value)


async def test_json_nested_too_deep_is_refused(serve: Serve) -> None:
    url = await serve(b"data: " + b"[" * 50 + b"]" * 50 + b"\n\n")
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        with pytest.raises(ResponseFormatError, match="nests more than 10 levels"):
            async for _ in http.iter_sse_json(response, max_depth=10):
                pass


async def test_done_marker_ends_the_stream_and_require_done_wants_it(serve: Serve) -> None:
    url = await serve(b'data: {"n": 1}\n\ndata: [DONE]\n\n')
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        reads = [read async for read in http.iter_sse_json(response, done_marker=True)]
    assert [pair for read in reads for pair in read] == [("message", {"n": 1})]

    url = await serve(b"data: a\n\n")
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        with pytest.raises(StreamInterruptedError, match=r"end marker \(data: \[DONE\]\)"):
            async for _ in http.iter_sse_events(response, done_marker=True, require_done=True):
                pass


async def test_require_done_is_met_by_the_protocols_own_last_event(serve: Serve) -> None:
    body = b"event: delta\ndata: a\n\nevent: stop\ndata: {}\n\n"
    url = await serve(body)
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        decoder = SSEEventDecoder(provider=PROVIDER)
        async for read in http.iter_sse_events(response, decoder, require_done=True):
            decoder.answered = any(event.event == "stop" for event in read)
    url = await serve(body.replace(b"stop", b"delta"))
    async with HttpSession(PROVIDER) as http, http.request("GET", url) as response:
        with pytest.raises(StreamInterruptedError, match="the protocol's last event"):
            async for _ in http.iter_sse_events(response, require_done=True):
                pass


async def test_done_marker_must_be_set_on_a_decoder_that_is_given() -> None:
    async with HttpSession(PROVIDER) as http:
        with pytest.raises(ValueError, match="set it on the decoder"):
            http.iter_sse_events(None, SSEEventDecoder(provider=PROVIDER), done_marker=True)  # type: ignore[arg-type]


# --- a provider on it -------------------------------------------------------------------------


class Named(AsyncGeneratorProvider):
    """A protocol with named events: ``delta`` text, ``error`` failures, ``stop`` the end."""

    url = "http://127.0.0.1:1"  # each test points it at its server
    working = True
    supports_stream = True
    default_model = "named"
    models: ClassVar[list[str]] = ["named"]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        from aichats_core.http import HttpSession, SSEEventDecoder

        async with (
            HttpSession(cls.__name__, session=kwargs.get("session")) as http,
            http.request("GET", cls.url) as response,
        ):
            decoder = SSEEventDecoder(provider=cls.__name__)
            async for read in http.iter_sse_json(response, decoder, require_done=True):
                text = ""
                for name, value in read:
                    if name == "delta":
                        text += value["text"]
                    elif name == "error":
                        if text:
                            yield text  # what came before the error still reaches the caller
                        raise _typed_error(cls.__name__, value)
                    elif name == "stop":
                        decoder.answered = True
                if text:
                    yield text


def _typed_error(provider: str, error: dict[str, Any]) -> ProviderError:
    if error.get("type") == "rate_limit":
        return RateLimitError(provider, error["message"], retry_after=error.get("retry_after"))
    return ProviderError(provider, f"{error.get('type')}: {error.get('message')}")


def _stream_body(*events: tuple[str, object]) -> bytes:
    return b"".join(
        f"event: {name}\r\ndata: {json.dumps(value)}\r\n\r\n".encode() for name, value in events
    )


async def _run(url: str) -> tuple[list[str], BaseException | None]:
    Named.url = url
    texts: list[str] = []
    with registered("named", Named):
        try:
            async for event in aichats_core.stream("named", "hi"):
                if isinstance(event, TextChunk):
                    texts.append(event.text)
        except aichats_core.AiChatsError as exc:
            return texts, exc
    return texts, None


async def test_a_provider_turns_event_error_into_a_typed_error(serve: Serve) -> None:
    body = _stream_body(
        ("delta", {"text": "Hel"}),
        ("delta", {"text": "lo"}),
        ("error", {"type": "rate_limit", "message": "slow down", "retry_after": 2}),
        ("delta", {"text": "never"}),
    )
    texts, error = await _run(await serve(body))
    assert "".join(texts) == "Hello"
    assert isinstance(error, RateLimitError)
    assert error.provider == "named"  # as registered
    assert error.retry_after == 2
    assert "slow down" in str(error)


async def test_a_provider_error_event_of_another_type(serve: Serve) -> None:
    body = _stream_body(("error", {"type": "overloaded", "message": "busy"}))
    texts, error = await _run(await serve(body))
    assert texts == []
    assert type(error) is ProviderError
    assert str(error) == "named: overloaded: busy"


async def test_a_provider_stream_ends_at_its_stop_event_or_is_cut(serve: Serve) -> None:
    body = _stream_body(("delta", {"text": "done"}), ("stop", {}))
    assert await _run(await serve(body)) == (["done"], None)
    texts, error = await _run(await serve(_stream_body(("delta", {"text": "half"}))))
    assert texts == ["half"]
    assert isinstance(error, StreamInterruptedError)
    assert error.partial_text == "half"
