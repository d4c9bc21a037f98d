"""``aichats serve``: the OpenAI-compatible API, until SIGTERM or Ctrl-C.

The first signal shuts down gracefully (open streams get ``--shutdown-grace`` seconds, then
end with an in-band error); a second one stops waiting for them.

Its imports stay light: asyncio and the server come in only when it runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any


def serve_command(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    if args.otel:
        _instrument()  # first: without the extra, say so before anything else happens
    from aichats_core.server._limits import LIMIT_NAMES
    from aichats_core.server._options import (
        API_KEY_VARIABLE,
        app_options,
        checked_provider_options,
        merge_options,
    )

    options = app_options(
        provider_options=merge_options(args.options),
        api_key=args.api_key if args.api_key is not None else os.environ.get(API_KEY_VARIABLE),
        max_connections=args.max_connections,
        public_url=args.public_url,
        **{name: getattr(args, name) for name in LIMIT_NAMES},
    )
    checked_provider_options(options.get("provider_options"))  # a typo: say so before binding
    from aichats_core.server._capacity import raise_fd_limit

    raise_fd_limit()  # this process is the server's: let it hold as many clients as allowed
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if "api_key" not in options and not _is_loopback(args.host):
        print(
            f"aichats: warning: serving on {args.host} without an API key: anyone who can reach"
            " this port can use your providers (set AICHATS_API_KEY or --api-key)",
            file=sys.stderr,
        )
    try:
        asyncio.run(_serve(args, options))
    except OSError as exc:  # binding is the only I/O before the server runs
        from aichats_core.cli._commands import cannot_listen

        raise cannot_listen(args.host, args.port, exc) from exc
    return 0


async def _serve(args: argparse.Namespace, options: dict[str, Any]) -> None:
    import asyncio
    import contextlib
    import signal

    from aichats_core.server import serve

    def announce(url: str) -> None:
        print(f"aichats serve: OpenAI-compatible API at {url}/v1", flush=True)
        print(f"aichats serve: chat page at {url}/", flush=True)
        if args.command == "web" and not args.no_browser:
            import threading
            import webbrowser

            # Off the loop: a browser that runs in the foreground (w3m, lynx) would otherwise
            # hold the server it is asking for the page.
            opening = threading.Thread(target=webbrowser.open, args=(f"{url}/",), daemon=True)
            opening.start()

    server = asyncio.create_task(
        serve(
            args.host,
            args.port,
            emulate=args.emulate,
            ready=announce,
            shutdown_grace=args.shutdown_grace,
            **options,
        )
    )
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():
            server.cancel()  # a second signal: stop waiting for open streams
        stop.set()

    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, on_signal)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait((server, stopping), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not server.done():
        server.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await server  # re-raises what made the server fail, e.g. a port in use


def _instrument() -> None:
    """``--otel``: spans go to the global ``TracerProvider``; warn when none is set up."""
    from aichats_core.telemetry import instrument

    instrument()  # raises InvalidRequestError, one line, without opentelemetry-api
    from opentelemetry import trace

    if isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    ):
        print(
            "aichats: warning: --otel: no OpenTelemetry TracerProvider is set up, so spans go"
            " nowhere until one is (run under opentelemetry-instrument, or set one up in"
            " code; see docs/telemetry.md)",
            file=sys.stderr,
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
