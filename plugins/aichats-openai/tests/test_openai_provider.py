"""aichats-openai's own tests, against a fake OpenAI-compatible service on a loopback socket.

They use the installed plugin, by name, as an application would. Run them where the
distribution is installed (``pip install plugins/aichats-openai``, or the aichats suite's
``tests/plugins/test_openai_plugin.py``, which installs it in a temporary directory and runs
this directory there).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import traceback
from itertools import accumulate
from typing import Any

import aichats_core
import pytest
from aichats_core import Client, Finish, TextChunk, Usage
from aichats_core.errors import (
    InvalidOptionError,
    InvalidRequestError,
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderTimeoutError,
    RateLimitError,
    ResponseFormatError,
    StreamInterruptedError,
)
from fake_openai import DEFAULT_TEXT, FakeOpenAI, Reply, chunk, openai_error, words

from aichats_openai import OpenAICompatible
from aichats_openai._options import Settings

KEY = "sk-test-0123456789abcdef"
HISTORY = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name a colour."},
    {"role": "assistant", "content": "Blue."},
    {"role": "user", "content": "Another one?"},
]


async def events(fake: FakeOpenAI, messages: Any = "Hi", **options: Any) -> list[object]:
    """Every event of one call through the unified stream, ``Finish`` included."""
    options.setdefault("base_url", fake.url)
    options.setdefault("model", "fake-model")
    return [event async for event in aichats_core.stream("openai", messages, **options)]


async def collect(fake: FakeOpenAI, into: list[object], **options: Any) -> None:
    """Like ``events``, into a list the test can look at after an error."""
    options.setdefault("base_url", fake.url)
    options.setdefault("model", "fake-model")
    async for event in aichats_core.stream("openai", "Hi", **options):
        into.append(event)


def texts(items: list[object]) -> list[str]:
    return [item.text for item in items if isinstance(item, TextChunk)]


# -- discovery ---------------------------------------------------------------------------------


def test_installed_plugin_is_discovered_by_its_entry_point() -> None:
    infos = {info.name: info for info in aichats_core.list_providers()}
    assert infos["openai"].distribution == "aichats-openai"
    assert infos["openai"].target == "aichats_openai:OpenAICompatible"
    assert not infos["openai"].broken
    assert aichats_core.get_provider("OpenAI") is OpenAICompatible


def test_importing_the_plugin_stays_light() -> None:
    """``aichats providers`` imports plugins for their details: no HTTP stack until a request.
    pydantic comes with the declared ``Options`` (the core checks them when a provider loads)."""
    code = (
        "import sys, aichats_core, aichats_openai; aichats_core.get_provider('openai');"
        " print(sorted({'aiohttp', 'aichats_core.http'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_class_describes_an_open_ended_provider() -> None:
    assert OpenAICompatible.url == "https://api.openai.com/v1"
    assert OpenAICompatible.working is True
    assert OpenAICompatible.supports_stream is True
    assert OpenAICompatible.supports_message_history is True
    assert OpenAICompatible.default_model == ""
    assert OpenAICompatible.models == []
    assert OpenAICompatible.image_models[0] == "gpt-image-1"  # aichats image -p openai
    assert OpenAICompatible.capabilities == {
        "tools",
        "json_output",
        "image_input",
        "max_tokens",
        "stop",
    }
    assert OpenAICompatible.get_model("any/model-id:latest") == "any/model-id:latest"


# -- models ------------------------------------------------------------------------------------


async def test_list_models_returns_the_endpoints_ids_in_order(fake: FakeOpenAI) -> None:
    fake.models = ["b-model", "a-model", "c-model"]
    assert await OpenAICompatible.list_models(fake.url, api_key=KEY) == [
        "b-model",
        "a-model",
        "c-model",
    ]
    assert fake.requests[-1].path == "/v1/models"
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {KEY}"


async def test_list_models_reads_the_environment(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert await OpenAICompatible.list_models() == ["fake-model", "fake-model-mini"]
    assert fake.requests[-1].headers["Authorization"] == f"Bearer {KEY}"


async def test_without_a_model_the_first_listed_is_used_and_remembered(fake: FakeOpenAI) -> None:
    for _ in range(3):
        assert await aichats_core.complete("openai", "Hi", base_url=fake.url) == DEFAULT_TEXT
    assert [request.path for request in fake.requests] == [
        "/v1/models",
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/chat/completions",
    ]
    assert {request.json["model"] for request in fake.chat_requests} == {"fake-model"}

    OpenAICompatible.forget_models()
    fake.models = ["other-model"]
    await aichats_core.complete("openai", "Hi", base_url=fake.url)
    assert fake.requests[-2].path == "/v1/models"
    assert fake.chat_requests[-1].json["model"] == "other-model"


async def test_an_empty_model_list_is_a_clear_error(fake: FakeOpenAI) -> None:
    fake.models = []
    with pytest.raises(InvalidRequestError, match=r"lists none; pass model="):
        await aichats_core.complete("openai", "Hi", base_url=fake.url)
    assert fake.chat_requests == []


async def test_a_model_list_of_another_shape_is_a_format_error(fake: FakeOpenAI) -> None:
    fake.models_status = 404
    with pytest.raises(ProviderHTTPError) as caught:
        await OpenAICompatible.list_models(fake.url)
    assert caught.value.status == 404
    assert "usually live under /v1" in str(caught.value)


async def test_any_model_id_is_sent_verbatim_without_listing(fake: FakeOpenAI) -> None:
    await aichats_core.complete("openai", "Hi", base_url=fake.url, model="org/some-model:q4")
    assert [request.path for request in fake.requests] == ["/v1/chat/completions"]
    assert fake.chat_requests[0].json["model"] == "org/some-model:q4"


# -- the request -------------------------------------------------------------------------------


async def test_messages_keep_their_roles_and_the_request_streams(fake: FakeOpenAI) -> None:
    await events(fake, HISTORY, api_key=KEY)
    request = fake.chat_requests[0]
    assert request.json == {
        "model": "fake-model",
        "messages": HISTORY,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["Content-Type"].startswith("application/json")


async def test_the_api_key_comes_from_the_environment_and_empty_sends_none(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    await events(fake)
    await events(fake, api_key="")
    first, second = fake.chat_requests
    assert first.headers["Authorization"] == f"Bearer {KEY}"
    assert "Authorization" not in second.headers


async def test_extra_body_is_merged_and_none_removes_a_field(fake: FakeOpenAI) -> None:
    await events(fake, extra_body={"temperature": 0.2, "max_tokens": 5, "stream_options": None})
    body = fake.chat_requests[0].json
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 5
    assert "stream_options" not in body


async def test_extra_headers_are_sent_and_may_replace_the_defaults(fake: FakeOpenAI) -> None:
    await events(
        fake, api_key=KEY, extra_headers={"authorization": "Bearer other", "X-Title": "tests"}
    )
    headers = fake.chat_requests[0].headers
    assert headers["Authorization"] == "Bearer other"
    assert headers["X-Title"] == "tests"


# -- the answer --------------------------------------------------------------------------------


async def test_text_streams_as_it_arrives_then_usage_then_finish(fake: FakeOpenAI) -> None:
    received = await events(fake)
    chunks = texts(received)
    # The fake writes each delta apart: they arrive in several reads, never buffered into one
    # (a busy loop may join neighbours that arrived together, so the test does not count them).
    assert len(chunks) > 1
    assert "".join(chunks) == DEFAULT_TEXT
    boundaries = set(accumulate(len(word) for word in words(DEFAULT_TEXT)))
    assert set(accumulate(len(piece) for piece in chunks)) <= boundaries
    assert received[-2:] == [
        Usage(prompt_tokens=9, completion_tokens=6),
        Finish(provider="openai", model="fake-model", options=["base_url"]),
    ]


async def test_the_deltas_of_one_network_read_are_one_text_chunk(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(one_write=True))
    received = await events(fake)
    assert texts(received) == [DEFAULT_TEXT]


async def test_complete_and_a_shared_client(fake: FakeOpenAI) -> None:
    async with Client(base_url=fake.url, timeout=10) as client:
        for _ in range(3):
            assert await client.complete("openai", "Hi", model="fake-model") == DEFAULT_TEXT


async def test_a_finish_reason_without_done_is_a_complete_answer(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(done=False))
    assert "".join(texts(await events(fake))) == DEFAULT_TEXT


async def test_done_without_a_finish_reason_is_a_complete_answer(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(finish_reason=None, usage=None))
    received = await events(fake)
    assert "".join(texts(received)) == DEFAULT_TEXT
    assert not any(isinstance(event, Usage) for event in received)


async def test_only_the_first_choice_is_streamed(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(pieces=["one"], raw_events=[chunk({"content": "two"}, index=1)]))
    assert texts(await events(fake, extra_body={"n": 2})) == ["one"]


async def test_a_service_that_does_not_stream_still_answers(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(text="All at once.", json_answer=True))
    received = await events(fake)
    assert texts(received) == ["All at once."]
    assert Usage(prompt_tokens=3, completion_tokens=2) in received


# -- errors ------------------------------------------------------------------------------------


async def test_401_is_an_http_error_with_the_services_message_and_no_key(
    fake: FakeOpenAI,
) -> None:
    fake.api_key = KEY
    wrong = "sk-wrong-9876543210fedcba"
    with pytest.raises(ProviderHTTPError) as caught:
        await aichats_core.complete("openai", "Hi", base_url=fake.url, model="m", api_key=wrong)
    error = caught.value
    assert error.status == 401
    assert error.provider == "openai"  # the registered name, not the class
    assert str(error).startswith("openai: HTTP 401 from http://127.0.0.1:")
    assert "Incorrect API key provided: ***. You can find your API key" in str(error)
    assert str(error).endswith("(invalid_api_key)")
    for text in (str(error), repr(error), error.body, error.detail):
        assert wrong not in text


async def test_429_is_a_rate_limit_with_retry_after(fake: FakeOpenAI) -> None:
    fake.enqueue(
        Reply(
            status=429,
            headers={"Retry-After": "2"},
            error=openai_error(
                "Rate limit reached for requests", "requests", "rate_limit_exceeded"
            ),
        )
    )
    with pytest.raises(RateLimitError) as caught:
        await events(fake)
    assert caught.value.retry_after == 2.0
    assert caught.value.body == "Rate limit reached for requests (rate_limit_exceeded)"
    assert str(caught.value).endswith("(retry after 2s)")


async def test_a_long_error_body_still_reads_well(fake: FakeOpenAI) -> None:
    message = "This model's maximum context length is 8192 tokens. " * 10
    fake.enqueue(Reply(status=400, error=openai_error(message, "invalid_request_error")))
    with pytest.raises(ProviderHTTPError) as caught:
        await events(fake)
    assert caught.value.status == 400
    assert caught.value.body.startswith("This model's maximum context length is 8192 tokens.")
    assert caught.value.body.endswith("...")
    assert '{"error"' not in caught.value.body


async def test_an_error_body_that_is_not_json_is_kept(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=502, body="upstream exploded"))
    with pytest.raises(ProviderHTTPError) as caught:
        await events(fake)
    assert (caught.value.status, caught.value.body) == (502, "upstream exploded")


async def test_a_base_url_without_v1_gets_a_hint(fake: FakeOpenAI) -> None:
    with pytest.raises(ProviderHTTPError) as caught:
        await events(fake, base_url=fake.url.removesuffix("/v1"))
    assert caught.value.status == 404
    assert "is base_url the API root? OpenAI-compatible APIs usually live under /v1" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("error", "expected", "status"),
    [
        (openai_error("Slow down", "requests", "rate_limit_exceeded"), RateLimitError, 429),
        (openai_error("The server had an error", "server_error"), ProviderHTTPError, 500),
        ({"message": "bad input", "code": 400}, ProviderHTTPError, 400),
        ({"message": "who knows"}, ProviderHTTPError, 500),
        ("a bare string", ProviderHTTPError, 500),
    ],
)
async def test_an_error_event_before_any_text_is_a_typed_http_error(
    fake: FakeOpenAI, error: Any, expected: type[ProviderHTTPError], status: int
) -> None:
    fake.enqueue(Reply(error=error, error_after=0))
    received: list[object] = []
    with pytest.raises(expected) as caught:
        await collect(fake, received)
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert "(in the event stream)" in str(caught.value)
    assert texts(received) == []  # never yielded as text


@pytest.mark.parametrize(("retry_after", "expected"), [(3, 3.0), ("1.5", 1.5), ("soon", None)])
async def test_an_in_band_rate_limit_reads_retry_after_as_the_header_would_be(
    fake: FakeOpenAI, retry_after: object, expected: float | None
) -> None:
    error = openai_error("Slow down", "requests", "rate_limit_exceeded")
    error["retry_after"] = retry_after
    fake.enqueue(Reply(error=error))
    with pytest.raises(RateLimitError) as caught:
        await events(fake)
    assert caught.value.retry_after == expected


async def test_an_error_event_after_some_text_interrupts_with_the_partial_text(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(Reply(error=openai_error("overloaded", "server_error"), error_after=2))
    received: list[object] = []
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(fake, received)
    first_two = "".join(words(DEFAULT_TEXT)[:2])
    assert "".join(texts(received)) == first_two
    assert caught.value.partial_text == first_two
    assert "overloaded (server_error)" in str(caught.value)
    cause = caught.value.__cause__
    assert isinstance(cause, ProviderHTTPError)
    assert cause.status == 500


async def test_the_text_of_a_read_is_delivered_before_an_error_in_it(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(one_write=True, error=openai_error("boom", "server_error"), error_after=3))
    received: list[object] = []
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(fake, received)
    assert texts(received) == ["".join(words(DEFAULT_TEXT)[:3])]
    assert caught.value.partial_text == texts(received)[0]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"object": "something.else"}', "without a 'choices' list"),
        ('{"choices": [{"index": 0, "delta": {"content": 5}}]}', "delta.content is not a string"),
    ],
)
async def test_a_malformed_chunk_is_a_format_error(fake: FakeOpenAI, raw: str, match: str) -> None:
    fake.enqueue(Reply(raw_events=[raw]))
    with pytest.raises(ResponseFormatError, match=match):
        await events(fake)


async def test_a_cut_connection_is_an_interruption_with_the_partial_text(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(Reply(cut_after=2))
    received: list[object] = []
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(fake, received)
    assert caught.value.partial_text == "".join(words(DEFAULT_TEXT)[:2])
    assert caught.value.partial_text == "".join(texts(received))


async def test_a_body_that_ends_early_is_an_interruption_with_the_partial_text(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(Reply(end_after=3))
    with pytest.raises(
        StreamInterruptedError, match=r"without its end marker \(data: \[DONE\]\)"
    ) as caught:
        await events(fake)
    assert caught.value.partial_text == "".join(words(DEFAULT_TEXT)[:3])


async def test_a_stream_that_stalls_times_out_with_the_partial_text(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(stall_after=2, stall_for=1.0))
    received: list[object] = []
    with pytest.raises(ProviderTimeoutError, match=r"after 0\.2s"):
        await collect(fake, received, timeout=0.2)
    assert "".join(texts(received)) == "".join(words(DEFAULT_TEXT)[:2])


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", "Service Unavailable, try later"),
        ("text/html", "<!DOCTYPE html><html><body>Welcome to the web UI</body></html>"),
    ],
)
async def test_an_answer_that_is_neither_events_nor_json_is_a_format_error(
    fake: FakeOpenAI, content_type: str, body: str
) -> None:
    fake.enqueue(Reply(content_type=content_type, raw_body=body))
    received: list[object] = []
    with pytest.raises(ResponseFormatError) as caught:
        await collect(fake, received)
    message = str(caught.value)
    assert f"answered {content_type!r} instead of text/event-stream or application/json" in message
    assert body in message  # what the page says is usually what went wrong
    assert message.endswith("is base_url the API root (such as https://api.openai.com/v1)?")
    assert texts(received) == []


# -- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirected_chat_is_refused_and_nothing_reaches_the_target(
    fake: FakeOpenAI, other_fake: FakeOpenAI, status: int
) -> None:
    """Following it would send the conversation and the credentials (``api-key`` too, which
    aiohttp does not strip across origins) wherever the service points."""
    fake.redirect_to, fake.redirect_status = other_fake.url, status
    received: list[object] = []
    with pytest.raises(ProviderHTTPError) as caught:
        await collect(
            fake, received, api_key=KEY, extra_headers={"api-key": "azure-0123456789abcdef"}
        )
    assert type(caught.value) is ProviderHTTPError
    assert caught.value.status == status
    assert f"redirected the call to {other_fake.url}/chat/completions" in str(caught.value)
    assert caught.value.url == f"{fake.url}/chat/completions"
    assert [request.path for request in fake.requests] == ["/v1/chat/completions"]
    assert other_fake.requests == []
    assert texts(received) == []


async def test_a_redirected_model_list_is_refused_and_nothing_reaches_the_target(
    fake: FakeOpenAI, other_fake: FakeOpenAI
) -> None:
    fake.redirect_to = other_fake.url
    refused = f"redirected the call to {other_fake.url}/models"
    with pytest.raises(ProviderHTTPError, match=refused):
        await OpenAICompatible.list_models(fake.url, api_key=KEY)
    with pytest.raises(ProviderHTTPError, match=refused):
        await aichats_core.complete("openai", "Hi", base_url=fake.url, api_key=KEY)  # no model
    assert [request.path for request in fake.requests] == ["/v1/models", "/v1/models"]
    assert other_fake.requests == []


# -- secrets -----------------------------------------------------------------------------------

HEADER_SECRETS = {
    "api-key": "azure-key-0123456789abcdef",
    "X-Auth-Token": "token-0123456789abcdef",
    "Cookie": "theme=dark; session=cookie-0123456789abcdef",
}
SECRETS = (KEY, "azure-key-0123456789abcdef", "token-0123456789abcdef", "cookie-0123456789abcdef")
ECHO = " ".join(SECRETS)
"""What a service that quotes the request puts in its answers."""


def leaks(error: BaseException) -> list[str]:
    """Every text of ``error``, and of the exceptions it is chained to, that holds a secret.

    Walks ``__cause__`` and ``__context__`` recursively, a suppressed context included: a
    debugger or an error tracker shows them all, and the ``body`` of an unmasked original is
    as readable as a message.
    """
    found: list[str] = []
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        shown = [str(current), repr(current), *map(repr, current.args)]
        shown += [f"{name}={value!r}" for name, value in vars(current).items()]
        found += [
            f"{type(current).__name__}: {text}"
            for text in shown
            if any(secret in text for secret in SECRETS)
        ]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return found


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # Reworded as the service's message: a new error, the original is its __context__.
        (
            Reply(status=401, error=openai_error(f"Bad key {ECHO}", "invalid_request_error")),
            ProviderHTTPError,
        ),
        (Reply(status=404, body=f"no route; you sent {ECHO}"), ProviderHTTPError),
        (
            Reply(status=429, error=openai_error(ECHO, "requests", "rate_limit_exceeded")),
            RateLimitError,
        ),
        # Kept as they came.
        (Reply(status=500, body=f"debug: {ECHO}"), ProviderHTTPError),
        (Reply(error=openai_error(f"{ECHO} over quota", "insufficient_quota")), RateLimitError),
        (Reply(raw_events=[f"not json, but echoing {ECHO}"]), ResponseFormatError),
        (Reply(content_type="text/html", raw_body=f"<p>{ECHO}</p>"), ResponseFormatError),
        # After some text: the typed error is the __cause__ of the interruption.
        (
            Reply(error=openai_error(f"overloaded, {ECHO}", "server_error"), error_after=2),
            StreamInterruptedError,
        ),
    ],
)
async def test_no_secret_appears_anywhere_in_an_error_or_its_chain(
    fake: FakeOpenAI, reply: Reply, expected: type[Exception]
) -> None:
    fake.enqueue(reply)
    with pytest.raises(expected) as caught:
        await events(fake, api_key=KEY, extra_headers=HEADER_SECRETS)
    error = caught.value
    assert type(error) is expected
    assert leaks(error) == []
    shown = str(error) + str(error.__cause__)
    assert shown.count("***") >= len(SECRETS)
    logged = "".join(traceback.format_exception(error))
    assert not any(secret in logged for secret in SECRETS)
    # The request did carry them all: the masking kept them out, not the fake.
    sent = fake.chat_requests[-1].headers
    assert sent["Authorization"] == f"Bearer {KEY}"
    assert {name: sent[name] for name in HEADER_SECRETS} == HEADER_SECRETS


async def test_the_original_of_a_reworded_error_is_kept_and_masked(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=401, error=openai_error(f"Bad key {KEY}", "invalid_request_error")))
    with pytest.raises(ProviderHTTPError) as caught:
        await events(fake, api_key=KEY)
    assert caught.value.body == "Bad key *** (invalid_request_error)"
    original = caught.value.__context__
    assert caught.value.__suppress_context__  # a traceback shows the readable one only
    assert isinstance(original, ProviderHTTPError)
    assert original.body.startswith('{"error": {"message": "Bad key ***"')
    assert leaks(caught.value) == []


async def test_a_secret_in_a_redirect_location_is_masked(
    fake: FakeOpenAI, other_fake: FakeOpenAI
) -> None:
    fake.redirect_to = f"{other_fake.url}/{KEY}"
    with pytest.raises(ProviderHTTPError) as caught:
        await events(fake, api_key=KEY)
    assert f"redirected the call to {other_fake.url}/***/chat/completions" in str(caught.value)
    assert leaks(caught.value) == []


def test_the_secrets_are_the_key_and_the_values_of_credential_headers() -> None:
    headers = {
        **HEADER_SECRETS,
        "Authorization": "Basic dXNlcjpwYXNzd29yZA==",
        "X-Client-Secret": "s3cr3t-value",
        "OpenAI-Organization": "org-0123456789",
        "X-Title": "my application",
    }
    options = Settings(base_url="http://127.0.0.1/v1", api_key=KEY, extra_headers=headers)
    assert set(options.secrets) == {
        KEY,
        "azure-key-0123456789abcdef",
        "token-0123456789abcdef",
        "theme=dark; session=cookie-0123456789abcdef",
        "dark",  # too short to be masked, but a credential still for the model cache
        "cookie-0123456789abcdef",
        "Basic dXNlcjpwYXNzd29yZA==",
        "dXNlcjpwYXNzd29yZA==",
        "s3cr3t-value",
    }
    shown = repr(options)
    assert not any(secret in shown for secret in options.secrets)


async def test_model_lists_are_remembered_per_credential_header(fake: FakeOpenAI) -> None:
    for key in ("azure-one-0123456789", "azure-two-0123456789", "azure-one-0123456789"):
        await aichats_core.complete(
            "openai", "Hi", base_url=fake.url, api_key="", extra_headers={"api-key": key}
        )
    assert [request.path for request in fake.requests].count("/v1/models") == 2


async def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderConnectionError, match="cannot connect"):
        await aichats_core.complete(
            "openai", "Hi", base_url=f"http://127.0.0.1:{port}/v1", model="m", timeout=5
        )


# -- options -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["temprature", "temperature", "api-key"])
async def test_an_unknown_option_is_refused_at_the_call_before_any_request(
    fake: FakeOpenAI, name: str
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        aichats_core.stream("openai", "Hi", base_url=fake.url, **{name: 0.2})
    error = caught.value
    assert (error.provider, error.option) == ("openai", name)
    assert {"api_key", "base_url", "extra_body", "extra_headers", "timeout"} <= set(error.accepted)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"base_url": "ftp://127.0.0.1/v1"}, "base_url must be an http"),
        ({"base_url": "http://127.0.0.1:1/v1?x=1"}, "must not carry a query"),
        ({"base_url": "  "}, "base_url must be a URL"),
        ({"base_url": 8000}, "valid string"),
        ({"api_key": 123}, "api_key must be a string"),
        ({"extra_body": {"model": "x"}}, "extra_body may not set 'model'"),
        ({"extra_body": {"messages": []}}, "extra_body may not set 'messages'"),
        ({"extra_body": {"x": object()}}, "not JSON-serialisable"),
        ({"extra_body": {"x": float("nan")}}, "not JSON-serialisable"),
        ({"extra_body": ["temperature"]}, "valid dictionary"),
        ({"extra_headers": {"X-A": "1\r\nX-B: 2"}}, "without line breaks"),
        ({"extra_headers": {"X A": "1"}}, "invalid name"),
        ({"extra_headers": ["X-A"]}, "must be a dict"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
    ],
)
async def test_bad_option_values_are_refused_at_the_call_before_any_request(
    fake: FakeOpenAI, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(InvalidOptionError, match=match) as caught:
        aichats_core.stream("openai", "Hi", **{"base_url": fake.url, "model": "m", **options})
    assert caught.value.option == next(iter(options))
    assert fake.requests == []


@pytest.mark.parametrize(
    "options",
    [
        {"api_key": KEY + "\n"},
        {"api_key": KEY.encode()},
        {"api_key": [KEY]},
        {"extra_headers": {"api-key": KEY + "\n"}},
        {"extra_headers": {"api-key": KEY.encode()}},
        {"extra_headers": {"api-key": KEY, "X-Bad": 1}},
    ],
)
async def test_a_malformed_secret_is_refused_without_quoting_it(
    fake: FakeOpenAI, options: dict[str, Any]
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        aichats_core.stream("openai", "Hi", base_url=fake.url, **options)
    shown = "".join(traceback.format_exception(caught.value))
    assert KEY not in shown
    assert KEY[:12] not in shown
    assert fake.requests == []


def test_the_declared_options_never_show_the_secrets() -> None:
    options = OpenAICompatible.Options(api_key=KEY, extra_headers={"api-key": KEY})
    assert KEY not in repr(options)
    assert KEY not in str(options)
    assert OpenAICompatible.Options.model_config.get("extra") == "forbid"
    assert set(OpenAICompatible.Options.model_fields) == {
        "api_key",
        "base_url",
        "extra_body",
        "extra_headers",
        "image_models",
    }


async def test_the_validated_options_are_what_the_request_carries(fake: FakeOpenAI) -> None:
    await aichats_core.complete(
        "openai", "Hi", base_url=fake.url + "/ ", model="m", api_key=KEY, extra_body={"n": 1}
    )
    request = fake.chat_requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("variable", "value", "match"),
    [
        ("OPENAI_BASE_URL", "ftp://127.0.0.1/v1", r"\$OPENAI_BASE_URL: base_url must be an http"),
        ("OPENAI_API_KEY", KEY + " ", r"\$OPENAI_API_KEY: api_key contains whitespace"),
    ],
)
async def test_a_bad_environment_value_is_refused_before_any_request(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, match: str
) -> None:
    monkeypatch.setenv(variable, value)
    options = {} if variable == "OPENAI_BASE_URL" else {"base_url": fake.url}
    with pytest.raises(InvalidRequestError, match=match) as caught:
        await aichats_core.complete("openai", "Hi", model="m", **options)
    assert KEY not in str(caught.value)
    assert fake.requests == []


@pytest.mark.parametrize(
    ("options", "option"),
    [({"base_url": "ftp://x/v1"}, "base_url"), ({"api_key": 5}, "api_key")],
)
async def test_list_models_checks_its_arguments_as_a_call_does(
    fake: FakeOpenAI, options: dict[str, Any], option: str
) -> None:
    with pytest.raises(InvalidOptionError) as caught:
        await OpenAICompatible.list_models(**{"base_url": fake.url, **options})
    assert caught.value.option == option
    assert fake.requests == []


# -- hostile JSON and text in the stream -------------------------------------------------------


async def test_an_event_nested_too_deep_is_a_format_error_not_a_plugin_bug(
    fake: FakeOpenAI,
) -> None:
    fake.enqueue(Reply(pieces=["fine"], raw_events=["[" * 100_000]))
    with pytest.raises(ResponseFormatError, match="not JSON") as caught:
        await events(fake)
    assert "100 levels" in str(caught.value.__cause__)


async def test_a_surrogate_pair_split_across_events_becomes_one_character(
    fake: FakeOpenAI,
) -> None:
    # json.dumps escapes non-ASCII: each delta carries one half of the pair, as "\ud83d".
    fake.enqueue(Reply(pieces=["smile \ud83d", "\ude00!"]))
    text = "".join(texts(await events(fake)))
    assert text == "smile \U0001f600!"
    text.encode("utf-8")  # valid Unicode: no surrogate left


@pytest.mark.parametrize(
    "pieces", [["a\ud800b"], ["ok \ud83d"], ["ok", "\ude00 alone"]], ids=["inside", "end", "low"]
)
async def test_a_lone_surrogate_is_a_format_error(fake: FakeOpenAI, pieces: list[str]) -> None:
    fake.enqueue(Reply(pieces=pieces))
    with pytest.raises(ResponseFormatError, match="lone UTF-16 surrogate"):
        await events(fake)
