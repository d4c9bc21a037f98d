"""What calls cost: prices per model, and a ``Cost`` that never passes a guess for a total.

A ``PriceTable`` maps a model name, or ``"provider/model"`` (which wins over the bare name),
to a ``Price``: US dollars per million input and output tokens, as ``Decimal`` so that sums
of many small calls do not drift. ``ResultStream.cost()`` and ``Conversation.cost()`` price
the tokens the provider reported with the process's table, ``default_prices()``, unless given
another.

A call is *unpriced* when its model has no price, or its provider reported no usage (or only
part of it), or it has not finished: its ``Cost.amount`` is None, never ``Decimal(0)``, and
``str(cost)`` says why and what to do. A conversation sums what it can price and lists the
rest in ``Cost.unpriced``, so that a partial total never reads as the whole bill.

aichats ships no prices: the services change them, and a stale price is worse than none.
Add the ones you pay::

    from aichats_core.pricing import default_prices

    default_prices().add("gpt-4o-mini", input="0.15", output="0.60")  # your own source
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aichats_core._models import Usage
from aichats_core._registry import normalize_name
from aichats_core.errors import InvalidRequestError

if TYPE_CHECKING:
    from aichats_core._models import Finish

__all__ = ["Cost", "Price", "PriceTable", "Unpriced", "default_prices"]

_Amount: TypeAlias = Decimal | int | float | str
"""US dollars per million tokens: a ``Decimal``, or what becomes one exactly (``"2.50"``;
a float goes through its shortest ``repr``, so ``0.15`` is ``Decimal("0.15")``)."""

_Dollars = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
_MILLION = Decimal(1_000_000)
_HOW = "add one with default_prices().add({model!r}, input=..., output=...)"


class Price(BaseModel):
    """The price of one model, in US dollars per million tokens.

    >>> Price(input="2.50", output="10")
    Price(input=Decimal('2.50'), output=Decimal('10'))
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: _Dollars
    """Per million prompt (input) tokens."""
    output: _Dollars
    """Per million completion (output) tokens."""

    def __init__(self, input: _Amount, output: _Amount) -> None:
        try:
            super().__init__(input=input, output=output)
        except ValidationError as exc:
            raise InvalidRequestError(_problems(exc, "Price")) from None

    def of(self, usage: Usage) -> Decimal | None:
        """What ``usage`` costs at this price; None when a count of it is missing."""
        if usage.prompt_tokens is None or usage.completion_tokens is None:
            return None
        spent = usage.prompt_tokens * self.input + usage.completion_tokens * self.output
        return spent / _MILLION


class Unpriced(BaseModel):
    """A call that a ``Cost`` could not price, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: Literal["no_price", "no_usage", "partial_usage", "unfinished"]
    """``no_price``: the table has no price for the model; ``no_usage``: the provider
    reported no tokens; ``partial_usage``: it reported a count without the other;
    ``unfinished``: the call has not ended with ``Finish``, so who answered is not known."""
    provider: str | None = None
    model: str | None = None
    usage: Usage | None = None
    turn: int | None = None
    """The turn's number in its conversation, from 1; None for a single call."""

    def __str__(self) -> str:
        return self.why() if self.turn is None else f"turn {self.turn}: {self.why()}"

    def why(self) -> str:
        """The reason, in words, with what to do about it when something can be done."""
        if self.reason == "no_price":
            return f"model {self.model!r} has no price; {_HOW.format(model=self.model)}"
        if self.reason == "no_usage":
            return f"provider {self.provider!r} reported no usage for model {self.model!r}"
        if self.reason == "partial_usage" and self.usage is not None:
            counts = f"prompt_tokens={self.usage.prompt_tokens}"
            counts += f", completion_tokens={self.usage.completion_tokens}"
            return f"provider {self.provider!r} reported only part of the usage ({counts})"
        return (
            "the call did not end with Finish (cut short, or still running), so which model"
            " answered is not known"
        )


class Cost(BaseModel):
    """What one call or a conversation cost: ``amount`` in ``currency``, and what it leaves
    out. ``amount`` is None when nothing could be priced, and a partial total when
    ``unpriced`` is not empty; ``complete`` says whether it is the whole bill."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Decimal | None
    currency: Literal["USD"] = "USD"
    unpriced: tuple[Unpriced, ...] = ()
    """The calls left out of ``amount``; empty when every call was priced."""
    calls: int = 1
    """How many calls this cost covers (the turns of a conversation)."""

    @property
    def complete(self) -> bool:
        """Every call was priced: ``amount`` is the whole cost."""
        return not self.unpriced

    @property
    def models_without_price(self) -> tuple[str, ...]:
        """The models that had no price, each once: what to add to the table."""
        found = (u.model for u in self.unpriced if u.reason == "no_price" and u.model)
        return tuple(dict.fromkeys(found))

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        amounts = [a for a in (self.amount, other.amount) if a is not None]
        return Cost(
            amount=sum(amounts, Decimal(0)) if amounts else None,
            unpriced=self.unpriced + other.unpriced,
            calls=self.calls + other.calls,
        )

    def __str__(self) -> str:
        reasons = "; ".join(dict.fromkeys(u.why() for u in self.unpriced))
        if self.amount is None:
            return f"unpriced ({reasons})"
        total = f"{self.amount.normalize():f} {self.currency}"
        if not self.unpriced:
            return total
        turns = [str(u.turn) for u in self.unpriced if u.turn is not None]
        if turns:
            which = f"turn{'s' if len(turns) > 1 else ''} {', '.join(turns)}"
        else:
            count = len(self.unpriced)
            which = f"{count} call{'s' if count > 1 else ''}"
        return f"at least {total}, partial: {which} of {self.calls} unpriced ({reasons})"


class PriceTable:
    """Prices by model name, or by ``"provider/model"``, which wins over the bare name
    (a model served by several providers at different prices). Provider names match as
    provider names do: case and ``-``/``_`` aside. A model whose name has a ``/`` of its
    own (``meta-llama/Llama-3-8b``) is priced under that name as well.

    >>> prices = PriceTable({"gpt-4o-mini": Price(input="0.15", output="0.60")})
    >>> prices.add("azure/gpt-4o-mini", input="0.165", output="0.66")
    >>> prices.price("gpt-4o-mini", provider="Azure").input
    Decimal('0.165')
    """

    def __init__(self, prices: Mapping[str, Price | Mapping[str, _Amount]] | None = None):
        self._prices: dict[str, Price] = {}
        self._by_provider: dict[tuple[str, str], Price] = {}
        if prices:
            self.update(prices)

    def add(self, key: str, *, input: _Amount, output: _Amount) -> None:
        """Price ``key`` (a model, or ``"provider/model"``), replacing its price if it had one."""
        self._set(key, _price(key, {"input": input, "output": output}))

    def update(self, prices: Mapping[str, Price | Mapping[str, _Amount]] | PriceTable) -> None:
        """Add each price of ``prices``: a ``Price`` or ``{"input": ..., "output": ...}`` by
        key, or another table. All are checked before any is added."""
        items = prices._prices if isinstance(prices, PriceTable) else prices
        if not isinstance(items, Mapping):
            raise InvalidRequestError(
                f"prices must be a mapping of model names to prices, not"
                f" {type(items).__name__}; e.g. {{'gpt-4o-mini': {{'input': '0.15',"
                " 'output': '0.60'}}"
            )
        checked = [(_key(key), _price(key, value)) for key, value in items.items()]
        for key, price in checked:
            self._set(key, price)

    def price(self, model: str, provider: str | None = None) -> Price | None:
        """The price of ``model`` as ``provider`` serves it, or None when it has none."""
        if provider is not None and self._by_provider:
            found = self._by_provider.get((normalize_name(provider), model))
            if found is not None:
                return found
        return self._prices.get(model)

    def cost(self, usage: Usage | None, provider: str | None, model: str | None) -> Cost:
        """What a call of ``model`` by ``provider`` that reported ``usage`` cost; ``model``
        None: a call that has not finished."""
        if model is None:
            return _unpriced("unfinished", provider, model, usage)
        if usage is None:
            return _unpriced("no_usage", provider, model, usage)
        if usage.prompt_tokens is None or usage.completion_tokens is None:
            return _unpriced("partial_usage", provider, model, usage)
        price = self.price(model, provider)
        if price is None:
            return _unpriced("no_price", provider, model, usage)
        return Cost(amount=price.of(usage))

    def copy(self) -> PriceTable:
        """A table of the same prices, to change without changing this one."""
        table = PriceTable()
        table._prices = dict(self._prices)
        table._by_provider = dict(self._by_provider)
        return table

    def _set(self, key: str, price: Price) -> None:
        key = _key(key)
        self._prices[key] = price
        provider, slash, model = key.partition("/")
        if slash:
            self._by_provider[(normalize_name(provider), model)] = price

    def __contains__(self, key: object) -> bool:
        return key in self._prices

    def __iter__(self) -> Iterator[str]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def __repr__(self) -> str:
        return f"PriceTable({self._prices!r})"


_DEFAULT = PriceTable()


def default_prices() -> PriceTable:
    """The process's price table, which ``cost()`` uses unless given another. It starts
    empty (aichats ships no prices); add yours once, at start-up."""
    return _DEFAULT


def _cost_of(
    usage: Usage | None, finish: Finish | None, prices: PriceTable | None, turn: int | None = None
) -> Cost:
    """A call's cost from its usage and ``Finish`` (who answered), for ``ResultStream`` and
    ``Conversation``; ``turn`` numbers what it leaves unpriced."""
    table = default_prices() if prices is None else _table(prices)
    if finish is None:
        cost = table.cost(usage, None, None)
    else:
        cost = table.cost(usage, finish.provider, finish.model)
    if turn is None or not cost.unpriced:
        return cost
    numbered = tuple(u.model_copy(update={"turn": turn}) for u in cost.unpriced)
    return cost.model_copy(update={"unpriced": numbered})


def _table(prices: object) -> PriceTable:
    if not isinstance(prices, PriceTable):
        raise InvalidRequestError(
            f"prices must be a PriceTable, not {type(prices).__name__};"
            " build one with PriceTable({'model': Price(input=..., output=...)})"
        )
    return prices


def _unpriced(reason: Any, provider: str | None, model: str | None, usage: Usage | None) -> Cost:
    return Cost(
        amount=None,
        unpriced=(Unpriced(reason=reason, provider=provider, model=model, usage=usage),),
    )


def _key(key: object) -> str:
    """A key as given, checked: a model name, or ``provider/model``."""
    if (
        not isinstance(key, str)
        or not key
        or key != key.strip()
        or key.startswith("/")
        or key.endswith("/")
        or "//" in key
    ):
        raise InvalidRequestError(
            f"invalid price key {key!r}: give a model name ('gpt-4o-mini') or"
            " 'provider/model' ('openai/gpt-4o-mini')"
        )
    return key


def _price(key: object, value: object) -> Price:
    if isinstance(value, Price):
        return value
    if not isinstance(value, Mapping) or set(value) != {"input", "output"}:
        shape = sorted(value) if isinstance(value, Mapping) else type(value).__name__
        raise InvalidRequestError(
            f"invalid price for {key!r}: {shape!r}; give Price(input=..., output=...) or"
            " {'input': ..., 'output': ...}, in US dollars per million tokens"
        )
    try:
        return Price(input=value["input"], output=value["output"])
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"invalid price for {key!r}: {exc}") from None


def _problems(exc: ValidationError, what: str) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        field, message = ".".join(str(part) for part in error["loc"]), error["msg"]
        said = f"{field} {message[6:]}" if message.startswith("Input ") else f"{field}: {message}"
        problems.append(f"{said} (got {error['input']!r})")
    return (
        f"{'; '.join(problems)}; a {what} is US dollars per million tokens, >= 0, as a"
        " Decimal, int, float or str, e.g. Price(input='2.50', output='10')"
    )
