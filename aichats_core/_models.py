"""The values every provider and every caller share: messages in, result events out.

Events carry a ``kind`` literal so that a stream can be dispatched with ``match`` or
validated from JSON (``ResultEventAdapter``) without guessing.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic import ValidationError as _PydanticValidationError

from aichats_core.errors import InvalidRequestError

Role: TypeAlias = Literal["system", "user", "assistant"]


_MESSAGE_KEYS = ("role", "content")


class Message(BaseModel):
    """One turn of a conversation, immutable.

    It also reads as a read-only mapping of ``role`` and ``content`` (``m["role"]``,
    ``m.get("content")``, ``"content" in m``, ``dict(m)``), so that code written for dict
    messages, as g4f-style providers are, works without conversion.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    role: Role
    content: str

    def __getitem__(self, key: str) -> str:
        if key not in _MESSAGE_KEYS:
            raise KeyError(key)
        value: str = getattr(self, key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key) if key in _MESSAGE_KEYS else default

    def __contains__(self, key: object) -> bool:
        return key in _MESSAGE_KEYS

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # a mapping's keys
        """The keys, as a mapping's iteration gives (pydantic's default yields pairs)."""
        return iter(_MESSAGE_KEYS)

    def __len__(self) -> int:
        return len(_MESSAGE_KEYS)

    def keys(self) -> KeysView[str]:
        return {"role": None, "content": None}.keys()

    def values(self) -> ValuesView[str]:
        return {"role": self.role, "content": self.content}.values()

    def items(self) -> ItemsView[str, str]:
        return {"role": self.role, "content": self.content}.items()


Mapping.register(Message)


class TextChunk(BaseModel):
    """A piece of generated text; the answer is the concatenation of every chunk."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["text"] = "text"
    text: str


class ImageResponse(BaseModel):
    """Generated images."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["image"] = "image"
    images: list[str] = Field(min_length=1)
    """URLs or ``data:`` URIs, one per image; never empty, so an image answer always has one."""
    alt: str = ""
    """The prompt the images were made from, usable as alternative text."""


class Usage(BaseModel):
    """Token counts, for providers whose service reports them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["usage"] = "usage"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Failure(BaseModel):
    """An attempt that failed before another answered: a retry, or a provider of a chain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    error: str
    """The class name of the error, e.g. ``RateLimitError``."""
    message: str

    @classmethod
    def of(cls, provider: str, error: BaseException) -> Failure:
        return cls(provider=provider, error=type(error).__name__, message=str(error))


class Finish(BaseModel):
    """The last event of every stream: which provider and model answered, after which
    failures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["finish"] = "finish"
    provider: str
    model: str
    reason: Literal["stop"] = "stop"
    options: tuple[str, ...] = ()
    """The names of the call's options this provider was given (``session`` aside)."""
    withheld: tuple[str, ...] = ()
    """The call's options this provider does not declare, given to other providers of the
    chain instead: nothing is dropped without a trace."""
    failures: tuple[Failure, ...] = ()
    """The attempts that failed before this one answered, in order (retries and providers
    of a fallback chain); empty when the first attempt answered."""


ResultEvent: TypeAlias = Annotated[
    TextChunk | ImageResponse | Usage | Finish, Field(discriminator="kind")
]
"""Any event of the unified stream, discriminated by ``kind``."""

PROVIDER_EVENT_TYPES = (TextChunk, ImageResponse, Usage)
"""The events a provider may yield; ``Finish`` is the core's to send."""

ResultEventAdapter: TypeAdapter[TextChunk | ImageResponse | Usage | Finish] = TypeAdapter(
    ResultEvent
)
"""Validates a result event from a dict or JSON, e.g. one line of ``aichats chat --json``."""

MessageInput: TypeAlias = Message | Mapping[str, Any]
"""What callers may pass as a message: a ``Message`` or a plain ``{"role", "content"}`` dict."""

_message_list = TypeAdapter(list[Message])


def validate_messages(messages: str | Iterable[MessageInput]) -> tuple[Message, ...]:
    """Validate messages once at the boundary; a bare string is one user message. The
    result is a tuple of frozen messages: no provider can change what the next one gets."""
    if isinstance(messages, str):
        return (Message(role="user", content=messages),)
    items = tuple(messages)
    if not items:
        raise InvalidRequestError("messages is empty: give at least one message")
    if all(type(item) is Message for item in items):
        return items  # type: ignore[return-value]  # checked just above
    try:
        return tuple(
            _message_list.validate_python(
                [item.model_dump() if isinstance(item, Message) else item for item in items]
            )
        )
    except _PydanticValidationError as exc:
        raise InvalidRequestError(_describe(exc)) from exc


def _describe(exc: _PydanticValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = "messages" + "".join(f"[{part!r}]" for part in error["loc"])
        problems.append(f"{where}: {error['msg']}")
    return (
        "invalid messages: "
        + "; ".join(problems)
        + (" (each message is {'role': 'system'|'user'|'assistant', 'content': str})")
    )
