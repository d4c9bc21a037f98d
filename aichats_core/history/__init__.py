"""The conversation history: every turn the command line sends, in a local SQLite database.

>>> from aichats_core.history import HistoryStore
>>> with HistoryStore() as store:  # doctest: +SKIP
...     for summary in store.conversations(limit=5):
...         print(summary.id, summary.title)

Several processes may record into one database at once; no secret is stored (see
``docs/history.md``). Importing this module imports neither aiohttp nor pydantic.
"""

from __future__ import annotations

from aichats_core._home import HISTORY_ENV, default_path, history_enabled
from aichats_core.history._records import ConversationRecord, ConversationSummary, TurnRecord
from aichats_core.history._store import HistoryStore

__all__ = [  # noqa: RUF022 - plainly sorted, as tests/core/test_public_api.py sorts every module
    "ConversationRecord",
    "ConversationSummary",
    "HISTORY_ENV",
    "HistoryStore",
    "TurnRecord",
    "default_path",
    "history_enabled",
]
