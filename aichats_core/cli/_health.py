"""The command line measures provider health into the SQLite home, for ``aichats providers``.

Commands that call providers (``chat``, ``image``, ``check``, ``serve``) load what earlier
runs measured, so that a provider which kept failing is skipped or refused from the first
call, and write their own outcomes. ``--emulate`` measures an emulator, not the provider: its
outcomes stay in memory. ``AICHATS_HEALTH=0`` keeps everything in memory.
"""

from __future__ import annotations

import argparse
import logging

from aichats_core.errors import AiChatsError

CALLING = frozenset({"chat", "image", "check", "serve", "web"})


def start_measuring(args: argparse.Namespace) -> bool:
    """Persist this process's health when ``args`` call real providers; True when it does."""
    from aichats_core.health import persist_enabled, tracker

    if args.command not in CALLING or getattr(args, "emulate", False) or not persist_enabled():
        return False
    try:
        tracker().persist()
    except AiChatsError as exc:  # an unreadable home: health in memory, said once
        logging.getLogger("aichats.health").warning(
            "aichats: provider health is kept in memory only: %s", exc
        )
        return False
    return True


def stop_measuring() -> None:
    """Write what this process measured before it exits."""
    from aichats_core.health import tracker

    tracker().close()
