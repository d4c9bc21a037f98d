"""Servers for the sync API's tests, each on its own loop in its own thread: a test blocked in
a sync call must not be the thread that serves it."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable

from server_threads import ServerThread

__all__ = ["HangUpRecorder", "ServerThread"]


class HangUpRecorder:
    """A raw HTTP server that answers one SSE event, then stays silent, and records when the
    client closes its side of the connection: what releasing a connection looks like from
    the server."""

    def __init__(self) -> None:
        self.url = ""
        self.hung_up = threading.Event()
        self.connections = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        event = b"data: first\n\n"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(event), event)
        )
        try:
            await reader.read()  # b"" once the client has closed the connection
        except ConnectionError:
            pass
        finally:
            self.hung_up.set()
            writer.close()


def wait_until(condition: Callable[[], bool], within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
