"""``aichats serve`` as users run it: a subprocess, the sync client, SIGTERM."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import aiohttp
import openai
import pytest
from openai import OpenAI

from aichats_core.cli._parser import build_parser
from providers.aichats.emulator import AiChatsEmulator, Script, default_reply

AICHATS = str(Path(sys.executable).with_name("aichats"))
CHAT = {"model": "aichats", "messages": [{"role": "user", "content": "Hi"}], "stream": True}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AICHATS, *args], capture_output=True, text=True, timeout=60, check=False)


def _clean(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment without the developer's proxies and allow-lists (a module-scoped
    fixture starts before the suite's per-test clean-up)."""
    unwanted = {"AICHATS_PROVIDERS", "AICHATS_PROVIDER", "NO_PROXY", "no_proxy"}
    return {
        key: value
        for key, value in environ.items()
        if key not in unwanted and not key.lower().endswith("_proxy")
    }


def first_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The first line the process prints, or a failure after ``timeout`` seconds."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    assert readable, f"nothing printed within {timeout} s"
    return process.stdout.readline()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``aichats serve --emulate`` on a free port, with an API key; yields the base URL.

    Its log goes to a file, not to a pipe nobody reads until the end (a full pipe would
    block the server)."""
    log = tmp_path_factory.mktemp("served") / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [AICHATS, "serve", "--emulate", "--port", "0", "--api-key", "k"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**_clean(os.environ), "AICHATS_API_KEY": "not-this-one"},
        )
    try:
        line = first_line(process, timeout=20)
        assert line.startswith("aichats serve: OpenAI-compatible API at http://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        finally:
            if process.returncode is None:
                process.kill()
                process.wait()
            assert process.stdout is not None
            process.stdout.close()
        text = log.read_text()
        assert process.returncode == 0, text
        assert "Traceback" not in text


def test_the_sync_client_lists_chats_streams_and_draws(served: str) -> None:
    with OpenAI(base_url=served, api_key="k", max_retries=0, timeout=10) as client:
        assert "aichats/gpt-4" in [model.id for model in client.models.list()]
        answer = client.chat.completions.create(
            model="aichats/gpt-4", messages=[{"role": "user", "content": "Hello"}]
        )
        assert answer.choices[0].message.content == default_reply("Hello")
        stream = client.chat.completions.create(
            model="aichats/gpt-4", messages=[{"role": "user", "content": "Hello"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
        assert text == default_reply("Hello")
        image = client.images.generate(
            model="aichats/dalle", prompt="x", response_format="b64_json"
        )
        assert (image.data or [])[0].b64_json is not None
        assert base64.b64decode((image.data or [])[0].b64_json or "").startswith(b"\x89PNG")


def test_the_sync_client_sees_errors_and_needs_the_key(served: str) -> None:
    with (
        OpenAI(base_url=served, api_key="k", max_retries=0, timeout=10) as client,
        pytest.raises(openai.NotFoundError),
    ):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    with (
        OpenAI(base_url=served, api_key="not-this-one", max_retries=0, timeout=10) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.models.list()  # --api-key wins over AICHATS_API_KEY


async def test_sigterm_ends_open_streams_and_exits_0(emulator: AiChatsEmulator) -> None:
    emulator.enqueue(Script(text="first then nothing", events=2, stall_after=1, stall_for=30))
    process = await asyncio.create_subprocess_exec(
        AICHATS,
        "serve",
        "--port",
        "0",
        "--shutdown-grace",
        "0.3",
        "-o",
        f"aichats.base_url={emulator.url}",
        "-o",
        "aichats.timeout=60",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        base_url = line.split()[-1]
        async with (
            aiohttp.ClientSession() as http,
            http.post(base_url + "/chat/completions", json=CHAT) as response,
        ):
            await response.content.readuntil(b"\n\n")  # the role chunk
            text = await response.content.readuntil(b"\n\n")
            assert b'"content":"first' in text  # the stream is open, the provider stalled
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            rest = await asyncio.wait_for(response.read(), timeout=10)
        returncode = await asyncio.wait_for(process.wait(), timeout=10)
        elapsed = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert returncode == 0, stderr
    assert elapsed < 5
    assert "Traceback" not in stderr
    last = rest.decode().strip().split("\n\n")[-1]
    assert json.loads(last.removeprefix("data: "))["error"]["code"] == "server_shutting_down"


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (("-o", "aichats.base_url"), 2, "is not PROVIDER.KEY=VALUE"),
        (("-o", "base_url=x"), 2, "is not PROVIDER.KEY=VALUE"),
        (("--port", "70000"), 2, "from 0 to 65535"),
        (("--max-body-bytes", "0"), 2, "must be greater than 0"),
        (("-o", "aichat.base_url=http://127.0.0.1:1"), 1, "did you mean 'aichats'?"),
        (("-o", "aichats.timout=5"), 1, "has no option 'timout' (did you mean 'timeout'?)"),
    ],
)
def test_bad_usage(args: tuple[str, ...], status: int, expected: str) -> None:
    result = run("serve", *args)
    assert result.returncode == status, result
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    if status == 1:  # a failure at start (2 is argparse's usage error, with the usage line)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_serve_flags_beyond_the_basics() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["serve", "--max-connections", "0", "--public-url", "https://api.example"]
    )
    assert (args.max_connections, args.public_url) == (0, "https://api.example")
    assert parser.parse_args(["serve"]).max_connections is None  # create_app's default: no cap
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--max-connections", "-1"])


async def test_a_port_in_use_is_one_readable_line(emulator: AiChatsEmulator) -> None:
    port = emulator.url.rsplit(":", 1)[1]
    result = await asyncio.to_thread(run, "serve", "--port", port)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"aichats: error: cannot listen on 127.0.0.1:{port}")
    )
    assert "Traceback" not in result.stderr
