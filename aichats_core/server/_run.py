"""Running the app: ``serve()`` in one process, ``gunicorn_app`` behind gunicorn's workers.

Several processes are gunicorn's job (``--worker-class aichats_core.server.GunicornWorker``);
nothing here forks. ``serve()`` runs until cancelled and then shuts down gracefully: it stops
accepting, lets open streams finish within the grace period, ends the rest in-band, aborts
the connections still open a moment later (clients that stopped reading), and only then
stops any emulator the streams were reading from.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web
from yarl import URL

from aichats_core import list_providers, normalize_name
from aichats_core.errors import InvalidRequestError
from aichats_core.server._access_log import AccessLog
from aichats_core.server._app import create_app
from aichats_core.server._capacity import FDS_PER_CLIENT, max_clients
from aichats_core.server._hosts import is_ip_literal
from aichats_core.server._logging import protect_logs, url_credentials
from aichats_core.server._options import app_options_from_environment
from aichats_core.server._protocol import ClientRunner
from aichats_core.server._state import DEFAULT_SHUTDOWN_GRACE, STATE
from aichats_core.server._throttle import AcceptErrors

SHUTDOWN_MARGIN = 1.0
"""Seconds beyond the grace period for the streams ended in-band to be written out; then the
connections still open are aborted."""


async def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    emulate: bool = False,
    ready: Callable[[str], None] | None = None,
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE,
    **app_options: Any,
) -> None:
    """Serve the API on ``host:port`` until cancelled (port 0: any free port).

    ``ready(url)`` is called with the server's root URL (``http://127.0.0.1:8000``; the API
    is under ``/v1``) once it listens. A client that hangs up cancels its handler, which stops
    the provider's call; without an API key, ``host`` is one of the names requests may be
    addressed to. ``emulate`` starts, in this process, the emulator of every installed
    provider that ships one and points the provider at it; options given in
    ``provider_options`` win over the emulator's. Other keyword arguments go to
    ``create_app``.
    """
    stack = AsyncExitStack()
    try:
        if emulate:
            (
                app_options["provider_options"],
                app_options["served_providers"],
            ) = await _start_emulators(stack, app_options.get("provider_options"))
        app = create_app(**app_options)
        state = app[STATE]
        state.shutdown_grace = shutdown_grace
        if not is_ip_literal(host):
            state.host_names.add(host.lower().rstrip("."))
        stack.callback(guard_process(app))
        runner = client_runner(
            app,
            shutdown_timeout=shutdown_grace + SHUTDOWN_MARGIN,
            # an in-process emulator holds the other end of each upstream connection
            fds_per_client=FDS_PER_CLIENT + 1 if emulate else FDS_PER_CLIENT,
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, host, port).start()
        if ready is not None:
            ready(str(URL.build(scheme="http", host=host, port=int(runner.addresses[0][1]))))
        await asyncio.get_running_loop().create_future()  # until cancelled
    finally:
        await _apart(stack.aclose())


def client_runner(
    app: web.Application,
    *,
    shutdown_timeout: float,
    fds_per_client: int = FDS_PER_CLIENT,
    **options: Any,
) -> ClientRunner:
    """The runner holding ``app``'s clients to its limits (``head_timeout``, ``max_clients``,
    0: from the fd limit), with the access log that leaves query values out. ``options`` go
    to aiohttp's ``AppRunner`` (``keepalive_timeout``, ``access_log``, ``logger``...)."""
    limits = app[STATE].limits
    return ClientRunner(
        app,
        head_timeout=limits.head_timeout,
        max_clients=max_clients(limits.max_clients, fds_per_client),
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        handler_cancellation=True,
        access_log_class=AccessLog,
        **options,
    )


def guard_process(app: web.Application) -> Callable[[], None]:
    """Keep ``app``'s secrets out of every log, and throttle the loop's accept failures;
    returns what undoes both."""
    state = app[STATE]
    secrets = [state.api_key or ""]
    for options in state.provider_options.values():
        for key, value in options.items():
            if isinstance(value, str):
                # the whole value of a secret's option; a proxy's or base URL's userinfo
                secrets += [value] if _SECRET_OPTION.search(key) else url_credentials(value)
    unprotect = protect_logs(secrets)
    restore = AcceptErrors(
        asyncio.get_running_loop(),
        "too many open files: the file-descriptor limit (ulimit -n) is below what"
        " max_clients needs; raise it or lower max_clients",
    ).install()

    def undo() -> None:
        restore()
        unprotect()

    return undo


_SECRET_OPTION = re.compile(r"key|token|secret|password|auth", re.IGNORECASE)


async def _apart(teardown: Awaitable[None]) -> None:
    """Run ``teardown`` in a task of its own.

    The task running ``serve()`` was cancelled; inside it, aiohttp's graceful wait for open
    handlers would be cut short (it checks whether its task is being cancelled).
    """
    task = asyncio.ensure_future(teardown)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()  # cancelled again while tearing down: stop waiting for streams
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise


async def _start_emulators(
    stack: AsyncExitStack, given: Mapping[str, Mapping[str, Any]] | None
) -> tuple[dict[str, dict[str, Any]], frozenset[str]]:
    """The provider options pointing each provider that ships an emulator at it, and the
    names of those providers: the only ones an offline server serves."""
    from aichats_core.emulators import find_emulator, has_emulator

    options = {normalize_name(name): dict(values) for name, values in (given or {}).items()}
    started: set[str] = set()
    for info in list_providers():
        if info.error is not None or not has_emulator(info.name):
            continue
        emulator = await stack.enter_async_context(find_emulator(info.name)())
        key = normalize_name(info.name)
        options[key] = {**emulator.provider_options(), **options.get(key, {})}
        started.add(key)
    if not started:
        raise InvalidRequestError("--emulate: no installed provider ships an emulator")
    return options, frozenset(started)


async def gunicorn_app() -> web.Application:
    """The app for gunicorn, configured from the environment of each worker.

    ``AICHATS_API_KEY`` (bearer token), ``AICHATS_SERVE_OPTIONS`` (``"aichats.base_url=...
    other.key=value"``), ``AICHATS_MAX_CONNECTIONS``, ``AICHATS_PUBLIC_URL`` and the limits
    (``AICHATS_HEAD_TIMEOUT``, ``AICHATS_MAX_CLIENTS``, ``AICHATS_MAX_BODY_BYTES``...). Run it
    with this package's worker class, which holds clients to those limits and keeps secrets
    out of the log (aiohttp's own ``GunicornWebWorker`` serves the app without either)::

        gunicorn 'aichats_core.server:gunicorn_app' \\
            --worker-class aichats_core.server.GunicornWorker --bind 127.0.0.1:8000 --workers 4
    """
    return create_app(**app_options_from_environment(os.environ))
