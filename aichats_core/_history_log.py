"""Writing turns to the history off the event loop: one writer thread per history file.

The loop only queues the turn as it ended (about a microsecond); a ``BatchWriter`` thread
makes its record and writes it, many turns per commit. ``flush`` waits for what is queued;
clients flush when closed, and every log flushes at interpreter exit, so that a script that
forgets to close its client still keeps its turns.
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from aichats_core._turns import Ended, Forget
from aichats_core._writer import BatchWriter
from aichats_core.errors import AiChatsError

if TYPE_CHECKING:
    from collections.abc import Callable

    from aichats_core.history import HistoryStore

HistoryChoice: TypeAlias = "bool | str | os.PathLike[str] | HistoryStore | None"
"""What ``Client(history=...)`` takes: True for the default file, a path, or a store."""

logger = logging.getLogger("aichats.history")

_logs: weakref.WeakSet[HistoryLog] = weakref.WeakSet()


class HistoryLog:
    """Queues turns for ``store`` and writes them from a background thread, in order."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._writer: BatchWriter[Ended | Forget] = BatchWriter("aichats-history", self._record)
        self._reported: set[str] = set()
        _logs.add(self)

    def submit(self, turn: Ended | Forget) -> None:
        """Queue ``turn`` (or a conversation's ``Forget``); it is recorded soon, in the order
        submitted."""
        self._writer.submit(turn)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every turn submitted so far is written; False if that took too long."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        """Write what is queued, stop the thread and close the store."""
        self._writer.close()
        self.store.close()

    def _record(self, batch: list[Ended | Forget]) -> None:
        """Write ``batch`` in order: each run of turns in one transaction, or, if that fails,
        turn by turn, so that one turn the store refuses costs only itself. A failure (a full
        disk, a directory that cannot be made) is logged, once per kind, and never ends the
        writer or the calls."""
        run: list[Ended] = []
        for item in [*batch, None]:
            if item is not None and not isinstance(item, Forget):
                run.append(item)
                continue
            self._record_run(run)
            run = []
            if item is not None:
                self._write_one(self.store.forget, item.conversation_id, item.turns)

    def _record_run(self, run: list[Ended]) -> None:
        if not run:
            return
        try:
            self.store.record_many([ended.to_record() for ended in run])
        except Exception:  # noqa: BLE001 - told below, turn by turn
            for ended in run:
                self._write_one(self._record_turn, ended)

    def _record_turn(self, ended: Ended) -> None:
        self.store.record(ended.to_record())

    def _write_one(self, write: Callable[..., None], *args: Any) -> None:
        try:
            write(*args)
        except AiChatsError as exc:  # the store's own account of it: one line says it
            self._warn_once(str(exc))
        except Exception as exc:  # a bug: its traceback, once
            if self._warn_once(f"{type(exc).__name__}: {exc}", quiet=True):
                logger.exception("could not record a turn in %s", self.store.path)

    def _warn_once(self, problem: str, *, quiet: bool = False) -> bool:
        if problem in self._reported:
            return False
        self._reported.add(problem)
        if not quiet:
            logger.warning(
                "aichats: could not record a turn: %s (set AICHATS_HOME, or AICHATS_HISTORY=0"
                " to record nothing)",
                problem,
            )
        return True


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
