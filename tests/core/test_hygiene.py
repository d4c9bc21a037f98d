"""What a maintainer checks: one version, public class paths, citations that resolve inside the
repository, and the AiChats provider's path free of the emulator's image encoders."""

from __future__ import annotations

import asyncio
import importlib.metadata
import pickle
import re
import subprocess
import sys
import tomllib
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import aichats_core
import aichats_core.http
from providers.aichats.emulator import AiChatsEmulator

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = [
    (package, name)
    for package in (aichats_core, aichats_core.http)
    for name in package.__all__
    if isinstance(getattr(package, name), type)
]


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet); its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return done.stdout.strip()


def test_the_version_is_the_installed_metadata_read_on_first_use() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert aichats_core.__version__ == importlib.metadata.version("aichats")
    assert aichats_core.__version__ == pyproject["project"]["version"]
    assert _run("import aichats_core; print('__version__' in vars(aichats_core))") == "False"


@pytest.mark.parametrize(("package", "name"), PUBLIC, ids=lambda value: str(value))
def test_a_public_class_is_named_by_its_public_path(package: typing.Any, name: str) -> None:
    cls = getattr(package, name)
    assert not cls.__module__.split(".")[-1].startswith("_")
    assert getattr(sys.modules[cls.__module__], cls.__qualname__) is cls
    assert repr(cls) == f"<class '{cls.__module__}.{name}'>"
    typing.get_type_hints(cls)  # string annotations still resolve in the defining module


def test_events_pickle_and_describe_themselves_by_their_public_names() -> None:
    chunk = aichats_core.TextChunk(text="hi")
    assert pickle.loads(pickle.dumps(chunk)) == chunk
    assert b"_models" not in pickle.dumps(chunk)  # found again as aichats_core.TextChunk
    assert repr(chunk) == "TextChunk(kind='text', text='hi')"
    assert aichats_core.TextChunk.model_json_schema()["title"] == "TextChunk"
    assert sorted(aichats_core.ResultEventAdapter.json_schema()["$defs"]) == [
        "Failure",
        "Finish",
        "ImageResponse",
        "TextChunk",
        "ToolCall",
        "Usage",
    ]


def test_a_subclass_of_a_public_class_resolves_its_inherited_hints() -> None:
    from providers.aichats import AiChats

    class Tagged(aichats_core.TextChunk):
        tag: str = ""

    assert set(typing.get_type_hints(Tagged)) == {"kind", "text", "tag"}
    assert Tagged(text="x", tag="y").tag == "y"
    assert "default_model" in typing.get_type_hints(AiChats)


def test_classes_of_a_module_loaded_through_another_lazy_name_are_public_too() -> None:
    code = (
        "import sys, aichats_core; aichats_core.stream; "
        "print(sys.modules['aichats_core._models'].TextChunk.__module__)"
    )
    assert _run(code) == "aichats_core"


def _repository_texts() -> Iterator[tuple[Path, str]]:
    for top in ("aichats_core", "providers", "plugins", "tests", "docs", "bench"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in {".py", ".md", ".toml"} and "build" not in path.parts:
                yield path, path.read_text(encoding="utf-8")
    for path in sorted(ROOT.glob("*.md")):
        yield path, path.read_text(encoding="utf-8")


# Documents that live beside the repository, not in it (spelled so this file does not match).
OUTSIDE = re.compile(r"\b(?:DESIGN|STYLE)\.md\b|\.\./shared\b|\bseeds/")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_nothing_cites_a_document_outside_the_repository() -> None:
    citing = [
        f"{path.relative_to(ROOT)}: {match.group()}"
        for path, text in _repository_texts()
        if path != Path(__file__).resolve()
        for match in OUTSIDE.finditer(text)
    ]
    assert citing == []


def test_relative_links_of_the_docs_resolve_inside_the_repository() -> None:
    broken = []
    for path, text in _repository_texts():
        if path.suffix != ".md":
            continue
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert broken == []


async def test_the_provider_path_never_imports_the_emulator_or_its_encoders() -> None:
    # The emulator runs here; the calls, chat and image, run in a fresh interpreter.
    async with AiChatsEmulator() as emulator:
        code = (
            "import sys, aichats_core\n"
            f"url = {emulator.url!r}\n"
            "import asyncio\n"
            "async def main():\n"
            "    await aichats_core.complete('aichats', 'hi', base_url=url)\n"
            "    await aichats_core.complete('aichats', 'a fox', model='dalle', base_url=url)\n"
            "asyncio.run(main())\n"
            "print(sorted(m for m in sys.modules if m.startswith('providers.aichats.')))\n"
        )
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, cwd=ROOT, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await child.communicate()
    assert child.returncode == 0
    assert out.decode().strip() == "['providers.aichats._options', 'providers.aichats._provider']"
    assert [request.path.split("/")[1] for request in emulator.requests] == [
        "chat",
        "chat",
        "images",
    ]


def test_a_chat_only_emulator_does_not_load_the_image_encoders() -> None:
    code = (
        "import sys, providers.aichats.emulator as e; e.Script(image_format='jpeg'); "
        "print('providers.aichats._images' in sys.modules)"
    )
    assert _run(code) == "False"
