"""Log lines that a flood would repeat thousands of times a second, once per interval.

At the file-descriptor limit every ``accept()`` fails. asyncio's selector loop
(``BaseSelectorEventLoop._accept_connection``) then calls the loop's exception handler, with
a traceback, for each of up to ``backlog`` attempts per wake-up and retries a second later:
thousands of tracebacks a second, megabytes of log, while the server itself is fine and
serves the clients it has. ``AcceptErrors`` is a loop exception handler that turns those
into one line per interval with a count; every other context goes to the previous handler.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("aichats_core.server")

DEFAULT_INTERVAL = 10.0

RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
"""What asyncio retries an ``accept()`` after (its own list, in ``_accept_connection``)."""


class EveryInterval:
    """Log one line for the first of a run of events, then at most one per ``interval``
    saying how many more happened."""

    def __init__(self, message: str, *, interval: float = DEFAULT_INTERVAL) -> None:
        self._message = message
        self._interval = interval
        self._suppressed = 0
        self._flush: asyncio.TimerHandle | None = None

    def __call__(self, detail: str) -> None:
        if self._flush is not None:
            self._suppressed += 1
            return
        logger.warning("%s: %s", self._message, detail)
        self._schedule()

    def _schedule(self) -> None:
        self._flush = asyncio.get_running_loop().call_later(self._interval, self._report)

    def _report(self) -> None:
        self._flush = None
        if self._suppressed:
            logger.warning(
                "%s: %d more times in the last %g s",
                self._message,
                self._suppressed,
                self._interval,
            )
            self._suppressed = 0
            self._schedule()  # still happening: keep counting rather than logging each

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None


ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class AcceptErrors:
    """A loop exception handler that throttles ``accept()`` failures for lack of resources."""

    def __init__(self, loop: asyncio.AbstractEventLoop, advice: str) -> None:
        self._loop = loop
        self._previous: ExceptionHandler | None = loop.get_exception_handler()
        self._log = EveryInterval(f"cannot accept connections ({advice})")

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS and "socket" in context:
            self._log(f"{exc.strerror or exc} (errno {errno.errorcode.get(exc.errno or 0, '?')})")
        elif self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def install(self) -> Callable[[], None]:
        """Make this the loop's exception handler; returns what puts the previous one back."""
        self._loop.set_exception_handler(self)

        def restore() -> None:
            self._log.close()
            if self._loop.get_exception_handler() is self:
                self._loop.set_exception_handler(self._previous)

        return restore
