"""The installed ``aichats`` command, run as a user runs it: a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

AICHATS = str(Path(sys.executable).with_name("aichats"))


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AICHATS, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("aichats: error: ")
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_providers_lists_details_and_json() -> None:
    table = run("providers")
    assert table.returncode == 0
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "NAME",
        "MODELS",
        "DEFAULT",
        "WORKING",
        "HEALTH",
        "STREAM",
        "HISTORY",
        "CAN",
        "DISTRIBUTION",
    ]
    assert any(row.split()[0] == "aichats" and "gpt-4, dalle" in row for row in rows)
    listed = [json.loads(line) for line in run("providers", "--json").stdout.splitlines()]
    aichats = next(row for row in listed if row["name"] == "aichats")
    options = {option.pop("name"): option for option in aichats.pop("options")}
    assert options["base_url"] == {
        "type": "str | None",
        "default": None,
        "description": "Send requests to this site instead (the emulator's URL, say).",
        "core": False,
    }
    assert options["timeout"]["core"] is True
    assert options["allow_private_image_urls"]["type"] == "bool | None"
    assert "session" in options
    assert aichats == {
        "name": "aichats",
        "distribution": "aichats",
        "models": ["gpt-4", "dalle"],
        "image_models": ["dalle"],
        "default_model": "gpt-4",
        "working": False,
        "supports_stream": True,
        "supports_message_history": True,
        "capabilities": [],
        "error": None,
        "health": {  # nothing measured yet in this test's fresh AICHATS_HOME
            "status": "unknown",
            "cooling_until": None,
            "last_success": None,
            "last_error": None,
            "success_rate": None,
            "median_first_event_ms": None,
        },
    }


def test_chat_with_the_emulator_streams_the_answer() -> None:
    result = run("chat", "--emulate", "Hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Hello from the AiChats emulator! You said: Hello\n"
    assert result.stderr == ""


def test_chat_reads_the_prompt_from_stdin_and_prints_json_events() -> None:
    result = run("chat", "--emulate", "--json", "--system", "Be brief", "-", stdin="Hi there\n")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1] == {
        "kind": "finish",
        "provider": "aichats",
        "model": "gpt-4",
        "reason": "stop",
        "options": ["base_url"],  # the emulator's
        "withheld": [],
        "failures": [],
    }
    text = "".join(event["text"] for event in events if event["kind"] == "text")
    assert text.endswith("You said: System: Be brief\nUser: Hi there\nAssistant:")


def test_image_saves_a_real_png(tmp_path: Path) -> None:
    output = tmp_path / "fox.png"
    result = run("image", "--emulate", "a red fox", "-o", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"saved {output.stat().st_size} bytes to {output}"
    with Image.open(output) as image:
        assert image.format == "PNG"


def test_check_sends_a_real_request_and_reports_latency() -> None:
    result = run("check", "--emulate", "aichats", "--json")
    assert result.returncode == 0, result.stderr
    [report] = [json.loads(line) for line in result.stdout.splitlines()]
    assert report["name"] == "aichats"
    assert report["ok"] is True
    assert report["seconds"] > 0


async def test_check_reports_a_failing_provider(unused_tcp_port: int) -> None:
    result = run("check", "nope")
    assert result.returncode == 1
    assert "ProviderNotFoundError" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("chat", "-p", "nope", "Hi"), "no provider named 'nope'"),
        (
            ("chat", "--emulate", "-m", "gpt-5", "Hi"),
            "does not support model 'gpt-5'; choose one of: gpt-4, dalle",
        ),
        (("chat", "--emulate", " "), "the prompt is empty"),
        (
            ("image", "-p", "aichats", "--emulate", "x", "-o", "/nonexistent-dir/x.png"),
            "cannot write",
        ),
    ],
)
def test_errors_are_one_readable_line(args: tuple[str, ...], expected: str) -> None:
    assert_one_line_error(run(*args), expected)


def test_a_refused_connection_is_one_readable_line(unused_tcp_port: int) -> None:
    result = run("chat", "--base-url", f"http://127.0.0.1:{unused_tcp_port}", "Hi")
    assert_one_line_error(result, f"cannot connect to 127.0.0.1:{unused_tcp_port}")


def test_debug_shows_the_traceback() -> None:
    result = run("--debug", "chat", "-p", "nope", "Hi")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ProviderNotFoundError" in result.stderr


def test_bad_usage_exits_2() -> None:
    result = run("chat", "--timeout", "-1", "Hi")
    assert result.returncode == 2
    assert "must be greater than 0" in result.stderr


def test_the_default_provider_comes_from_the_environment() -> None:
    result = run("chat", "Hi", env={"AICHATS_PROVIDER": "missing-one"})
    assert_one_line_error(result, "no provider named 'missing-one'")


async def test_text_appears_on_stdout_while_the_stream_is_still_open() -> None:
    async with AiChatsEmulator(
        script=Script(text="early words then", events=3, stall_after=1, stall_for=30)
    ) as emulator:
        process = await asyncio.create_subprocess_exec(
            AICHATS,
            "chat",
            "--base-url",
            emulator.url,
            "Hi",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            first = await asyncio.wait_for(process.stdout.read(5), timeout=20)
            assert first == b"early"
            assert process.returncode is None  # still streaming: the server is silent for 30 s
        finally:
            process.kill()
            await process.communicate()


async def test_the_emulator_command_serves_until_stopped() -> None:
    process = await asyncio.create_subprocess_exec(
        AICHATS,
        "emulator",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        url = line.split()[3]
        assert url.startswith("http://127.0.0.1:")
        result = await asyncio.to_thread(run, "chat", "--base-url", url, "ping")
        assert result.stdout.endswith("You said: ping\n")
    finally:
        process.terminate()
        await process.communicate()


@pytest.mark.parametrize("command", ["emulator", "serve"])
def test_a_busy_port_is_one_readable_line(command: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(command, "--port", str(port))
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")
    assert "choose another --port" in result.stderr


def test_chat_with_a_provider_that_exits_prints_one_line_and_fails() -> None:
    """A plugin calling sys.exit() mid-answer is a failed call, not the end of the command."""
    code = """
import sys
from aichats_core import AsyncGeneratorProvider, ProviderModelMixin, register_provider
from aichats_core.cli import main

class Exiter(AsyncGeneratorProvider, ProviderModelMixin):
    default_model = "m"
    models = ["m"]

    @classmethod
    async def create_async_generator(cls, model, messages, proxy=None, **kwargs):
        yield "half "
        sys.exit(3)

register_provider("exiter", Exiter)
sys.exit(main(sys.argv[1:]))
"""
    result = subprocess.run(
        [sys.executable, "-c", code, "chat", "-p", "exiter", "Hello"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.stdout == "half \n"  # the error starts its own line
    assert_one_line_error(result, "provider 'exiter' failed with SystemExit: 3")


def test_options_reach_the_provider_typed_and_mistakes_are_one_line(tmp_path: Path) -> None:
    result = run("chat", "--emulate", "-o", "aichats.timeout=5", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == default_reply("hi")
    for args, words in [
        (("chat", "--emulate", "-o", "aichats.temprature=5", "hi"), "no option 'temprature'"),
        (("chat", "--emulate", "-o", "aichats.timeout=soon", "hi"), "option 'timeout'"),
        (("chat", "--emulate", "-o", "echo.words=5", "hi"), "calls aichats, not 'echo'"),
        (("check", "aichats", "--emulate", "-o", "other.x=1"), "not 'other'"),
        (("chat", "--emulate", "--base-url", "http://127.0.0.1:9", "hi"), "give one of them"),
    ]:
        result = run(*args)
        assert result.returncode != 0
        [line] = result.stderr.splitlines()
        assert words in line, line
    image = tmp_path / "fox.png"
    result = run("image", "--emulate", "fox", "-o", str(image), "-o", "aichats.max_image_bytes=100")
    assert result.returncode == 1
    assert "over the limit of 100" in result.stderr
    assert not image.exists()
    assert run("image", "--emulate", "fox", "-o", str(image)).returncode == 0
    assert image.read_bytes().startswith(b"\x89PNG")


async def test_check_gives_each_provider_only_its_own_options() -> None:
    """``aichats check a b -o a.x=1 -o b.y=2`` calls each provider with its own ``-o`` options
    (the others' would be refused as options for a provider the call does not use)."""
    from aichats_core.cli._commands import _first_answer
    from aichats_core.testing import ScriptedProvider, registered

    first = ScriptedProvider.script("OK", options={"x": None})
    second = ScriptedProvider.script("OK", options={"y": None})
    per_provider = {"first": {"x": 1}, "second": {"y": 2}}
    with registered("first", first), registered("second", second):
        assert await _first_answer("first", {}, per_provider) == "OK"
        assert await _first_answer("second", {}, per_provider) == "OK"
    assert (first.calls[0].options, second.calls[0].options) == ({"x": 1}, {"y": 2})
