"""The OpenAI-compatible plugin, really installed, and the whole chain over real sockets.

pip builds ``plugins/aichats-openai`` and fresh interpreters discover it by name. Then the
chain a user builds: the ``openai`` provider (in a fresh process, as installed) talks to
``aichats serve`` (the OpenAI-compatible server, in this process), which asks the AiChats
provider, which talks to the AiChats emulator::

    openai provider --HTTP--> aichats server --> AiChats provider --HTTP--> AiChats emulator

Text must come back exactly as the emulator sent it, and the emulator's failures must arrive
as the same typed errors at the far end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeAlias

import pytest
from aiohttp.test_utils import TestServer

from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

pytestmark = pytest.mark.slow

# The fixtures of conftest.py, typed loosely: a test module does not import its conftest.
RunPython: TypeAlias = Callable[..., subprocess.CompletedProcess[str]]
RunPythonModule: TypeAlias = Callable[..., subprocess.CompletedProcess[str]]

REPO_ROOT = Path(__file__).resolve().parents[2]
OPENAI_SOURCE = REPO_ROOT / "plugins" / "aichats-openai"
SERVER_KEY = "sk-aichats-server-0123456789"
# Keys and URLs from the developer's shell must not reach the fresh interpreters.
CLEAN_ENV = {"OPENAI_API_KEY": None, "OPENAI_BASE_URL": None, "AICHATS_API_KEY": None}

LIST_PROVIDERS = """
    import json, sys
    import aichats_core
    print(json.dumps({
        "providers": {
            info.name: {"distribution": info.distribution, "target": info.target}
            for info in aichats_core.list_providers()
        },
        "imported": "aichats_openai" in sys.modules,
    }))
"""

# A client of the chain: one call through the installed ``openai`` provider, reported as JSON.
CLIENT = """
    import asyncio, json, sys
    import aichats_core
    from aichats_core.errors import AiChatsError
    from aichats_openai import OpenAICompatible

    async def main(request):
        report = {"events": []}
        if request.pop("list_models", False):
            report["models"] = await OpenAICompatible.list_models(
                request["base_url"], api_key=request["api_key"]
            )
        try:
            messages = request.pop("messages")
            async for event in aichats_core.stream("openai", messages, **request):
                report["events"].append(event.model_dump())
        except AiChatsError as exc:
            report["error"] = type(exc).__name__
            report["message"] = str(exc)
            for name in ("status", "retry_after", "partial_text"):
                if hasattr(exc, name):
                    report[name] = getattr(exc, name)
        return report

    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
"""


# -- installed and discovered ------------------------------------------------------------------


def listed(run_python: RunPython, target: Path | None) -> dict[str, Any]:
    result = run_python(LIST_PROVIDERS, target, env=CLEAN_ENV)
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def test_openai_is_not_installed_in_the_plain_environment(run_python: RunPython) -> None:
    """Without the install, nothing provides ``openai``: discovery below comes from the install."""
    providers = listed(run_python, None)["providers"]
    assert "aichats" in providers
    assert "openai" not in providers, (
        "aichats-openai is installed in this environment; uninstall it to run these tests"
    )


def test_installed_openai_is_listed_with_its_distribution_without_being_imported(
    run_python: RunPython, openai_site: Path
) -> None:
    answer = listed(run_python, openai_site)
    assert answer["providers"]["openai"] == {
        "distribution": "aichats-openai",
        "target": "aichats_openai:OpenAICompatible",
    }
    assert answer["imported"] is False


def test_installed_presets_are_listed_from_the_same_distribution(
    run_python: RunPython, openai_site: Path
) -> None:
    providers = listed(run_python, openai_site)["providers"]
    presets = {
        "openrouter": "OpenRouter",
        "groq": "Groq",
        "together": "Together",
        "deepseek": "DeepSeek",
        "mistral": "Mistral",
        "fireworks": "Fireworks",
        "ollama": "Ollama",
        "lmstudio": "LMStudio",
        "vllm": "VLLM",
        "llamacpp": "LlamaCpp",
    }
    for name, cls in presets.items():
        assert providers[name] == {
            "distribution": "aichats-openai",
            "target": f"aichats_openai:{cls}",
        }


@pytest.mark.parametrize("name", ["openai", "OpenAI", "open-ai"])
def test_selected_by_normalised_name(run_python: RunPython, openai_site: Path, name: str) -> None:
    result = run_python(
        f"""
        import sys
        import aichats_core
        cls = aichats_core.get_provider({name!r})
        print(cls.__module__, cls.__qualname__, repr(cls.default_model), cls.models, cls.working)
        print(cls.__module__ in sys.modules and sys.modules[cls.__module__].__file__)
        print(sorted({{"aiohttp", "pydantic"}} & set(sys.modules)))
        """,
        openai_site,
        env=CLEAN_ENV,
    )
    assert result.returncode == 0, result.stderr
    description, module_file, heavy = result.stdout.splitlines()
    assert description == "aichats_openai._provider OpenAICompatible '' [] True"
    assert Path(module_file).is_relative_to(openai_site)  # the install, not the checkout
    # pydantic comes with the declared Options, which the core checks as the provider loads;
    # the HTTP stack waits for a request.
    assert heavy == "['pydantic']"


def test_the_plugins_own_tests_pass_against_the_install(
    run_python_module: RunPythonModule, openai_site: Path
) -> None:
    result = run_python_module(
        "pytest",
        str(OPENAI_SOURCE / "tests"),
        "-p",
        "no:cacheprovider",
        "-q",
        target=openai_site,
        env=CLEAN_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary


def test_the_install_is_complete_and_leaves_the_source_clean(openai_site: Path) -> None:
    assert (openai_site / "aichats_openai" / "py.typed").is_file()
    assert not (openai_site / "tests").exists()
    leftovers = [
        path.name
        for path in OPENAI_SOURCE.iterdir()
        if path.name in ("build", "dist") or path.name.endswith(".egg-info")
    ]
    assert leftovers == []


# -- the chain, end to end ---------------------------------------------------------------------


class Chain(NamedTuple):
    emulator: AiChatsEmulator
    base_url: str
    """The server's API root, ``http://127.0.0.1:PORT/v1``."""


@pytest.fixture
async def chain() -> AsyncIterator[Chain]:
    """The AiChats emulator, and the aichats OpenAI-compatible server in front of it."""
    from aichats_core.server import create_app

    async with AiChatsEmulator() as emulator:
        app = create_app(
            provider_options={"aichats": {"base_url": emulator.url}}, api_key=SERVER_KEY
        )
        async with TestServer(app, host="127.0.0.1") as server:
            yield Chain(emulator, str(server.make_url("/v1")))


async def call(
    run_python: RunPython, site: Path, chain: Chain, messages: Any, **options: Any
) -> dict[str, Any]:
    """One call through the installed ``openai`` provider, in a fresh process.

    The process runs in a thread so that this loop keeps serving the chain meanwhile.
    """
    request = {"messages": messages, "base_url": chain.base_url, "api_key": SERVER_KEY, **options}
    result = await asyncio.to_thread(
        run_python, CLIENT, site, env=CLEAN_ENV, args=[json.dumps(request)]
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def text_of(report: dict[str, Any]) -> str:
    return "".join(event["text"] for event in report["events"] if event["kind"] == "text")


async def test_text_streams_back_through_the_whole_chain(
    run_python: RunPython, openai_site: Path, chain: Chain
) -> None:
    prompt = "Hello through the whole chain"
    report = await call(run_python, openai_site, chain, prompt, model="aichats/gpt-4")
    assert "error" not in report, report
    assert text_of(report) == default_reply(prompt)
    usage, finish = report["events"][-2:]
    assert usage["kind"] == "usage"
    assert finish == {
        "kind": "finish",
        "provider": "openai",
        "model": "aichats/gpt-4",
        "reason": "stop",
        "options": ["api_key", "base_url"],
        "withheld": [],
        "failures": [],
    }
    # The prompt really crossed both hops, as the upstream protocol wants it.
    upstream = chain.emulator.requests[-1].json
    assert upstream == {"type": "chat", "messagesHistory": [{"from": "you", "content": prompt}]}


async def test_roles_travel_the_whole_chain(
    run_python: RunPython, openai_site: Path, chain: Chain
) -> None:
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour."},
    ]
    report = await call(run_python, openai_site, chain, history, model="aichats/gpt-4")
    flattened = "System: Be brief.\nUser: Name a colour.\nAssistant:"
    upstream = chain.emulator.requests[-1].json
    assert upstream == {"type": "chat", "messagesHistory": [{"from": "you", "content": flattened}]}
    assert text_of(report) == default_reply(flattened)


async def test_the_model_list_and_the_default_model_come_from_the_server(
    run_python: RunPython, openai_site: Path, chain: Chain
) -> None:
    report = await call(run_python, openai_site, chain, "Which model?", list_models=True)
    assert report["models"][:2] == ["aichats/gpt-4", "aichats/dalle"]
    assert text_of(report) == default_reply("Which model?")


async def test_an_upstream_rate_limit_arrives_as_a_rate_limit_error(
    run_python: RunPython, openai_site: Path, chain: Chain
) -> None:
    chain.emulator.enqueue(Script(status=429, retry_after=2))
    report = await call(run_python, openai_site, chain, "Hi", model="aichats/gpt-4")
    assert report["error"] == "RateLimitError", report
    assert report["status"] == 429
    assert report["retry_after"] == 2.0
    assert report["message"].startswith("openai: HTTP 429 from http://127.0.0.1:")
    assert "provider 'aichats' is rate limiting" in report["message"]
    assert report["events"] == []


async def test_an_upstream_stream_cut_midway_arrives_as_an_interruption(
    run_python: RunPython, openai_site: Path, chain: Chain
) -> None:
    chain.emulator.enqueue(Script(text="one two three four", delay=0.05, disconnect_after=2))
    report = await call(run_python, openai_site, chain, "Hi", model="aichats/gpt-4")
    assert report["error"] == "StreamInterruptedError", report
    assert report["partial_text"] == "one two" == text_of(report)
    assert "in the middle of the answer" in report["message"]


async def test_a_wrong_key_for_the_server_is_a_401(
    run_python: RunPython, openai_site: Path, chain: Chain
) -> None:
    wrong = "sk-not-the-server-key-000000"
    report = await call(run_python, openai_site, chain, "Hi", model="aichats/gpt-4", api_key=wrong)
    assert (report["error"], report["status"]) == ("ProviderHTTPError", 401), report
    assert wrong not in report["message"]
    assert chain.emulator.requests == []


async def test_an_unknown_model_is_a_404_naming_the_available_ones(
    run_python: RunPython, openai_site: Path, chain: Chain
) -> None:
    report = await call(run_python, openai_site, chain, "Hi", model="aichats/gpt-5")
    assert (report["error"], report["status"]) == ("ProviderHTTPError", 404), report
    assert "aichats/gpt-4" in report["message"]
    assert "{" not in report["message"]  # the server's message, not its JSON


async def test_the_chain_through_both_command_lines(
    run_python_module: RunPythonModule, openai_site: Path, tmp_path: Path
) -> None:
    """``aichats serve`` in one process, ``aichats chat -p openai`` in another."""
    async with AiChatsEmulator() as emulator:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env.pop("AICHATS_API_KEY", None)
        with (tmp_path / "serve.log").open("w") as log:
            server = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "aichats_core", "serve", "--port", "0",
                "-o", f"aichats.base_url={emulator.url}",
                stdout=asyncio.subprocess.PIPE, stderr=log, env=env, cwd=REPO_ROOT,
            )  # fmt: skip
            try:
                assert server.stdout is not None
                line = await asyncio.wait_for(server.stdout.readline(), 30)
                found = re.search(r"(http://\S+/v1)", line.decode())
                assert found, (
                    f"aichats serve said {line!r}; log: {(tmp_path / 'serve.log').read_text()}"
                )
                result = await asyncio.to_thread(
                    run_python_module,
                    "aichats_core", "chat", "-p", "openai", "--base-url", found.group(1),
                    "-m", "aichats/gpt-4", "Hello from the shell",
                    target=openai_site, env=CLEAN_ENV,
                )  # fmt: skip
            finally:
                if server.returncode is None:
                    server.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(server.communicate(), 20)
                except TimeoutError:
                    server.kill()
                    await server.communicate()
    assert result.returncode == 0, result.stderr
    assert result.stdout == default_reply("Hello from the shell") + "\n"
    assert server.returncode == 0, (tmp_path / "serve.log").read_text()
