"""The rest of a port's life as a native provider: timeouts, options from its signature,
aliases, subclassed ports, g4f's OpenAI template, and the smaller helpers."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import aichats_core
from aichats_core import Finish, TextChunk
from aichats_core import Usage as CoreUsage
from aichats_core.compat.g4f import (
    AsyncGeneratorProvider,
    AsyncResult,
    ImagePreview,
    ImageResponse,
    Messages,
    ModelNotFoundError,
    OpenaiTemplate,
    ProviderModelMixin,
    Sources,
    TitleGeneration,
    Usage,
    debug,
    format_media_prompt,
    get_connector,
    is_accepted_format,
    merge_media,
    raise_for_status,
    sse_stream,
    to_bytes,
    to_data_uri,
)
from aichats_core.errors import (
    InvalidOptionError,
    InvalidRequestError,
    ModelNotSupportedError,
    RateLimitError,
    ReadTimeoutError,
    ResponseFormatError,
    StreamInterruptedError,
)
from aichats_core.options import option_fields
from aichats_core.testing import registered

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


class Service:
    """Answers ``/slow`` after a pause, ``/silent`` with a word then a pause, ``/echo`` with
    the JSON body it received, and OpenAI's ``/v1/chat/completions`` as a stream."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def slow(self, request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("pause", "5")))
        return web.Response(text="late")

    async def silent(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first ")
        await asyncio.sleep(5)
        return response

    async def echo(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        return web.json_response(self.bodies[-1])

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        prompt = body["messages"][-1]["content"]
        if prompt == "whole":
            message = {"role": "assistant", "content": "in one piece"}
            return web.json_response({"choices": [{"message": message, "finish_reason": "stop"}]})
        if prompt == "limit":
            return web.Response(status=429, text="slow down", headers={"Retry-After": "3"})
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if prompt == "error":
            await response.write(b'data: {"error": {"message": "quota exceeded"}}\n\n')
            return response
        for word in ("you ", "said ", prompt):
            chunk = {"choices": [{"delta": {"content": word}, "finish_reason": None}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        last = {
            "choices": [{"delta": {}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7},
        }
        await response.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        return response


@pytest.fixture
async def service() -> AsyncIterator[tuple[Service, str]]:
    state = Service()
    app = web.Application()
    app.router.add_get("/slow", state.slow)
    app.router.add_get("/silent", state.silent)
    app.router.add_post("/echo", state.echo)
    app.router.add_post("/v1/chat/completions", state.completions)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield state, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def collect(*args: Any, **kwargs: Any) -> list[Any]:
    return [event async for event in aichats_core.stream(*args, **kwargs)]


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextChunk))


# -- timeout -----------------------------------------------------------------------------------


class Unbounded(AsyncGeneratorProvider):
    """Takes no ``timeout``: its own session waits as long as the service does."""

    url = "https://unbounded.invalid"
    default_model = "u"

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        path = messages[-1]["content"]
        async with aiohttp.ClientSession() as session, session.get(cls.url + path) as response:
            await raise_for_status(response)
            async for chunk in response.content.iter_any():
                yield chunk.decode()


async def test_timeout_bounds_a_port_that_does_not_take_it(service: tuple[Service, str]) -> None:
    _, url = service
    with registered("unbounded", Unbounded):
        started = asyncio.get_running_loop().time()
        with pytest.raises(ReadTimeoutError) as caught:
            await collect("unbounded", "/slow", base_url=url, timeout=0.3)
        assert asyncio.get_running_loop().time() - started < 2
        assert caught.value.provider == "unbounded"
        assert "waiting for the service to answer after 0.3s" in str(caught.value)
        with pytest.raises(ReadTimeoutError, match="the next bytes of the answer"):
            await collect("unbounded", "/silent", base_url=url, timeout=0.3)
        got = await collect("unbounded", "/slow?pause=0.05", base_url=url, timeout=2)
        assert text_of(got) == "late"  # a timeout that is not reached changes nothing


class Bounded(AsyncGeneratorProvider):
    """Takes ``timeout`` and ``stream``, and no ``**kwargs``: it says what it takes."""

    url = "https://bounded.invalid"
    default_model = "b"
    seen: list[tuple[float, bool]] = []  # noqa: RUF012

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, timeout: float = 120, stream: bool = False
    ) -> AsyncResult:
        cls.seen.append((timeout, stream))
        yield "ok"


async def test_timeout_and_stream_reach_a_port_that_names_them() -> None:
    with registered("bounded", Bounded):
        assert text_of(await collect("bounded", "hi", timeout=7)) == "ok"
        assert text_of(await collect("bounded", "hi")) == "ok"
        with pytest.raises(InvalidOptionError):  # it takes no **kwargs, and names no such option
            aichats_core.stream("bounded", "hi", temperature=1)
    assert Bounded.seen == [(7, True), (120, True)]


# -- options from the signature ----------------------------------------------------------------


class Keyed(AsyncGeneratorProvider, ProviderModelMixin):
    url = "https://keyed.invalid"
    default_model = "k"
    models = ["k"]  # noqa: RUF012

    @classmethod
    async def create_async_generator(
        cls,
        model: str,
        messages: Messages,
        proxy: str | None = None,
        api_key: str | None = None,
        temperature: float = 0.5,
        conversation: object = None,
        **kwargs: Any,
    ) -> AsyncResult:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                cls.url + "/echo", json={"api_key": api_key, "temperature": temperature}
            ) as response,
        ):
            await raise_for_status(response)
            yield await response.text()
        yield Usage(prompt_tokens=2, completion_tokens=1, total_tokens=3)


async def test_the_options_of_a_port_are_the_parameters_it_names(
    service: tuple[Service, str],
) -> None:
    state, url = service
    with registered("keyed", Keyed):
        got = await collect("keyed", "hi", base_url=url, api_key="sk-1", temperature=0.1)
        assert state.bodies == [{"api_key": "sk-1", "temperature": 0.1}]
        assert got[-2] == CoreUsage(prompt_tokens=2, completion_tokens=1)
        assert got[-1] == Finish(
            provider="keyed", model="k", options=("api_key", "base_url", "temperature")
        )
        with pytest.raises(InvalidOptionError, match="api_kye"):
            aichats_core.stream("keyed", "hi", api_kye="sk-1")
        with pytest.raises(InvalidOptionError, match="conversation"):  # none could come back
            aichats_core.stream("keyed", "hi", conversation={"id": 1})
    names = {field.name for field in option_fields(Keyed)}
    assert {"api_key", "temperature", "base_url"} <= names


# -- models ------------------------------------------------------------------------------------


class Aliased(AsyncGeneratorProvider, ProviderModelMixin):
    """Aliases as g4f ports write them: to names the service uses, outside ``models``."""

    url = "https://aliased.invalid"
    default_model = "gpt-4o"
    models = ["gpt-4o", "llama"]  # noqa: RUF012
    model_aliases = {"gpt-4o": "openai/gpt-4o-2024", "llama": ["llama-a", "llama-b"]}  # noqa: RUF012

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        yield cls.get_model(model)  # ports resolve again: the resolved name must pass


async def test_aliases_whose_targets_are_not_models() -> None:
    with registered("aliased", Aliased):
        assert text_of(await collect("aliased", "hi", model="gpt-4o")) == "openai/gpt-4o-2024"
        assert text_of(await collect("aliased", "hi")) == "openai/gpt-4o-2024"
        assert text_of(await collect("aliased", "hi", model="llama")) in {"llama-a", "llama-b"}
        assert text_of(await collect("aliased", "hi", model="llama-b")) == "llama-b"
        with pytest.raises(ModelNotSupportedError) as caught:
            aichats_core.stream("aliased", "hi", model="gpt-5")
    assert (caught.value.provider, caught.value.model) == ("aliased", "gpt-5")
    assert caught.value.models == ["gpt-4o", "llama"]
    with pytest.raises(ModelNotFoundError):  # g4f's name, for ports that catch it
        Aliased.get_model("gpt-5")


# -- subclassed ports --------------------------------------------------------------------------


class Parent(AsyncGeneratorProvider):
    url = "https://parent.invalid"
    api_endpoint = "https://api.parent.invalid/echo"
    default_model = "p"

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        messages.append({"role": "user", "content": "parent was here"})
        async with (
            aiohttp.ClientSession() as session,
            session.post(cls.api_endpoint, json={"who": cls.__name__, "n": len(messages)}) as r,
        ):
            await raise_for_status(r)
            yield await r.text()
        yield TitleGeneration("a title")


class Renamed(Parent):
    """Changes attributes only: inherits the wrapped generator."""

    api_endpoint = "https://api.renamed.invalid/echo"


class Delegating(Parent):
    """Wraps the parent's answer in its own async generator."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        yield "<"
        async for item in super().create_async_generator(model, messages, proxy, **kwargs):
            yield item
        yield ">"


class Forwarding(Parent):
    """A plain classmethod returning the parent's generator, as some g4f ports are written."""

    @classmethod
    def create_async_generator(  # type: ignore[override]
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        return super().create_async_generator(model, messages, **kwargs)


@pytest.mark.parametrize("port", [Renamed, Delegating, Forwarding])
async def test_subclassed_ports(service: tuple[Service, str], port: type[Parent]) -> None:
    state, url = service
    with registered("sub", port):
        got = await collect("sub", "hi", base_url=url)
        got = await collect("sub", "hi", base_url=url)  # twice: nothing leaks between calls
    text = text_of(got)
    assert json.loads(text.strip("<>")) == {"who": port.__name__, "n": 2}  # 1 + the one it added
    assert text.startswith("<") == (port is Delegating)
    assert got[-1].provider == "sub"
    assert len(state.bodies) == 2


# -- base_url ----------------------------------------------------------------------------------


class ManyURLs(AsyncGeneratorProvider):
    url = "https://many.invalid"
    api_base = "https://api.many.invalid/v1"
    login_url = "https://auth.many.invalid/login?next=chat#top"
    conversation_endpoint = "/conversation"  # relative: stays as it is
    default_model = "m"

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        yield " ".join((cls.url, cls.api_base, cls.login_url, cls.conversation_endpoint))


async def test_base_url_rebases_every_absolute_url_attribute() -> None:
    with registered("many", ManyURLs):
        got = await collect("many", "hi", base_url="http://127.0.0.1:9/x/")
    assert text_of(got).split() == [
        "http://127.0.0.1:9/x",
        "http://127.0.0.1:9/x/v1",
        "http://127.0.0.1:9/x/login?next=chat#top",
        "/conversation",
    ]
    assert ManyURLs.api_base == "https://api.many.invalid/v1"


# -- g4f's OpenAI template ---------------------------------------------------------------------


class Compatible(OpenaiTemplate):
    url = "https://compatible.invalid"
    api_base = "https://api.compatible.invalid/v1"
    working = True
    default_model = "small"
    models = ["small"]  # noqa: RUF012


async def test_openai_template_streams_text_usage_and_sends_the_key(
    service: tuple[Service, str],
) -> None:
    state, url = service
    with registered("compatible", Compatible):
        history = [{"role": "system", "content": "brief"}, {"role": "user", "content": "hi"}]
        got = await collect("compatible", history, base_url=url, api_key="sk-t", max_tokens=5)
    assert text_of(got) == "you said hi"
    assert CoreUsage(prompt_tokens=4, completion_tokens=3) in got
    assert got[-1].provider == "compatible"
    assert state.bodies[0] == {
        "model": "small",
        "messages": history,
        "stream": True,
        "max_tokens": 5,
    }
    assert state.headers[0]["Authorization"] == "Bearer sk-t"
    with registered("compatible", Compatible):
        assert text_of(await collect("compatible", "whole", base_url=url)) == "in one piece"


async def test_openai_template_errors(service: tuple[Service, str]) -> None:
    _, url = service
    with registered("compatible", Compatible):
        with pytest.raises(RateLimitError) as limited:
            await collect("compatible", "limit", base_url=url)
        with pytest.raises(ResponseFormatError, match="quota exceeded") as failed:
            await collect("compatible", "error", base_url=url)
    assert (limited.value.provider, limited.value.retry_after) == ("compatible", 3)
    assert failed.value.provider == "compatible"


# -- helpers -----------------------------------------------------------------------------------


async def test_sse_stream_yields_json_until_done(service: tuple[Service, str]) -> None:
    _, url = service
    body = {"messages": [{"role": "user", "content": "x"}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/chat/completions", json=body) as response,
    ):
        chunks = [chunk async for chunk in sse_stream(response)]
    assert [c["choices"][0]["delta"].get("content") for c in chunks] == [
        "you ",
        "said ",
        "x",
        None,
    ]


def test_media_helpers() -> None:
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert is_accepted_format(PNG) == "image/png"
    assert to_bytes(uri) == PNG
    assert to_data_uri(PNG) == uri
    assert to_data_uri(uri) is uri
    with pytest.raises(InvalidRequestError):
        is_accepted_format(b"not an image")
    with pytest.raises(ValueError, match="not int"):  # g4f's ports catch ValueError
        to_bytes(42)
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": uri}}]},
        {"role": "assistant", "content": "seen"},
    ]
    assert list(merge_media([(PNG, "a.png"), PNG], messages)) == [
        (PNG, "a.png"),
        (PNG, None),
        (uri, None),
    ]
    assert format_media_prompt([{"role": "user", "content": " draw "}]) == "draw"
    assert format_media_prompt([], "given") == "given"


def test_previews_sources_and_titles_are_dropped_final_images_kept() -> None:
    from aichats_core.compat._g4f_responses import to_event

    assert to_event(ImagePreview("https://x.invalid/p.png", "preview")) is None
    assert to_event(Sources([{"url": "https://x.invalid"}])) is None
    assert to_event(TitleGeneration("t")) is None
    assert to_event(ImageResponse(["https://x.invalid/f.png"], "final")) == (
        aichats_core.ImageResponse(images=["https://x.invalid/f.png"], alt="final")
    )


def test_debug_logs_through_logging(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aichats.compat.g4f"):
        debug.log("fetching", 3)
        debug.error(ValueError("bad chunk"), name="Port")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "fetching 3"),
        ("WARNING", "Port ValueError: bad chunk"),
    ]
    assert debug.logging is False


def test_a_socks_proxy_without_aiohttp_socks_says_what_to_install() -> None:
    pytest.importorskip("aiohttp")
    with pytest.raises(InvalidRequestError, match="pip install aiohttp_socks"):
        get_connector(proxy="socks5://127.0.0.1:1080")


async def test_proxy_credentials_reach_the_proxy(service: tuple[Service, str]) -> None:
    seen: list[str | None] = []

    async def forward(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Proxy-Authorization"))
        return web.Response(text="via proxy")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    proxy = TestServer(app, host="127.0.0.1")
    await proxy.start_server()
    address = str(proxy.make_url("")).replace("http://", "http://user:pa%40ss@")
    try:
        async with (
            aiohttp.ClientSession(connector=get_connector(proxy=address)) as session,
            session.get("http://127.0.0.1:9/anything") as response,
        ):
            assert await response.text() == "via proxy"
    finally:
        await proxy.close()
    assert seen == ["Basic " + base64.b64encode(b"user:pa@ss").decode()]


def test_a_port_without_a_generator_is_refused_at_registration() -> None:
    class Empty(AsyncGeneratorProvider):
        url = "https://empty.invalid"

    with pytest.raises(aichats_core.errors.PluginLoadError, match="create_async_generator"):
        aichats_core.register_provider("empty", Empty)


# -- what the review found ---------------------------------------------------------------------


class Steady(AsyncGeneratorProvider):
    """Takes ``timeout`` and, as g4f ports do, bounds the whole answer with it."""

    url = "https://steady.invalid"
    default_model = "s"

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, timeout: float = 120, **kwargs: Any
    ) -> AsyncResult:
        async with asyncio.timeout(timeout):  # the port's own bound on the whole answer
            for word in ("a ", "b ", "c ", "d "):
                yield word
                await asyncio.sleep(0.15)


async def test_a_ports_own_timeout_after_text_is_an_interruption_with_the_text() -> None:
    with registered("steady", Steady):
        with pytest.raises(StreamInterruptedError, match="port's own timeout") as caught:
            await collect("steady", "hi", timeout=0.4)  # no silence is longer than 0.15 s
        assert text_of(await collect("steady", "hi", timeout=5)) == "a b c d "
    assert caught.value.partial_text.startswith("a b ")
    assert caught.value.provider == "steady"


async def test_without_a_timeout_the_cores_default_bounds_each_silence(
    service: tuple[Service, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = service
    monkeypatch.setattr("aichats_core.compat._g4f_base._default_timeout", lambda: 0.3)
    with (
        registered("unbounded", Unbounded),
        pytest.raises(ReadTimeoutError, match="give a longer 'timeout' option"),
    ):
        await collect("unbounded", "/slow", base_url=url)


class Picky(AsyncGeneratorProvider, ProviderModelMixin):
    url = "https://picky.invalid"
    default_model = "a"
    models = ["a", "b"]  # noqa: RUF012

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, **kwargs: Any
    ) -> AsyncResult:
        if model == "b":
            raise ModelNotFoundError("Model b is not available right now")
        yield "ok"
        if False:  # pragma: no cover - makes this an async generator above the raise
            yield ""


async def test_a_model_error_raised_in_the_generator_is_named() -> None:
    with registered("picky", Picky), pytest.raises(ModelNotSupportedError) as caught:
        await collect("picky", "hi", model="b")
    assert caught.value.provider == "picky"
    assert caught.value.models == ["a", "b"]
    assert str(caught.value) == "picky: Model b is not available right now"


class Rewritten(Keyed):
    """Re-implements the generator without ``**kwargs``: its parent's options are not its."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, seed: int = 1
    ) -> AsyncResult:
        yield f"seed {seed}"


async def test_a_subclass_without_kwargs_does_not_inherit_its_parents_options() -> None:
    with registered("rewritten", Rewritten):
        assert text_of(await collect("rewritten", "hi", seed=2)) == "seed 2"
        with pytest.raises(InvalidOptionError, match="api_key"):
            aichats_core.stream("rewritten", "hi", api_key="k")


class Inspecting(Parent):
    """Delegates to its parent and checks the items as a g4f subclass does."""

    @classmethod
    async def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncResult:
        async for item in super().create_async_generator(model, messages, proxy, **kwargs):
            if isinstance(item, TitleGeneration):
                yield f"[title: {item.title}]"
            else:
                yield item


async def test_a_delegating_subclass_sees_g4fs_items(service: tuple[Service, str]) -> None:
    _, url = service
    with registered("inspecting", Inspecting):
        got = await collect("inspecting", "hi", base_url=url)
    assert text_of(got).endswith("[title: a title]")


async def test_simple_annotations_type_the_options(service: tuple[Service, str]) -> None:
    state, url = service
    with registered("keyed", Keyed):
        await collect("keyed", "hi", base_url=url, api_key=123456)  # as -o reads digits
        with pytest.raises(InvalidOptionError, match="temperature"):
            aichats_core.stream("keyed", "hi", temperature="warm")
    assert state.bodies[0]["api_key"] == "123456"


class Locked(OpenaiTemplate):
    url = "https://locked.invalid"
    api_base = "https://api.locked.invalid/v1"
    needs_auth = True
    default_model = "m"


async def test_openai_template_needing_a_key_says_so_before_sending(
    service: tuple[Service, str],
) -> None:
    state, url = service
    with (
        registered("locked", Locked),
        pytest.raises(aichats_core.errors.ProviderError, match="api_key option") as caught,
    ):
        await collect("locked", "hi", base_url=url)
    assert caught.value.provider == "locked"
    assert state.bodies == []


def test_an_image_answer_without_a_usable_url_is_an_error() -> None:
    from aichats_core.compat._g4f_responses import to_event

    with pytest.raises(ResponseFormatError, match="no http"):
        to_event(ImageResponse("/images/relative.png"))
    with pytest.raises(ResponseFormatError, match="no http"):
        to_event(ImageResponse([]))
