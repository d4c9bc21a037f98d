"""What gpt4free (g4f) provider modules import, under g4f's names and signatures.

A g4f provider ports by replacing its ``from ..typing import ...``, ``from .helper import
...`` and similar lines with ``from aichats_core.compat.g4f import ...``. The provider then
runs as a native aichats provider: the base class here hands it a fresh list of plain dict
messages per attempt, maps what it yields (``ImageResponse``, ``FinishReason``, ...) to
aichats events or drops it, applies the ``base_url`` option to ``url`` and ``api_endpoint``,
and its errors name the provider: raised without a name (g4f's one-argument errors,
``raise_for_status``), they get the registered name from the core as they leave the call.

Importing this module imports neither pydantic nor aiohttp: the helpers that need aiohttp
import it when called. See ``docs/porting-from-g4f.md``.
"""

from __future__ import annotations

import inspect
import secrets
import string
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias
from urllib.parse import urlsplit

from aichats_core import errors as _errors
from aichats_core._provider import AsyncGeneratorProvider as _CoreGeneratorProvider
from aichats_core._provider import DeferredOptions
from aichats_core._provider import ProviderModelMixin as _CoreModelMixin

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "AsyncGeneratorProvider",
    "AsyncResult",
    "BaseConversation",
    "FinishReason",
    "ImageResponse",
    "JsonConversation",
    "Messages",
    "MissingAuthError",
    "MissingRequirementsError",
    "ProviderModelMixin",
    "RateLimitError",
    "Reasoning",
    "ResponseError",
    "ResponseStatusError",
    "ResponseType",
    "Usage",
    "filter_none",
    "format_image_prompt",
    "format_prompt",
    "get_connector",
    "get_last_user_message",
    "get_random_hex",
    "get_random_string",
    "get_system_prompt",
    "raise_for_status",
    "raise_for_status_async",
    "to_string",
]

Messages: TypeAlias = list[dict[str, Any]]
"""g4f's ``Messages``: what a port receives, a fresh list of plain dicts per attempt."""


# -- what providers yield besides text -------------------------------------------------------


class ResponseType:
    """Base of the non-text items a g4f provider yields."""


AsyncResult: TypeAlias = AsyncIterator["str | ResponseType"]
"""g4f's ``AsyncResult``: the return annotation of ``create_async_generator``."""


class FinishReason(ResponseType):
    """Why the answer ended (``FinishReason("stop")``); dropped, aichats ends with ``Finish``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"FinishReason({self.reason!r})"


class BaseConversation(ResponseType):
    """State a service hands back for the next turn; aichats has no event for it: dropped."""


class JsonConversation(BaseConversation):
    """A conversation state made of keyword attributes (``JsonConversation(id=..., ...)``)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def get_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    to_dict = get_dict


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


class Usage(ResponseType):
    """Token counts; ``prompt_tokens`` and ``completion_tokens`` become an aichats ``Usage``."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def get_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
        return [url for url in urls if isinstance(url, str) and url]  # drop what is no URL


# -- errors ------------------------------------------------------------------------------------


# g4f's errors take no provider: they are raised with ``provider=""``, and the core names
# them after the selected provider as they leave the call (``aichats_core._calls``).


class RateLimitError(_errors.RateLimitError):
    """g4f's ``RateLimitError(message)``: an aichats ``RateLimitError`` (HTTP 429) named after
    the provider whose call raises it."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__("", message, retry_after=retry_after)


class _MessageOnly:
    """g4f's constructor, ``Error(message)``, for an aichats error that takes the provider
    first: it is left empty for the core to fill in."""

    def __init__(self, message: str = "") -> None:
        super().__init__("", message)  # type: ignore[call-arg]  # the aichats error's


class ResponseError(_MessageOnly, _errors.ResponseFormatError):
    """g4f's ``ResponseError(message)``: the service answered something unexpected."""


class ResponseStatusError(_MessageOnly, _errors.ProviderError):
    """g4f's ``ResponseStatusError(message)``: an error status, without its number."""


class MissingAuthError(_MessageOnly, _errors.ProviderError):
    """g4f's ``MissingAuthError(message)``: the service wants credentials."""


class MissingRequirementsError(_MessageOnly, _errors.ProviderError):
    """g4f's ``MissingRequirementsError(message)``: a package the port needs is missing."""


# -- the base classes --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parameters:
    """Which of g4f's usual arguments a port's ``create_async_generator`` takes."""

    named: frozenset[str]
    any_keyword: bool

    @classmethod
    def of(cls, function: Callable[..., Any]) -> _Parameters:
        parameters = inspect.signature(function).parameters.values()
        return cls(
            frozenset(p.name for p in parameters if p.kind is not p.VAR_KEYWORD),
            any(p.kind is p.VAR_KEYWORD for p in parameters),
        )

    def takes(self, name: str) -> bool:
        return name in self.named or self.any_keyword

    def arguments(self, proxy: str | None, timeout: float | None) -> dict[str, Any]:
        given: dict[str, Any] = {}
        if self.takes("proxy"):
            given["proxy"] = proxy
        if timeout is not None and self.takes("timeout"):
            given["timeout"] = timeout
        if "stream" in self.named:  # aichats always streams
            given["stream"] = True
        return given


def _wrapped(function: Callable[..., AsyncGenerator[Any, None]]) -> classmethod[Any, Any, Any]:
    """The ``create_async_generator`` the core calls, around the port's own."""
    parameters = _Parameters.of(function)

    async def create_async_generator(
        cls: type, /, model: str, messages: Iterable[Mapping[str, Any]],
        proxy: str | None = None, **kwargs: Any,
    ) -> AsyncGenerator[Any, None]:  # fmt: skip
        base_url = kwargs.pop("base_url", None)
        timeout = kwargs.pop("timeout", None)
        kwargs.pop("session", None)  # the port opens its own aiohttp sessions
        target = _rebased(cls, base_url) if base_url else cls
        plain = [dict(message) for message in messages]  # the port's own, to change at will
        items = function(target, model, plain, **parameters.arguments(proxy, timeout), **kwargs)
        try:
            async for item in items:
                event = _event(item)
                if event is not None:
                    yield event
        finally:
            await items.aclose()

    create_async_generator.__doc__ = function.__doc__
    create_async_generator.__wrapped__ = function  # type: ignore[attr-defined]
    return classmethod(create_async_generator)


def _event(item: object) -> object | None:
    """What the core receives for what a port yielded: text and aichats events unchanged,
    g4f's items mapped to their aichats event or dropped (None)."""
    if isinstance(item, str) or not isinstance(item, ResponseType):
        return item  # text, an aichats event, or garbage the core reports as the port's bug
    if isinstance(item, ImageResponse):
        images = [image for image in item.get_list() if image]
        if not images:
            return None
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
    return None  # FinishReason, conversations, reasoning: no aichats event says them


def _rebased(provider: type, base_url: str) -> type:
    """A subclass of ``provider`` for one call, with ``url`` and an absolute ``api_endpoint``
    moved under ``base_url``; concurrent calls each see their own."""
    base = base_url.rstrip("/")
    attributes: dict[str, Any] = {
        "url": base,
        "__module__": provider.__module__,
        "__qualname__": provider.__qualname__,
        "__doc__": provider.__doc__,
    }
    endpoint = getattr(provider, "api_endpoint", None)
    if isinstance(endpoint, str) and urlsplit(endpoint).scheme:
        parts = urlsplit(endpoint)
        attributes["api_endpoint"] = base + parts.path + (f"?{parts.query}" if parts.query else "")
    return type(provider.__name__, (provider,), attributes)


class AsyncGeneratorProvider(_CoreGeneratorProvider):
    """g4f's ``AsyncGeneratorProvider``: write ``create_async_generator`` as for g4f.

    Its ``create_async_generator`` receives ``model``, a fresh list of plain dict messages,
    ``proxy`` (when it takes it), ``timeout`` (when the caller gives one and it takes it),
    ``stream=True`` (when it names ``stream``) and the call's other options.
    """

    Options = DeferredOptions("aichats_core.compat._g4f_options:G4FOptions")
    needs_auth: ClassVar[bool] = False
    supports_system_message: ClassVar[bool] = False
    label: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("create_async_generator")
        function = getattr(own, "__func__", None)
        if isinstance(own, classmethod) and inspect.isasyncgenfunction(function):
            cls.create_async_generator = _wrapped(function)  # type: ignore[method-assign,assignment]
        # Anything else is left as written, for the load check to report.


class ProviderModelMixin(_CoreModelMixin):
    """g4f's ``ProviderModelMixin``: ``get_model(model, **kwargs)`` and ``get_models()``."""

    vision_models: ClassVar[list[str]] = []
    last_model: ClassVar[str | None] = None

    @classmethod
    def get_model(cls, model: str | None, **kwargs: Any) -> str:
        """``default_model`` for none, an alias's model, or ``ModelNotSupportedError``."""
        return super().get_model(model)

    @classmethod
    def get_models(cls, **kwargs: Any) -> list[str]:
        return list(cls.models)


# -- helpers -----------------------------------------------------------------------------------


def to_string(value: object) -> str:
    """The text of a message's content: a string, a ``{"text": ...}`` part, or a list of
    parts (strings, or dicts of ``type`` ``"text"``) joined without separator."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        text = value.get("text", "")
        return text if isinstance(text, str) else ""
    if isinstance(value, list | tuple):
        return "".join(
            to_string(part)
            for part in value
            # a part without a type is text, as g4f reads it
            if isinstance(part, str)
            or (isinstance(part, dict) and part.get("type", "text") == "text")
        )
    return "" if value is None else str(value)


def _is_text(part: Mapping[str, Any]) -> bool:
    return bool(part.get("type", "text") == "text")


def format_prompt(
    messages: Iterable[Mapping[str, Any]], add_special_tokens: bool = False,
    do_continue: bool = False,
) -> str:  # fmt: skip
    """The conversation as one prompt.

    A single message, without ``add_special_tokens``, is its content alone. Otherwise each
    message is a ``"Role: content"`` line (the role capitalised: ``User``, ``Assistant``,
    ``System``), joined with ``"\\n"``, followed by ``"\\nAssistant:"`` unless
    ``do_continue``.
    """
    messages = list(messages)
    if not add_special_tokens and len(messages) == 1:
        return to_string(messages[0].get("content"))
    lines = "\n".join(
        f"{str(message.get('role', '')).capitalize()}: {to_string(message.get('content'))}"
        for message in messages
    )
    return lines if do_continue else f"{lines}\nAssistant:"


def get_last_user_message(messages: Iterable[Mapping[str, Any]]) -> str:
    """The last turn of the user, as g4f reads it: trailing messages of other roles are
    skipped, then the unbroken run of ``user`` messages before them, each stripped, is joined
    with ``"\n"``; ``""`` when there is none. (Unlike g4f, ``messages`` is left as it was.)"""
    run: list[str] = []
    for message in reversed(list(messages)):
        if message.get("role") == "user":
            run.append(to_string(message.get("content")).strip())
        elif run:
            break
    return "\n".join(reversed(run))


def format_image_prompt(messages: Iterable[Mapping[str, Any]], prompt: str | None = None) -> str:
    """``prompt`` when given, else the last user message."""
    return get_last_user_message(messages) if prompt is None else prompt


def get_system_prompt(messages: Iterable[Mapping[str, Any]]) -> str:
    """The contents of the ``system`` (and ``developer``) messages, joined with ``"\\n"``."""
    return "\n".join(
        to_string(message.get("content"))
        for message in messages
        if message.get("role") in ("system", "developer")
    )


def get_random_string(length: int = 10) -> str:
    """Random lowercase letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def get_random_hex(length: int = 32) -> str:
    """Random lowercase hexadecimal digits."""
    return "".join(secrets.choice("0123456789abcdef") for _ in range(length))


def filter_none(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments whose value is not None."""
    return {key: value for key, value in kwargs.items() if value is not None}


async def raise_for_status(response: Any, message: str | None = None) -> None:
    """Raise the aichats error for an aiohttp response with an error status, else nothing.

    429 is a ``RateLimitError`` with ``retry_after`` from ``Retry-After``; any other status
    of 400 or more a ``ProviderHTTPError`` with an excerpt of the body (or ``message``) and
    the URL. Both are raised without a provider name; the core gives them the name of the
    provider whose call this is.
    """
    status = getattr(response, "status", None)
    if not isinstance(status, int) or status < 400:
        return
    from aichats_core.http._errors import http_error
    from aichats_core.http._responses import read_excerpt

    excerpt = message if message is not None else redact(await read_excerpt(response))
    url = redact(str(getattr(response, "url", "")))
    raise http_error("", status, response.headers, excerpt, url=url)


raise_for_status_async = raise_for_status


def redact(text: str) -> str:
    from aichats_core.http import redact as hide

    return hide(text)


def get_connector(
    connector: aiohttp.BaseConnector | None = None, proxy: str | None = None, rdns: bool = False
) -> aiohttp.BaseConnector | None:
    """g4f's ``get_connector``: ``connector`` when given, else, for a ``proxy``, a connector
    that sends every request of its session through it (http and https proxies; socks ones
    need the ``aiohttp_socks`` package), else None (aiohttp's default connector)."""
    if connector is not None or not proxy:
        return connector
    from aichats_core.errors import InvalidRequestError
    from aichats_core.http import proxy_problem

    scheme = proxy.partition("://")[0].lower()
    if scheme.startswith("socks"):
        try:
            from aiohttp_socks import ProxyConnector  # type: ignore[import-not-found]
        except ImportError:
            raise InvalidRequestError(
                "g4f get_connector: a socks proxy needs the aiohttp_socks package"
                " (pip install aiohttp_socks); http and https proxies work without it"
            ) from None
        if scheme == "socks5h":
            proxy, rdns = "socks5" + proxy[len(scheme) :], True
        socks: aiohttp.BaseConnector = ProxyConnector.from_url(proxy, rdns=rdns)
        return socks
    problem = proxy_problem(proxy)
    if problem is not None:
        raise InvalidRequestError(f"g4f get_connector: the proxy {problem}")
    return _proxy_connector(proxy)


def _proxy_connector(proxy: str) -> aiohttp.BaseConnector:
    import aiohttp
    from yarl import URL

    address = URL(proxy)
    auth = None
    if address.user is not None:
        auth = aiohttp.BasicAuth(address.user, address.password or "")
        address = address.with_user(None)

    class ProxyConnector(aiohttp.TCPConnector):
        """Sends the requests of its session through ``proxy``, unless one names its own."""

        async def connect(
            self,
            req: aiohttp.ClientRequest,
            traces: list[Any],
            timeout: aiohttp.ClientTimeout,
        ) -> Any:
            if req.proxy is None:
                req.update_proxy(address, auth, None)
            return await super().connect(req, traces, timeout)

    return ProxyConnector()


def __getattr__(name: str) -> Any:
    """``G4FOptions`` (the layer's options model) imports pydantic: only when first read."""
    if name == "G4FOptions":
        from aichats_core.compat._g4f_options import G4FOptions

        return G4FOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
