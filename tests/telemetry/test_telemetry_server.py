"""``aichats serve`` instrumented: a request's ``traceparent`` is the parent of its calls'
spans; not instrumented, the server neither reads it nor imports opentelemetry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from memory_spans import Traced

from aichats_core.cli import main
from aichats_core.server import create_app
from providers.aichats.emulator import AiChatsEmulator

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
CHAT = {"model": "aichats/gpt-4", "messages": [{"role": "user", "content": "Hi"}]}
AICHATS = str(Path(sys.executable).with_name("aichats"))


async def _post(app: aiohttp.web.Application, headers: dict[str, str], **body: object) -> None:
    async with (
        TestServer(app, host="127.0.0.1") as server,
        aiohttp.ClientSession() as http,
        http.post(server.make_url("/v1/chat/completions"), json=body, headers=headers) as reply,
    ):
        assert reply.status == 200, await reply.text()
        await reply.read()


@pytest.mark.parametrize("stream", [False, True])
async def test_a_traceparent_header_is_the_parent_of_the_call_span(
    traced: Traced, emulator: AiChatsEmulator, stream: bool
) -> None:
    app = create_app(provider_options={"aichats": emulator.provider_options()})
    headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    await _post(app, headers, **CHAT, stream=stream)
    [call] = traced.calls()
    assert call.name == "chat gpt-4"
    assert call.parent is not None
    assert call.parent.is_remote
    assert f"{call.context.trace_id:032x}" == TRACE_ID
    assert f"{call.parent.span_id:016x}" == PARENT_ID
    [attempt] = traced.attempts()
    assert attempt.context.trace_id == call.context.trace_id


async def test_without_a_header_the_call_span_is_a_root(
    traced: Traced, emulator: AiChatsEmulator
) -> None:
    app = create_app(provider_options={"aichats": emulator.provider_options()})
    await _post(app, {}, **CHAT)
    [call] = traced.calls()
    assert call.parent is None


def test_an_app_made_before_instrumenting_reads_no_trace_context() -> None:
    app = create_app()
    names = [getattr(middleware, "__name__", "") for middleware in app.middlewares]
    assert "trace_context_middleware" not in names
    assert names[0] == "errors_middleware"


def test_serving_without_telemetry_imports_no_opentelemetry() -> None:
    code = (
        "import sys; from aichats_core.server import create_app; create_app();"
        " print([m for m in sys.modules if m.split('.')[0] == 'opentelemetry'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_serve_otel_without_the_extra_is_one_line_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # as if not installed
    assert main(["serve", "--otel", "--port", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "aichats: error: OpenTelemetry is not installed: pip install 'aichats[otel]'\n"
    )


def test_serve_otel_warns_when_no_tracer_provider_is_set_up(tmp_path: Path) -> None:
    environment = {
        key: value for key, value in os.environ.items() if not key.lower().endswith("_proxy")
    }
    process = subprocess.Popen(
        [AICHATS, "serve", "--otel", "--emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**environment, "AICHATS_HOME": str(tmp_path)},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("aichats serve: OpenAI-compatible API at http://127.0.0.1:")
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    warnings = [line for line in errors.splitlines() if line.startswith("aichats: warning:")]
    assert warnings == [
        "aichats: warning: --otel: no OpenTelemetry TracerProvider is set up, so spans go"
        " nowhere until one is (run under opentelemetry-instrument, or set one up in code;"
        " see docs/telemetry.md)"
    ]
    assert process.returncode == 0
