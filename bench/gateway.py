"""Streaming chat turns at concurrency 32 through ``aichats serve``, against the same requests
sent straight to the upstream: how many times slower the gateway is.

Three processes: this one drives the load with aiohttp; the upstream is the openai plugin's
fake OpenAI-compatible service (``plugins/aichats-openai/tests/fake_openai.py``, the plugin
ships no emulator of its own), in a child process; ``aichats serve`` runs as users start it,
``python -m aichats_core serve --port 0 -o openai.base_url=<upstream>/v1``, with the plugin
discovered through its entry points. The server gets a core of its own; this process and the
upstream share the other, on both sides of the comparison. The upstream writes each answer's
events at once (``Reply(one_write=True)``), so that its own pacing hides nothing: the ratio is
the gateway's CPU cost per turn against the upstream's and the client's.

Each side sends ``requests`` streaming turns (``"stream": true``, a short prompt, a five-piece
answer) from 32 workers over one keep-alive session, reads every SSE chunk up to
``[DONE]`` and checks the text. Times are wall time per ``requests`` turns; the ratios are
gateway over direct. Requests with ``tools`` and with ``response_format: json_object`` are
measured through the gateway when it answers them with 200, and skipped with a note while it
refuses them with 400.

Usage: python bench/gateway.py [--requests 1280] [--rounds 13]
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import Comparison, compare

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "plugins" / "aichats-openai"
CONCURRENCY = 32
MODEL = "fake-model"
EXPECTED = "Hello there, how are you?"  # fake_openai.DEFAULT_TEXT, sent as five pieces
READY_TIMEOUT = 30.0

UPSTREAM = """
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from fake_openai import FakeOpenAI, Reply

async def main():
    fake = FakeOpenAI()
    fake.requests = __import__("collections").deque(maxlen=1)  # keeps no history of requests
    fake.enqueue(*[Reply(**json.loads(sys.argv[2]))] * int(sys.argv[3]))
    await fake.start()
    print(fake.url, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await fake.close()

asyncio.run(main())
"""

PLAIN: dict[str, Any] = {
    "stream": True,
    "messages": [{"role": "user", "content": "Say hello."}],
}
TOOLS: dict[str, Any] = {
    **PLAIN,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The current weather in a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ],
}
JSON_MODE: dict[str, Any] = {**PLAIN, "response_format": {"type": "json_object"}}


def _readline(process: subprocess.Popen[str], what: str, log: Path | None = None) -> str:
    """The child's first line of output, or an error saying why it did not come."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT)
    line = process.stdout.readline() if ready else ""
    if not line:
        said = log.read_text()[-2000:] if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} did not start (exit {process.poll()}): {said}")
    return line.strip()


def _stop(process: subprocess.Popen[str], graceful: Callable[[], None]) -> None:
    """Stop a child: gracefully, then for good; never leave it running."""
    if process.poll() is None:
        try:
            graceful()
            process.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout=15)
    if process.stdout is not None:
        process.stdout.close()


@contextmanager
def upstream_process(replies: int, cores: set[int] | None) -> Iterator[tuple[str, int]]:
    """The fake OpenAI-compatible service in a child process; yields its API root (``/v1``)
    and its process id."""
    reply = json.dumps({"one_write": True})
    process = subprocess.Popen(
        [sys.executable, "-c", UPSTREAM, str(PLUGIN / "tests"), reply, str(replies)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )

    def close_stdin() -> None:  # the child exits when its stdin closes
        assert process.stdin is not None
        process.stdin.close()

    try:
        if cores:
            os.sched_setaffinity(process.pid, cores)
        yield _readline(process, "the upstream"), process.pid
    finally:
        _stop(process, close_stdin)


def _plugin_on_path(into: Path) -> str:
    """A ``PYTHONPATH`` on which a fresh interpreter finds the openai plugin, from its sources.

    When the plugin is not installed in this environment (it is not, by default), it is made
    discoverable as pip would: a ``.dist-info`` with the entry points of its ``pyproject.toml``,
    beside its source directory, so that the server runs the plugin's code as it is now.
    """
    paths = [os.environ.get("PYTHONPATH", "")]
    try:
        importlib.metadata.distribution("aichats-openai")
    except importlib.metadata.PackageNotFoundError:
        project = tomllib.loads((PLUGIN / "pyproject.toml").read_text())["project"]
        info = into / f"aichats_openai-{project['version']}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
        )
        groups = project.get("entry-points", {})
        (info / "entry_points.txt").write_text(
            "".join(
                f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
                for group, points in groups.items()
            )
        )
        paths = [str(into), str(PLUGIN), *paths]
    return os.pathsep.join(filter(None, paths))


@contextmanager
def gateway_process(upstream: str, cores: set[int] | None) -> Iterator[tuple[str, int]]:
    """``aichats serve`` in front of ``upstream``, as users start it; yields its API root and
    its process id."""
    with tempfile.TemporaryDirectory(prefix="aichats-bench-gateway-") as scratch:
        log = Path(scratch) / "serve.log"
        env = {
            **os.environ,
            "PYTHONPATH": _plugin_on_path(Path(scratch)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "NO_PROXY": "127.0.0.1",
        }
        env.pop("AICHATS_API_KEY", None)
        command = [
            sys.executable, "-m", "aichats_core", "serve", "--port", "0",
            "-o", f"openai.base_url={upstream}",
        ]  # fmt: skip
        with log.open("w") as stderr:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=ROOT
            )
        try:
            if cores:
                os.sched_setaffinity(process.pid, cores)
            line = _readline(process, "aichats serve", log)
            found = re.search(r"(http://\S+/v1)", line)
            if found is None:
                raise RuntimeError(f"aichats serve said {line!r}")
            yield found.group(1), process.pid
        finally:
            _stop(process, lambda: process.send_signal(signal.SIGTERM))
            if process.returncode not in (0, -signal.SIGKILL):
                print(f"aichats serve exited {process.returncode}: {log.read_text()[-2000:]}")


async def _turn(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    """One streaming turn, read chunk by chunk to ``[DONE]``; its text must be the answer."""
    text = []
    async with session.post(url, json=body) as response:
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
        async for line in response.content:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            for choice in json.loads(data).get("choices", ()):
                text.append(choice["delta"].get("content") or "")
        else:
            raise RuntimeError(f"{url}: the stream ended without [DONE]")
    if "".join(text) != EXPECTED:
        raise RuntimeError(f"{url}: the answer was {''.join(text)!r}")


def _load(
    session: aiohttp.ClientSession, url: str, body: dict[str, Any], requests: int
) -> Callable[[], Awaitable[None]]:
    """``requests`` turns from ``CONCURRENCY`` workers, each taking the next turn when done."""

    async def run() -> None:
        remaining = iter(range(requests))

        async def worker() -> None:
            for _ in remaining:
                await _turn(session, url, body)

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    return run


async def _accepted(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> bool:
    """Whether the gateway answers this kind of request (200) or refuses it (400)."""
    async with session.post(url, json=body) as response:
        if response.status == 400:
            refusal = (await response.json()).get("error", {})
            print(
                f"  skipped: aichats serve refuses it (400, param {refusal.get('param')!r}:"
                f" {refusal.get('message')})"
            )
            return False
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")
        await response.read()
    await _turn(session, url, body)  # answered in full, and right
    return True


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """(the gateway's cores, this process's and the upstream's), when there are two or more."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < 2:
        return None, None
    return {cores[-1]}, set(cores[:-1])


async def measure(requests: int = 1280, rounds: int = 13) -> Comparison:
    gateway_cores, client_cores = _cores()
    variants_at_most = 4
    replies = (rounds + 1) * requests * variants_at_most + 100
    previous = os.sched_getaffinity(0) if client_cores else None
    with ExitStack() as stack:
        if client_cores:
            os.sched_setaffinity(0, client_cores)
            stack.callback(os.sched_setaffinity, 0, previous)
        upstream, upstream_pid = stack.enter_context(upstream_process(replies, client_cores))
        gateway, gateway_pid = stack.enter_context(gateway_process(upstream, gateway_cores))
        direct_url = f"{upstream}/chat/completions"
        gateway_url = f"{gateway}/chat/completions"
        connector = aiohttp.TCPConnector(limit=CONCURRENCY * 2)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            direct = {**PLAIN, "model": MODEL}
            via = {**PLAIN, "model": f"openai/{MODEL}"}
            variants = {
                "direct to the upstream": _load(session, direct_url, direct, requests),
                "via aichats serve": _load(session, gateway_url, via, requests),
            }
            for name, body in (("tools", TOOLS), ("json", JSON_MODE)):
                print(f"{name} requests through the gateway:")
                asked = {**body, "model": f"openai/{MODEL}"}
                if await _accepted(session, gateway_url, asked):
                    print("  accepted: measured")
                    variants[f"via aichats serve, {name}"] = _load(
                        session, gateway_url, asked, requests
                    )
            cpu_before = [_cpu_seconds(pid) for pid in (gateway_pid, upstream_pid)]
            client_before = time.process_time()
            result = await compare(
                f"{requests} streaming turns at concurrency {CONCURRENCY}", variants, rounds
            )
            client_cpu = time.process_time() - client_before
            gateway_cpu, upstream_cpu = (
                _cpu_seconds(pid) - before
                for pid, before in zip((gateway_pid, upstream_pid), cpu_before, strict=True)
            )
    result.extra["via aichats serve vs direct"] = result.ratio(
        "via aichats serve", "direct to the upstream"
    )
    for variant in result.times:
        result.extra[f"turns per second ({variant})"] = requests / result.median(variant)
    # Every variant runs rounds + 1 times (one warm-up); the gateway serves all but direct.
    turns = requests * (rounds + 1)
    gateway_turns = turns * (len(result.times) - 1)
    result.extra["CPU per turn, us (aichats serve)"] = gateway_cpu / gateway_turns * 1e6
    result.extra["CPU per turn, us (upstream)"] = upstream_cpu / (turns * len(result.times)) * 1e6
    result.extra["CPU per turn, us (this client)"] = client_cpu / (turns * len(result.times)) * 1e6
    for name in ("tools", "json"):
        if f"via aichats serve, {name}" in result.times:
            result.extra[f"{name} vs plain"] = result.ratio(
                f"via aichats serve, {name}", "via aichats serve"
            )
    return result


def main(argv: list[str]) -> int:
    requests = int(argv[argv.index("--requests") + 1]) if "--requests" in argv else 1280
    rounds = int(argv[argv.index("--rounds") + 1]) if "--rounds" in argv else 13
    result = asyncio.run(measure(requests=requests, rounds=rounds))
    print(f"\n{result.name}")
    for variant in result.times:
        print(f"  {variant:<40} median {result.median(variant) * 1000:9.1f} ms")
    for key, value in result.extra.items():
        print(f"  {key:<40} {value:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
