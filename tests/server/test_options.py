"""Provider options as text, the gunicorn factory, and what importing the server costs."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestServer
from openai import AsyncOpenAI

import aichats_core.server
from aichats_core.errors import (
    InvalidOptionError,
    InvalidRequestError,
    PluginLoadError,
    ProviderNotFoundError,
)
from aichats_core.server import _options, create_app, gunicorn_app
from aichats_core.server._options import (
    app_options_from_environment,
    options_from_environment,
    parse_provider_option,
)
from aichats_core.server._state import STATE
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator, default_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "aichats.base_url=http://127.0.0.1:8765",
            ("aichats", "base_url", "http://127.0.0.1:8765"),
        ),
        ("aichats.timeout=2.5", ("aichats", "timeout", 2.5)),
        ("aichats.retries=3", ("aichats", "retries", 3)),
        ("aichats.allow_private_image_urls=false", ("aichats", "allow_private_image_urls", False)),
        ('aichats.cookies="a=1; b=2"', ("aichats", "cookies", "a=1; b=2")),
        ("aichats.cookies=a=1", ("aichats", "cookies", "a=1")),
        ("my.provider.key=", ("my", "provider.key", "")),
    ],
)
def test_values_are_json_when_they_parse(text: str, expected: tuple[str, str, object]) -> None:
    assert parse_provider_option(text) == expected


@pytest.mark.parametrize("text", ["aichats", "aichats.base_url", ".key=1", "aichats.=1", "k=v"])
def test_malformed_options_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequestError, match=r"PROVIDER\.KEY=VALUE"):
        parse_provider_option(text)


def test_the_environment_takes_shell_words_and_normalises_names() -> None:
    options = options_from_environment(
        {"AICHATS_SERVE_OPTIONS": "Ai-Chats.base_url=http://h:1 'aichats.cookies=a=1; b=2'"}
    )
    assert options == {"aichats": {"base_url": "http://h:1", "cookies": "a=1; b=2"}}
    assert options_from_environment({}) == {}


def test_create_app_refuses_what_cannot_work() -> None:
    with pytest.raises(ProviderNotFoundError, match="did you mean 'aichats'"):
        create_app(provider_options={"aichat": {"timeout": 1}})
    with pytest.raises(InvalidRequestError, match="retries"):
        create_app(provider_options={"aichats": {"retries": "many"}})
    with pytest.raises(InvalidRequestError, match="api_key is empty"):
        create_app(api_key="")
    with pytest.raises(InvalidRequestError, match="max_connections"):
        create_app(max_connections=-1)
    with pytest.raises(InvalidRequestError, match="session cannot be set"):
        create_app(provider_options={"aichats": {"session": "mine"}})


def test_options_are_checked_at_start_against_what_each_provider_declares() -> None:
    with pytest.raises(InvalidOptionError) as caught:
        create_app(provider_options={"aichats": {"timout": 5, "proxy": "http://p:1"}})
    assert str(caught.value).startswith(
        "provider 'aichats' has no option 'timout' (did you mean 'timeout'?); it accepts"
    )
    with pytest.raises(InvalidOptionError, match="'timeout'"):
        create_app(provider_options={"aichats": {"timeout": "soon"}})
    plain = ScriptedProvider.script("ok")  # declares nothing: only the core's options
    with registered("plain", plain), pytest.raises(InvalidOptionError, match="'colour'"):
        create_app(provider_options={"plain": {"colour": "red"}})
    app = create_app(provider_options={"aichats": {"timeout": "5", "retries": 1}})
    assert app[STATE].provider_options["aichats"] == {"timeout": 5.0, "retries": 1}  # typed


def test_a_provider_that_does_not_load_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def load() -> type:
        raise PluginLoadError("broken", distribution="d", cause="ImportError: no module 'x'")

    broken = SimpleNamespace(name="broken", load=load)
    monkeypatch.setattr(_options, "provider_info", lambda name: broken)
    with pytest.raises(PluginLoadError, match="no module 'x'"):
        create_app(provider_options={"broken": {"x": 1}})


async def test_the_upstream_connection_cap_is_the_apps(emulator: AiChatsEmulator) -> None:
    for given, limit in ((None, 0), (5, 5)):
        options = {} if given is None else {"max_connections": given}
        app = create_app(provider_options={"aichats": emulator.provider_options()}, **options)
        async with TestServer(app, host="127.0.0.1"):
            connector = app[STATE].require_client().session.connector
            assert connector is not None
            assert connector.limit == limit


def test_the_environment_configures_every_setting() -> None:
    assert app_options_from_environment(
        {
            "AICHATS_API_KEY": "k",
            "AICHATS_SERVE_OPTIONS": "aichats.timeout=5",
            "AICHATS_MAX_BODY_BYTES": "100",
            "AICHATS_MAX_CONNECTIONS": "0",
            "AICHATS_PUBLIC_URL": "https://api.example.com",
            "AICHATS_HEAD_TIMEOUT": "2.5",
            "AICHATS_BODY_TIMEOUT": "7",
            "AICHATS_MAX_CLIENTS": "50",
            "AICHATS_MAX_ANSWER_BYTES": "1000",
            "AICHATS_MAX_JSON_DEPTH": "8",
        }
    ) == {
        "provider_options": {"aichats": {"timeout": 5}},
        "api_key": "k",
        "max_body_bytes": 100,
        "max_connections": 0,
        "public_url": "https://api.example.com",
        "head_timeout": 2.5,
        "body_timeout": 7.0,
        "max_clients": 50,
        "max_answer_bytes": 1000,
        "max_json_depth": 8,
    }
    assert app_options_from_environment({"AICHATS_API_KEY": ""}) == {"provider_options": {}}
    with pytest.raises(InvalidRequestError, match="AICHATS_MAX_CONNECTIONS must be an integer"):
        app_options_from_environment({"AICHATS_MAX_CONNECTIONS": "many"})


async def test_the_gunicorn_factory_reads_the_environment(
    emulator: AiChatsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICHATS_SERVE_OPTIONS", f"aichats.base_url={emulator.url}")
    monkeypatch.setenv("AICHATS_API_KEY", "from-env")
    app = await gunicorn_app()
    async with (
        TestServer(app, host="127.0.0.1") as server,
        AsyncOpenAI(
            base_url=str(server.make_url("/v1")), api_key="from-env", max_retries=0, timeout=10
        ) as sdk,
    ):
        answer = await sdk.chat.completions.create(
            model="aichats", messages=[{"role": "user", "content": "Hi"}]
        )
    assert answer.choices[0].message.content == default_reply("Hi")


def test_the_server_package_exports_its_api_sorted() -> None:
    assert aichats_core.server.__all__ == ["create_app", "gunicorn_app", "serve"]
    for name in aichats_core.server.__all__:
        assert callable(getattr(aichats_core.server, name))


def test_parsing_the_command_line_does_not_import_the_web_server() -> None:
    code = (
        "import sys; from aichats_core.cli._parser import build_parser;"
        " build_parser().parse_args(['serve', '-o', 'aichats.timeout=5']);"
        " print(sorted(m for m in ('aiohttp', 'aiohttp.web', 'pydantic') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
