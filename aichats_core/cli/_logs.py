"""``aichats logs``: list, show, search and remove recorded conversations.

Its arguments are defined here too, importing only argparse, so that ``_parser`` stays cheap;
the history store is imported when the command runs (it imports neither asyncio nor the HTTP
stack, so these commands start fast).
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aichats_core.history import ConversationRecord, ConversationSummary, HistoryStore

_DEFAULT_LIMIT = 20
_RM_PREFIX = 6
"""The shortest id prefix ``rm`` takes: a typo must not delete a conversation."""


def add_logs_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = commands.add_parser(
        "logs",
        help="list, show, search and remove the recorded conversations",
        epilog="`aichats logs path` says where the database is; AICHATS_HISTORY=0 turns"
        " recording off.",
    )
    _add_db_flag(logs)  # `aichats logs --db X list` and `... list --db X`
    actions = logs.add_subparsers(dest="logs_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the conversations, the most recent first")
    _add_limit_flag(listing)
    _add_db_flag(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per conversation")

    show = actions.add_parser("show", help="every turn of one conversation")
    show.add_argument("id", metavar="ID", help="its id, or the start of it")
    _add_db_flag(show)
    show.add_argument("--json", action="store_true", help="the conversation as one JSON object")

    search = actions.add_parser(
        "search", help="the conversations whose prompts or answers hold all these words"
    )
    search.add_argument("text", metavar="TEXT", help="plain words (no query syntax)")
    _add_limit_flag(search)
    _add_db_flag(search)
    search.add_argument("--json", action="store_true", help="one JSON object per conversation")

    path = actions.add_parser("path", help="where the history database is")
    _add_db_flag(path)

    remove = actions.add_parser("rm", help="delete one conversation and all its turns")
    remove.add_argument("id", metavar="ID", help="its id, or the start of it")
    _add_db_flag(remove)


def _add_db_flag(parser: argparse.ArgumentParser) -> None:
    """``--db`` on ``logs`` and on each action; unset unless given (a default of None on
    the action would overwrite one given before it)."""
    parser.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the history database to use (default: $AICHATS_HOME/history.db, else the"
        " user's data directory)",
    )


def _add_limit_flag(parser: argparse.ArgumentParser) -> None:
    from aichats_core.cli._parser import _non_negative_int  # imported by now: it builds us

    parser.add_argument(
        "-n",
        type=_non_negative_int,
        default=_DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N conversations ({_DEFAULT_LIMIT}; 0: all)",
    )


def logs_command(args: argparse.Namespace) -> int:
    from aichats_core.errors import InvalidRequestError
    from aichats_core.history import HistoryStore

    with HistoryStore(getattr(args, "db", None)) as store:
        if args.logs_command == "path":
            print(store.path)
        elif args.logs_command == "show":
            conversation = store.conversation(args.id)
            if args.json:
                print(json.dumps(conversation.to_json(), ensure_ascii=False))
            else:
                _print_conversation(conversation)
        elif args.logs_command == "rm":
            if len(args.id) < _RM_PREFIX:
                raise InvalidRequestError(
                    f"logs rm {args.id}: give at least {_RM_PREFIX} characters of the id"
                    " (`aichats logs list` shows them): a removal cannot be undone"
                )
            removed = store.conversation(args.id)
            store.remove(removed.id)
            print(f"removed {removed.id} ({len(removed.turns)} turns)")
        else:
            limit = args.n or None
            if args.logs_command == "list":
                found = store.conversations(limit)
            else:
                found = store.search(args.text, limit)
            _print_summaries(found, store, as_json=args.json)
    return 0


def _print_summaries(
    summaries: list[ConversationSummary], store: HistoryStore, *, as_json: bool
) -> None:
    import sys

    if as_json:
        for summary in summaries:
            print(json.dumps(summary.to_json(), ensure_ascii=False))
        return
    if not summaries and not Path(store.path).exists():
        print(f"(no history yet at {store.path})", file=sys.stderr)
    for summary in summaries:
        turns = f"{summary.turns} turn{'' if summary.turns == 1 else 's'}"
        print(
            f"{summary.id}  {_local(summary.updated_at)}  {summary.provider}/{summary.model}"
            f"  {turns}  {summary.title}"
        )


def _print_conversation(conversation: ConversationRecord) -> None:
    print(f"conversation {conversation.id}, started {_local(conversation.created_at)}")
    if conversation.system is not None:
        print(f"system: {conversation.system}")
    for turn in conversation.turns:
        print(
            f"\n--- {turn.seq}. {turn.provider}/{turn.model}  {turn.status}"
            f"  {turn.duration_ms / 1000:.1f} s  {_local(turn.started_at)}"
        )
        for attempt in turn.attempts:
            print(f"(tried {attempt.get('provider')}: {attempt.get('error')})")
        print(f"> {turn.prompt}")
        if turn.answer:
            print(turn.answer)
        if turn.error:
            print(f"[{turn.status}: {turn.error}]")


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
