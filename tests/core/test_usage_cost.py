"""Usage and cost: a call's and a conversation's token totals, priced by a table the user
extends, where a call that cannot be priced is "unpriced", never $0.

The openai plugin (from its folder) against its fake upstream on a loopback socket reports
usage as a real service does; the scripted provider covers what no service sends at will
(several ``Usage`` events in one answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from openai_fake import FakeOpenAI, OpenAICompatible, Reply

import aichats_core
from aichats_core import Client, Finish, Usage, pricing
from aichats_core.errors import InvalidRequestError, ProviderHTTPError, StreamInterruptedError
from aichats_core.pricing import Cost, Price, PriceTable, Unpriced, default_prices
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator

# 9 prompt and 6 completion tokens (the fake's default usage) at $2.50 and $10 per million.
PRICES = {"fake-model": Price(input="2.50", output="10")}
NINE_AND_SIX = Decimal("0.0000825")


@pytest.fixture(autouse=True)
def openai() -> Iterator[None]:
    with registered("openai", OpenAICompatible):
        yield


@pytest.fixture(autouse=True)
def own_default_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an empty process table and leaves none of its prices behind."""
    monkeypatch.setattr(pricing, "_DEFAULT", PriceTable())


async def test_a_call_totals_its_usage_events_as_they_arrive() -> None:
    scripted = ScriptedProvider.script(
        "Hel",
        Usage(prompt_tokens=5, completion_tokens=1),
        "lo",
        Usage(completion_tokens=2),
    )
    with registered("scripted", scripted):
        events = aichats_core.stream("scripted", "Hi")
        assert events.usage is None
        seen: list[Usage | None] = []
        async for event in events:
            seen.append(events.usage)
            if isinstance(event, Usage):
                assert events.usage is not None
        assert events.usage == Usage(prompt_tokens=5, completion_tokens=3)
        assert events.usage.total_tokens == 8
        assert seen == [
            None,
            Usage(prompt_tokens=5, completion_tokens=1),
            Usage(prompt_tokens=5, completion_tokens=1),
            Usage(prompt_tokens=5, completion_tokens=3),
            Usage(prompt_tokens=5, completion_tokens=3),  # Finish
        ]


def test_usage_adds_up_and_keeps_its_event_shape() -> None:
    assert Usage(prompt_tokens=1) + Usage(completion_tokens=2) == Usage(
        prompt_tokens=1, completion_tokens=2
    )
    assert Usage() + Usage() == Usage()  # a count no event gave stays None
    assert Usage(prompt_tokens=4, completion_tokens=None).total_tokens is None
    assert Usage(prompt_tokens=1, completion_tokens=2).model_dump() == {
        "kind": "usage",
        "prompt_tokens": 1,
        "completion_tokens": 2,
    }


async def test_reported_usage_is_priced_exactly(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(usage=(1200, 345)), Reply(usage=(1200, 345)))
    prices = PriceTable(PRICES)
    async with Client(base_url=fake.url) as client:
        events = client.stream("openai", "Hi", model="fake-model")
        received = [event async for event in events]
        whole = client.stream("openai", "Hi", model="fake-model")
        text = await whole.text()  # the other way through a stream
    assert isinstance(received[-1], Finish)
    assert received[-2] == Usage(prompt_tokens=1200, completion_tokens=345)
    assert text
    for stream in (events, whole):
        assert stream.usage == Usage(prompt_tokens=1200, completion_tokens=345)
        cost = stream.cost(prices)
        assert cost.amount == Decimal("0.00645")  # 1200 * 2.50 + 345 * 10, per million
        assert isinstance(cost.amount, Decimal)
        assert cost.complete
        assert str(cost) == "0.00645 USD"


async def test_no_usage_is_none_and_unpriced_not_zero(
    fake: FakeOpenAI, emulator: AiChatsEmulator
) -> None:
    fake.enqueue(Reply(usage=None))
    prices = PriceTable({**PRICES, "gpt-4": Price(input=30, output=60)})
    events = aichats_core.stream("openai", "Hi", base_url=fake.url, model="fake-model")
    assert [e async for e in events if isinstance(e, Usage)] == []
    assert events.usage is None
    cost = events.cost(prices)
    assert cost.amount is None
    assert not cost.complete
    assert cost.unpriced == (
        Unpriced(reason="no_usage", provider="openai", model="fake-model", usage=None),
    )
    assert str(cost) == "unpriced (provider 'openai' reported no usage for model 'fake-model')"
    # The AiChats service reports no usage at all: priced or not, its calls are unpriced.
    aichats = aichats_core.stream("aichats", "Hi", base_url=emulator.url)
    await aichats.text()
    assert aichats.usage is None
    assert aichats.cost(prices).amount is None


async def test_a_model_without_a_price_is_unpriced_and_says_how_to_price_it(
    fake: FakeOpenAI,
) -> None:
    events = aichats_core.stream("openai", "Hi", base_url=fake.url, model="fake-model-mini")
    await events.text()
    assert events.usage == Usage(prompt_tokens=9, completion_tokens=6)
    cost = events.cost(PriceTable(PRICES))
    assert cost.amount is None
    assert cost.models_without_price == ("fake-model-mini",)
    assert str(cost) == (
        "unpriced (model 'fake-model-mini' has no price; add one with"
        " default_prices().add('fake-model-mini', input=..., output=...))"
    )


async def test_a_stream_not_yet_finished_is_unpriced() -> None:
    scripted = ScriptedProvider.script("Hi", Usage(prompt_tokens=1, completion_tokens=1))
    with registered("scripted", scripted):
        events = aichats_core.stream("scripted", "Hi")
        async with events:
            async for event in events:
                if isinstance(event, Usage):
                    break
        cost = events.cost(PriceTable({"scripted": Price(input=1, output=1)}))
    assert events.usage == Usage(prompt_tokens=1, completion_tokens=1)
    assert cost.amount is None
    assert cost.unpriced[0].reason == "unfinished"


async def test_provider_slash_model_wins_over_the_bare_model(fake: FakeOpenAI) -> None:
    prices = PriceTable(
        {"fake-model": Price(input=1, output=1), "Open_AI/fake-model": Price(input=2, output=4)}
    )
    with registered("openai-eu", OpenAICompatible):
        async with Client(base_url=fake.url) as client:
            own = client.stream("openai", "Hi", model="fake-model")
            other = client.stream("openai-eu", "Hi", model="fake-model")
            await own.text()
            await other.text()
    assert own.cost(prices).amount == Decimal(9 * 2 + 6 * 4) / 1_000_000  # provider's own
    assert other.cost(prices).amount == Decimal(9 + 6) / 1_000_000  # the bare model's
    assert prices.price("fake-model", provider="open-ai") == Price(input=2, output=4)
    assert prices.price("fake-model") == Price(input=1, output=1)


async def test_a_conversation_sums_what_it_can_and_says_what_it_could_not(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(
        Reply(),  # turn 1: priced
        Reply(usage=(20, 10)),  # turn 2: a model without a price
        Reply(status=500),  # fails before any answer: nothing was spent, not a turn
        Reply(cut_after=2),  # turn 3: cut short, so no usage and no Finish
        Reply(usage=(90, 60)),  # turn 4: priced, then forgotten
    )
    prices = PriceTable(PRICES)
    async with Client(base_url=fake.url) as client:
        chat = client.conversation("openai", model="fake-model")
        assert chat.usage is None
        assert chat.cost(prices) == Cost(amount=Decimal(0), calls=0)  # nothing asked yet
        await chat.send("One")
        await chat.send("Two", model="fake-model-mini")
        with pytest.raises(ProviderHTTPError):
            await chat.send("Three")
        with pytest.raises(StreamInterruptedError):
            await chat.send("Four", keep_partial=True)
        await chat.send("Five")
        chat.forget(1)  # dropped from what is sent next, not from what was paid
    assert chat.usage == Usage(prompt_tokens=9 + 20 + 90, completion_tokens=6 + 10 + 60)
    cost = chat.cost(prices)
    assert cost.amount == NINE_AND_SIX + Decimal("0.000825")  # 90 * 2.50 + 60 * 10
    assert not cost.complete
    assert cost.calls == 4
    assert [(u.turn, u.reason, u.model) for u in cost.unpriced] == [
        (2, "no_price", "fake-model-mini"),
        (3, "unfinished", None),
    ]
    assert cost.models_without_price == ("fake-model-mini",)
    assert str(cost).startswith("at least 0.0009075 USD, partial: turns 2, 3 of 4 unpriced (")
    assert "default_prices().add('fake-model-mini'" in str(cost)


async def test_a_conversation_none_of_whose_turns_is_priced_has_no_amount(
    fake: FakeOpenAI,
) -> None:
    chat = aichats_core.conversation("openai", model="fake-model", base_url=fake.url)
    await chat.send("One")
    await chat.send("Two")
    cost = chat.cost()  # the default table: empty
    assert cost.amount is None
    assert [u.turn for u in cost.unpriced] == [1, 2]
    assert str(cost).startswith("unpriced (model 'fake-model' has no price;")


async def test_the_default_table_is_the_users_to_extend(fake: FakeOpenAI) -> None:
    events = aichats_core.stream("openai", "Hi", base_url=fake.url, model="fake-model")
    await events.text()
    assert events.cost().amount is None
    default_prices().add("fake-model", input="2.50", output="10")
    assert events.cost().amount == NINE_AND_SIX
    default_prices().update({"openai/fake-model": {"input": "0", "output": 0.5}})
    assert events.cost().amount == Decimal("0.000003")  # 6 * 0.50 per million
    default_prices().add("openai/fake-model", input=1, output=1)  # replaces its price
    assert events.cost().amount == Decimal("0.000015")
    mine = PriceTable()
    mine.update(default_prices())
    assert list(mine) == ["fake-model", "openai/fake-model"]
    copied = mine.copy()
    copied.add("fake-model", input=0, output=0)
    assert mine.price("fake-model") == Price(input="2.50", output=10)
    assert "fake-model" in copied
    assert len(copied) == 2


@pytest.mark.parametrize(
    ("prices", "words"),
    [
        ({"m": {"input": -1, "output": 1}}, "invalid price for 'm': input should be greater"),
        ({"m": {"input": "cheap", "output": 1}}, "input should be a valid decimal"),
        ({"m": {"input": "NaN", "output": 1}}, "input should be a finite number"),
        ({"m": {"input": True, "output": 1}}, "a Price is US dollars per million tokens"),
        ({"m": {"input": 1}}, r"\['input'\]; give Price\(input=..., output=...\)"),
        ({"m": {"input": 1, "output": 1, "cached": 1}}, "give Price"),
        ({"m": (1, 2)}, "invalid price for 'm': 'tuple'"),
        ({"": Price(input=1, output=1)}, "invalid price key ''"),
        ({" m": Price(input=1, output=1)}, "give a model name"),
        ({"openai/": Price(input=1, output=1)}, "or 'provider/model'"),
        ({"/m": Price(input=1, output=1)}, "invalid price key '/m'"),
        ({"a//m": Price(input=1, output=1)}, "invalid price key 'a//m'"),
        ({5: Price(input=1, output=1)}, "invalid price key 5"),
        ([("m", Price(input=1, output=1))], "prices must be a mapping"),
    ],
)
def test_bad_prices_are_refused_with_a_typed_error_at_the_call(prices: Any, words: str) -> None:
    table = PriceTable({"kept": Price(input=1, output=1)})
    with pytest.raises(InvalidRequestError, match=words):
        table.update(prices)
    assert list(table) == ["kept"]  # all checked before any is added
    with pytest.raises(InvalidRequestError):
        PriceTable(prices)


def test_a_bad_price_or_table_is_refused_where_it_is_given() -> None:
    with pytest.raises(InvalidRequestError, match=r"output should be greater than or equal to 0"):
        Price(input=1, output=-0.01)
    with pytest.raises(InvalidRequestError, match="invalid price for 'm': input should be"):
        PriceTable().add("m", input="one", output=1)
    assert Price(input=0.15, output="0.60").input == Decimal("0.15")  # no binary drift
    events = aichats_core.stream("aichats", "Hi")
    with pytest.raises(InvalidRequestError, match="prices must be a PriceTable, not dict"):
        events.cost({"gpt-4": Price(input=1, output=1)})  # type: ignore[arg-type]


def test_costs_add_up_and_describe_themselves() -> None:
    priced = Cost(amount=Decimal("0.25"))
    unpriced = PriceTable().cost(Usage(prompt_tokens=1, completion_tokens=1), "p", "m")
    total = priced + unpriced + priced
    assert total.amount == Decimal("0.5")
    assert total.calls == 3
    assert str(total).startswith("at least 0.5 USD, partial: 1 call of 3 unpriced (model 'm'")
    assert (unpriced + unpriced).amount is None
    partial = PriceTable({"m": Price(input=1, output=1)}).cost(Usage(prompt_tokens=3), "p", "m")
    assert partial.amount is None
    assert str(partial) == (
        "unpriced (provider 'p' reported only part of the usage"
        " (prompt_tokens=3, completion_tokens=None))"
    )
