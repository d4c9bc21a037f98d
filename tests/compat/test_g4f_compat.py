"""g4f-style providers, ported by their imports only, run as native aichats providers."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import aichats_core
from aichats_core import Finish, ImageResponse, RetryPolicy, TextChunk
from aichats_core.compat.g4f import (
    AsyncGeneratorProvider,
    AsyncResult,
    FinishReason,
    JsonConversation,
    Messages,
    ProviderModelMixin,
    RateLimitError,
    format_prompt,
    get_connector,
    get_last_user_message,
    get_system_prompt,
    raise_for_status,
)
from aichats_core.compat.g4f import ImageResponse as G4FImage
from aichats_core.errors import (
    AllProvidersFailedError,
    ProviderHTTPError,
    StreamInterruptedError,
)
from aichats_core.errors import RateLimitError as CoreRateLimitError
from aichats_core.testing import registered


class Conversation(JsonConversation):
    pass


class Alpha(AsyncGeneratorProvider, ProviderModelMixin):
    """A port in g4f's shape, with an absolute api_endpoint on another host than url."""

    url = "https://alpha.invalid"
    api_endpoint = "https://api.alpha.invalid/api/chat"
    working = True
    supports_message_history = True
    default_model = "alpha-1"
    models = ["alpha-1", "alpha-image"]  # noqa: RUF012 - g4f ports write it so

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        model = cls.get_model(model)
        messages.append({"role": "assistant", "content": "mutated"})  # leaks nowhere
        async with (
            aiohttp.ClientSession(connector=get_connector(proxy=proxy)) as session,
            session.post(
                cls.api_endpoint, json={"prompt": format_prompt(messages[:-1]), "model": model}
            ) as response,
        ):
            await raise_for_status(response)
            if model == "alpha-image":
                yield G4FImage("https://images.invalid/1.png", "a cat")
                return
            async for chunk in response.content.iter_any():
                yield chunk.decode()
        yield Conversation(conversation_id="c-1")
        yield FinishReason("stop")


class Beta(AsyncGeneratorProvider):
    """A port with a relative api_endpoint, raising g4f's one-argument RateLimitError."""

    url = "https://beta.invalid"
    api_endpoint = "/api/chat"
    working = True
    default_model = "beta"
    models = ["beta"]  # noqa: RUF012

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        prompt = get_last_user_message(messages)
        if prompt == "busy":
            raise RateLimitError("too many requests")
        async with (
            aiohttp.ClientSession(connector=get_connector(proxy=proxy)) as session,
            session.post(f"{cls.url}{cls.api_endpoint}", json={"prompt": prompt}) as response,
        ):
            await raise_for_status(response)
            yield "beta: " + await response.text()


class Service:
    """The local service both ports speak to; answers by the prompt it receives."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.paths: list[str] = []

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt: str = body["prompt"]
        self.prompts.append(prompt)
        self.paths.append(request.path)
        if "limit" in prompt:
            return web.Response(status=429, text="slow down", headers={"Retry-After": "7"})
        if "fail" in prompt or ("flaky" in prompt and len(self.prompts) == 1):
            return web.Response(status=500, text="boom")
        response = web.StreamResponse()
        await response.prepare(request)
        if "cut" in prompt:
            await response.write(b"partial ")
            await asyncio.sleep(0.05)
            assert request.transport is not None
            request.transport.close()
            return response
        for word in ("you", " said: ", prompt):
            await response.write(word.encode())
        await response.write_eof()
        return response


@pytest.fixture
async def service() -> AsyncIterator[tuple[Service, str]]:
    state = Service()
    app = web.Application()
    for path in ("/api/chat", "/x/api/chat"):
        app.router.add_post(path, state.chat)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield state, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
def ports() -> AsyncIterator[None]:
    with registered("alpha", Alpha), registered("beta", Beta):
        yield None  # type: ignore[misc]


async def events(*args: Any, **kwargs: Any) -> list[Any]:
    return [event async for event in aichats_core.stream(*args, **kwargs)]


@pytest.mark.usefixtures("ports")
async def test_text_streams_and_g4f_items_are_dropped(service: tuple[Service, str]) -> None:
    state, url = service
    got = await events("alpha", "hello", base_url=url)
    assert "".join(e.text for e in got if isinstance(e, TextChunk)) == "you said: hello"
    assert got[-1] == Finish(provider="alpha", model="alpha-1", options=("base_url",))
    assert all(isinstance(e, TextChunk | Finish) for e in got)  # no FinishReason, no conversation
    assert state.paths == ["/api/chat"]


@pytest.mark.usefixtures("ports")
async def test_history_is_flattened_as_format_prompt_documents(
    service: tuple[Service, str],
) -> None:
    state, url = service
    history = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "again"},
    ]
    await events("alpha", history, base_url=url)
    assert state.prompts == [
        "System: be brief\nUser: hi\nAssistant: hello\nUser: again\nAssistant:"
    ]


def test_helpers() -> None:
    messages = [
        {"role": "system", "content": "a"},
        {"role": "user", "content": "q1"},
        {"role": "system", "content": "b"},
        {"role": "user", "content": "q2"},
    ]
    assert format_prompt(messages[1:2]) == "q1"
    assert format_prompt(messages[1:2], add_special_tokens=True) == "User: q1\nAssistant:"
    assert format_prompt(messages[:2], do_continue=True) == "System: a\nUser: q1"
    assert get_last_user_message(messages) == "q2"
    assert get_system_prompt(messages) == "a\nb"


@pytest.mark.usefixtures("ports")
async def test_image_response_becomes_the_aichats_event(service: tuple[Service, str]) -> None:
    _, url = service
    got = await events("alpha", "draw", model="alpha-image", base_url=url)
    assert got[0] == ImageResponse(images=["https://images.invalid/1.png"], alt="a cat")


@pytest.mark.usefixtures("ports")
async def test_429_is_a_rate_limit_with_retry_after(service: tuple[Service, str]) -> None:
    _, url = service
    with pytest.raises(CoreRateLimitError) as caught:
        await events("alpha", "limit", base_url=url)
    assert caught.value.retry_after == 7
    assert caught.value.provider == "alpha"
    assert caught.value.url == f"{url}/api/chat"


@pytest.mark.usefixtures("ports")
async def test_g4f_rate_limit_error_is_named_by_the_core_name() -> None:
    with pytest.raises(CoreRateLimitError) as caught:
        await events("beta", "busy")
    assert isinstance(caught.value, RateLimitError)
    assert caught.value.provider == "beta"
    assert str(caught.value) == "beta: HTTP 429: too many requests"


@pytest.mark.usefixtures("ports")
async def test_500_is_a_provider_http_error(service: tuple[Service, str]) -> None:
    _, url = service
    with pytest.raises(ProviderHTTPError) as caught:
        await events("beta", "fail", base_url=url)
    assert (caught.value.status, caught.value.body, caught.value.provider) == (500, "boom", "beta")


@pytest.mark.usefixtures("ports")
async def test_a_cut_stream_is_interrupted_with_the_partial_text(
    service: tuple[Service, str],
) -> None:
    _, url = service
    with pytest.raises(StreamInterruptedError) as caught:
        await events("alpha", "cut", base_url=url)
    assert caught.value.partial_text == "partial "


@pytest.mark.usefixtures("ports")
async def test_fallback_from_one_port_to_another(service: tuple[Service, str]) -> None:
    _, url = service
    options = {"alpha": {"base_url": url}, "beta": {"base_url": url}}
    got = await events(["alpha", "beta"], "flaky", provider_options=options)
    assert got[-1].provider == "beta"
    assert got[0] == TextChunk(text="beta: you said: flaky")
    with pytest.raises(AllProvidersFailedError):
        await events(["alpha", "beta"], "fail", provider_options={"alpha": {"base_url": url}})


@pytest.mark.usefixtures("ports")
async def test_base_url_with_absolute_and_relative_endpoints(service: tuple[Service, str]) -> None:
    state, url = service
    await events("alpha", "a", base_url=f"{url}/x/")
    await events("beta", "b", base_url=url)
    assert state.paths == ["/x/api/chat", "/api/chat"]
    assert Alpha.url == "https://alpha.invalid"  # the class is untouched
    assert Alpha.api_endpoint == "https://api.alpha.invalid/api/chat"


@pytest.mark.usefixtures("ports")
async def test_concurrent_calls_each_see_their_base_url(service: tuple[Service, str]) -> None:
    state, url = service
    await asyncio.gather(
        events("alpha", "one", base_url=f"{url}/x"), events("alpha", "two", base_url=url)
    )
    assert sorted(zip(state.prompts, state.paths, strict=True)) == [
        ("one", "/x/api/chat"),
        ("two", "/api/chat"),
    ]


@pytest.mark.usefixtures("ports")
async def test_mutating_messages_leaks_nowhere_across_a_retry(
    service: tuple[Service, str],
) -> None:
    state, url = service
    history = [{"role": "user", "content": "first"}, {"role": "user", "content": "flaky"}]
    policy = RetryPolicy(retries=1, backoff=0)
    async with aichats_core.Client() as client:
        got = [e async for e in client.stream("alpha", history, retries=policy, base_url=url)]
    assert got[-1].provider == "alpha"
    assert state.prompts == ["User: first\nUser: flaky\nAssistant:"] * 2
    assert history == [{"role": "user", "content": "first"}, {"role": "user", "content": "flaky"}]


@pytest.mark.usefixtures("ports")
async def test_unknown_option_is_refused_at_the_call() -> None:
    with pytest.raises(aichats_core.errors.InvalidOptionError):
        aichats_core.stream("alpha", "hi", base_uri="http://127.0.0.1:1")


@pytest.mark.usefixtures("ports")
async def test_proxy_reaches_the_ports_own_session(service: tuple[Service, str]) -> None:
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.Response(text="via proxy")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    proxy = TestServer(app, host="127.0.0.1")
    await proxy.start_server()
    try:
        got = await events(
            "beta", "p", base_url="http://127.0.0.1:9", proxy=str(proxy.make_url(""))
        )
    finally:
        await proxy.close()
    assert got[0] == TextChunk(text="beta: via proxy")
    assert seen == ["http://127.0.0.1:9/api/chat"]


def test_importing_the_layer_imports_neither_aiohttp_nor_pydantic() -> None:
    code = (
        "import sys, aichats_core.compat.g4f\n"
        "assert 'aiohttp' not in sys.modules and 'pydantic' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_options_model_is_read_lazily() -> None:
    from aichats_core.compat import g4f

    assert set(g4f.G4FOptions.model_fields) == {"base_url"}
    assert AsyncGeneratorProvider.Options is g4f.G4FOptions


class Gamma(AsyncGeneratorProvider):
    """A port whose errors are raised before any request: the one-argument g4f ones."""

    url = "https://gamma.invalid"
    working = True
    default_model = "gamma"
    models = ["gamma"]  # noqa: RUF012

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        prompt = get_last_user_message(messages)
        if prompt == "named":
            raise CoreRateLimitError("someone", "already named")
        if prompt == "late":
            yield "some text "
        raise RateLimitError("too many requests", retry_after=3)


async def test_one_argument_errors_get_the_name_the_call_selected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_scan(self: object) -> list[Any]:
        raise AssertionError("a call must not scan the registry to name its errors")

    with registered("gamma-port", Gamma):
        monkeypatch.setattr(aichats_core._registry.ProviderRegistry, "list", no_scan)
        with pytest.raises(CoreRateLimitError) as caught:
            await events("Gamma_Port", "busy")  # the registered spelling, not the one asked
        assert caught.value.provider == "gamma-port"
        assert str(caught.value) == "gamma-port: HTTP 429: too many requests (retry after 3s)"
        assert caught.value.retry_after == 3
        with pytest.raises(CoreRateLimitError) as late:  # after text, too
            await events("gamma-port", "late")
        assert late.value.provider == "gamma-port"
    with pytest.raises(CoreRateLimitError) as unregistered:
        await events(Gamma, "busy")  # by class: the class name
    assert unregistered.value.provider == "Gamma"
    with pytest.raises(CoreRateLimitError) as named:
        await events(Gamma, "named")
    assert str(named.value) == "someone: HTTP 429: already named"


async def test_a_native_providers_nameless_error_is_named_at_the_boundary() -> None:
    from aichats_core import AsyncGeneratorProvider as Native
    from aichats_core.errors import ResponseFormatError

    class Native1(Native):
        working = True
        default_model = "n"
        models = ["n"]  # noqa: RUF012

        @classmethod
        async def create_async_generator(
            cls, model: str, messages: Any, proxy: str | None = None, **kwargs: Any
        ) -> AsyncIterator[str]:
            raise ResponseFormatError("", "no answer field")
            yield ""

    with registered("native-one", Native1), pytest.raises(AllProvidersFailedError) as caught:
        await events(["native-one"], "x")
    ((name, error),) = caught.value.errors
    assert (name, error.provider, str(error)) == (
        "native-one",
        "native-one",
        "native-one: no answer field",
    )


def test_a_bad_proxy_is_the_callers_mistake() -> None:
    with pytest.raises(
        aichats_core.errors.InvalidRequestError, match=r"^g4f get_connector: the proxy"
    ):
        get_connector(proxy="ftp://127.0.0.1:1")


def test_helpers_read_messages_as_g4f_does() -> None:
    from aichats_core.compat.g4f import ImageResponse, Reasoning, get_last_user_message, to_string

    user = [{"role": "user", "content": " a "}, {"role": "user", "content": "b"}]
    assert get_last_user_message(user) == "a\nb"  # the last run of user turns, stripped
    assert get_last_user_message([*user, {"role": "assistant", "content": "c"}]) == "a\nb"
    assert get_last_user_message([{"role": "system", "content": "s"}]) == ""
    assert (
        to_string([{"text": "hi"}, {"type": "image_url", "image_url": {}}, " there"]) == "hi there"
    )
    image = ImageResponse(urls=["http://127.0.0.1/a.png", 3], alt="a")  # type: ignore[list-item]
    assert (image.urls, image.images, image.get_list()) == (
        ["http://127.0.0.1/a.png", 3],
        ["http://127.0.0.1/a.png", 3],
        ["http://127.0.0.1/a.png"],
    )
    assert ImageResponse(images="http://127.0.0.1/b.png").get_list() == ["http://127.0.0.1/b.png"]
    thought = Reasoning("t", label="thinking", is_thinking="<think>")
    assert (thought.token, thought.label, thought.is_thinking) == ("t", "thinking", "<think>")
