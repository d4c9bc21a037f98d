"""The CLI and the server are front ends: they use the core through its public API only, so
that what they need is API anyone can use (and the core can move its private modules)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import aichats_core

PACKAGE = Path(aichats_core.__file__).parent
FRONT_ENDS = ("cli", "server")


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _private_core_name(dotted: str) -> bool:
    """``aichats_core._x...`` or a ``_x`` anywhere below the core, but not the front ends'
    own private modules (``aichats_core.server._x`` is the server's)."""
    parts = dotted.split(".")
    if parts[0] != "aichats_core" or (len(parts) > 1 and parts[1] in FRONT_ENDS):
        return False
    return any(_is_private(part) for part in parts[1:])


def _absolute(module: str | None, level: int, path: Path) -> str:
    """The module a (maybe relative) ``from`` import in ``path`` names."""
    if not level:
        return module or ""
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)[:-1]
    if level > 1:
        package = package[: 1 - level]
    return ".".join([*package, *([module] if module else [])])


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value)) is not None:
        return f"{base}.{node.attr}"
    return None


def private_uses(path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """Each line of ``path`` (or ``source``, as if it were there) that reaches a private
    core name, with the name."""
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, path)
            names = [f"{module}.{alias.name}" for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            names = [dotted] if (dotted := _dotted(node)) is not None else []
        else:
            continue
        for name in names:
            if _private_core_name(name):
                yield node.lineno, name


def front_end_modules() -> list[Path]:
    return sorted(path for front_end in FRONT_ENDS for path in (PACKAGE / front_end).rglob("*.py"))


def test_the_cli_and_the_server_import_no_private_core_name() -> None:
    offences = [
        f"aichats_core/{path.relative_to(PACKAGE).as_posix()}:{line}: {name}"
        for path in front_end_modules()
        for line, name in private_uses(path)
    ]
    assert not offences, "private core names; make what is needed public:\n" + "\n".join(offences)


def test_the_check_sees_every_form_of_import() -> None:
    source = (
        "import aichats_core._stream\n"
        "from aichats_core._models import Message\n"
        "from aichats_core.http._json import load_json\n"
        "from aichats_core.http import _private\n"
        "from .. import _lazy\n"
        "from aichats_core import Client, __version__\n"
        "from aichats_core.server import _openai\n"
        "from ._chat import x\n"
        "import aichats_core\n"
        "aichats_core._registry.default_registry\n"
    )
    uses = sorted(private_uses(PACKAGE / "server" / "_probe.py", source))
    assert uses == [
        (1, "aichats_core._stream"),
        (2, "aichats_core._models.Message"),
        (3, "aichats_core.http._json.load_json"),
        (4, "aichats_core.http._private"),
        (5, "aichats_core._lazy"),
        (10, "aichats_core._registry"),
        (10, "aichats_core._registry.default_registry"),
    ]
