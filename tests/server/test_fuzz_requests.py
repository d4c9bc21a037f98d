"""Fuzzing the request schema: whatever a client sends, the answer is never a 5xx.

The server (pointed at the emulator) runs on its own event loop in a thread; hypothesis
drives it over real sockets with the standard library's HTTP client, one connection per
example.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichats_core.server import create_app
from providers.aichats.emulator import AiChatsEmulator

EXAMPLES = 300
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
"""Any JSON value (integers beyond 64 bits, floats, unicode, nesting)."""

roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", ""])
text_parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image_url"]), "text": st.text()}
)
contents = st.text(max_size=40) | st.lists(text_parts | json_values, max_size=3) | json_values
messages = st.lists(
    st.fixed_dictionaries({"role": roles | json_values, "content": contents})
    | st.dictionaries(st.sampled_from(["role", "content", "name", "tool_calls"]), json_values)
    | json_values,
    max_size=4,
)
models = st.sampled_from(["aichats", "aichats/gpt-4", "aichats/dalle", "nope/x", "", "/"])
CHAT_FIELDS = {
    "stream": st.booleans() | json_values,
    "stream_options": st.fixed_dictionaries({"include_usage": st.booleans() | json_values})
    | json_values,
    "temperature": st.floats(allow_nan=False) | json_values,
    "top_p": json_values,
    "max_tokens": st.integers() | json_values,
    "max_completion_tokens": json_values,
    "stop": st.text() | st.lists(st.text(), max_size=3) | json_values,
    "n": st.integers(-1, 3) | json_values,
    "tools": json_values,
    "tool_choice": st.sampled_from(["none", "auto", "required"]) | json_values,
    "response_format": st.just({"type": "text"}) | json_values,
    "logprobs": json_values,
    "modalities": json_values,
    "audio": json_values,
    "user": json_values,
    "seed": json_values,
}
chat_requests = st.fixed_dictionaries(
    {"model": models | json_values, "messages": messages},
    optional={name: strategy for name, strategy in CHAT_FIELDS.items()},
)
image_requests = st.fixed_dictionaries(
    {"prompt": st.text(max_size=20) | json_values},
    optional={
        "model": models | json_values,
        "n": st.integers(-1, 6) | json_values,
        "response_format": st.sampled_from(["url", "b64_json", "x"]) | json_values,
        "size": json_values,
        "quality": json_values,
        "style": json_values,
        "stream": json_values,
        "output_format": json_values,
    },
)


class _Served:
    """The app and an emulator on one loop in a thread of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Served:
        self._thread.start()
        assert self._ready.wait(20), "the server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self._stop is not None
        self.loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(20)

    def _run(self) -> None:
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self) -> None:
        self._stop = self.loop.create_future()
        async with AiChatsEmulator() as emulator:
            app = create_app(provider_options={"aichats": emulator.provider_options()})
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._ready.set()
            try:
                await self._stop
            finally:
                await runner.cleanup()


@pytest.fixture(scope="module")
def served() -> Iterator[_Served]:
    with _Served() as running:
        yield running


def exchange(
    port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def assert_no_server_error(status: int, body: bytes) -> None:
    assert status < 500, body[:500]
    if status >= 400:
        error = json.loads(body)["error"]
        assert set(error) == {"message", "type", "param", "code"}, error
        assert error["message"]
    else:
        assert b"internal_error" not in body, body[:500]


def path_for(request: dict[str, Any]) -> str:
    """Image requests have a prompt; chat requests never do."""
    return "/v1/images/generations" if "prompt" in request else "/v1/chat/completions"


@settings(SETTINGS, max_examples=2 * EXAMPLES)
@given(request=chat_requests | image_requests)
def test_any_request_is_answered_without_a_5xx(served: _Served, request: dict[str, Any]) -> None:
    status, body = exchange(served.port, path_for(request), json.dumps(request).encode())
    assert_no_server_error(status, body)


COMPRESSORS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "raw deflate": lambda data: zlib.compress(data, wbits=-15),
}


@SETTINGS
@given(request=chat_requests | image_requests, method=st.sampled_from(sorted(COMPRESSORS)))
def test_any_compressed_request_is_answered_without_a_5xx(
    served: _Served, request: dict[str, Any], method: str
) -> None:
    body = COMPRESSORS[method](json.dumps(request).encode())
    encoding = "gzip" if method == "gzip" else "deflate"
    status, answer = exchange(served.port, path_for(request), body, {"Content-Encoding": encoding})
    assert_no_server_error(status, answer)
    assert status != 400 or b"Content-Encoding" not in answer, answer[:300]


@SETTINGS
@given(
    body=st.binary(max_size=200) | json_values.map(lambda value: json.dumps(value).encode()),
    encoding=st.sampled_from(["", "gzip", "deflate", "identity", "br", "gzip, deflate", "x"]),
    path=st.sampled_from(["/v1/chat/completions", "/v1/images/generations"]),
)
def test_any_bytes_are_answered_without_a_5xx(
    served: _Served, body: bytes, encoding: str, path: str
) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}
    status, answer = exchange(served.port, path, body, headers)
    assert_no_server_error(status, answer)
