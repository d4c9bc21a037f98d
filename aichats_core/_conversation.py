"""``Conversation``: turns that remember what was said before.

Each turn sends the system message, every earlier turn and the new prompt, through a
``Client`` (or, for ``aichats_core.conversation``, the module-level calls with their
short-lived sessions). A turn joins the history only once it ends well: a failed turn adds
nothing, and one cut short adds its partial answer only when asked to (``keep_partial``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aichats_core._models import Finish, Message, MessageInput, Usage, validate_messages
from aichats_core._retry import RetryPolicy
from aichats_core._stream import ProviderChoice, ProviderOptions, ResultStream
from aichats_core._turns import Forget, Outcome, Turn, credentials, recorded
from aichats_core.errors import InvalidRequestError

if TYPE_CHECKING:
    from aichats_core._client import Client
    from aichats_core._history_log import HistoryLog
    from aichats_core.pricing import Cost, PriceTable


class Conversation:
    """A conversation with ``provider`` (one, or a fallback chain), turn by turn.

    ``provider``, ``model`` and ``system`` may be changed between turns; ``options`` (and
    ``proxy``, ``retries``, ``provider_options``) are given to every turn, a turn's own
    options over them. ``messages`` is the history as the next turn
    sends it (without its prompt). ``id`` names the conversation in the history store.

    >>> async with Client(history=True) as client:  # doctest: +SKIP
    ...     chat = client.conversation("aichats", system="Be brief")
    ...     print(await chat.send("Hello"))
    ...     async for event in chat.stream("And then?"):
    ...         print(event)
    """

    def __init__(
        self,
        client: Client | None,
        provider: ProviderChoice,
        *,
        model: str | None = None,
        system: str | None = None,
        id: str | None = None,
        messages: Sequence[MessageInput] = (),
        log: HistoryLog | None = None,
        proxy: str | None = None,
        retries: int | RetryPolicy | None = None,
        provider_options: ProviderOptions | None = None,
        **options: Any,
    ) -> None:
        from aichats_core.history._ids import new_conversation_id

        self.provider = provider
        self.model = model
        self.system = system
        self.options: dict[str, Any] = options
        self.proxy = proxy
        self.retries = retries
        self.provider_options = provider_options
        self.id = id or new_conversation_id()
        self._client = client
        self._log = log
        self._turns: list[Message] = list(validate_messages(messages)) if messages else []
        self._spent: list[tuple[Usage | None, Finish | None]] = []
        """Each turn that got an answer, whole or not, kept or not: its usage and ``Finish``."""

    @property
    def messages(self) -> tuple[Message, ...]:
        """The system message (when there is one), then each user and assistant message."""
        if self.system:
            return (Message(role="system", content=self.system), *self._turns)
        return tuple(self._turns)

    @property
    def usage(self) -> Usage | None:
        """The tokens of this object's turns so far (the sum of their ``Usage`` events), or
        None when none reported any. A turn counts once it has ended, complete or cut short,
        kept or not, even after ``forget``: its tokens were spent. Not counted: a turn that
        failed before any answer (nothing came back), and the turns of a conversation
        continued from the history (they were counted when they ran)."""
        reported = [usage for usage, _ in tuple(self._spent) if usage is not None]
        return sum(reported[1:], reported[0]) if reported else None

    def cost(self, prices: PriceTable | None = None) -> Cost:
        """What the turns that ``usage`` counts cost by ``prices`` (``default_prices()``
        unless given): a sum of the priced ones, with the others in ``Cost.unpriced`` (by
        turn number, from 1), so a partial total never looks complete."""
        from aichats_core.pricing import Cost, _cost_of

        costs = [
            _cost_of(usage, finish, prices, turn)
            for turn, (usage, finish) in enumerate(tuple(self._spent), start=1)
        ]
        return sum(costs[1:], costs[0]) if costs else Cost(amount=Decimal(0), calls=0)

    def stream(
        self,
        prompt: str | None,
        *,
        keep_partial: bool = False,
        provider: ProviderChoice | None = None,
        model: str | None = None,
        ignore_breaker: bool = False,
        deadline: float | None = None,
        **options: Any,
    ) -> ResultStream:
        """The answer to ``prompt`` as result events; the turn joins the history when the
        stream ends with ``Finish``, or, with ``keep_partial``, when it is cut short or
        closed early after some text (its partial answer). ``provider`` and ``model`` are
        for this turn only, and so are ``ignore_breaker`` and ``deadline`` (see
        ``aichats_core.stream``). ``prompt=None`` answers the tool results added since the last
        turn (``add_tool_result``), with no new user message: the rest of a tool loop."""
        asked = () if prompt is None else (Message(role="user", content=prompt),)
        if prompt is None and not (self._turns and self._turns[-1].role == "tool"):
            raise InvalidRequestError(
                "nothing to answer: give a prompt, or add the results of the tools the last"
                " answer asked for (add_tool_result) before a turn without one"
            )
        messages = (*self.messages, *asked)
        chosen = self.provider if provider is None else provider
        call = {**self.options, **options}
        model = self.model if model is None else model
        per_provider = self.provider_options
        if self._client is not None:
            events = self._client._call(
                chosen, messages, model, self.proxy, self.retries, per_provider, True, call,
                ignore_breaker, deadline,
            )  # fmt: skip
        else:
            from aichats_core._stream import stream

            events = stream(
                chosen, messages, model=model, proxy=self.proxy, retries=self.retries or 0,
                provider_options=per_provider, ignore_breaker=ignore_breaker,
                deadline=deadline, **call,
            )  # fmt: skip
        secrets = credentials({**call, "provider_options": self.provider_options or {}}, self.proxy)
        if self._client is not None:
            secrets += self._client._secrets
        turn = Turn(self.id, prompt or "", chosen, model, self.system, tuple(call), secrets)

        def ended(outcome: Outcome) -> None:
            if outcome.status != "failed":  # an answer came, and what it cost is counted
                self._spent.append((outcome.usage, outcome.finish))
            if outcome.kept:
                answer = Message(
                    role="assistant", content=outcome.answer, tool_calls=outcome.tool_calls
                )
                self._turns += (*asked, answer)

        return ResultStream(recorded(events._events, turn, self._log, ended, keep_partial))

    async def send(self, prompt: str | None, *, keep_partial: bool = False, **options: Any) -> str:
        """The whole answer to ``prompt`` (its text, or the first image of an image answer);
        ``None`` as for ``stream``."""
        return await self.stream(prompt, keep_partial=keep_partial, **options).text()

    def add_tool_result(self, tool_call_id: str, content: str) -> None:
        """The result of a tool the last answer asked for (its ``ToolCall.id``), sent with
        the next turn; then ``send(None)`` lets the model answer with it."""
        calls = {call.id for m in self._turns if m.role == "assistant" for call in m.tool_calls}
        if tool_call_id not in calls:
            raise InvalidRequestError(
                f"no tool call {tool_call_id!r} in this conversation; give the id of a"
                " ToolCall an answer asked for"
            )
        self._turns.append(Message(role="tool", content=content, tool_call_id=tool_call_id))

    def forget(self, turns: int = 1) -> None:
        """Drop the last ``turns`` exchanges from the history sent (for a retry)."""
        if turns > 0:
            del self._turns[-2 * turns :]
            if self._log is not None:  # continued later, the conversation is the same
                self._log.submit(Forget(self.id, turns))


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
    """A ``Conversation`` without a ``Client``: each turn is a module-level call with its own
    short-lived session (nothing to close; a ``Client`` reuses connections instead)."""
    return Conversation(
        None, provider, model=model, system=system, proxy=proxy, retries=retries,
        provider_options=provider_options, **options,
    )  # fmt: skip
