"""Writing turns to the history off the event loop: one writer thread per history file.

An SQLite commit costs about 120 µs, a quarter of a short call; the loop only queues the
turn (about a microsecond) and a daemon thread writes it. ``flush`` waits for what is
queued; clients flush when closed, and every log at interpreter exit, so that a script
that forgets to close its client still keeps its turns.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from aichats_core.history import HistoryStore, TurnRecord

HistoryChoice: TypeAlias = "bool | str | os.PathLike[str] | HistoryStore | None"
"""What ``Client(history=...)`` takes: True for the default file, a path, or a store."""

logger = logging.getLogger("aichats.history")

_logs: weakref.WeakSet[HistoryLog] = weakref.WeakSet()


class HistoryLog:
    """Queues turns for ``store`` and writes them from a background thread, in order."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[TurnRecord | threading.Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        _logs.add(self)

    def submit(self, turn: TurnRecord) -> None:
        """Queue ``turn``; it is written soon, in the order turns were submitted."""
        if self._thread is None:
            self._start()
        self._queue.put(turn)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every turn submitted so far is written; False if that took too long."""
        if self._thread is None or not self._thread.is_alive():
            return True
        written = threading.Event()
        self._queue.put(written)
        return written.wait(timeout)

    def close(self) -> None:
        """Write what is queued, stop the thread and close the store."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(10.0)
        self._thread = None
        self.store.close()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._write, name="aichats-history", daemon=True)
                thread.start()
                self._thread = thread

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                self.store.record(item)
            except Exception:  # a full disk or a broken file must not end the writer
                logger.exception("could not record a turn in %s", self.store.path)


def open_log(history: HistoryChoice) -> HistoryLog | None:
    """The log a ``Client`` writes to, or None when history is off."""
    if history is None or history is False:
        return None
    from aichats_core.history import HistoryStore

    if isinstance(history, HistoryStore):
        return HistoryLog(history)
    if history is True:
        return HistoryLog(HistoryStore())
    if isinstance(history, str | os.PathLike):
        return HistoryLog(HistoryStore(Path(history)))
    from aichats_core.errors import InvalidRequestError

    raise InvalidRequestError(
        f"history is True, a path or a HistoryStore, not {type(history).__name__}"
    )


@atexit.register
def _flush_all() -> None:
    for log in list(_logs):
        log.flush(5.0)
