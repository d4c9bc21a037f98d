"""What a g4f provider yields besides text, and the aichats event each becomes (if any)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ResponseType:
    """Base of the non-text items a g4f provider yields."""


class FinishReason(ResponseType):
    """Why the answer ended (``FinishReason("length")``): becomes ``Finish.reason``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"FinishReason({self.reason!r})"


class BaseConversation(ResponseType):
    """State a service hands back for the next turn; aichats has no event for it: dropped."""


class _Attributes(ResponseType):
    """An item made of keyword attributes, read back with ``get_dict()``."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def get_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class JsonConversation(BaseConversation, _Attributes):
    """A conversation state made of keyword attributes (``JsonConversation(id=..., ...)``)."""

    to_dict = _Attributes.get_dict


class Usage(_Attributes):
    """Token counts; ``prompt_tokens`` and ``completion_tokens`` become an aichats ``Usage``."""


class Reasoning(ResponseType):
    """A piece of the model's reasoning or a status line; dropped (it is not the answer)."""

    def __init__(
        self,
        token: str | None = None,
        label: str | None = None,
        status: str | None = None,
        is_thinking: str | None = None,
    ) -> None:
        self.token = token
        self.label = label
        self.status = status
        self.is_thinking = is_thinking


class Sources(ResponseType):
    """The pages an answer cites (``Sources([{"url": ..., "title": ...}])``); dropped."""

    def __init__(self, sources: list[Mapping[str, Any]] | None = None) -> None:
        self.list = [dict(source) for source in sources or ()]


class TitleGeneration(ResponseType):
    """A title the service proposes for the conversation; dropped."""

    def __init__(self, title: str) -> None:
        self.title = title


class ToolCalls(ResponseType):
    """Tool calls in OpenAI's shape; dropped (a port cannot be asked for tools: ``tools`` is
    no option of the layer, so the call refuses it first)."""

    def __init__(self, list: list[Any]) -> None:  # g4f's parameter name
        self.list = list


class ImageResponse(ResponseType):
    """g4f's ``ImageResponse(urls, alt, options={})``: one URL or a list of them (``images=``
    is accepted too, as older ports pass it)."""

    def __init__(
        self,
        urls: str | list[str] | None = None,
        alt: str = "",
        options: Mapping[str, Any] | None = None,
        *,
        images: str | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.urls: str | list[str] = (urls if urls is not None else images) or []
        self.alt = alt
        self.options = {**(options or {}), **kwargs}

    @property
    def images(self) -> str | list[str]:
        return self.urls

    def get(self, key: str) -> Any:
        return self.options.get(key)

    def get_list(self) -> list[str]:
        urls = [self.urls] if isinstance(self.urls, str) else list(self.urls)
        return [url for url in urls if isinstance(url, str) and url]


class ImagePreview(ImageResponse):
    """An image shown while the final one is made; dropped (the final one follows)."""


_IMAGE_SCHEMES = ("http://", "https://", "data:")
_FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")


def to_event(item: object) -> object | None:
    """What the core receives for what a port yielded: text and aichats events unchanged,
    g4f's items mapped to their aichats event or dropped (None)."""
    if isinstance(item, str) or not isinstance(item, ResponseType):
        return item  # text, an aichats event, or garbage the core reports as the port's bug
    if isinstance(item, ImageResponse) and not isinstance(item, ImagePreview):
        given = item.get_list()
        images = [url for url in given if url.startswith(_IMAGE_SCHEMES)]
        if not images:
            from aichats_core.compat._g4f_errors import ResponseError

            held = f" (it holds {given[0]!r:.60}; join it to the service's URL)" if given else ""
            raise ResponseError(f"the image answer holds no http(s) or data: URL{held}")
        from aichats_core._models import ImageResponse as Images

        return Images(images=images, alt=item.alt or "")
    if isinstance(item, Usage):
        counts = {
            name: value
            for name in ("prompt_tokens", "completion_tokens")
            if isinstance(value := getattr(item, name, None), int)
        }
        if not counts:
            return None
        from aichats_core._models import Usage as Counts

        return Counts(**counts)
    if isinstance(item, FinishReason) and item.reason in _FINISH_REASONS:
        from aichats_core._models import FinishReason as Reason

        return Reason(reason=item.reason)  # "length" reaches Finish.reason
    return None  # conversations, reasoning, sources...: no aichats event says them
