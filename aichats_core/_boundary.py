"""The plugin boundary's one rule: which exceptions raised in plugin code are the plugin's.

Core code calls plugin code in a few places (importing it, reading its attributes, resolving
a model, running a call). Whatever escapes from there is contained as a typed error naming the
plugin, so that a plugin calling ``sys.exit()`` or raising ``KeyboardInterrupt`` fails one call
instead of ending the process (``aichats serve`` included). Three kinds are never contained:

* ``asyncio.CancelledError`` and ``GeneratorExit``: how asyncio and Python stop code; swallowing
  them would make tasks impossible to cancel and generators impossible to close;
* a ``KeyboardInterrupt`` that a real Ctrl-C may have raised. Python raises it for SIGINT only
  through a Python-level handler that runs between any two bytecodes of the main thread,
  plugin code included: ``signal.default_int_handler``, or ``asyncio.run``'s own handler on a
  second Ctrl-C. So it is contained only when no signal can have raised it: outside the main
  thread, or when SIGINT's handler is the default action, ignored, or the no-op that asyncio
  installs for ``loop.add_signal_handler`` (what ``aichats serve`` uses: the signal is then
  delivered to the loop, never raised in the code that happens to run). Any other handler
  might raise it, so the exception is left alone: a real Ctrl-C always stops the process.

``SystemExit`` is always contained: Python never raises it for a signal, only code that calls
``sys.exit()``. An application whose own signal handler calls ``sys.exit()`` should install it
with ``loop.add_signal_handler`` (as asyncio recommends), which stops the loop, not whatever
plugin code runs at that moment.
"""

from __future__ import annotations

import signal
import sys
import threading

from aichats_core.errors import ProviderContractError


def is_plugins_own(exc: BaseException) -> bool:
    """Whether ``exc``, raised by plugin code, is the plugin's doing (and so contained).

    Called only once something was raised, never per event: the hot path pays nothing.
    """
    if isinstance(exc, Exception):
        return True
    if isinstance(exc, GeneratorExit):
        return False
    # Not imported here: a listing must not pay for asyncio. Unimported, it cancelled nothing.
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and isinstance(exc, asyncio.CancelledError):
        return False
    if isinstance(exc, KeyboardInterrupt):
        return not _sigint_may_raise()
    return True  # SystemExit, and any other BaseException a plugin made up


def _sigint_may_raise() -> bool:
    """Whether a real SIGINT could have raised ``KeyboardInterrupt`` in the running code."""
    if threading.current_thread() is not threading.main_thread():
        return False  # Python runs signal handlers in the main thread only
    handler = signal.getsignal(signal.SIGINT)
    if handler in (signal.SIG_DFL, signal.SIG_IGN, None):
        return False  # the default action kills the process without raising; None: not Python
    return handler is not _loop_signal_noop()


def _loop_signal_noop() -> object:
    """The handler ``loop.add_signal_handler`` installs at the Python level (POSIX only).

    A private name of asyncio: if it ever changes, the rule errs on the safe side (it stops
    containing ``KeyboardInterrupt`` rather than swallowing a real Ctrl-C).
    """
    try:
        from asyncio import unix_events
    except ImportError:  # pragma: no cover - Windows has no loop signal handlers
        return None
    return getattr(unix_events, "_sighandler_noop", None)


def plugin_failure(provider: str, source: str, exc: BaseException) -> ProviderContractError:
    """The error for what plugin code raised: ``source`` says which plugin (and distribution)."""
    detail = f": {exc}" if str(exc) else ""
    if isinstance(exc, SystemExit | KeyboardInterrupt):
        detail += " (a plugin must not try to end the process)"
    return ProviderContractError(
        provider,
        f"{source} failed with {type(exc).__name__}{detail}; this is a bug in the plugin,"
        " report it to its authors",
    )
