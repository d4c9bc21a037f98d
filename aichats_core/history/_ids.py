"""Conversation ids: unique across processes without asking the database, sortable by time."""

from __future__ import annotations

import os
import time


def new_conversation_id() -> str:
    """24 hex digits: the Unix time in milliseconds (12), then 48 random bits (12).

    Ids sort by creation time to the millisecond, so ``aichats logs show 0190f`` style
    prefixes group by age; the random half keeps two processes apart within a millisecond.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(6).hex()}"
