"""``Echo``: answers without a network, the same way every time, and fails on request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias

from aichats_core import AsyncGeneratorProvider, ProviderModelMixin
from aichats_core.errors import (
    InvalidRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from pydantic import BaseModel, ConfigDict, Field

from aichats_echo._text import group, lorem, split_words

if TYPE_CHECKING:
    # Only for annotations: the event models are not needed to load the provider.
    from aichats_core import ImageResponse
    from aichats_core.types import Messages, ProviderItem

Failure: TypeAlias = Literal["rate_limit", "timeout", "connection", "interrupted", "format"]
"""The failures ``fail=`` simulates."""


class Echo(AsyncGeneratorProvider, ProviderModelMixin):
    """An offline, deterministic provider for testing applications built on aichats.

    Models: ``echo`` streams back the last user message word by word; ``lorem`` streams
    ``words`` words of lorem ipsum; ``image`` draws the prompt on an SVG card.

    Options (``Options``, checked by the core at the call): ``delay`` (seconds before each
    chunk), ``chunk_words`` (words per chunk), ``words`` (length of ``lorem``), ``fail``
    (``"rate_limit"``, ``"timeout"``, ``"connection"``, ``"interrupted"`` or ``"format"``:
    raise that error instead, for ``"interrupted"`` after half of the answer). The core's
    ``timeout`` and ``session`` are accepted and ignored; any other option is refused with
    ``InvalidOptionError`` before anything is produced.
    """

    class Options(BaseModel):
        """What a call may set beyond the core's ``timeout`` and ``session``.

        The core checks every call against it before ``Echo`` runs: a test double that
        silently accepted a misspelt option would let an application's tests pass for the
        wrong reason. Strict types: ``delay="1"`` or ``chunk_words=True`` is a mistake in a
        test, not a value to convert.
        """

        model_config = ConfigDict(extra="forbid", frozen=True)

        delay: float = Field(
            default=0.0,
            ge=0,
            allow_inf_nan=False,
            strict=True,
            description="Seconds to wait before each chunk (and before a simulated failure).",
        )
        chunk_words: int = Field(default=1, ge=1, strict=True, description="Words per chunk.")
        words: int = Field(
            default=50, ge=0, strict=True, description="Length of the lorem answer, in words."
        )
        fail: Failure | None = Field(
            default=None,
            description="Raise this failure instead of answering (interrupted: after half).",
        )

    url = "https://github.com/aichats/aichats-echo"
    working = True
    supports_stream = True
    supports_message_history = True
    default_model = "echo"
    models: ClassVar[list[str]] = ["echo", "lorem", "image"]
    image_models: ClassVar[list[str]] = ["image"]

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ProviderItem]:
        name = cls.__name__
        model = cls.get_model(model)  # the core resolved it already; direct callers may not
        options = given(kwargs)
        if model in cls.image_models:
            prompt = last_user_message(name, messages)
            await _pause(options.delay)
            if options.fail is not None:
                raise simulated(name, options.fail)
            yield _image(prompt)
            return

        text = lorem(options.words) if model == "lorem" else last_user_message(name, messages)
        chunks = group(split_words(text), options.chunk_words)
        if options.fail == "interrupted":
            chunks = chunks[: len(chunks) // 2]
        elif options.fail is not None:
            await _pause(options.delay)
            raise simulated(name, options.fail)
        for chunk in chunks:
            await _pause(options.delay)
            yield chunk  # plain text: the core turns it into a TextChunk
        if options.fail == "interrupted":
            raise simulated(name, "interrupted", partial_text="".join(chunks))


def given(options: Mapping[str, Any]) -> Echo.Options:
    """A call's options as the core validated them at the call (not validated again), the
    defaults for those not given or given as None; the core's own are left out."""
    fields = Echo.Options.model_fields
    return Echo.Options.model_construct(
        **{name: value for name, value in options.items() if name in fields and value is not None}
    )


def last_user_message(provider: str, messages: Messages) -> str:
    """The content of the last message whose role is ``user``."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    raise InvalidRequestError(f"{provider}: there is no user message to answer")


def simulated(provider: str, failure: Failure, *, partial_text: str = "") -> ProviderError:
    """The error a real provider would raise in that situation, saying it is simulated."""
    why = f"simulated by the option fail={failure!r}"
    if failure == "rate_limit":
        return RateLimitError(provider, f"rate limited ({why})", retry_after=1.0)
    if failure == "timeout":
        return ProviderTimeoutError(provider, f"timed out waiting for the answer ({why})")
    if failure == "connection":
        return ProviderConnectionError(provider, f"cannot connect to the service ({why})")
    if failure == "interrupted":
        return StreamInterruptedError(
            provider,
            f"the stream ended before the answer was complete ({why})",
            partial_text=partial_text,
        )
    return ResponseFormatError(provider, f"the service answered something unparseable ({why})")


async def _pause(seconds: float) -> None:
    if seconds:
        await asyncio.sleep(seconds)


def _image(prompt: str) -> ImageResponse:
    # Imported on first use: the image code and the event models are not needed to list providers.
    from aichats_core import ImageResponse

    from aichats_echo._image import svg_data_uri

    return ImageResponse(images=[svg_data_uri(prompt)], alt=prompt)
