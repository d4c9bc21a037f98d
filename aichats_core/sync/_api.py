"""``complete``, ``stream`` and ``Client``: the async API's calls, blocking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from aichats_core import _conversation, _stream
from aichats_core._client import Client as AsyncClient
from aichats_core._conversation import Conversation as AsyncConversation
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
    from collections.abc import Iterable, Sequence

    import aiohttp

    from aichats_core._history_log import HistoryChoice
    from aichats_core._models import Message, MessageInput, Usage
    from aichats_core._registry import ProviderRegistry
    from aichats_core._retry import RetryPolicy
    from aichats_core._stream import ProviderChoice, ProviderOptions
    from aichats_core.health import HealthTracker
    from aichats_core.hooks import Hook
    from aichats_core.pricing import Cost, PriceTable

__all__ = ["Client", "Conversation", "complete", "conversation", "stream"]

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


class Conversation(SyncProxy[AsyncConversation]):
    """A blocking ``aichats_core.Conversation``: ``send`` waits for the answer, ``stream``
    iterates it; ``provider``, ``model``, ``system`` and ``options`` may change between
    turns. Its turns run on the sync API's loop, one at a time."""

    send = blocking(AsyncConversation, lambda conversation: conversation.send)
    stream = streaming(AsyncConversation, lambda conversation: conversation.stream)

    @property
    def id(self) -> str:
        return self._target.id

    @property
    def messages(self) -> tuple[Message, ...]:
        return self._target.messages

    @property
    def usage(self) -> Usage | None:
        """The tokens of the turns so far, as the async ``Conversation.usage`` counts them."""
        return self._target.usage

    def cost(self, prices: PriceTable | None = None) -> Cost:
        """What those turns cost, as the async ``Conversation.cost``."""
        return self._target.cost(prices)

    @property
    def provider(self) -> ProviderChoice:
        return self._target.provider

    @provider.setter
    def provider(self, value: ProviderChoice) -> None:
        self._target.provider = value

    @property
    def model(self) -> str | None:
        return self._target.model

    @model.setter
    def model(self, value: str | None) -> None:
        self._target.model = value

    @property
    def system(self) -> str | None:
        return self._target.system

    @system.setter
    def system(self, value: str | None) -> None:
        self._target.system = value

    @property
    def options(self) -> dict[str, Any]:
        return self._target.options

    def forget(self, turns: int = 1) -> None:
        """Drop the last ``turns`` exchanges from the history sent (for a retry)."""
        self._target.forget(turns)

    def add_tool_result(self, tool_call_id: str, content: str) -> None:
        """The result of a tool the last answer asked for; then ``send(None)``."""
        self._target.add_tool_result(tool_call_id, content)


def conversation(
    provider: ProviderChoice,
    *,
    model: str | None = None,
    system: str | None = None,
    proxy: str | None = None,
    retries: int | RetryPolicy = 0,
    provider_options: ProviderOptions | None = None,
    **options: Any,
) -> Conversation:
    """A blocking ``Conversation`` without a ``Client`` (each turn with its own short-lived
    session), as ``aichats_core.conversation``."""
    home = background()
    target = home.run(
        called(
            _conversation.conversation, provider, model=model, system=system, proxy=proxy,
            retries=retries, provider_options=provider_options, **options,
        )
    )  # fmt: skip
    return Conversation(target, home)


conversation.__module__ = "aichats_core.sync"  # as the module-level calls above


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
        hooks: Iterable[Hook] | None = None,
        health: HealthTracker | bool = True,
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
                hooks=hooks,
                health=health,
                **options,
            )
        )
        super().__init__(client, home)
        self._close = home.adopt(self, client.aclose)

    complete = blocking(AsyncClient, lambda client: client.complete)
    stream = streaming(AsyncClient, lambda client: client.stream)

    def conversation(
        self,
        provider: ProviderChoice,
        *,
        model: str | None = None,
        system: str | None = None,
        id: str | None = None,
        messages: Sequence[MessageInput] = (),
        proxy: str | None = None,
        retries: int | RetryPolicy | None = None,
        provider_options: ProviderOptions | None = None,
        **options: Any,
    ) -> Conversation:
        """A blocking ``Conversation`` over this client, as the async ``conversation``."""
        home = self._here()
        target = home.run(
            called(
                self._target.conversation, provider, model=model, system=system, id=id,
                messages=messages, proxy=proxy, retries=retries,
                provider_options=provider_options, **options,
            )
        )  # fmt: skip
        return Conversation(target, home)

    def close(self) -> None:
        """Close the session this client opened; safe to call more than once. A client
        garbage-collected or still open at exit is closed then."""
        self._close()

    def __enter__(self) -> Self:
        self._here().run(self._target.__aenter__())  # opens the session; refused once closed
        return self
