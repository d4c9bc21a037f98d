"""The values every provider and every caller share: messages in, result events out.

Events carry a ``kind`` literal so that a stream can be dispatched with ``match`` or
validated from JSON (``ResultEventAdapter``) without guessing.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictStr,
    TypeAdapter,
    model_serializer,
)
from pydantic import ValidationError as _PydanticValidationError

from aichats_core.errors import InvalidRequestError

Role: TypeAlias = Literal["system", "user", "assistant", "tool"]
FinishReasonName: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter"]


_MESSAGE_KEYS = ("role", "content")


class TextPart(BaseModel):
    """A piece of a message's text (OpenAI's ``{"type": "text", "text": ...}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: Literal["text"] = "text"
    text: str


class ImageURL(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    url: Annotated[str, Field(pattern=r"^(?:https?://|data:)")]
    """An ``http(s)`` URL or a ``data:`` URI (no ``file:``: a service must not be sent to
    read the machine's files)."""
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(BaseModel):
    """An image in a message (OpenAI's ``{"type": "image_url", "image_url": {"url": ...}}``),
    for providers that declare the ``image_input`` capability."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


ContentPart: TypeAlias = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ToolCall(BaseModel):
    """The model asks for a tool to be called: one complete call, ``arguments`` the JSON text
    of its arguments as the model wrote them. Also what an assistant ``Message`` carries in
    ``tool_calls`` when the conversation goes on."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: Literal["tool_call"] = "tool_call"
    id: str
    name: str
    arguments: str = "{}"


class Message(BaseModel):
    """One turn of a conversation, immutable.

    ``content`` is text, or a tuple of parts (``TextPart``, ``ImagePart``). An assistant
    message may carry the ``tool_calls`` it made; a ``tool`` message answers one of them
    (``tool_call_id``). It also reads as a read-only mapping of ``role`` and ``content``
    (``m["role"]``, ``m.get("content")``, ``"content" in m``, ``dict(m)``), so that code
    written for dict messages, as g4f-style providers are, works without conversion.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    role: Role
    content: StrictStr | Annotated[tuple[ContentPart, ...], Field(strict=False)]
    tool_calls: Annotated[tuple[ToolCall, ...], Field(strict=False)] = ()
    tool_call_id: str | None = None

    @model_serializer(mode="wrap")
    def _without_unused_tool_fields(self, handler: SerializerFunctionWrapHandler) -> Any:
        """``{"role", "content"}`` as before tools, unless the message uses them."""
        data = handler(self)
        if isinstance(data, dict):
            if not self.tool_calls:
                data.pop("tool_calls", None)
            if self.tool_call_id is None:
                data.pop("tool_call_id", None)
        return data

    @property
    def text(self) -> str:
        """The text of ``content``: the string, or its text parts, one per line."""
        content = self.content
        if isinstance(content, str):
            return content
        return "\n".join(part.text for part in content if isinstance(part, TextPart))

    @property
    def has_images(self) -> bool:
        return not isinstance(self.content, str) and any(
            isinstance(part, ImagePart) for part in self.content
        )

    def __getitem__(self, key: str) -> Any:
        if key not in _MESSAGE_KEYS:
            raise KeyError(key)
        return getattr(self, key)

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

    def values(self) -> ValuesView[Any]:
        return {"role": self.role, "content": self.content}.values()

    def items(self) -> ItemsView[str, Any]:
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
    """Token counts, for providers whose service reports them. Each event counts tokens of
    its own: the usage of a call is the sum of its ``Usage`` events (``a + b``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["usage"] = "usage"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        """Prompt and completion tokens together; None unless both were reported."""
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        """Both counts summed; a count that neither reported stays None."""
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            prompt_tokens=_plus(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=_plus(self.completion_tokens, other.completion_tokens),
        )


def _plus(first: int | None, second: int | None) -> int | None:
    if first is None:
        return second
    return first if second is None else first + second


class FinishReason(BaseModel):
    """Why the answer ended, as a provider knows it (its service said so): the core puts it
    in ``Finish.reason`` and does not pass this event on. Without it, an answer that ends
    with tool calls ends for ``tool_calls``, any other for ``stop``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["finish_reason"] = "finish_reason"
    reason: FinishReasonName


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
    reason: FinishReasonName = "stop"
    """``stop`` (the answer is complete, or reached a stop sequence), ``length``
    (``max_tokens``, or the service's own limit), ``tool_calls`` (the model asks for tools),
    ``content_filter`` (the service withheld the rest)."""
    options: tuple[str, ...] = ()
    """The names of the call's options this provider was given (``session`` aside)."""
    withheld: tuple[str, ...] = ()
    """The call's options this provider does not declare, given to other providers of the
    chain instead: nothing is dropped without a trace."""
    failures: tuple[Failure, ...] = ()
    """The attempts that failed before this one answered, in order (retries and providers
    of a fallback chain); empty when the first attempt answered."""


ResultEvent: TypeAlias = Annotated[
    TextChunk | ImageResponse | ToolCall | Usage | Finish, Field(discriminator="kind")
]
"""Any event of the unified stream, discriminated by ``kind``."""

PROVIDER_EVENT_TYPES = (TextChunk, ImageResponse, ToolCall, Usage)
"""The events a provider may yield and callers receive; ``Finish`` is the core's to send
(a provider says why its answer ended with ``FinishReason``)."""

ResultEventAdapter: TypeAdapter[TextChunk | ImageResponse | ToolCall | Usage | Finish] = (
    TypeAdapter(ResultEvent)
)
"""Validates a result event from a dict or JSON, e.g. one line of ``aichats chat --json``."""

MessageInput: TypeAlias = Message | Mapping[str, Any]
"""What callers may pass as a message: a ``Message`` or a plain ``{"role", "content"}`` dict."""

_message_list = TypeAdapter(list[Message])
_CONTENT_BRANCHES = ("str", "tuple[tagged-union[TextPart,ImagePart], ...]")


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
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        if len(loc) >= 3 and loc[2] in _CONTENT_BRANCHES:  # which branch of the union failed
            loc, message = loc[:2], "should be a string, or a list of text and image_url parts"
        else:
            message = error["msg"]
        where = "messages" + "".join(f"[{part!r}]" for part in loc)
        if f"{where}: {message}" not in problems:
            problems.append(f"{where}: {message}")
    return (
        "invalid messages: "
        + "; ".join(problems)
        + (
            " (each message is {'role': 'system'|'user'|'assistant'|'tool', 'content': str or"
            " a list of text and image_url parts})"
        )
    )
