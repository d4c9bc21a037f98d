"""Leaving a sync stream early releases its connection, seen from the server's side."""

from __future__ import annotations

import gc
import time

from sync_servers import HangUpRecorder, wait_until

from aichats_core import TextChunk, sync
from aichats_core.sync._iterate import BUFFERED
from providers.aichats.emulator import AiChatsEmulator, Script


def test_a_plain_break_releases_the_connection(hang_up_recorder: HangUpRecorder) -> None:
    for event in sync.stream("aichats", "hi", base_url=hang_up_recorder.url):
        assert event == TextChunk(text="first")
        break  # the abandoned stream is collected here, and closes itself
    assert hang_up_recorder.hung_up.wait(2)


def test_leaving_a_with_block_releases_the_connection_before_it_ends(
    hang_up_recorder: HangUpRecorder,
) -> None:
    with sync.Client(base_url=hang_up_recorder.url) as client:
        with client.stream("aichats", "hi") as events:
            assert next(events) == TextChunk(text="first")
        assert wait_until(hang_up_recorder.hung_up.is_set, within=0.5)
        assert list(events) == []  # closed: nothing more


def test_close_releases_the_connection_at_once(hang_up_recorder: HangUpRecorder) -> None:
    events = sync.stream("aichats", "hi", base_url=hang_up_recorder.url)
    next(events)
    started = time.monotonic()
    events.close()
    assert hang_up_recorder.hung_up.wait(2)
    assert time.monotonic() - started < 1
    events.close()  # safe twice


def test_a_stream_never_iterated_sends_nothing(hang_up_recorder: HangUpRecorder) -> None:
    with sync.stream("aichats", "hi", base_url=hang_up_recorder.url):
        pass
    sync.stream("aichats", "hi", base_url=hang_up_recorder.url)
    gc.collect()
    assert hang_up_recorder.connections == 0


def test_the_producer_stays_a_bounded_number_of_events_ahead(
    emulator: AiChatsEmulator,
) -> None:
    # Many small network reads (each one TextChunk), far more of them than the buffer holds.
    emulator.script = Script(text="word " * 2_000, events=2_000, write_size=64, delay=0.002)
    with sync.Client(base_url=emulator.url) as client:
        events = client.stream("aichats", "hi")
        first = next(events)
        assert isinstance(first, TextChunk)
        channel = events._channel
        assert channel is not None
        assert wait_until(lambda: len(channel._buffer) >= BUFFERED - 1)
        time.sleep(0.2)  # the producer has had every chance to read on
        assert len(channel._buffer) <= BUFFERED
        rest = list(events)  # it resumes as the consumer catches up
    text = first.text + "".join(e.text for e in rest if isinstance(e, TextChunk))
    assert text == "word " * 2_000


def test_a_client_garbage_collected_while_open_closes_its_session(
    emulator: AiChatsEmulator,
) -> None:
    client = sync.Client(base_url=emulator.url)
    client.complete("aichats", "hi")
    session = client._target.session
    del client
    gc.collect()
    assert wait_until(lambda: session.closed)
