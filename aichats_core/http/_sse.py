"""Incremental decoder for ``text/event-stream`` response bodies.

Providers must yield text as soon as each event completes rather than after the whole body has
arrived, so the body is decoded chunk by chunk as the network delivers it. The work is done on
whole chunks with C-level ``bytes``/``str`` methods (normalise line endings, split at blank
lines), because a per-character Python loop would cost more than reading the network. Uncommon
shapes (multi-line events, comments, other fields, empty events) take a per-line path.

The rules are WHATWG's event-stream format, with one deliberate difference: a last event that
the body ends without a closing blank line is still delivered, since servers in the wild omit it.
Nothing here imports the HTTP client, so the decoder can be tested and fuzzed on bytes alone.

Two decoders share that machinery (``_EventStream``: line endings, BOM, bounds, UTF-8, blank-line
splitting) and differ only in what a completed block becomes: ``SSEDecoder`` gives the data
alone (the fast path), ``SSEEventDecoder`` gives whole ``SSEEvent`` values (name, data, id,
retry) for protocols that name their events.
"""

from __future__ import annotations

import codecs
from typing import Generic, NamedTuple, TypeVar

from aichats_core.errors import ResponseFormatError

__all__ = [
    "DEFAULT_MAX_EVENT_BYTES",
    "DEFAULT_MAX_LINE_BYTES",
    "SSEDecoder",
    "SSEEvent",
    "SSEEventDecoder",
]

DEFAULT_MAX_LINE_BYTES = 1_048_576
"""Longest line accepted in an event stream."""
DEFAULT_MAX_EVENT_BYTES = 4 * 1_048_576
"""Largest event accepted in an event stream: the text between two blank lines, however many
lines it is made of."""

_DONE = "[DONE]"
_BOM = "\ufeff"
_utf8_decode = codecs.utf_8_decode  # stateless; the split-character carry is kept by the decoder


def _utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8; ``isascii`` is O(1), so only non-ASCII text is measured."""
    return len(text) if text.isascii() else len(text.encode())


def _field(line: str) -> tuple[str, str]:
    """A line's field name and value, the WHATWG way: ``name:value`` with one space after the
    colon removed; a line without a colon is a name with an empty value. A comment (``:...``)
    gets the name "", which no field has, so callers need not test for it."""
    name, _, value = line.partition(":")
    return name, value[1:] if value.startswith(" ") else value


def _data_value(line: str) -> str | None:
    """Value of a ``data`` field line, or None for any other line (comment, other field, blank)."""
    name, value = _field(line)
    return value if name == "data" else None


_MAX_RETRY_DIGITS = 18
"""Longer ``retry`` values (beyond 10**18 ms) are ignored: nonsense, and ``int()`` of a line of
digits a megabyte long would cost more than the whole stream."""


def _is_retry(value: str) -> bool:
    """A ``retry`` value WHATWG takes: ASCII digits only (``isdigit`` alone accepts "²")."""
    return value.isascii() and value.isdigit() and len(value) <= _MAX_RETRY_DIGITS


_T = TypeVar("_T")
_new = tuple.__new__


class SSEEvent(NamedTuple):
    """One dispatched server-sent event, as WHATWG defines it.

    A NamedTuple, not a dataclass: one is made per event on the streaming path, and a tuple is
    the cheapest immutable value to build.
    """

    event: str = "message"
    """The ``event:`` field of the event, "message" when it had none (or an empty one)."""
    data: str = ""
    """Its ``data:`` lines joined with "\n"; "" for a lone ``data:`` line."""
    id: str | None = None
    """The last event id of the stream: the latest ``id:`` field so far, in this event or an
    earlier one (an id persists until changed); None before any. "" is a reset, as in WHATWG."""
    retry: int | None = None
    """The reconnection time (ms) the stream last set with an all-digits ``retry:``, if any."""


class _EventStream(Generic[_T]):
    """The machinery of both decoders: bytes in, the blocks of completed events out.

    ``feed`` returns the events a chunk completes; ``close`` is called at the end of the body
    and returns a last event left open. A ``[DONE]`` event, where the subclass honours it,
    sets ``done`` and makes the decoder ignore all later input. Subclasses say what a block
    becomes: ``_events`` for any text of whole blocks, ``_one_line_events`` for the fast path.

    A malformed stream (invalid UTF-8, a line longer than ``max_line_bytes``, an event longer
    than ``max_event_bytes``) raises ``ResponseFormatError``. When the chunk holding the fault
    also completed events before it, those events are returned first and the error is raised by
    the next ``feed``/``close``, so the text received before the fault is never lost and the
    outcome does not depend on how the network split the body. Once raised, the error is raised
    again by every later call.

    The two bounds cap memory: a service that never ends a line, or sends ``data:`` lines
    forever without the blank line that ends an event, is refused once it passes the bound
    instead of being buffered without end. An event's size counts its lines with their line
    endings (one byte each) in UTF-8.
    """

    __slots__ = (
        "_closed",
        "_error",
        "_event_bytes",
        "_halted",
        "_line_bytes",
        "_max_event",
        "_max_line",
        "_offset",
        "_peek",
        "_pending",
        "_pending_nl",
        "_provider",
        "_skip_lf",
        "_started",
        "_undecoded",
        "answered",
        "done",
    )

    done: bool
    """``data: [DONE]`` arrived; the decoder ignores whatever follows it."""
    answered: bool
    """The answer is complete: ``done``, or a provider saw its protocol's in-band end (such as
    OpenAI's ``finish_reason``) and said so, while later events may still follow."""

    def __init__(
        self,
        *,
        provider: str,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be at least 1, got {max_event_bytes}")
        self.done = self.answered = False
        self._provider = provider
        self._max_line = max_line_bytes
        self._max_event = max_event_bytes
        # UTF-8 bytes of the pending text (line endings counted as one byte), for the event bound.
        self._event_bytes = 0
        # Bytes of the stream fed before the current chunk: error messages give absolute offsets.
        self._offset = 0
        # Length of the line still open at the end of the last chunk, checked against the bound.
        self._line_bytes = 0
        # Tail of the last chunk that is the start of a UTF-8 character split by the network.
        self._undecoded = b""
        # The first character of the next text needs a look: a BOM (at the very start of the
        # stream, until ``_started``) or the "\n" of a "\r\n" split by the network (``_skip_lf``).
        self._peek = True
        self._started = False
        self._skip_lf = False
        # Text (line endings normalised to "\n") since the last event boundary, in pieces, so an
        # event arriving in many reads is joined once rather than copied on every read.
        self._pending: list[str] = []
        # The pending text ends with "\n": a "\n" opening the next text is a blank line.
        self._pending_nl = False
        # One flag for the hot path: ``done``, an error raised, or ``close`` called.
        self._halted = False
        self._error: ResponseFormatError | None = None
        self._closed = False

    def feed(self, chunk: bytes) -> list[_T]:
        """Decode the next piece of the body; return the events it completes."""
        if self._halted:
            if self.done:
                return []
            if self._error is not None:
                raise self._error
            raise RuntimeError("SSEDecoder.feed() called after close()")
        if not chunk:
            return []
        # The line bound is checked on the raw bytes: it bounds memory, so it must hold while a
        # line is still open. Two rfind in the common case; lines are only measured one by one
        # when one in this chunk could be over the bound.
        limit = self._max_line
        nl = chunk.rfind(b"\n")
        cr = chunk.rfind(b"\r")
        last = nl if nl > cr else cr
        carried = self._line_bytes
        if last < 0:
            self._line_bytes = carried + len(chunk)
            cut = 0 if carried + len(chunk) > limit else -1
        elif carried + last <= limit:
            self._line_bytes = len(chunk) - last - 1
            cut = last + 1 if len(chunk) - last - 1 > limit else -1
        else:
            cut = self._measure_lines(chunk, last, carried)
        error: ResponseFormatError | None = None
        if cut >= 0:
            start = self._offset + cut - (carried if cut == 0 else 0)
            error = self._fail(
                f"the event stream has a line longer than {limit} bytes (the line starting at "
                f"byte offset {start}); the response is not a valid event stream"
            )
            chunk = chunk[:cut]  # the events completed before that line still count
        undecoded = self._undecoded
        data = undecoded + chunk if undecoded else chunk
        try:
            text, used = _utf8_decode(data, "strict", False)
        except UnicodeDecodeError as exc:
            text = data[: exc.start].decode()  # whole characters only: the fault starts there
            error = self._fail(
                f"the event stream is not valid UTF-8: byte 0x{data[exc.start]:02x} at byte "
                f"offset {self._offset - len(undecoded) + exc.start} ({exc.reason}); the "
                f"service sent a corrupt or non-text body"
            )
        else:
            self._undecoded = data[used:]
        self._offset += len(chunk)
        events = self._take(text) if text else []
        if error is None:
            if self._event_bytes <= self._max_event:
                return events
            error = self._fail(
                f"the event stream has an event longer than {self._max_event} bytes (no blank "
                f"line ends it within the bound); the response is not a valid event stream"
            )
        if not self.done:  # a [DONE] before the fault makes what follows it irrelevant
            self._error = error
            self._halted = True
            if not events:
                raise error
        return events

    def close(self) -> list[_T]:
        """End of the body: return a last event that no blank line closed."""
        if self.done:
            return []
        if self._error is not None:
            raise self._error
        if self._closed:
            return []
        self._closed = self._halted = True
        if self._undecoded:
            self._error = self._fail(
                f"the event stream ends in the middle of a UTF-8 character (byte offset "
                f"{self._offset - len(self._undecoded)}); the response was cut short or is not text"
            )
            raise self._error
        rest = "".join(self._pending)
        self._pending.clear()
        return self._events(rest) if rest else []

    def _fail(self, message: str) -> ResponseFormatError:
        return ResponseFormatError(self._provider, message)

    def _measure_lines(self, chunk: bytes, last: int, carried: int) -> int:
        """Where in ``chunk`` a line over the bound starts, or -1; ``last`` is its last line end."""
        limit = self._max_line
        head = chunk[:last]
        if b"\r" in head:
            head = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = head.split(b"\n")
        if carried + len(lines[0]) > limit or max(map(len, lines)) > limit:
            start = 0  # found one: find where it starts (error path, speed does not matter)
            for line in chunk.splitlines(keepends=True):  # only \n, \r\n and \r for bytes
                if carried + len(line.rstrip(b"\r\n")) > limit:
                    return start
                carried = 0
                start += len(line)
        self._line_bytes = len(chunk) - last - 1
        return last + 1 if self._line_bytes > limit else -1

    def _take(self, text: str) -> list[_T]:
        """Add decoded text; return the events it completes."""
        if self._peek:
            self._peek = False
            if not self._started:
                self._started = True
                if text[0] == _BOM:
                    text = text[1:]
            if self._skip_lf and text and text[0] == "\n":
                text = text[1:]  # the "\r" that ended the last text was the start of a "\r\n"
            self._skip_lf = False
            if not text:
                return []
        if "\r" in text:
            if text[-1] == "\r":
                self._skip_lf = self._peek = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        pending = self._pending
        end = text.rfind("\n\n")  # a blank line: what follows it starts a fresh event
        if pending:
            if end < 0 and not (self._pending_nl and text[0] == "\n"):
                pending.append(text)
                self._pending_nl = text[-1] == "\n"
                self._event_bytes += _utf8_size(text)
                return []
            pending.append(text)
            joined = "".join(pending)
            pending.clear()
            # Into the joined text; with end == -1 this lands on the "\n\n" across the junction.
            end += len(joined) - len(text)
            text = joined
        elif end < 0:
            pending.append(text)
            self._pending_nl = text[-1] == "\n"
            # A "\n" opening a fresh event is the end of the blank line before it, not part of it.
            self._event_bytes = _utf8_size(text) - (text[0] == "\n")
            return []
        if end + 2 < len(text):
            tail = text[end + 2 :]
            pending.append(tail)
            self._pending_nl = text[-1] == "\n"
            self._event_bytes = _utf8_size(tail)
        else:
            self._event_bytes = 0
        text = text[:end]
        size = len(text)  # UTF-8 needs at most 4 bytes a character: most chunks need no measure
        if size >= self._max_event or (4 * size >= self._max_event and not text.isascii()):
            text = self._within_event_bound(text)
        # Fast path for the shape nearly every stream has, one "data: " line per event: split at
        # "\n\ndata: ", then check that no event held anything else (no other "\n" than the
        # separators' own) and none is empty; cheapest checks first. In that shape an event is
        # [DONE] exactly when its value is, so the stream's last read stays on this path too.
        if text.startswith("data: "):
            values = text.split("\n\ndata: ")
            values[0] = values[0][6:]
            if all(values) and text.count("\n") == 2 * len(values) - 2:
                return self._one_line_events(values, "]" in text)
        return self._events(text)

    def _one_line_events(self, values: list[str], bracket: bool) -> list[_T]:
        """The events of the fast path: ``values`` are the data of events that were each one
        ``data: `` line; ``bracket`` says whether the text held a "]" (else no [DONE])."""
        raise NotImplementedError

    def _events(self, text: str) -> list[_T]:
        """The events of ``text``: blocks of "\\n"-ended lines between blank lines."""
        raise NotImplementedError

    def _done_at(self, values: list[str]) -> None:
        """Cut ``values`` at a ``[DONE]`` among them, which ends the stream."""
        if _DONE in values:
            del values[values.index(_DONE) :]
            self._finish()

    def _within_event_bound(self, text: str) -> str:
        """``text`` cut before its first event over the bound; that event then fails ``feed``.

        An event's size is that of its lines with their line endings (each one byte), which the
        open event's count in ``_event_bytes`` never exceeds: the outcome does not depend on
        whether the network delivered the event in one read or in many.
        """
        blocks = text.split("\n\n")
        for index, block in enumerate(blocks):
            size = _utf8_size(block.strip("\n")) + 1
            if size > self._max_event:
                self._pending.clear()
                self._event_bytes = size
                return "\n\n".join(blocks[:index])
        return text

    def _finish(self) -> None:
        """``[DONE]`` arrived: the stream is over, whatever else the body holds."""
        self.done = self.answered = self._halted = True
        self._pending.clear()
        self._event_bytes = 0
        self._undecoded = b""


class SSEDecoder(_EventStream[str]):
    """Incremental SSE decoder: feed bytes as they arrive, get the data of each completed event.

    The decoder of ``HttpSession.iter_sse``, for protocols that only use ``data:``: events with
    empty data are dropped, and ``data: [DONE]`` ends the stream. See ``_EventStream`` for the
    errors, the bounds and ``done``/``answered``.
    """

    __slots__ = ()

    def _one_line_events(self, values: list[str], bracket: bool) -> list[str]:
        if bracket:
            self._done_at(values)
        return values

    def _events(self, text: str) -> list[str]:
        events: list[str] = []
        for block in text.split("\n\n"):
            if "\n" in block:
                values = [v for v in map(_data_value, block.split("\n")) if v is not None]
                data = "\n".join(values) if values else None
            else:
                data = _data_value(block)
            if not data:  # no data line, or one with an empty value: nothing to deliver
                continue
            if data == _DONE:
                self._finish()
                break
            events.append(data)
        return events


class SSEEventDecoder(_EventStream[SSEEvent]):
    """Incremental SSE decoder that keeps what ``SSEDecoder`` drops: event names, ids, retry.

    The decoder of ``HttpSession.iter_sse_events``, on the same machinery and bounds. It follows
    WHATWG where ``SSEDecoder`` simplifies: a lone ``data:`` line dispatches an event with data
    "" (only an event without any ``data`` line is not dispatched), and ``[DONE]`` is data like
    any other unless ``done_marker`` makes it the end of the stream (as in ``SSEDecoder``). The
    one deviation is ``SSEDecoder``'s: a last event that the body ends without a blank line is
    still delivered.
    """

    __slots__ = ("done_marker", "last_id", "retry")

    done_marker: bool
    """``data: [DONE]`` ends the stream (not delivered, ``done`` set) instead of being an event."""
    last_id: str | None
    """The stream's last event id so far: also updated by blocks that dispatch no event."""
    retry: int | None
    """The reconnection time (ms) the stream last set, if any."""

    def __init__(
        self,
        *,
        provider: str,
        done_marker: bool = False,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        super().__init__(
            provider=provider, max_line_bytes=max_line_bytes, max_event_bytes=max_event_bytes
        )
        self.done_marker = done_marker
        self.last_id = None
        self.retry = None

    def _one_line_events(self, values: list[str], bracket: bool) -> list[SSEEvent]:
        if bracket and self.done_marker:
            self._done_at(values)
        ident, retry = self.last_id, self.retry  # no id/retry line on this path: they hold
        # tuple.__new__ skips the NamedTuple's Python-level __new__: 40% of this path's cost.
        return [_new(SSEEvent, ("message", value, ident, retry)) for value in values]

    def _events(self, text: str) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for block in text.split("\n\n"):
            name = ""
            data: list[str] = []
            for field, value in map(_field, block.split("\n")):
                if field == "data":
                    data.append(value)
                elif field == "event":
                    name = value
                elif field == "id" and "\0" not in value:  # WHATWG ignores such an id
                    self.last_id = value
                elif field == "retry" and _is_retry(value):
                    self.retry = int(value)
            if not data:  # WHATWG: an empty data buffer dispatches nothing
                continue
            joined = "\n".join(data)
            if self.done_marker and joined == _DONE:
                self._finish()
                break
            events.append(SSEEvent(name or "message", joined, self.last_id, self.retry))
        return events
