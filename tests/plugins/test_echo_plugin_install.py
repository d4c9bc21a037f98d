"""The example plugin, really installed: pip builds ``plugins/aichats-echo`` and a fresh
interpreter discovers it through its entry point, as it would for any third-party plugin."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TypeAlias

import pytest

pytestmark = pytest.mark.slow

# The fixtures of conftest.py, typed loosely: a test module does not import its conftest.
RunPython: TypeAlias = Callable[..., subprocess.CompletedProcess[str]]
RunPythonModule: TypeAlias = Callable[..., subprocess.CompletedProcess[str]]

ECHO_SOURCE = Path(__file__).resolve().parents[2] / "plugins" / "aichats-echo"

LIST_PROVIDERS = """
    import json, sys
    import aichats_core
    infos = aichats_core.list_providers()
    print(json.dumps({
        "providers": {
            info.name: {"distribution": info.distribution, "target": info.target}
            for info in infos
        },
        "imported": "aichats_echo" in sys.modules,
    }))
"""


def listed(run_python: RunPython, target: Path | None, **env: str) -> dict[str, object]:
    result = run_python(LIST_PROVIDERS, target, env=env)
    assert result.returncode == 0, result.stderr
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_echo_is_not_installed_in_the_plain_environment(run_python: RunPython) -> None:
    """Without the install, nothing provides ``echo``: discovery below comes from the install."""
    providers = listed(run_python, None)["providers"]
    assert isinstance(providers, dict)
    assert "aichats" in providers
    assert "echo" not in providers, (
        "aichats-echo is installed in this environment; uninstall it to run these tests"
    )


def test_installed_echo_is_listed_with_its_distribution_without_being_imported(
    run_python: RunPython, echo_site: Path
) -> None:
    answer = listed(run_python, echo_site)
    assert answer["providers"] == {
        "aichats": {"distribution": "aichats", "target": "providers.aichats:AiChats"},
        "echo": {"distribution": "aichats-echo", "target": "aichats_echo:Echo"},
    }
    assert answer["imported"] is False


def test_allow_list_hides_the_installed_plugin(run_python: RunPython, echo_site: Path) -> None:
    providers = listed(run_python, echo_site, AICHATS_PROVIDERS="aichats")["providers"]
    assert isinstance(providers, dict)
    assert "echo" not in providers
    assert "aichats" in providers


@pytest.mark.parametrize("name", ["Echo", "ECHO", "e-c_h-o"])
def test_selected_by_normalised_name(run_python: RunPython, echo_site: Path, name: str) -> None:
    result = run_python(
        f"""
        import sys
        import aichats_core
        cls = aichats_core.get_provider({name!r})
        print(cls.__module__, cls.__qualname__, cls.default_model, ",".join(cls.models))
        print(sorted({{"aiohttp", "pydantic"}} & set(sys.modules)))
        """,
        echo_site,
    )
    assert result.returncode == 0, result.stderr
    # pydantic comes with the declared Options, which the core checks as the provider loads;
    # the HTTP stack stays out: echo has no network.
    assert result.stdout.splitlines() == [
        "aichats_echo._provider Echo echo echo,lorem,image",
        "['pydantic']",
    ]


def test_complete_returns_the_message(run_python: RunPython, echo_site: Path) -> None:
    result = run_python(
        """
        import asyncio, aichats_core
        print(repr(asyncio.run(aichats_core.complete("echo", "hello there"))))
        """,
        echo_site,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr("hello there")


def test_stream_yields_text_chunks_then_finish(run_python: RunPython, echo_site: Path) -> None:
    result = run_python(
        """
        import asyncio, aichats_core

        async def main():
            async for event in aichats_core.stream("echo", "hello there world", chunk_words=2):
                print(event.model_dump_json())

        asyncio.run(main())
        """,
        echo_site,
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events == [
        {"kind": "text", "text": "hello there "},
        {"kind": "text", "text": "world"},
        {
            "kind": "finish",
            "provider": "echo",
            "model": "echo",
            "reason": "stop",
            "options": ["chunk_words"],
            "withheld": [],
            "failures": [],
        },
    ]


def test_an_undeclared_or_badly_typed_option_is_refused_at_the_call(
    run_python: RunPython, echo_site: Path
) -> None:
    result = run_python(
        """
        import aichats_core
        from aichats_core.errors import InvalidOptionError
        for options in ({"temprature": 0.2}, {"chunk_words": "2"}):
            try:
                aichats_core.stream("echo", "hello", **options)
            except InvalidOptionError as exc:
                print(exc.provider, exc.option, "words" in exc.accepted)
        """,
        echo_site,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["echo temprature True", "echo chunk_words True"]


def test_the_plugins_own_tests_pass_against_the_install(
    run_python_module: RunPythonModule, echo_site: Path
) -> None:
    result = run_python_module(
        "pytest",
        str(ECHO_SOURCE / "tests"),
        "-p",
        "no:cacheprovider",
        "-q",
        target=echo_site,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary


def test_the_install_is_complete_and_leaves_the_source_clean(echo_site: Path) -> None:
    assert (echo_site / "aichats_echo" / "py.typed").is_file()
    assert not (echo_site / "tests").exists()
    leftovers = [
        path.name
        for path in ECHO_SOURCE.iterdir()
        if path.name in ("build", "dist") or path.name.endswith(".egg-info")
    ]
    assert leftovers == []
