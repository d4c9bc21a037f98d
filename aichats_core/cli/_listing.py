"""``aichats providers``: kept apart from the commands that call providers, so that listing
imports neither asyncio nor the HTTP stack and starts fast."""

from __future__ import annotations

import argparse
import json
from typing import Any

from aichats_core import ProviderInfo, list_providers


def providers_command(args: argparse.Namespace) -> int:
    rows = [_describe(info, with_options=args.json) for info in list_providers()]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("No providers installed. Install a plugin, e.g. `pip install aichats-echo`.")
        return 0
    print_table(
        ["NAME", "MODELS", "DEFAULT", "WORKING", "STREAM", "HISTORY", "CAN", "DISTRIBUTION"],
        [
            [
                row["name"],
                ", ".join(row["models"]) or "-",
                row["default_model"] or "-",
                _yes_no(row["working"]),
                _yes_no(row["supports_stream"]),
                _yes_no(row["supports_message_history"]),
                ",".join(row["capabilities"]) or "-",
                row["distribution"] or "(in-process)",
            ]
            for row in rows
        ],
    )
    for row in rows:
        if row["error"]:
            print(f"\nbroken: {row['name']} ({row['distribution']}): {row['error']}")
    return 0


def _describe(info: ProviderInfo, *, with_options: bool) -> dict[str, Any]:
    row = {
        "name": info.name,
        "distribution": info.distribution,
        "models": list(info.detail("models", [])),
        "image_models": list(info.detail("image_models", [])),
        "default_model": info.detail("default_model"),
        "working": info.detail("working"),
        "supports_stream": info.detail("supports_stream"),
        "supports_message_history": info.detail("supports_message_history"),
        "capabilities": sorted(info.detail("capabilities", ()) or ()),
        "error": info.error,
    }
    if with_options:  # the table leaves them out: they cost pydantic's import
        row["options"] = _options(info)
    return row


def _options(info: ProviderInfo) -> list[dict[str, Any]] | None:
    """Each option the provider accepts, with its type and default; None when broken."""
    if info.error is not None:
        return None
    from aichats_core.options import option_fields

    return [
        {
            "name": field.name,
            "type": field.type,
            "default": field.default if _is_json(field.default) else repr(field.default),
            "description": field.description,
            "core": field.core,
        }
        for field in option_fields(info.load())
    ]


def _is_json(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _yes_no(flag: object) -> str:
    return "-" if flag is None else ("yes" if flag else "no")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in [header, *rows]:
        cells = (str(cell).ljust(width) for cell, width in zip(line, widths, strict=True))
        print("  ".join(cells).rstrip())
