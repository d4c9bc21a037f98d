"""A g4f-style port, installed by pip as a plugin, through ``aichats chat`` and ``aichats serve``.

The port imports only ``aichats_core.compat.g4f`` and aiohttp, and is written as a g4f
provider is: class attributes, its own ``ClientSession(connector=get_connector(proxy=...))``,
``raise_for_status``, ``format_prompt``, ``FinishReason``. Its upstream is a local aiohttp
server in this process (in a thread of its own, so the blocking subprocess helpers can wait
while it answers).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from aiohttp import web

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]


def _helpers(name: str, path: Path) -> ModuleType:
    """A helper module of another test directory (they are not packages), loaded once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


raw_http = _helpers("raw_http", TESTS / "server" / "raw_http.py")
installing = _helpers("_plugins_conftest_helpers", TESTS / "plugins" / "conftest.py")

NAME = "parrot"
PORT = '''
    """A gpt4free provider, ported by changing its imports only."""

    from __future__ import annotations

    from aiohttp import ClientSession

    from aichats_core.compat.g4f import (
        AsyncGeneratorProvider,
        AsyncResult,
        FinishReason,
        Messages,
        ProviderModelMixin,
        format_prompt,
        get_connector,
        raise_for_status,
    )


    class Parrot(AsyncGeneratorProvider, ProviderModelMixin):
        url = "https://parrot.invalid"
        api_endpoint = "https://api.parrot.invalid/api/chat"
        working = True
        default_model = "parrot-1"
        models = ["parrot-1", "parrot-2"]

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Messages, proxy: str = None, **kwargs
        ) -> AsyncResult:
            model = cls.get_model(model)
            async with ClientSession(connector=get_connector(proxy=proxy)) as session:
                data = {"prompt": format_prompt(messages), "model": model}
                async with session.post(cls.api_endpoint, json=data) as response:
                    await raise_for_status(response)
                    async for chunk in response.content.iter_any():
                        if chunk:
                            yield chunk.decode()
            yield FinishReason("stop")
'''


class Upstream:
    """The service the port speaks to: POST JSON ``{"prompt": ...}``, chunked plain text back;
    a prompt containing ``busy`` is answered 429 with ``Retry-After: 7``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.url = ""

    @staticmethod
    def answer(prompt: str) -> str:
        return f"squawk: {prompt}"

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((request.path, body))
        if "busy" in body["prompt"]:
            return web.Response(status=429, text="slow down", headers={"Retry-After": "7"})
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        words = self.answer(body["prompt"]).split(" ")
        for index, word in enumerate(words):  # one chunk a word: the port streams them
            await response.write((word if index == 0 else " " + word).encode())
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    """The upstream on 127.0.0.1, served by an event loop in a thread of this process."""
    state = Upstream()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/api/chat", state.chat)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    assert runner.addresses, "the upstream did not bind"
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}"
    thread = threading.Thread(target=loop.run_forever, name="upstream", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The port's distribution, built and installed by pip into a target of its own, which
    the subprocesses of this module see first on their ``sys.path`` (``PYTHONPATH``)."""
    root = tmp_path_factory.mktemp("g4f-port")
    source = installing.distribution_source(
        root / "sources",
        "aichats-parrot",
        {"aichats_parrot.py": PORT},
        entry_points={NAME: "aichats_parrot:Parrot"},
    )
    target = root / "site-packages"
    installing.pip_install([source], target)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", installing.python_env(target)["PYTHONPATH"])
        yield target


def chat(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [raw_http.AICHATS, "chat", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=raw_http.clean_environment(),
    )


def test_the_installed_port_is_listed_by_its_distribution(site: Path) -> None:
    code = (
        "import aichats_core; info = aichats_core.provider_info('parrot');"
        " print(info.distribution, info.target, info.error)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=raw_http.clean_environment(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["aichats-parrot", "aichats_parrot:Parrot", "None"]


def test_chat_prints_the_upstream_answer(site: Path, upstream: Upstream) -> None:
    result = chat("-p", NAME, "--base-url", upstream.url, "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip("\n") == Upstream.answer("hi")
    assert upstream.requests[-1] == ("/api/chat", {"prompt": "hi", "model": "parrot-1"})


def test_chat_with_a_model_and_a_system_message(site: Path, upstream: Upstream) -> None:
    result = chat("-p", NAME, "-m", "parrot-2", "--base-url", upstream.url, "--system", "s", "q")
    assert result.returncode == 0, result.stderr
    prompt = "System: s\nUser: q\nAssistant:"
    assert result.stdout.rstrip("\n") == Upstream.answer(prompt)
    assert upstream.requests[-1] == ("/api/chat", {"prompt": prompt, "model": "parrot-2"})


def test_chat_reports_a_429_on_one_line_naming_the_provider(site: Path, upstream: Upstream) -> None:
    result = chat("-p", NAME, "--base-url", upstream.url, "busy")
    assert result.returncode == 1, result
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    where = f"{upstream.url}/api/chat"
    assert lines[0] == f"aichats: error: {NAME}: HTTP 429 from {where}: slow down (retry after 7s)"
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def served(
    site: Path, upstream: Upstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``aichats serve -o parrot.base_url=<upstream> --port 0``; yields its base URL."""
    log = tmp_path_factory.mktemp("served") / "serve.log"
    with raw_http.serving(log, "-o", f"{NAME}.base_url={upstream.url}") as server:
        yield server.base_url
    text = log.read_text("utf-8", "replace")
    assert server.process.returncode == 0, text
    assert "Traceback" not in text


def body(prompt: str, *, stream: bool) -> dict[str, object]:
    return {"model": NAME, "messages": [{"role": "user", "content": prompt}], "stream": stream}


async def test_serve_answers_without_streaming(served: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{served}/chat/completions", json=body("hi", stream=False)) as response,
    ):
        assert response.status == 200, await response.text()
        answer = await response.json()
    assert answer["choices"][0]["message"]["content"] == Upstream.answer("hi")
    assert answer["choices"][0]["finish_reason"] == "stop"


async def test_serve_streams_the_answer(served: str) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{served}/chat/completions", json=body("hi", stream=True)) as response,
    ):
        assert response.status == 200, await response.text()
        assert response.content_type == "text/event-stream"
        raw = (await response.read()).decode()
    events = [block.removeprefix("data: ") for block in raw.strip().split("\n\n")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text == Upstream.answer("hi")
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_serve_maps_an_upstream_429_to_429_with_retry_after(
    served: str, stream: bool
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{served}/chat/completions", json=body("busy", stream=stream)) as response,
    ):
        assert response.status == 429, await response.text()
        assert response.headers["Retry-After"] == "7"
        error = (await response.json())["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert error["message"] == f"provider {NAME!r} is rate limiting; retry after 7s"
