"""AiChats (ai-chats.org): ``gpt-4`` streams text as server-sent events, ``dalle`` draws images.

Only the wire format lives here; sessions, proxies, timeouts, SSE decoding, downloads and
error mapping come from ``aichats_core.http``. Compared with the reference implementation
(gpt4free), text really streams, failures raise typed errors instead of being yielded as
text, no captured cookie is hard-coded, and the image keeps its real MIME type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from aichats_core import AsyncGeneratorProvider, DeferredOptions, ProviderModelMixin
from aichats_core.errors import InvalidRequestError, ResponseFormatError

if TYPE_CHECKING:
    from aichats_core.http import HttpSession
    from aichats_core.types import Messages, ProviderItem

CHROME_VERSION = "131"
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    f"Chrome/{CHROME_VERSION}.0.0.0 Safari/537.36"
)
TEXT_ANSWER_TYPES = ("text/event-stream", "text/plain")
IMAGE_ANSWER_TYPES = ("application/json", "text/json", "text/plain")


class AiChats(AsyncGeneratorProvider, ProviderModelMixin):
    """ai-chats.org. The service is not known to work today (``working = False``); the local
    emulator (``providers.aichats.emulator``) speaks its protocol for offline use.

    Options (``Options``, checked by the core at the call): ``base_url`` (point at another
    host, e.g. the emulator), ``cookies`` (a dict or a ``"name=value; ..."`` string copied
    from a browser), the image download's ``max_image_bytes``, ``image_timeout`` and
    ``allow_private_image_urls``, and the core's ``timeout`` and ``session``.

    ``allow_private_image_urls`` decides whether the image URL that the service answers may
    point at a private, loopback or link-local address. ``None`` (the default) allows it only
    when the service itself is on such an address, as the emulator on 127.0.0.1 is, so that
    ai-chats.org cannot send the client to 169.254.169.254; ``True`` allows it, ``False``
    refuses it even then.
    """

    Options = DeferredOptions("providers.aichats._options:AiChatsOptions")

    url = "https://ai-chats.org"
    api_endpoint = "https://ai-chats.org/chat/send2/"
    working = False
    supports_stream = True
    supports_message_history = True
    default_model = "gpt-4"
    models: ClassVar[list[str]] = ["gpt-4", "dalle"]
    image_models: ClassVar[list[str]] = ["dalle"]

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[ProviderItem]:
        from aichats_core import ImageResponse
        from aichats_core.http import DEFAULT_TIMEOUT, HttpSession, refuse_unexpected

        model = cls.get_model(model)
        site, endpoint = cls.endpoints(kwargs.get("base_url"))
        allow_private = allow_private_images(site, kwargs.get("allow_private_image_urls"))
        is_image = model in cls.image_models
        prompt = image_prompt(messages) if is_image else format_prompt(messages)
        body = {
            "type": "image" if is_image else "chat",
            "messagesHistory": [{"from": "you", "content": prompt}],
        }
        async with HttpSession(
            cls.__name__,
            session=kwargs.get("session"),
            proxy=proxy,
            timeout=kwargs.get("timeout") or DEFAULT_TIMEOUT,
        ) as http:
            async with http.request(
                "POST",
                endpoint,
                json=body,
                headers=browser_headers(site, "image" if is_image else "chat"),
                cookies=parse_cookies(kwargs.get("cookies")),
                allow_redirects=False,
            ) as response:
                expected = IMAGE_ANSWER_TYPES if is_image else TEXT_ANSWER_TYPES
                await refuse_unexpected(cls.__name__, response, expected=expected)
                if not is_image:
                    received = False
                    # The AiChats protocol: [DONE] ends the stream, and so does the end of the
                    # body. A body cut by the network is still an interruption.
                    async for events in http.iter_sse(response, require_done=False):
                        received = True
                        yield "".join(events)  # the events of one network read, at once
                    if not received:
                        raise ResponseFormatError(
                            cls.__name__, "the service answered an empty event stream"
                        )
                    return
                image_url = image_url_from(cls.__name__, await http.read_json(response))
            uri = await _download(http, image_url, kwargs, allow_private)
            yield ImageResponse(images=[uri], alt=prompt)

    @classmethod
    def endpoints(cls, base_url: str | None) -> tuple[str, str]:
        """The site and API endpoint, moved under ``base_url`` when one is given."""
        if not base_url:
            return cls.url, cls.api_endpoint
        site = base_url.rstrip("/")
        return site, f"{site}/chat/send2/"


async def _download(
    http: HttpSession, image_url: str, options: Mapping[str, Any], allow_private: bool
) -> str:
    from aichats_core.http import DEFAULT_IMAGE_TIMEOUT, DEFAULT_MAX_IMAGE_BYTES, download_data_uri

    uri: str = await download_data_uri(
        http,
        image_url,
        max_bytes=options.get("max_image_bytes") or DEFAULT_MAX_IMAGE_BYTES,
        timeout=options.get("image_timeout") or DEFAULT_IMAGE_TIMEOUT,
        allow_private=allow_private,
    )
    return uri


def allow_private_images(site: str, option: object) -> bool:
    """Whether image URLs may reach private addresses: the option, else whether ``site`` is on one.

    Checked before any network, so a mistyped option fails at once.
    """
    if option is not None and not isinstance(option, bool):
        raise InvalidRequestError(
            f"AiChats: allow_private_image_urls must be True, False or None, not {option!r}"
        )
    if option is not None:
        return option
    return _site_is_private(site)


@lru_cache(maxsize=64)
def _site_is_private(site: str) -> bool:
    """Memoised: parsing the address on every call showed up in the short-call benchmark."""
    from aichats_core.http import is_private_host

    try:
        host = urlsplit(site).hostname or ""
    except ValueError:  # a malformed base_url: the request itself reports it
        return False
    return is_private_host(host)


def format_prompt(messages: Messages) -> str:
    """One message is sent verbatim; a history is flattened to ``Role: content`` lines."""
    if not messages:
        raise InvalidRequestError("AiChats: no messages to send")
    if len(messages) == 1:
        return messages[0].text
    lines = [f"{message.role.capitalize()}: {message.text}" for message in messages]
    return "\n".join(lines) + "\nAssistant:"


def image_prompt(messages: Messages) -> str:
    """The image is drawn from the last message alone."""
    if not messages:
        raise InvalidRequestError("AiChats: no messages to draw an image from")
    return messages[-1].text


def image_url_from(provider: str, payload: Any) -> str:
    """``data[0].url`` of the image answer, or a ``ResponseFormatError`` saying what was wrong."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or not data:
        raise ResponseFormatError(
            provider, f"the image answer has no 'data' list: {_excerpt(payload)}"
        )
    first = data[0]
    url = first.get("url") if isinstance(first, dict) else None
    if not isinstance(url, str) or not url:
        raise ResponseFormatError(
            provider, f"the image answer has no 'url' in data[0]: {_excerpt(payload)}"
        )
    return url


@lru_cache(maxsize=64)
def browser_headers(site: str, page: str) -> Mapping[str, str]:
    """The headers desktop Chrome sends from ``{site}/{page}/``, built once per page.

    A read-only case-insensitive multidict: aiohttp takes it without converting it again.
    """
    from multidict import CIMultiDict, CIMultiDictProxy

    return CIMultiDictProxy(CIMultiDict(_chrome_headers(site, page)))


def _chrome_headers(site: str, page: str) -> dict[str, str]:
    return {
        "Accept": "application/json, text/event-stream",
        "Accept-Language": "en-US,en;q=0.9",
        "Cache-Control": "no-cache",
        "Content-Type": "application/json",
        "Origin": "{0.scheme}://{0.netloc}".format(urlsplit(site)),  # never a path
        "Pragma": "no-cache",
        "Referer": f"{site}/{page}/",
        "Sec-CH-UA": (
            f'"Google Chrome";v="{CHROME_VERSION}", "Chromium";v="{CHROME_VERSION}",'
            ' "Not_A Brand";v="24"'
        ),
        "Sec-CH-UA-Mobile": "?0",
        "Sec-CH-UA-Platform": '"Windows"',
        "Sec-Fetch-Dest": "empty",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Site": "same-origin",
        "User-Agent": USER_AGENT,
    }


def parse_cookies(cookies: Mapping[str, str] | str | None) -> dict[str, str] | None:
    """Cookies as a dict, from a dict or a browser's ``"name=value; name2=value2"`` string."""
    if cookies is None or isinstance(cookies, Mapping):
        return dict(cookies) if cookies else None
    parsed = {}
    for position, pair in enumerate(cookies.split(";"), start=1):
        name, separator, value = pair.strip().partition("=")
        if not separator or not name:
            if pair.strip():  # its value is not quoted: a pasted cookie string holds secrets
                raise InvalidRequestError(
                    f"AiChats: cookie number {position} of the cookies option is not name=value"
                )
            continue
        parsed[name] = value
    return parsed or None


def _excerpt(payload: Any) -> str:
    text = repr(payload)
    return text if len(text) <= 120 else text[:117] + "..."
