"""``complete``, ``stream`` and ``Client``: the async API's calls, blocking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from aichats_core import _stream
from aichats_core._client import Client as AsyncClient
from aichats_core.sync._closing import Closing
from aichats_core.sync._loop import background
from aichats_core.sync._proxy import (
    SyncProxy,
    blocking,
    blocking_function,
    called,
    streaming,
    streaming_function,
)

if TYPE_CHECKING:
    import aiohttp

    from aichats_core._history_log import HistoryChoice
    from aichats_core._registry import ProviderRegistry
    from aichats_core._retry import RetryPolicy
    from aichats_core._stream import ProviderOptions

__all__ = ["Client", "complete", "stream"]

complete = blocking_function(
    _stream.complete,
    """The whole answer: its text, or the first image URI for an image model.

    Blocks until the answer is in; takes what ``aichats_core.complete`` takes and raises
    what it raises.""",
)

stream = streaming_function(
    _stream.stream,
    """The answer as a ``SyncResultStream`` of result events, ending with ``Finish``.

    Takes what ``aichats_core.stream`` takes and checks it at the call, before any network,
    raising what it raises. Iterating starts the request.""",
)


class Client(SyncProxy[AsyncClient], Closing):
    """A blocking ``aichats_core.Client``: a context manager sharing one HTTP session across
    calls, from any number of threads.

    It takes what the async ``Client`` takes. Its session lives on the sync API's event loop;
    a ``session`` passed in must belong to that loop too.

    >>> with Client(timeout=30) as client:  # doctest: +SKIP
    ...     print(client.complete("aichats", "Hello"))
    """

    def __init__(
        self,
        *,
        proxy: str | None = None,
        session: aiohttp.ClientSession | None = None,
        retries: int | RetryPolicy = 0,
        provider_options: ProviderOptions | None = None,
        max_connections: int = 100,
        registry: ProviderRegistry | None = None,
        history: HistoryChoice = None,
        **options: Any,
    ) -> None:
        home = background()
        client = home.run(
            called(
                AsyncClient,
                proxy=proxy,
                session=session,
                retries=retries,
                provider_options=provider_options,
                max_connections=max_connections,
                registry=registry,
                history=history,
                **options,
            )
        )
        super().__init__(client, home)
        self._close = home.adopt(self, client.aclose)

    complete = blocking(AsyncClient, lambda client: client.complete)
    stream = streaming(AsyncClient, lambda client: client.stream)

    def close(self) -> None:
        """Close the session this client opened; safe to call more than once. A client
        garbage-collected or still open at exit is closed then."""
        self._close()

    def __enter__(self) -> Self:
        self._here().run(self._target.__aenter__())  # opens the session; refused once closed
        return self
