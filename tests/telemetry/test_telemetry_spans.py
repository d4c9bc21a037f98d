"""Calls as spans, over real sockets: a CLIENT span per call (child of the caller's span), an
INTERNAL span per attempt under it, named and attributed by the GenAI semantic conventions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from memory_spans import Traced
from openai_fake import FakeOpenAI, OpenAICompatible, Reply
from opentelemetry.trace import SpanKind, StatusCode

import aichats_core
from aichats_core import Client, RetryPolicy, Usage
from aichats_core.errors import ProviderHTTPError
from aichats_core.testing import ScriptedProvider, registered
from providers.aichats.emulator import AiChatsEmulator, Script


@pytest.fixture
def openai() -> Iterator[None]:
    with registered("openai", OpenAICompatible):
        yield


async def test_one_call_is_a_client_span_over_one_attempt_span(
    traced: Traced, emulator: AiChatsEmulator
) -> None:
    async with Client(base_url=emulator.url) as client:
        assert await client.complete("aichats", "Hi") != ""
    [call] = traced.calls()
    [attempt] = traced.attempts()
    assert (call.name, attempt.name) == ("chat gpt-4", "chat gpt-4")
    assert call.parent is None  # no span was current in the caller
    assert attempt.parent is not None
    assert attempt.parent.span_id == call.context.span_id
    assert attempt.context.trace_id == call.context.trace_id
    assert dict(call.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aichats",
        "gen_ai.request.model": "gpt-4",  # the default model, known once the attempt began
        "gen_ai.response.model": "gpt-4",
        "gen_ai.response.finish_reasons": ("stop",),
    }
    attributes = dict(attempt.attributes or {})
    ttfc = attributes.pop("gen_ai.response.time_to_first_chunk")
    assert isinstance(ttfc, float)
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aichats",
        "gen_ai.request.model": "gpt-4",
        "gen_ai.response.model": "gpt-4",
        "gen_ai.response.finish_reasons": ("stop",),
        "aichats.attempt": 0,
    }
    assert call.status.status_code is StatusCode.UNSET
    assert call.start_time is not None
    assert call.end_time is not None
    assert attempt.start_time is not None
    assert attempt.end_time is not None
    assert call.start_time <= attempt.start_time < attempt.end_time <= call.end_time
    assert 0 < ttfc * 1e9 <= attempt.end_time - attempt.start_time


async def test_usage_reported_over_the_wire_is_on_both_spans(
    traced: Traced, fake: FakeOpenAI, openai: None
) -> None:
    fake.enqueue(Reply(usage=(1200, 345)))
    async with Client(base_url=fake.url) as client:
        await client.complete("openai", "Hi", model="fake-model")
    [call] = traced.calls()
    [attempt] = traced.attempts()
    for span in (call, attempt):
        attributes = span.attributes or {}
        assert span.name == "chat fake-model"
        assert attributes["gen_ai.provider.name"] == "openai"
        assert attributes["gen_ai.usage.input_tokens"] == 1200
        assert attributes["gen_ai.usage.output_tokens"] == 345


async def test_a_retry_is_two_attempt_spans_the_first_failed(
    traced: Traced, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(status=503), Script())
    policy = RetryPolicy(retries=1, backoff=0.01)
    async with Client(base_url=emulator.url, retries=policy) as client:
        await client.complete("aichats", "Hi")
    [call] = traced.calls()
    first, second = traced.attempts()
    assert [span.attributes["aichats.attempt"] for span in (first, second)] == [0, 1]  # type: ignore[index]
    assert {span.parent.span_id for span in (first, second)} == {call.context.span_id}  # type: ignore[union-attr]
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["error.type"] == "ProviderHTTPError"  # type: ignore[index]
    assert [event.name for event in first.events] == ["exception"]
    assert "503" in str(first.events[0].attributes["exception.message"])  # type: ignore[index]
    assert second.status.status_code is StatusCode.UNSET
    assert "error.type" not in (second.attributes or {})
    assert call.status.status_code is StatusCode.UNSET  # the call answered
    [retry] = call.events
    assert retry.name == "aichats.retry"
    assert dict(retry.attributes or {}) == {
        "gen_ai.provider.name": "aichats",
        "gen_ai.request.model": "gpt-4",
        "aichats.attempt": 1,
        "aichats.retry.wait": pytest.approx(0.01, abs=0.05),
        "error.type": "ProviderHTTPError",
    }
    assert first.end_time is not None
    assert second.start_time is not None
    assert retry.timestamp == first.end_time <= second.start_time


async def test_a_chain_falls_back_in_sibling_attempts(traced: Traced) -> None:
    down = ScriptedProvider.script(fail_first=[ProviderHTTPError("Down", 503, "busy")], name="D")
    up = ScriptedProvider.script("ok", Usage(prompt_tokens=3, completion_tokens=1), name="U")
    with registered("down", down), registered("up", up):
        assert await aichats_core.complete(["down", "up"], "Hi") == "ok"
    [call] = traced.calls()
    attempts = traced.attempts()
    assert [span.attributes["gen_ai.provider.name"] for span in attempts] == ["down", "up"]  # type: ignore[index]
    assert [span.status.status_code for span in attempts] == [StatusCode.ERROR, StatusCode.UNSET]
    attributes = call.attributes or {}
    assert attributes["gen_ai.provider.name"] == "up"  # who answered
    assert attributes["aichats.providers"] == ("down", "up")
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        3,
        1,
    )
    [fallback] = call.events
    assert fallback.name == "aichats.fallback"
    assert dict(fallback.attributes or {}) == {
        "gen_ai.provider.name": "down",
        "error.type": "ProviderHTTPError",
    }


async def test_a_failed_call_is_an_error_span_without_the_credentials_it_quotes(
    traced: Traced,
) -> None:
    secret = "sk-abcdefghijklmnopqrstuvwxyz123456"
    refusal = ProviderHTTPError("Down", 401, f"Incorrect API key provided: {secret}")
    assert secret in str(refusal)  # what a span must not carry
    failing = ScriptedProvider.script(fail_first=[refusal], name="F")
    with registered("failing", failing), pytest.raises(ProviderHTTPError):
        await aichats_core.complete("failing", "Hi", model="scripted")
    [call] = traced.calls()
    [attempt] = traced.attempts()
    for span in (call, attempt):
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "ProviderHTTPError"
        [exception] = [event for event in span.events if event.name == "exception"]
        attributes = exception.attributes or {}
        assert attributes["exception.type"] == "aichats_core.errors.ProviderHTTPError"
        assert "401" in str(attributes["exception.message"])
        for text in (
            attributes["exception.message"],
            attributes["exception.stacktrace"],
            span.status.description,
        ):
            assert secret not in str(text)
    assert call.name == "chat scripted"
    assert "gen_ai.response.model" not in (call.attributes or {})


async def test_the_callers_current_span_is_the_parent(
    traced: Traced, emulator: AiChatsEmulator
) -> None:
    tracer = traced.provider.get_tracer("test")
    with tracer.start_as_current_span("handle request", kind=SpanKind.SERVER) as parent:
        await aichats_core.complete("aichats", "Hi", base_url=emulator.url)
    [call] = traced.calls()
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.context.trace_id == parent.get_span_context().trace_id


async def test_streams_left_early_end_their_spans(
    traced: Traced, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(text="a b c d", events=4, delay=0.01))
    async with Client(base_url=emulator.url) as client:
        events = client.stream("aichats", "Hi")
        async for _ in events:
            break
        await events.aclose()
    [call] = traced.calls()
    [attempt] = traced.attempts()
    assert call.end_time is not None
    assert attempt.end_time is not None
    assert attempt.end_time <= call.end_time
    assert "gen_ai.response.finish_reasons" not in (attempt.attributes or {})
    assert call.status.status_code is StatusCode.UNSET  # leaving is not an error
    assert "gen_ai.response.finish_reasons" not in (call.attributes or {})
