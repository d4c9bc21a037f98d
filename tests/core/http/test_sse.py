"""The incremental SSE decoder, on bytes alone: each event-stream rule, then properties.

The properties matter most: the network splits a body anywhere, so the decoder must give the
same events for every split, and must fail only with ResponseFormatError whatever arrives.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichats_core.errors import ResponseFormatError
from aichats_core.http import _sse
from aichats_core.http._sse import SSEDecoder

PROVIDER = "acme"
ENDINGS = ("\n", "\r\n", "\r")


def decode(
    pieces: Iterable[bytes],
    *,
    max_line_bytes: int = 1_048_576,
    max_event_bytes: int = 4 * 1_048_576,
) -> tuple[list[str], ResponseFormatError | None]:
    """Feed ``pieces`` then close; the events delivered, and the error that stopped it if any."""
    dec = SSEDecoder(
        provider=PROVIDER, max_line_bytes=max_line_bytes, max_event_bytes=max_event_bytes
    )
    events: list[str] = []
    try:
        for piece in pieces:
            events += dec.feed(piece)
        events += dec.close()
    except ResponseFormatError as exc:
        return events, exc
    return events, None


def events_of(*pieces: bytes) -> list[str]:
    events, error = decode(pieces)
    assert error is None, error
    return events


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds)]


def reference(body: bytes, *, at_end: bool = True) -> list[str]:
    """The rules, one line at a time: slow and obviously right, to compare the decoder with.

    ``at_end=False`` gives the events complete once ``body`` has arrived, the body going on.
    """
    # errors="replace": invalid bytes can only be after a [DONE] or in the still-open last line.
    text = body.decode(errors="replace").removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)
    lines = [*lines, ""] if at_end else lines[:-1]  # the "" flushes a last open event
    events: list[str] = []
    data: list[str] = []
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value.removeprefix(" "))
            continue
        joined = "\n".join(data)
        data = []
        if joined == "[DONE]":
            break
        if joined:
            events.append(joined)
    return events


def assert_delivered_on_time(body: bytes, pieces: list[bytes]) -> None:
    """After each piece, exactly the events that piece completed have been returned."""
    dec = SSEDecoder(provider=PROVIDER)
    got: list[str] = []
    fed = 0
    for piece in pieces:
        got += dec.feed(piece)
        fed += len(piece)
        assert got == reference(body[:fed], at_end=False), fed
    got += dec.close()
    assert got == reference(body)


# --- line endings -----------------------------------------------------------------------------


@pytest.mark.parametrize("eol", ENDINGS)
def test_each_line_ending_style(eol: str) -> None:
    body = f"data: a{eol}{eol}data: b{eol}data: c{eol}{eol}".encode()
    assert events_of(body) == ["a", "b\nc"]


def test_mixed_line_endings_in_one_stream() -> None:
    assert events_of(b"data: a\r\rdata: b\n\ndata: c\r\n\r\ndata: d\r\n\n") == ["a", "b", "c", "d"]


def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    # Were the "\n" taken as a second line ending, it would be a blank line ending the event.
    assert events_of(b"data: a\r", b"\ndata: b\r\n\r\n") == ["a\nb"]


def test_blank_line_split_between_cr_and_lf_dispatches_once() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\r\n\r") == ["a"]  # a lone "\r" already ends the blank line
    assert dec.feed(b"\n") == []
    assert dec.feed(b"data: b\r\n\r\n") == ["b"]
    assert dec.close() == []


def test_cr_at_chunk_end_followed_by_other_text_is_a_lone_cr() -> None:
    assert events_of(b"data: a\r", b"data: b\r\r") == ["a\nb"]


def test_lf_only_chunk_after_cr_chunk() -> None:
    assert events_of(b"data: a\r", b"\n", b"\r", b"\n") == ["a"]


def test_blank_line_split_across_chunks() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\n") == []
    assert dec.feed(b"\ndata: b\n") == ["a"]
    assert dec.feed(b"\n") == ["b"]
    assert dec.feed(b"data: c") == []
    assert dec.feed(b"d\n") == []
    assert dec.feed(b"\n") == ["cd"]


def test_events_are_returned_by_the_chunk_that_completes_them() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a") == []
    assert dec.feed(b"b\n\ndata: c\n\ndata: d") == ["ab", "c"]
    assert dec.feed(b"\r\n\r\n") == ["d"]


def test_event_arriving_byte_by_byte() -> None:
    body = b"data: hello\ndata: world\n\ndata: again\n\n"
    assert events_of(*(body[i : i + 1] for i in range(len(body)))) == ["hello\nworld", "again"]


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"data:x", "x"),
        (b"data: x", "x"),
        (b"data:  x", " x"),
        (b"data: x ", "x "),
        (b"data:\tx", "\tx"),
        (b"data: a: b", "a: b"),
    ],
)
def test_one_leading_space_is_removed(line: bytes, value: str) -> None:
    assert events_of(line + b"\n\n") == [value]


def test_several_data_lines_are_joined_with_newlines() -> None:
    assert events_of(b"data: a\ndata:b\ndata:  c\n\n") == ["a\nb\n c"]


def test_data_without_colon_is_an_empty_value() -> None:
    assert events_of(b"data\ndata: x\n\n") == ["\nx"]
    assert events_of(b"data: x\ndata\n\n") == ["x\n"]


def test_two_empty_data_lines_give_a_newline() -> None:
    assert events_of(b"data:\ndata:\n\n") == ["\n"]


def test_comments_are_ignored() -> None:
    body = b": keep-alive\n\n:\n\ndata: a\n: inside\ndata: b\n\n:data: c\n\n"
    assert events_of(body) == ["a\nb"]


def test_other_fields_are_ignored() -> None:
    body = (
        b"event: message\nid: 7\nretry: 1000\nfoo: bar\ndata: a\n\n"
        b"datum: x\ndata x\nDATA: x\n data: x\ndata : x\ndatadata: x\n\n"
        b"event: only\n\n"
        b"id\ndata: b\n\n"
    )
    assert events_of(body) == ["a", "b"]


@pytest.mark.parametrize(
    "body",
    [b"data:\n\n", b"data: \n\n", b"data\n\n", b"event: x\n\n", b"\n\n\n\n", b": c\n\n", b"\r\n"],
)
def test_events_with_empty_data_add_nothing(body: bytes) -> None:
    assert events_of(body) == []
    assert events_of(b"data: a\n\n" + body + b"data: b\n\n") == ["a", "b"]


def test_empty_events_among_plain_ones() -> None:
    assert events_of(b"data: a\n\ndata: \n\ndata: b\n\ndata: \n\n") == ["a", "b"]


def test_text_that_looks_like_the_fast_path_but_is_not() -> None:
    body = b"data: a\n\n\ndata: b\n\ndata: c\ndata: d\n\ndata: e\n: x\n\ndata: f\n\n"
    assert events_of(body) == ["a", "b", "c\nd", "e", "f"]


def test_nul_and_other_odd_characters_are_just_text() -> None:
    # None of these is a line ending in SSE, though str.splitlines would split at most.
    value = "a\x00b\x0bc\x0cd\x1ce\x1df\x1eg\x85h\u2028i\u2029j\ufeffk"
    assert events_of(f"data: {value}\n\n".encode()) == [value]


def test_empty_chunks_are_harmless() -> None:
    assert events_of(b"", b"data: a", b"", b"\n\n", b"") == ["a"]


# --- [DONE] and the end of the body -----------------------------------------------------------


def test_done_mid_chunk_ignores_everything_after_it() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=64)
    garbage = b"data: b\n\n\xff\xfe" + b"x" * 200
    assert dec.feed(b"data: a\n\ndata: [DONE]\n\n" + garbage) == ["a"]
    assert dec.done
    assert dec.feed(b"data: c\n\n\xff" + b"y" * 200) == []
    assert dec.close() == []
    assert dec.feed(b"data: d\n\n") == []


@pytest.mark.parametrize("line", [b"data: [DONE]", b"data:[DONE]"])
def test_done_sets_the_flag_and_is_not_returned(line: bytes) -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert not dec.done
    assert dec.feed(line + b"\r\n\r\n") == []
    assert dec.done


@pytest.mark.parametrize("line", [b"data: [DONE] ", b"data:  [DONE]", b"data: [done]"])
def test_only_exactly_done_ends_the_stream(line: bytes) -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(line + b"\n\n") == [line.decode()[6:]]
    assert not dec.done


def test_done_as_one_line_of_a_multi_line_event_is_text() -> None:
    assert events_of(b"data: [DONE]\ndata: more\n\n") == ["[DONE]\nmore"]


def test_done_without_closing_blank_line_is_seen_by_close() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\n\ndata: [DONE]") == ["a"]
    assert not dec.done
    assert dec.close() == []
    assert dec.done


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (b"data: b", ["b"]),  # no line terminator at all
        (b"data: b\n", ["b"]),
        (b"data: b\r\n", ["b"]),
        (b"data: b\r", ["b"]),
        (b"data: b\ndata: c", ["b\nc"]),
        (b"data: b\n: comment", ["b"]),
        (b"event: x", []),
        (b"data:", []),
    ],
)
def test_close_delivers_a_last_event_without_blank_line(tail: bytes, expected: list[str]) -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\n\n" + tail) == ["a"]
    assert dec.close() == expected
    assert dec.close() == []  # closing twice is harmless


def test_feed_after_close_is_a_programming_error() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    dec.close()
    with pytest.raises(RuntimeError, match="after close"):
        dec.feed(b"data: a\n\n")


# --- UTF-8 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("char", ["é", "€", "😀", "你"])
def test_utf8_character_split_at_every_byte_boundary(char: str) -> None:
    body = f"data: x{char}y\n\ndata: {char}\n\n".encode()
    for cut in range(len(body) + 1):
        assert events_of(body[:cut], body[cut:]) == [f"x{char}y", char], cut
    assert events_of(*(body[i : i + 1] for i in range(len(body)))) == [f"x{char}y", char]


def test_leading_bom_is_skipped() -> None:
    body = b"\xef\xbb\xbfdata: a\n\n"
    assert events_of(body) == ["a"]
    for cut in range(1, 4):
        assert events_of(body[:cut], body[cut:]) == ["a"]
    assert events_of(*(body[i : i + 1] for i in range(len(body)))) == ["a"]


def test_bom_is_only_skipped_at_the_very_start() -> None:
    # Elsewhere U+FEFF is a character: it makes "\ufeffdata" a field name other than data.
    assert events_of(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == ["a"]
    assert events_of(b"\xef\xbb\xbf\xef\xbb\xbfdata: b\n\n") == []
    assert events_of(b"\xef\xbb\xbf\r\ndata: b\n\n") == ["b"]


def test_invalid_utf8_raises_naming_the_provider() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    with pytest.raises(
        ResponseFormatError, match=r"not valid UTF-8.*0xff at byte offset 6"
    ) as info:
        dec.feed(b"data: \xff\n\n")
    assert info.value.provider == PROVIDER
    assert str(info.value).startswith(f"{PROVIDER}: ")


def test_invalid_utf8_offset_counts_the_whole_stream() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\n\ndata: \xe2") == ["a"]
    with pytest.raises(ResponseFormatError, match="byte offset 15"):
        dec.feed(b"\x28\n\n")  # 0xe2 0x28: the continuation byte is invalid


def test_events_before_invalid_utf8_in_the_same_chunk_are_delivered_first() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\n\ndata: b\n\ndata: \xc3\x28\n\n") == ["a", "b"]
    with pytest.raises(ResponseFormatError, match="UTF-8"):
        dec.close()
    with pytest.raises(ResponseFormatError, match="UTF-8"):  # the error sticks
        dec.feed(b"data: c\n\n")


def test_body_ending_inside_a_utf8_character_raises_at_close() -> None:
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: a\n\ndata: \xe2\x82") == ["a"]
    with pytest.raises(ResponseFormatError, match="middle of a UTF-8 character") as info:
        dec.close()
    assert info.value.provider == PROVIDER


@pytest.mark.parametrize(
    "bad",
    [b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xfe", b"\xe2\x82\x41"],
)
def test_each_kind_of_invalid_utf8_raises(bad: bytes) -> None:
    events, error = decode([b"data: " + bad + b"\n\n"])
    assert events == []
    assert isinstance(error, ResponseFormatError)
    assert "UTF-8" in str(error)


# --- the line bound ---------------------------------------------------------------------------


def test_line_at_the_bound_is_accepted() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=10)
    assert dec.feed(b"data: 0123\r\n\r\n") == ["0123"]  # 10 bytes; the line ending not counted
    assert dec.feed(b"data: 01\ndata: 23\ndata: 45\n\n") == ["01\n23\n45"]  # bound is per line


def test_line_over_the_bound_raises() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=10)
    with pytest.raises(ResponseFormatError, match="longer than 10 bytes") as info:
        dec.feed(b"data: 01234\n\n")
    assert info.value.provider == PROVIDER


def test_unterminated_growing_line_raises_before_its_end_arrives() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=10)
    assert dec.feed(b"data: ") == []
    assert dec.feed(b"0123") == []  # 10 bytes, still open
    with pytest.raises(ResponseFormatError, match=r"longer than 10 bytes.*byte offset 0"):
        dec.feed(b"4")
    with pytest.raises(ResponseFormatError, match="longer than 10 bytes"):
        dec.feed(b"\n\n")


def test_unterminated_line_in_many_reads_is_bounded() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=4096)
    assert dec.feed(b"data: ") == []
    with pytest.raises(ResponseFormatError, match="longer than 4096 bytes"):
        for _ in range(5):
            dec.feed(b"x" * 1024)


def test_long_line_inside_one_big_chunk_is_found() -> None:
    body = b"data: a\r\n\r\n" + b"data: " + b"x" * 20 + b"\r\ndata: b\n\n"
    events, error = decode([body], max_line_bytes=16)
    assert events == ["a"]  # delivered before the fault, which close() then raises
    assert error is not None
    assert "byte offset 11" in str(error)


def test_long_line_continuing_a_carried_line_is_found() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=16)
    assert dec.feed(b"data: a\n\ndata: 0123456789") == ["a"]
    with pytest.raises(ResponseFormatError, match="byte offset 9"):
        dec.feed(b"abc\n\n")


def test_only_the_first_line_of_a_chunk_continues_the_carried_one() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=10)
    assert dec.feed(b"data: ") == []
    with pytest.raises(ResponseFormatError, match="byte offset 19"):
        dec.feed(b"a\n0123456789\n" + b"x" * 11 + b"\n")  # the 10-byte line is fine


def test_over_long_open_line_at_the_end_of_a_chunk_is_found() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=10)
    assert dec.feed(b"data: a\n\ndata: " + b"x" * 20) == ["a"]
    with pytest.raises(ResponseFormatError, match=r"longer than 10 bytes.*byte offset 9"):
        dec.close()


def test_max_line_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SSEDecoder(provider=PROVIDER, max_line_bytes=0)


# --- the event bound --------------------------------------------------------------------------


def test_the_default_bounds() -> None:
    assert _sse.DEFAULT_MAX_LINE_BYTES == 1_048_576
    assert _sse.DEFAULT_MAX_EVENT_BYTES == 4 * 1_048_576
    dec = SSEDecoder(provider=PROVIDER)
    assert dec.feed(b"data: x\n" * 100_000 + b"\n") == ["\n".join(["x"] * 100_000)]  # 800 KB


def test_event_at_the_bound_is_accepted() -> None:
    # An event's size is its lines with their line endings: "data: ab\ndata: cd\n" is 18 bytes.
    dec = SSEDecoder(provider=PROVIDER, max_event_bytes=18)
    assert dec.feed(b"data: ab\r\ndata: cd\r\n\r\n") == ["ab\ncd"]  # a CRLF counts as one
    assert dec.feed(b"data: ab\ndata: cd\n") == []
    assert dec.feed(b"\n") == ["ab\ncd"]
    assert dec.feed(b"data: ab\ndata: cd") == []
    assert dec.close() == ["ab\ncd"]


def test_event_over_the_bound_raises_naming_the_provider() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_event_bytes=18)
    with pytest.raises(ResponseFormatError, match="event longer than 18 bytes") as info:
        dec.feed(b"data: ab\ndata: cde\n\n")
    assert info.value.provider == PROVIDER
    with pytest.raises(ResponseFormatError, match="event longer than 18 bytes"):
        dec.close()  # and again by every later call


def test_endless_short_data_lines_are_bounded_before_the_event_ends() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_line_bytes=64, max_event_bytes=4096)
    assert dec.feed(b"data: a\n\n") == ["a"]
    with pytest.raises(ResponseFormatError, match="event longer than 4096 bytes"):
        for _ in range(1000):  # each line is short: only the event bound can stop this
            assert dec.feed(b"data: x\n" * 64) == []


def test_endless_comment_lines_are_bounded_too() -> None:
    with pytest.raises(ResponseFormatError, match="event longer than 100 bytes"):
        dec = SSEDecoder(provider=PROVIDER, max_event_bytes=100)
        for _ in range(100):
            dec.feed(b": keep-alive\n")


def test_event_bound_counts_utf8_bytes_not_characters() -> None:
    value = "\u20ac" * 4  # 12 bytes in UTF-8, 4 characters
    events, error = decode([f"data: {value}\n\n".encode()], max_event_bytes=19)
    assert (events, error) == ([value], None)  # 6 + 12 + 1 bytes
    events, error = decode([f"data: {value}\n\n".encode()], max_event_bytes=18)
    assert events == []
    assert error is not None


def test_events_before_an_over_long_one_are_delivered_first() -> None:
    body = b"data: a\n\ndata: b\n\n" + b"data: " + b"x" * 50 + b"\n\ndata: c\n\n"
    for pieces in ([body], [body[:25], body[25:]], [body[i : i + 1] for i in range(len(body))]):
        events, error = decode(pieces, max_event_bytes=32)
        assert events == ["a", "b"]
        assert error is not None
        assert "event longer than 32 bytes" in str(error)


def test_done_before_an_over_long_event_ends_the_stream_cleanly() -> None:
    body = b"data: a\n\ndata: [DONE]\n\ndata: " + b"x" * 50 + b"\n\n"
    assert decode([body], max_event_bytes=32) == (["a"], None)


def test_blank_lines_between_events_do_not_count() -> None:
    dec = SSEDecoder(provider=PROVIDER, max_event_bytes=8)  # "data: x\n"
    assert dec.feed(b"data: x\n\n\n\n\ndata: y\n\n\n") == ["x", "y"]
    assert dec.feed(b"\n\ndata: z") == []
    assert dec.feed(b"\n\n") == ["z"]


def test_max_event_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_event_bytes must be at least 1"):
        SSEDecoder(provider=PROVIDER, max_event_bytes=0)


def test_module_does_not_import_the_http_client() -> None:
    tree = ast.parse(Path(_sse.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"__future__", "codecs", "typing", "aichats_core.errors"}


# --- properties -------------------------------------------------------------------------------

_value = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_line: st.SearchStrategy[tuple[str, str | None]] = st.one_of(
    st.tuples(st.just("data"), st.one_of(_value, st.sampled_from(["[DONE]", " x", ""]))),
    st.tuples(st.just(":"), _value),
    st.tuples(st.sampled_from(["event", "id", "retry", "datum", "data ", "x"]), _value),
    st.just(("data", None)),  # a bare "data" line, no colon
)
_events = st.lists(st.lists(_line, max_size=4), max_size=8)


def _render(line: tuple[str, str | None]) -> str:
    name, value = line
    if value is None:
        return name
    if name == ":":
        return f":{value}"
    return f"{name}: {value}"


def _expected(events: list[list[tuple[str, str | None]]]) -> list[str]:
    out: list[str] = []
    for event in events:
        data = "\n".join(value or "" for name, value in event if name == "data")
        if not data:
            continue
        if data == "[DONE]":
            break
        out.append(data)
    return out


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[str] | None]:
    """A rendered event list, and the events expected (None when the endings are mixed)."""
    events = draw(_events)
    style = draw(st.sampled_from([*ENDINGS, "mixed"]))
    lines = [_render(line) for event in events for line in [*event, ("", None)]]
    if draw(st.booleans()) and lines:
        lines.pop()  # the body ends without the closing blank line
    endings = [
        draw(st.sampled_from(ENDINGS)) if style == "mixed" else style for _ in range(len(lines))
    ]
    if draw(st.booleans()) and endings:
        endings[-1] = ""  # nor a line terminator
    text = "".join(line + eol for line, eol in zip(lines, endings, strict=True))
    bom = "\ufeff" if draw(st.booleans()) else ""
    # Mixed endings can pair a "\r" with the next line's "\n": only the reference knows then.
    return (bom + text).encode(), None if style == "mixed" else _expected(events)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=_streams(), data=st.data())
def test_any_split_gives_the_same_events(
    stream: tuple[bytes, list[str] | None], data: st.DataObject
) -> None:
    body, expected = stream
    whole = events_of(body)
    assert whole == reference(body)
    if expected is not None:
        assert whole == expected
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=20))
    assert events_of(*split_at(body, cuts)) == whole
    assert_delivered_on_time(body, split_at(body, cuts))
    assert_delivered_on_time(body, [body[i : i + 1] for i in range(len(body))])


_PIECES = [b"data: ", b"data:", b"\r", b"\n", b"\r\n", b":", b"\xef\xbb\xbf", b"[DONE]"]
_PIECES += [b"\xe2\x82\xac", b"\xe2\x82", b"\xff", b"\x00", b"x" * 20]  # UTF-8: ok, cut, bad
_noise = st.one_of(
    st.binary(max_size=200),
    st.lists(
        st.one_of(
            st.sampled_from(_PIECES),
            st.binary(max_size=4),
        ),
        max_size=40,
    ).map(b"".join),
)


@settings(max_examples=200, deadline=None)
@given(
    body=_noise,
    data=st.data(),
    max_line_bytes=st.sampled_from([1, 8, 30, 1_048_576]),
    max_event_bytes=st.sampled_from([1, 8, 30, 60, 4 * 1_048_576]),
)
def test_random_bytes_only_ever_raise_response_format_error(
    body: bytes, data: st.DataObject, max_line_bytes: int, max_event_bytes: int
) -> None:
    # decode() lets nothing but ResponseFormatError pass silently: anything else fails the test.
    bounds = {"max_line_bytes": max_line_bytes, "max_event_bytes": max_event_bytes}
    whole, whole_error = decode([body], **bounds)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=20))
    split, split_error = decode(split_at(body, cuts), **bounds)
    # The text before a fault is delivered whatever the split; which fault is reported first
    # may differ (an invalid byte inside an over-long line), but not whether there is one.
    assert split == whole
    assert (split_error is None) == (whole_error is None)
    if whole_error is None:
        assert whole == reference(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=_streams(), data=st.data(), max_event_bytes=st.integers(1, 40))
def test_the_event_bound_does_not_depend_on_the_split(
    stream: tuple[bytes, list[str] | None], data: st.DataObject, max_event_bytes: int
) -> None:
    body, _ = stream
    whole, whole_error = decode([body], max_event_bytes=max_event_bytes)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=20))
    split, split_error = decode(split_at(body, cuts), max_event_bytes=max_event_bytes)
    by_byte, by_byte_error = decode(
        [body[i : i + 1] for i in range(len(body))], max_event_bytes=max_event_bytes
    )
    assert split == whole == by_byte
    assert (split_error is None) == (whole_error is None) == (by_byte_error is None)
    expected = reference(body)
    if whole_error is None:
        assert whole == expected
    else:
        assert whole == expected[: len(whole)]  # what came before the fault, nothing after
    assert (whole_error is not None) == any(size > max_event_bytes for size in event_sizes(body))


def event_sizes(body: bytes) -> list[int]:
    """Each event's size up to a [DONE]: its lines with their line endings, one byte each."""
    parts = re.split(r"(\r\n|\r|\n)", body.decode().removeprefix("\ufeff"))
    sizes: list[int] = []
    size = 0
    data: list[str] = []
    for line, ending in zip(parts[0::2], [*parts[1::2], ""], strict=True):
        if line:
            size += len(line.encode()) + (1 if ending else 0)
            name, _, value = line.partition(":")
            if name == "data":
                data.append(value.removeprefix(" "))
            continue
        if size:
            sizes.append(size)
        if "\n".join(data) == "[DONE]":
            return sizes
        size = 0
        data = []
    return [*sizes, size] if size else sizes
