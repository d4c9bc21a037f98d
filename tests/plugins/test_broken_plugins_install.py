"""Broken, non-protocol and conflicting plugins, installed for real with pip: each is isolated,
listed with its distribution and cause, and the rest of the registry keeps working."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeAlias

import pytest

pytestmark = pytest.mark.slow

RunPython: TypeAlias = Callable[..., subprocess.CompletedProcess[str]]
Install: TypeAlias = Callable[..., Path]
Write: TypeAlias = Callable[..., Path]

PROVIDER = """
from aichats_core import AsyncGeneratorProvider

class {name}(AsyncGeneratorProvider):
    url = "https://{name}.invalid"
    default_model = "m"
    models = ["m"]

    @classmethod
    async def create_async_generator(cls, model, messages, proxy=None, **kwargs):
        yield "{name} says hi"
"""

REPORT = """
    import asyncio, json
    import aichats_core
    from aichats_core.errors import AiChatsError

    # Only AiChats declares base_url (a closed port): the others would refuse it.
    closed = {"base_url": "http://127.0.0.1:9"}
    report = {}
    for info in aichats_core.list_providers():
        options = closed if info.name == "aichats" else {}
        try:
            text = asyncio.run(aichats_core.complete(info.name, "hi", **options))
            report[info.name] = {"ok": text, "distribution": info.distribution, "error": info.error}
        except AiChatsError as exc:
            report[info.name] = {
                "raised": type(exc).__name__, "message": str(exc),
                "distribution": info.distribution, "error": info.error,
            }
    print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def broken_site(install_distributions: Install, write_distribution: Write) -> Path:
    return install_distributions(
        write_distribution(
            "aichats-crashes",
            {"aichats_crashes.py": "raise RuntimeError('plugin exploded at import')\n"},
            entry_points={"crashes": "aichats_crashes:Crashes"},
        ),
        write_distribution(
            "aichats-not-a-provider",
            {"aichats_not_a_provider.py": "class Thing:\n    url = 'x'\n"},
            entry_points={"thing": "aichats_not_a_provider:Thing"},
        ),
        write_distribution(
            "aichats-fine",
            {"aichats_fine.py": PROVIDER.format(name="Fine")},
            entry_points={"fine": "aichats_fine:Fine"},
        ),
        write_distribution(
            "aichats-twin-one",
            {"aichats_twin_one.py": PROVIDER.format(name="One")},
            entry_points={"twin": "aichats_twin_one:One"},
        ),
        write_distribution(
            "aichats-twin-two",
            {"aichats_twin_two.py": PROVIDER.format(name="Two")},
            entry_points={"Twin": "aichats_twin_two:Two"},
        ),
    )


def report(run_python: RunPython, target: Path, **env: str) -> dict[str, Any]:
    result = run_python(REPORT, target, env=env)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_each_broken_plugin_is_isolated_and_explained(
    run_python: RunPython, broken_site: Path
) -> None:
    found = report(run_python, broken_site)
    assert found["fine"]["ok"] == "Fine says hi"
    assert found["aichats"]["raised"] == "ProviderConnectionError"  # loads; port 9 is closed

    crashes = found["crashes"]
    assert crashes["raised"] == "PluginLoadError"
    assert crashes["distribution"] == "aichats-crashes"
    assert "RuntimeError: plugin exploded at import" in crashes["error"]

    thing = found["thing"]
    assert thing["raised"] == "PluginLoadError"
    assert "does not satisfy the provider protocol" in thing["error"]
    assert "missing class attribute 'working'" in thing["message"]
    assert "aichats-not-a-provider" in thing["message"]


def test_two_distributions_claiming_one_name_are_reported_not_resolved(
    run_python: RunPython, broken_site: Path
) -> None:
    twin = report(run_python, broken_site)["twin"]
    assert twin["raised"] == "ProviderConflictError"
    assert "aichats-twin-one" in twin["message"]
    assert "aichats-twin-two" in twin["message"]


def test_the_allow_list_gets_a_user_back_in(run_python: RunPython, broken_site: Path) -> None:
    found = report(run_python, broken_site, AICHATS_PROVIDERS="fine,aichats")
    assert sorted(found) == ["aichats", "fine"]


def test_the_cli_lists_broken_plugins_with_their_cause(
    run_python: RunPython, broken_site: Path
) -> None:
    result = run_python(
        "from aichats_core.cli import main; raise SystemExit(main(['providers']))", broken_site
    )
    assert result.returncode == 0, result.stderr
    assert (
        "broken: crashes (aichats-crashes): RuntimeError: plugin exploded at import"
        in result.stdout
    )
    assert "broken: twin (aichats-twin-one, aichats-twin-two)" in result.stdout
    assert "Fine" not in result.stderr
