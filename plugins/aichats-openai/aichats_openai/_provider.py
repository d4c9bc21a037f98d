"""``OpenAICompatible``: any service that speaks OpenAI's chat-completions API.

Only the wire format lives in this package; sessions, proxies, timeouts, SSE decoding, bounded
reads and the translation of transport failures come from ``aichats_core.http``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from aichats_core import AsyncGeneratorProvider, ProviderModelMixin
from aichats_core.capabilities import IMAGE_INPUT, JSON_OUTPUT, MAX_TOKENS, STOP, TOOLS
from aichats_core.errors import (
    AiChatsError,
    InvalidRequestError,
    ProviderHTTPError,
    ResponseFormatError,
    StreamInterruptedError,
)

from aichats_openai._errors import readable_http_error, refuse_unexpected, scrub
from aichats_openai._options import OpenAIOptions, Settings, validated

CHAT_ANSWER_TYPES = ("text/event-stream", "application/json")
"""What a chat answer may be: an event stream, or one JSON answer from a service that ignores
``"stream": true``."""

if TYPE_CHECKING:
    # Only for annotations: importing these at run time would import pydantic and aiohttp.
    import aiohttp
    from aichats_core import Usage
    from aichats_core.http import HttpSession
    from aichats_core.types import Messages, ProviderItem


class OpenAICompatible(AsyncGeneratorProvider, ProviderModelMixin):
    """Any OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, llama.cpp, Ollama,
    LM Studio, ``aichats serve``...

    Options (``Options``, checked by the core at the call): ``base_url`` (the API root, e.g.
    ``http://127.0.0.1:8000/v1``; default ``$OPENAI_BASE_URL``, else ``url``), ``api_key``
    (sent as ``Authorization: Bearer``; default ``$OPENAI_API_KEY``, ``""`` sends none),
    ``extra_body`` (fields merged into the request, e.g. ``{"temperature": 0.2}``; a ``None``
    value removes one), ``extra_headers``, and the core's ``timeout`` and ``session``. Any
    other option, or a badly typed one, is refused with ``InvalidOptionError`` before any
    network.

    Any model id is accepted: what exists depends on the endpoint (``list_models()``). Without
    a model, the first one ``GET {base_url}/models`` lists is used. Image models (the
    ``image_models`` option, else OpenAI's ``gpt-image-*`` and ``dall-e-*``) are asked at
    ``POST {base_url}/images/generations`` and answer an ``ImageResponse``.

    It declares every capability (``capabilities``): the core passes ``tools`` and
    ``tool_choice``, ``response_format``, ``max_tokens`` and ``stop`` as arguments, which go
    into the request as OpenAI names them, and messages with image parts, tool calls and tool
    results, which go in OpenAI's shape. Tool calls in the answer come back as ``ToolCall``
    events, and the service's ``finish_reason`` as ``FinishReason``.

    To give another vendor its own provider name, subclass it and set ``url`` and the
    environment variables to read (``base_url_env``, ``api_key_env``); errors then carry the
    subclass's name.
    """

    Options = OpenAIOptions
    """``base_url``, ``api_key``, ``extra_body``, ``extra_headers``: see ``OpenAIOptions``."""
    # No ``transient_statuses``: OpenAI's documented transient failures are 429 (a
    # RateLimitError, honouring Retry-After), 500 and 503, and compatible servers (vLLM,
    # LiteLLM, llama.cpp) answer 502, 503 or 504 when overloaded or behind a failing proxy:
    # all are already in the core's defaults. 529 is Anthropic's, not OpenAI's.
    url = "https://api.openai.com/v1"
    working = True
    supports_stream = True
    supports_message_history = True
    default_model = ""
    models: ClassVar[list[str]] = []
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {TOOLS, JSON_OUTPUT, IMAGE_INPUT, MAX_TOKENS, STOP}
    )
    image_models: ClassVar[list[str]] = ["gpt-image-1", "gpt-image-1-mini", "dall-e-3", "dall-e-2"]
    """OpenAI's image models, the first one for ``aichats image -p openai`` without ``-m``;
    the ``image_models`` option replaces them for a call."""
    image_model_prefixes: ClassVar[tuple[str, ...]] = ("gpt-image-", "dall-e-")
    """Ids that are image models too when the ``image_models`` option is not given (new
    versions of OpenAI's families)."""
    base_url_env: ClassVar[str | None] = "OPENAI_BASE_URL"
    """The environment variable giving ``base_url`` when the option is not passed."""
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    """The environment variable giving ``api_key`` when the option is not passed."""
    needs_key: ClassVar[bool] = True
    """The service at ``url`` refuses calls without a key: a call to it without one fails
    at once, saying which variable to set, instead of with the service's 401."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[ProviderItem]:
        # Imported here, not at the top: aichats_core.http imports aiohttp.
        from aichats_core.http import HttpSession

        name = cls.__name__
        options = cls._options(kwargs)
        if not messages:
            raise InvalidRequestError(f"{name}: no messages to send")
        model = cls.get_model(model)  # the core resolved it already; direct callers may not
        with _masked(options):
            async with HttpSession(
                name, session=options.session, proxy=proxy, timeout=options.timeout
            ) as http:
                if not model:
                    from aichats_openai._models_list import default_model

                    model = await default_model(http, options)
                if cls.is_image_model(model, options.image_models):
                    from aichats_openai._images import generate_image

                    _refuse_features(name, model, kwargs)
                    yield await generate_image(http, options, model, messages)
                    return
                async for item in _chat(http, options, model, messages, kwargs):
                    yield item

    @classmethod
    def is_image_model(cls, model: str, image_models: tuple[str, ...] | None = None) -> bool:
        """Whether ``model`` makes images: one of ``image_models`` when a call names them,
        else of the class's ``image_models`` or ``image_model_prefixes``."""
        if image_models is not None:
            return model in image_models
        return model in cls.image_models or model.startswith(cls.image_model_prefixes)

    @classmethod
    async def list_models(
        cls,
        base_url: str | None = None,
        api_key: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = None,
        *,
        proxy: str | None = None,
    ) -> list[str]:
        """The model ids the endpoint serves, in its order, asked afresh (``GET /models``).

        Unset arguments default as for a call: ``$OPENAI_BASE_URL`` or ``url``, and
        ``$OPENAI_API_KEY``.

        >>> await OpenAICompatible.list_models("http://127.0.0.1:8000/v1")  # doctest: +SKIP
        ['aichats/gpt-4', 'aichats/dalle']
        """
        from aichats_core.http import HttpSession

        from aichats_openai._models_list import fetch_models

        given = {"base_url": base_url, "api_key": api_key, "session": session, "timeout": timeout}
        # The core checks the options of a call, not those of this method: checked here.
        options = cls._options(
            validated(
                cls.__name__, {key: value for key, value in given.items() if value is not None}
            )
        )
        with _masked(options):
            async with HttpSession(
                cls.__name__, session=options.session, proxy=proxy, timeout=options.timeout
            ) as http:
                return await fetch_models(http, options)

    @classmethod
    def forget_models(cls) -> None:
        """Forget the model lists remembered for choosing a default model (for every endpoint)."""
        from aichats_openai._models_list import forget_models

        forget_models()

    @classmethod
    def _options(cls, kwargs: Mapping[str, Any]) -> Settings:
        settings = Settings.resolve(
            cls.__name__,
            kwargs,
            default_url=cls.url,
            base_url_env=cls.base_url_env,
            api_key_env=cls.api_key_env,
        )
        if cls.needs_key and not settings.api_key and settings.base_url == cls.url.rstrip("/"):
            where = f"set {cls.api_key_env}, or give" if cls.api_key_env else "give"
            raise InvalidRequestError(
                f"{cls.url} needs an API key: {where} the api_key option"
                f" (-o NAME.api_key=...); a self-hosted server at another base_url may not"
            )
        return settings


def _refuse_features(provider: str, model: str, kwargs: Mapping[str, Any]) -> None:
    """An image request takes a prompt: tools, a JSON answer or token limits mean a chat."""
    from aichats_openai._wire import FEATURES

    given = [name for name in (*FEATURES, "max_tokens") if kwargs.get(name) is not None]
    if given:
        raise InvalidRequestError(
            f"{provider}: {model!r} is an image model, which takes a prompt only, not"
            f" {', '.join(given)}; use a chat model, or the image_models option to say which"
            " models make images"
        )


async def _chat(
    http: HttpSession,
    options: Settings,
    model: str,
    messages: Messages,
    kwargs: Mapping[str, Any],
) -> AsyncIterator[ProviderItem]:
    """One chat request: the text of each network read as one ``str``; when the answer ends,
    its ``ToolCall`` events and ``FinishReason``; then ``Usage``."""
    from aichats_core.http import SSEDecoder

    from aichats_openai._wire import ChunkReader, chat_body, feature_fields, parse_completion

    provider = http.provider
    body = chat_body(
        provider, model, messages, options.extra_body, feature_fields(kwargs, options.base_url)
    )
    async with http.request(
        "POST",
        f"{options.base_url}/chat/completions",
        json=body,
        headers=options.headers("text/event-stream"),
        allow_redirects=False,
    ) as response:
        await refuse_unexpected(provider, response, CHAT_ANSWER_TYPES)
        if response.content_type == "application/json":
            # A service (or a proxy before it) that ignores "stream": the whole answer at once.
            answer = parse_completion(provider, await http.read_json(response))
            if answer.text:
                yield answer.text
            for item in answer.ending:
                yield item
            if answer.usage is not None:
                yield _usage(answer.usage)
            return
        reader = ChunkReader(provider)
        decoder = SSEDecoder(provider=provider)
        received = False
        try:
            # The protocol ends a stream with [DONE]; a finish_reason also ends the answer.
            async for events in http.iter_sse(response, decoder, require_done=True):
                received = True
                parts: list[str] = []
                failure: AiChatsError | None = None
                for data in events:
                    try:
                        parts.append(reader.feed(data))
                    except AiChatsError as exc:
                        failure = exc  # the text of this read's earlier events goes out first
                        break
                if reader.finished:
                    decoder.answered = True
                text = "".join(parts)
                if text:
                    yield text
                if failure is not None:
                    raise failure
        except StreamInterruptedError:
            if not received and "Content-Type" not in response.headers:
                raise ResponseFormatError(
                    provider,
                    "the service answered a body without a Content-Type and without any event,"
                    " instead of an event stream",
                ) from None
            raise
        reader.close()
        for item in reader.ending():  # the tool calls are whole once the stream has ended
            yield item
    if reader.usage is not None:
        yield _usage(reader.usage)


def _usage(counts: tuple[int | None, int | None]) -> Usage:
    from aichats_core import Usage

    return Usage(prompt_tokens=counts[0], completion_tokens=counts[1])


@contextmanager
def _masked(options: Settings) -> Iterator[None]:
    """Errors leave the block as callers should see them (``_public_error``)."""
    try:
        yield
    except AiChatsError as exc:
        public = _public_error(exc, options)
        if public is exc:
            raise
        raise public from None  # the same error, reworded: the original is masked too


def _public_error(error: AiChatsError, options: Settings) -> AiChatsError:
    """The error as callers should see it: the service's message readable, secrets masked.

    When that takes a new error, the original becomes its ``__context__``: it is masked too.
    """
    # Only an HTTP status error carries the URL it came from; those built from in-band events
    # or from transport failures already read well.
    public = error
    if isinstance(error, ProviderHTTPError) and error.url:
        public = readable_http_error(error)
    secrets = options.secrets
    scrub(error, secrets)
    if public is not error:
        scrub(public, secrets)
    return public
