"""The gunicorn worker class: aiohttp's, serving through this package's runner.

aiohttp's ``GunicornWebWorker`` builds a plain ``AppRunner`` from gunicorn's settings; an app
factory could return its own runner instead, but the worker then drops those settings
(keep-alive, access log, graceful timeout). This worker hands aiohttp's a factory that
returns our runner built with them: head timeout, client cap, JSON error answers, bounded
shutdown, redacted logs, throttled accept errors, handler cancellation on hang-up.

Needs gunicorn, which this package does not depend on (``pip install gunicorn``).
"""

from __future__ import annotations

import inspect
from typing import Any

from aiohttp import web
from aiohttp.worker import GunicornWebWorker

from aichats_core.server._capacity import raise_fd_limit
from aichats_core.server._run import SHUTDOWN_MARGIN, client_runner, guard_process
from aichats_core.server._state import STATE


class GunicornWorker(GunicornWebWorker):
    """``--worker-class aichats_core.server.GunicornWorker``."""

    def load_wsgi(self) -> None:
        # gunicorn's Worker.load_wsgi sets self.wsgi, the object given on the command line;
        # aiohttp's worker (_run) uses the runner an async factory returns as it is.
        super().load_wsgi()
        self.wsgi: Any = self._runner_factory(self.wsgi)

    def _runner_factory(self, target: Any) -> Any:
        async def factory() -> web.AppRunner:
            app = await target() if inspect.iscoroutinefunction(target) else target
            if not isinstance(app, web.Application):
                raise RuntimeError(
                    "the gunicorn target must be an aiohttp Application or an async factory"
                    f" returning one (aichats_core.server:gunicorn_app), not {app!r}"
                )
            raise_fd_limit()
            guard_process(app)  # for the worker's life: it exits when serving ends
            cfg = self.cfg
            grace = app[STATE].shutdown_grace + SHUTDOWN_MARGIN
            return client_runner(
                app,
                # gunicorn kills a worker at --graceful-timeout: end before it, as aiohttp's
                shutdown_timeout=min(grace, cfg.graceful_timeout / 100 * 95),
                logger=self.log,
                keepalive_timeout=cfg.keepalive,
                access_log=self.log.access_log if cfg.accesslog else None,
                access_log_format=self._get_valid_log_format(cfg.access_log_format),
            )

        return factory
