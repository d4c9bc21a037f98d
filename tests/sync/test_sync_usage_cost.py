"""The blocking API's usage and cost: what the async stream and conversation report, from a
thread that runs no loop; the openai plugin against its fake upstream, served from another
thread."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sync_servers import ServerThread

from aichats_core import Finish, Usage, sync
from aichats_core.pricing import Price, PriceTable
from aichats_core.testing import registered

PLUGIN = Path(__file__).parents[2] / "plugins" / "aichats-openai"
sys.path[:0] = [str(PLUGIN), str(PLUGIN / "tests")]
from aichats_openai import OpenAICompatible  # noqa: E402
from fake_openai import FakeOpenAI, Reply  # noqa: E402

PRICES = PriceTable({"fake-model": Price(input="2.50", output="10")})


@pytest.fixture
def fake(server_thread: ServerThread) -> Iterator[FakeOpenAI]:
    upstream = FakeOpenAI()
    server_thread.run(upstream.start())
    with registered("openai", OpenAICompatible):
        yield upstream
    server_thread.run(upstream.close())


def test_a_sync_stream_reports_its_usage_and_cost(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(usage=(1200, 345)), Reply(usage=None))
    with sync.Client(base_url=fake.url) as client:
        events = client.stream("openai", "Hi", model="fake-model")
        received = list(events)
        silent = client.stream("openai", "Hi", model="fake-model")
        assert silent.text()  # one hop for the whole answer: still counted
    assert isinstance(received[-1], Finish)
    assert events.usage == Usage(prompt_tokens=1200, completion_tokens=345)
    assert events.cost(PRICES).amount == Decimal("0.00645")
    assert silent.usage is None
    assert silent.cost(PRICES).amount is None
    assert str(silent.cost(PRICES)).startswith("unpriced (provider 'openai' reported no usage")


def test_a_sync_conversation_totals_its_turns(fake: FakeOpenAI) -> None:
    chat = sync.conversation("openai", model="fake-model", base_url=fake.url)
    assert chat.usage is None
    chat.send("One")
    for _ in chat.stream("Two", model="fake-model-mini"):
        pass
    assert chat.usage == Usage(prompt_tokens=18, completion_tokens=12)
    cost = chat.cost(PRICES)
    assert cost.amount == Decimal("0.0000825")
    assert [(u.turn, u.model) for u in cost.unpriced] == [(2, "fake-model-mini")]
    assert str(cost).startswith("at least 0.0000825 USD, partial: turn 2 of 2 unpriced")
