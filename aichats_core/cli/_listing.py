"""``aichats providers``: kept apart from the commands that call providers, so that listing
imports neither asyncio nor the HTTP stack and starts fast."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from aichats_core import ProviderInfo, list_providers

if TYPE_CHECKING:
    from aichats_core.health import HealthTracker, ProviderHealth


def providers_command(args: argparse.Namespace) -> int:
    measured = measured_health()
    rows = [_describe(info, measured, with_options=args.json) for info in list_providers()]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("No providers installed. Install a plugin, e.g. `pip install aichats-echo`.")
        return 0
    print_table(
        [
            "NAME",
            "MODELS",
            "DEFAULT",
            "WORKING",
            "HEALTH",
            "STREAM",
            "HISTORY",
            "CAN",
            "DISTRIBUTION",
        ],
        [
            [
                row["name"],
                ", ".join(row["models"]) or "-",
                row["default_model"] or "-",
                _yes_no(row["working"]),
                health_cell(row["health"]),
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


def _describe(
    info: ProviderInfo, measured: HealthTracker | None, *, with_options: bool
) -> dict[str, Any]:
    health = (measured.health(info.name) if measured is not None else unknown()).as_json()
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
        "health": health,
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


def unknown() -> ProviderHealth:
    """The health of a provider nothing measured."""
    from aichats_core.health import ProviderHealth

    return ProviderHealth("unknown")


def measured_health() -> HealthTracker | None:
    """What calls of this and other processes measured, from the SQLite home; None when
    nothing was, or health is off (``AICHATS_HEALTH=0``)."""
    from aichats_core.errors import AiChatsError
    from aichats_core.health import persist_enabled, read_persisted

    if not persist_enabled():
        return None
    try:
        return read_persisted()
    except AiChatsError as exc:
        print(f"aichats: warning: provider health unreadable: {exc}", file=sys.stderr)
        return None


def health_cell(health: dict[str, Any]) -> str:
    """``ok 98% 310ms``, ``cooling until 12:03:04``: a health in a table cell."""
    status = str(health["status"])
    if status == "cooling" and health["cooling_until"]:
        return f"cooling until {health['cooling_until'][11:19]} UTC"
    if status == "unknown":
        return "-"
    parts = [status]
    if health["success_rate"] is not None:
        parts.append(f"{health['success_rate'] * 100:.0f}%")
    if health["median_first_event_ms"] is not None:
        parts.append(f"{health['median_first_event_ms']:.0f}ms")
    return " ".join(parts)


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
