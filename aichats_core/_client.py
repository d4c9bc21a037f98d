"""``Client``: many calls, one connection pool.

Each module-level ``stream()`` call pays for a new session (TCP, TLS, DNS). A ``Client``
owns one ``aiohttp.ClientSession`` and hands it to every provider it calls, so that
connections are reused; that is most of the cost of short calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aichats_core._closing import AsyncClosing
from aichats_core._features import with_features
from aichats_core._history_log import HistoryChoice, open_log
from aichats_core._models import MessageInput, validate_messages
from aichats_core._registry import ProviderRegistry
from aichats_core._retry import RetryPolicy
from aichats_core._stream import (
    ProviderChoice,
    ProviderOptions,
    ResultStream,
    check_targets,
    start,
)
from aichats_core._turns import credentials, one_turn, recorded
from aichats_core.errors import InvalidRequestError
from aichats_core.health import HealthTracker
from aichats_core.health import tracker as process_tracker
from aichats_core.hooks import Hook, hooks_of

if TYPE_CHECKING:
    import aiohttp

    from aichats_core._conversation import Conversation
    from aichats_core.history import HistoryStore


def _merge_provider_options(
    defaults: ProviderOptions | None, call: ProviderOptions | None
) -> ProviderOptions | None:
    """A call's provider options win key by key over the client's, provider by provider."""
    if not defaults or not call:
        return call or defaults
    from aichats_core._registry import normalize_name

    merged: dict[str, dict[str, Any]] = {}
    for options in (defaults, call):
        for name, values in options.items():
            merged.setdefault(normalize_name(name), {}).update(values)
    return merged


def health_of(health: HealthTracker | bool) -> HealthTracker | None:
    """A client's tracker: the process's for True, none for False."""
    if health is True:
        return process_tracker()
    if health is False:
        return None
    if isinstance(health, HealthTracker):
        return health
    raise InvalidRequestError(
        f"health is True, False or a HealthTracker, not {type(health).__name__}"
    )


class Client(AsyncClosing):
    """An async context manager sharing one HTTP session across calls.

    ``options`` given here are defaults for every call (for example ``timeout`` or
    ``base_url``); a call's own options win. ``max_connections`` caps the open connections
    (0: no cap); calls beyond it wait for a free one. ``registry`` is where provider names
    are looked up (a ``ProviderRegistry``; the default one, of installed plugins and
    ``register_provider``, unless given). ``hooks`` watch its calls (``aichats_core.hooks``),
    after the process's own. ``health`` measures them (``aichats_core.health``): True for
    the process's tracker, shared by its clients, a ``HealthTracker`` of its own, or False
    for none (no breaker either).

    >>> async with Client(timeout=30) as client:  # doctest: +SKIP
    ...     print(await client.complete("aichats", "Hello"))
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
        if max_connections < 0:
            raise InvalidRequestError("max_connections must be 0 (no limit) or more")
        self._log = open_log(history)
        self._hooks = hooks_of(hooks)
        self._health = health_of(health)
        self._secrets = (
            credentials({**options, "provider_options": provider_options or {}}, proxy)
            if self._log is not None
            else ()
        )
        """The credentials among this client's defaults, kept out of the history it writes."""
        self._max_connections = max_connections
        self._proxy = proxy
        self._retries = retries
        self._provider_options = provider_options
        self._options = options
        self._default_options: Mapping[str, Any] | None = None
        self._checked: dict[type, tuple[Mapping[str, Any], dict[str, Any]]] = {}
        """Per provider, the defaults above as validated for it: see ``checked_options``."""
        self._registry = registry
        self._session = session
        self._owns_session = session is None
        self._closed = False

    async def __aenter__(self) -> Client:
        self._ensure_session()
        return self

    async def aclose(self) -> None:
        """Close the session this client opened (a session passed in is left to its owner),
        once the turns it recorded are written to the history."""
        self._closed = True
        if self._owns_session and self._session is not None:
            from aichats_core.http._session import interrupt_answers

            interrupt_answers(self._session, "the Client was closed while the answer arrived")
            await self._session.close()
        self._session = None
        if self._log is not None:
            import asyncio

            log, self._log = self._log, None
            try:
                await asyncio.to_thread(log.close)  # waits for the writer: not on the loop
            except RuntimeError:  # at interpreter exit the default executor takes no work
                log.close()

    async def flush_history(self, timeout: float = 10.0) -> bool:
        """Wait until the turns this client recorded so far are written to its history (they
        are written in batches, off the loop), so that a reader sees them; False if that took
        longer than ``timeout``. Without history, True at once."""
        log = self._log
        if log is None:
            return True
        import asyncio

        return await asyncio.to_thread(log.flush, timeout)

    @property
    def history(self) -> HistoryStore | None:
        """Where this client records its calls and conversations (``history=``), or None."""
        return self._log.store if self._log is not None else None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The shared session; created on first use."""
        return self._ensure_session()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise InvalidRequestError("this Client is closed; create a new one")
        if self._session is None:
            import aiohttp

            from aichats_core.http import new_client_session

            connector = aiohttp.TCPConnector(limit=self._max_connections)
            self._session = new_client_session(connector=connector)
        return self._session

    def stream(
        self,
        provider: ProviderChoice,
        messages: str | Iterable[MessageInput],
        *,
        model: str | None = None,
        proxy: str | None = None,
        retries: int | RetryPolicy | None = None,
        provider_options: ProviderOptions | None = None,
        keep_partial_text: bool = True,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        ignore_breaker: bool = False,
        deadline: float | None = None,
        **options: Any,
    ) -> ResultStream:
        """Like ``aichats_core.stream``, over this client's session and with its defaults;
        recorded in the history as a conversation of one turn when ``history`` is on."""
        call = with_features(options, tools, tool_choice, response_format, max_tokens, stop)
        if self._log is None:
            return self._call(
                provider, messages, model, proxy, retries, provider_options,
                keep_partial_text, call, ignore_breaker, deadline,
            )  # fmt: skip
        validated = validate_messages(messages)
        events = self._call(
            provider, validated, model, proxy, retries, provider_options,
            keep_partial_text, call, ignore_breaker, deadline,
        )  # fmt: skip
        turn = one_turn(provider, validated, model, call, self._secrets)
        if proxy or provider_options:
            extra = {"provider_options": provider_options} if provider_options else {}
            turn = replace(turn, secrets=turn.secrets + credentials(extra, proxy))
        return ResultStream(recorded(events._events, turn, self._log))

    def _call(
        self,
        provider: ProviderChoice,
        messages: str | Iterable[MessageInput],
        model: str | None,
        proxy: str | None,
        retries: int | RetryPolicy | None,
        provider_options: ProviderOptions | None,
        keep_partial_text: bool,
        options: Mapping[str, Any],
        ignore_breaker: bool = False,
        deadline: float | None = None,
    ) -> ResultStream:
        """A call with this client's defaults, not recorded (a conversation records its own)."""
        check_targets(provider, provider_options)
        return start(
            provider,
            messages,
            model,
            proxy or self._proxy,
            self._retries if retries is None else retries,
            _merge_provider_options(self._provider_options, provider_options),
            {**self._defaults(), **options} if options else self._defaults(),
            keep_partial_text,
            self._registry,
            self._checked,
            self._hooks,
            self._health,
            ignore_breaker,
            deadline,
        )

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
        """A ``Conversation`` over this client; ``options`` go to every turn.

        ``id`` continues a conversation of this client's history (or the one whose id starts
        with it): its answered turns are sent again, and its system message unless
        ``system`` is given. Without history, ``id`` names a new conversation. ``messages``
        starts it from earlier turns of your own (user and assistant messages)."""
        from aichats_core._conversation import Conversation

        if id is not None and self._log is not None:
            record = self._log.store.conversation(id)
            last = record.last_turn
            id, messages = record.id, [*record.messages(), *messages]
            if system is None:
                system = last.system if last is not None else record.system
        return Conversation(
            self, provider, model=model, system=system, id=id, messages=messages,
            log=self._log, proxy=proxy, retries=retries, provider_options=provider_options,
            **options,
        )  # fmt: skip

    def _defaults(self) -> Mapping[str, Any]:
        """The options every call of this client starts from, session included: one
        read-only mapping for the client's life, so the core validates it once per provider
        (see ``checked_options``) rather than at every call."""
        session = self.session
        defaults = self._default_options
        if defaults is None or defaults["session"] is not session:
            defaults = self._default_options = MappingProxyType(
                {**self._options, "session": session}
            )
        return defaults

    async def complete(
        self,
        provider: ProviderChoice,
        messages: str | Iterable[MessageInput],
        *,
        model: str | None = None,
        proxy: str | None = None,
        retries: int | RetryPolicy | None = None,
        provider_options: ProviderOptions | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        stop: str | Sequence[str] | None = None,
        ignore_breaker: bool = False,
        deadline: float | None = None,
        **options: Any,
    ) -> str:
        """Like ``aichats_core.complete``, over this client's session and with its defaults."""
        events = self.stream(
            provider,
            messages,
            model=model,
            proxy=proxy,
            retries=retries,
            provider_options=provider_options,
            keep_partial_text=False,  # text() keeps it, and gives it to an interruption
            tools=tools,
            tool_choice=tool_choice,
            response_format=response_format,
            max_tokens=max_tokens,
            stop=stop,
            ignore_breaker=ignore_breaker,
            deadline=deadline,
            **options,
        )
        return await events.text()
