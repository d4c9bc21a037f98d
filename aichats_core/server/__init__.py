"""``aichats serve``: an OpenAI-compatible HTTP API in front of every aichats provider.

People already have OpenAI clients; pointed at this server (``base_url=".../v1"``) they reach
any installed provider, with model ids of the form ``provider/model`` (``aichats/gpt-4``).

>>> from aichats_core.server import create_app, serve  # doctest: +SKIP
>>> asyncio.run(serve(port=8000, emulate=True))  # doctest: +SKIP

Names are imported lazily, so that the command line can parse ``-o PROVIDER.KEY=VALUE``
without paying for ``aiohttp.web``; only serving imports it (and ``GunicornWorker``, the
worker class for gunicorn, imports gunicorn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aichats_core.lazy import lazy_attributes

if TYPE_CHECKING:
    from aichats_core.server._app import create_app
    from aichats_core.server._gunicorn import GunicornWorker as GunicornWorker
    from aichats_core.server._run import gunicorn_app, serve

__all__ = ["create_app", "gunicorn_app", "serve"]
"""``GunicornWorker`` is reachable too (gunicorn's ``--worker-class`` looks it up here) but not
listed: it needs gunicorn installed, and ``from aichats_core.server import *`` must not."""

_LAZY = {
    "GunicornWorker": "aichats_core.server._gunicorn",
    "create_app": "aichats_core.server._app",
    "gunicorn_app": "aichats_core.server._run",
    "serve": "aichats_core.server._run",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
