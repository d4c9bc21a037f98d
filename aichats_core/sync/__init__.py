"""Blocking aichats, for code that runs no event loop: scripts, threads, notebooks.

The calls, their arguments and their errors are the async API's; each runs on one event loop
in a background thread (``aichats-sync``, started on first use), so it also works where the
calling thread already runs a loop. ``stream`` gives a plain iterator of the same events::

    from aichats_core import sync

    print(sync.complete("aichats", "Hello"))
    with sync.Client(timeout=30) as client:
        for event in client.stream("aichats", "Hello"):
            print(event)

Importing this module starts nothing and imports no HTTP stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aichats_core import _public_path
from aichats_core.lazy import lazy_attributes

if TYPE_CHECKING:
    from aichats_core.sync._api import Client, Conversation, complete, conversation, stream
    from aichats_core.sync._iterate import SyncResultStream

__all__ = ["Client", "Conversation", "SyncResultStream", "complete", "conversation", "stream"]

_LAZY = {
    "Client": "aichats_core.sync._api",
    "Conversation": "aichats_core.sync._api",
    "conversation": "aichats_core.sync._api",
    "SyncResultStream": "aichats_core.sync._iterate",
    "complete": "aichats_core.sync._api",
    "stream": "aichats_core.sync._api",
}

_lazy_getattr, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)


def __getattr__(name: str) -> Any:
    value = _lazy_getattr(name)
    _public_path(__name__, __all__, _LAZY)
    return value
