"""``aichats``: list, call, check and emulate providers from the shell.

Errors print one line on stderr and exit non-zero (1 for a failed call, 2 for bad usage,
130 when interrupted); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from aichats_core.cli._parser import build_parser
from aichats_core.errors import AiChatsError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "providers":
            from aichats_core.cli._listing import providers_command

            return providers_command(args)
        if args.command == "logs":
            from aichats_core.cli._logs import logs_command

            return logs_command(args)
        from aichats_core.cli._commands import COMMANDS
        from aichats_core.cli._health import start_measuring, stop_measuring

        measuring = start_measuring(args)
        try:
            return COMMANDS[args.command](args)
        finally:
            if measuring:
                stop_measuring()
    except AiChatsError as exc:
        if args.debug:
            raise
        print(f"aichats: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aichats: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `aichats chat ... | head -1`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
