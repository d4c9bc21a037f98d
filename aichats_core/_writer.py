"""A background thread that writes what the event loop hands it, many items per commit.

An SQLite commit costs about 120 µs, a quarter of a short call: the loop only queues an item
(about a microsecond) and this thread writes batches. After the first item of a batch it
sleeps ``BATCH_WAIT`` instead of waking at each item, which keeps it off the GIL while calls
run (a wake-up per item cost the short-call benchmark a tenth of its speed on two cores).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

BATCH_WAIT = 0.2
"""Seconds the writer waits, after an item arrives, for more to write in the same commit
(unless a flush or close hurries it)."""
MAX_BATCH = 500

T = TypeVar("T")


class BatchWriter(Generic[T]):
    """Hands what is submitted, in order and in batches, to ``write`` on a daemon thread
    named ``name``, started at the first item. ``write`` must not raise."""

    def __init__(self, name: str, write: Callable[[list[T]], None]) -> None:
        self._name = name
        self._write_batch = write
        self._queue: queue.SimpleQueue[T | threading.Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._hurry = threading.Event()

    def submit(self, item: T) -> None:
        if self._thread is None:
            self._start()
        self._queue.put(item)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything submitted so far is written; False if that took too long."""
        if self._thread is None or not self._thread.is_alive():
            return True
        written = threading.Event()
        self._queue.put(written)
        self._hurry.set()
        done = written.wait(timeout)
        self._hurry.clear()
        return done

    def close(self) -> None:
        """Write what is queued and stop the thread."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            self._hurry.set()
            thread.join(10.0)
        self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        running = True
        while running:
            item = self._queue.get()
            if item is not None and not isinstance(item, threading.Event):
                self._hurry.wait(BATCH_WAIT)  # cut short by a flush or close
            batch: list[T] = []
            waiting: list[threading.Event] = []
            while True:
                if item is None:
                    running = False
                elif isinstance(item, threading.Event):
                    waiting.append(item)
                else:
                    batch.append(item)
                if not running or len(batch) >= MAX_BATCH:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write_batch(batch)
            for event in waiting:
                event.set()
