"""Raw HTTP for the tests that send what aiohttp's client refuses to: bytes on a TCP socket,
and ``aichats serve`` run as users run it, with its whole log kept for inspection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AICHATS = str(Path(sys.executable).with_name("aichats"))


def clean_environment() -> dict[str, str]:
    """The environment without the developer's proxies and provider allow-lists."""
    unwanted = {"AICHATS_PROVIDERS", "AICHATS_PROVIDER", "AICHATS_API_KEY", "NO_PROXY"}
    return {
        key: value
        for key, value in os.environ.items()
        if key not in unwanted and not key.lower().endswith("_proxy")
    }


@dataclass
class Served:
    """A running ``aichats serve``: where it listens and where its output goes."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def output(self) -> str:
        """Everything the server wrote so far, stdout and stderr together."""
        return self.log.read_bytes().decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def serving(
    log: Path,
    *args: str,
    preexec_fn: Callable[[], Any] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[Served]:
    """``aichats serve --port 0 ARGS`` until the block ends, then SIGTERM (and a wait).

    stdout and stderr go to ``log``, a file rather than a pipe that nobody reads and that
    would block the server once full.
    """
    with log.open("wb") as output:
        process = subprocess.Popen(
            [AICHATS, "serve", "--port", "0", *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=clean_environment(),
            preexec_fn=preexec_fn,
        )
    try:
        deadline = time.monotonic() + startup_timeout
        while "OpenAI-compatible API at" not in log.read_text("utf-8", "replace"):
            assert process.poll() is None, log.read_text("utf-8", "replace")
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.05)
        line = next(
            line for line in log.read_text().splitlines() if "OpenAI-compatible API at" in line
        )
        address = line.split()[-1].removeprefix("http://").removesuffix("/v1")
        host, port = address.rsplit(":", 1)
        yield Served(process, host, int(port), log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def exchange(host: str, port: int, data: bytes, *, timeout: float = 20.0) -> bytes:
    """Send ``data`` on a fresh connection, then read until the server closes it."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_until_closed(reader, timeout)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """All bytes until EOF (a reset after some bytes counts as the end)."""
    chunks = []
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(raw: bytes) -> Response:
    """The first HTTP/1.1 response in ``raw`` (its body by Content-Length, else the rest)."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    assert separator, f"no complete response head in {raw[:200]!r}"
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    body = rest[: int(length)] if length is not None else rest
    return Response(int(status_line.split()[1]), headers, body)
