"""How user code sees aichats' types: checked with ``mypy --strict``, never run by pytest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, ClassVar

import aichats_core
from aichats_core import (
    AsyncGeneratorProvider,
    Client,
    Finish,
    ImageResponse,
    Message,
    Provider,
    ProviderModelMixin,
    TextChunk,
    Usage,
)
from aichats_core.compat.g4f import AsyncGeneratorProvider as G4FProvider
from aichats_core.compat.g4f import AsyncResult, FinishReason, format_prompt
from aichats_core.compat.g4f import Messages as G4FMessages
from aichats_core.compat.g4f import ProviderModelMixin as G4FModels
from aichats_core.errors import AiChatsError, RateLimitError, StreamInterruptedError
from aichats_core.pricing import Cost, Price, PriceTable, default_prices
from aichats_core.telemetry import instrument, is_instrumented
from aichats_core.types import MessageInput, Messages, ProviderItem


class Shouty(AsyncGeneratorProvider, ProviderModelMixin):
    url = "https://shouty.invalid"
    default_model = "loud"
    models: ClassVar[list[str]] = ["loud"]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[ProviderItem]:
        yield messages[-1].text.upper()  # content may be parts: .text is the text
        yield Usage(prompt_tokens=1, completion_tokens=1)


provider: type[Provider] = Shouty


async def use() -> str:
    aichats_core.register_provider("shouty", Shouty)
    history: list[MessageInput] = [
        Message(role="user", content="hi"),
        {"role": "user", "content": "again"},
    ]
    parts: list[str] = []
    async with Client(timeout=10) as client:
        async for event in client.stream("shouty", history, model="loud"):
            match event:
                case TextChunk(text=text):
                    parts.append(text)
                case ImageResponse(images=images):
                    parts.extend(images)
                case Finish(provider=name):
                    parts.append(name)
                case Usage():
                    pass
    try:
        return await aichats_core.complete(provider, "hi")
    except RateLimitError as exc:
        return str(exc.retry_after)
    except StreamInterruptedError as exc:
        return exc.partial_text
    except AiChatsError:
        return "".join(parts)


# -- usage and cost --------------------------------------------------------------------------


async def spent() -> tuple[int | None, str]:
    prices = PriceTable({"loud": Price(input="2.50", output=10)})
    prices.add("shouty/loud", input=Decimal("1"), output=0.5)
    default_prices().update(prices)
    events = aichats_core.stream("shouty", "hi")
    await events.text()
    usage: Usage | None = events.usage
    cost: Cost = events.cost(prices)
    amount: Decimal | None = cost.amount
    async with Client() as client:
        chat = client.conversation("shouty")
        await chat.send("hi")
        total: Cost = chat.cost()
    return (usage.total_tokens if usage else None), f"{amount} {total}"


# -- a g4f port, as the porting guide writes it ------------------------------------------------


class Ported(G4FProvider, G4FModels):
    url = "https://ported.invalid"
    default_model = "p"

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: G4FMessages,
        proxy: str | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> AsyncResult:
        messages.append({"role": "user", "content": "more"})
        yield format_prompt(messages)
        yield FinishReason("stop")


def traced() -> Callable[[], None]:
    """Telemetry to the global tracer provider; the caller keeps the function that stops it."""
    uninstrument: Callable[[], None] = instrument()
    assert is_instrumented()
    return uninstrument
