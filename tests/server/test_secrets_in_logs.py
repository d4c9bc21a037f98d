"""The server's API key never reaches its log, whatever shape a client sends it in."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
from pathlib import Path
from urllib.parse import quote

import pytest
from raw_http import exchange, serving

from aichats_core.server._logging import REDACTED, Redactor, protect_logs

KEY = "sk-Ünï_7fQ2/x+Yz9Kp-0042"
RAW = KEY.encode()
HOST = b"Host: 127.0.0.1\r\n"
CLOSE = b"Connection: close\r\n"


def _get(*headers: bytes, target: bytes = b"/v1/models") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\n" + HOST + CLOSE + b"".join(headers) + b"\r\n"


def _basic(user: bytes) -> bytes:
    return base64.b64encode(user + b":" + RAW)


SHAPES = {
    "NUL after the key": _get(b"Authorization: Bearer " + RAW + b"\x00\r\n"),
    "header over 8190 bytes": _get(b"Authorization: Bearer " + RAW + b"x" * 9000 + b"\r\n"),
    # aiohttp quotes the first 100 bytes of a long line: here the key is cut after 11 bytes
    "key cut by the truncation": _get(b"Authorization: " + b"a" * 82 + RAW + b"y" * 9000 + b"\r\n"),
    "invalid UTF-8 around it": _get(b"Authorization: Bearer \xff" + RAW + b"\xfe\r\n"),
    "control byte after it": _get(b"Authorization: Bearer " + RAW + b"\x07\r\n"),
    "in the request line": _get(target=b"/v1/" + RAW + b"\x00"),
    "request line over 8190 bytes": _get(target=b"/" + RAW + b"a" * 9000),
    "as api_key": _get(target=b"/v1/models?api_key=" + quote(KEY).encode()),
    "as key": _get(target=b"/v1/models?key=" + quote(KEY).encode() + b"&x=1"),
    "as token": _get(target=b"/v1/models?token=" + quote(KEY, safe="").encode()),
    "as a parameter of any name": _get(target=b"/v1/models?q=" + quote(KEY).encode()),
    "as the query itself": _get(target=b"/v1/models?" + quote(KEY).encode()),
    "percent-encoded in the path": _get(target=b"/v1/models/" + quote(KEY, safe="").encode()),
    "in a header name": _get(RAW + b"\x01: x\r\n"),
    "as a header name": _get(quote(KEY, safe="").encode() + b": x\r\n"),
    "duplicated Authorization": _get(
        b"Authorization: Bearer wrong\r\n", b"Authorization: Bearer " + RAW + b"\r\n"
    ),
    "obs-fold continuation": _get(b"Authorization: Bearer\r\n " + RAW + b"\r\n"),
    "in a Cookie with NUL": _get(b"Cookie: session=" + RAW + b"\x00\r\n"),
    "in Proxy-Authorization with NUL": _get(b"Proxy-Authorization: Bearer " + RAW + b"\x00\r\n"),
    "in Basic credentials": _get(b"Authorization: Basic " + _basic(b"user") + b"\x00\r\n"),
    "in Basic credentials, shifted": _get(b"Authorization: Basic " + _basic(b"us") + b"\x00\r\n"),
    "in the User-Agent": _get(b"User-Agent: " + RAW + b"\r\n"),
    "in a Referer query": _get(b"Referer: http://x/?api_key=" + RAW + b"\r\n"),
    "in the Host": b"GET /v1/models HTTP/1.1\r\nHost: " + RAW + b"\x00\r\n\r\n",
    "in the HTTP version": b"GET / HTTP/1." + RAW + b"\r\n" + HOST + b"\r\n",
    "as the method": RAW + b" / HTTP/1.1\r\n" + HOST + b"\r\n",
    "in a bad chunk size": (
        b"POST /v1/chat/completions HTTP/1.1\r\n" + HOST + b"Content-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz" + RAW + b"\r\n"
    ),
    "in a body that is not JSON": (
        b"POST /v1/chat/completions HTTP/1.1\r\n"
        + HOST
        + CLOSE
        + b"Authorization: Bearer "
        + RAW
        + b"\r\nContent-Type: application/json\r\n"
        + b"Content-Length: "
        + str(len(RAW) + 1).encode()
        + b"\r\n\r\n{"
        + RAW
    ),
    "after TLS-looking bytes": b"\x16\x03\x01\x02\x00" + RAW + b"\r\n\r\n",
}


def leaks(text: str) -> list[str]:
    """The shapes of the key found in ``text``."""
    shapes = {
        "raw": KEY,
        "start of it": KEY[:10],
        "bytes repr": repr(RAW)[2:-1],
        "unicode escape": KEY.encode("unicode_escape").decode(),
        "JSON": json.dumps(KEY)[1:-1],
        "as latin-1": RAW.decode("latin-1"),
        "percent-encoded": quote(KEY, safe=""),
        "percent-encoded, lower case": quote(KEY, safe="").lower(),
        "base64": base64.b64encode(RAW).decode(),
        "base64 of user:key": _basic(b"user").decode(),
    }
    return [name for name, shape in shapes.items() if shape in text]


async def test_no_shape_of_the_key_reaches_the_log(tmp_path: Path) -> None:
    with serving(tmp_path / "server.log", "--api-key", KEY) as served:
        for name, data in SHAPES.items():
            answer = await exchange(served.host, served.port, data)
            assert answer.startswith(b"HTTP/1."), (name, answer[:200])
        # a request with the right key still works, and leaves an access line
        answer = await exchange(
            served.host, served.port, _get(b"Authorization: Bearer " + RAW + b"\r\n")
        )
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        await asyncio.sleep(0.5)  # the last access lines
    output = served.output()
    assert "aiohttp.access" in output  # the log is on: its silence would prove nothing
    assert output.count(" 400 ") >= 10, output
    assert leaks(output) == [], output


def test_a_traceback_and_its_exception_text_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("aichats_core.server")
    logger.addHandler(handler)
    remove = protect_logs([KEY])
    try:
        try:
            raise ValueError(f"header {RAW!r} and Authorization: Bearer other-secret")
        except ValueError:
            logger.exception("failed on %s", KEY)
        logger.warning("arguments %r %s", {"token": KEY}, b"Cookie: id=abc")
    finally:
        remove()
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Traceback" in text
    assert "ValueError" in text
    assert leaks(text) == []
    assert "other-secret" not in text
    assert "id=abc" not in text
    assert text.count(REDACTED) >= 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token=" + KEY, "token=" + REDACTED),
        ("Set-Cookie: a=b; Path=/", "Set-Cookie: " + REDACTED),
        ("no secret here: key points", "no secret here: key points"),
        ("GET /x?signature=abcdef HTTP/1.1", f"GET /x?signature={REDACTED} HTTP/1.1"),
        ("GET /x?a=1&X-Amz-Signature=abc&b=2", f"GET /x?a=1&X-Amz-Signature={REDACTED}&b=2"),
    ],
)
def test_the_redactor_keeps_what_is_not_secret(text: str, expected: str) -> None:
    assert Redactor([KEY]).redact(text) == expected


def test_a_short_key_is_redacted_as_a_word_only() -> None:
    assert Redactor(["k"]).redact("Bearer-less k, and keys") == f"Bearer-less {REDACTED}, and keys"


PROXY_PASSWORD = "pw-s3cret-1ba7"
PROXY = f"http://proxy-user:{PROXY_PASSWORD}@127.0.0.1:9"
"""A proxy that refuses: every call through it fails, and is logged."""
CLIENT_SECRETS = {"client_secret": "cs-41c9e0d2", "access_token": "at-77e1b3f5"}


async def test_proxy_userinfo_and_credential_named_parameters_stay_out_of_the_log(
    tmp_path: Path,
) -> None:
    query = "&".join(f"{name}={value}" for name, value in CLIENT_SECRETS.items())
    body = b'{"model": "aichats", "messages": [{"role": "user", "content": "Hi"}]}'
    chat = (
        b"POST /v1/chat/completions?" + query.encode() + b" HTTP/1.1\r\n" + HOST + CLOSE
        + b"User-Agent: app/1 (from https://app.example/cb?" + query.encode() + b")\r\n"
        + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )  # fmt: skip
    with serving(tmp_path / "server.log", "-o", f"aichats.proxy={PROXY}") as served:
        for _ in range(2):
            answer = await exchange(served.host, served.port, chat)
            assert answer.startswith(b"HTTP/1.1 502"), answer[:300]
        await asyncio.sleep(0.5)  # the last access lines
    output = served.output()
    assert "aiohttp.access" in output  # the log is on, and the failures were logged
    assert "cannot connect to the proxy" in output
    for secret in (PROXY_PASSWORD, *CLIENT_SECRETS.values()):
        assert secret not in output, output


async def test_the_userinfo_of_a_proxy_or_base_url_option_is_a_secret() -> None:
    from aichats_core.server import create_app
    from aichats_core.server._run import guard_process

    options = {"proxy": PROXY, "base_url": "https://base-user:b4se-pass@api.example/v1"}
    undo = guard_process(create_app(provider_options={"aichats": options}))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("aichats_core.server")
    logger.addHandler(handler)
    try:
        logger.warning("no answer from %s nor from %s", PROXY, options["base_url"])
        logger.warning("a password alone: %s; a Basic credential: %s", PROXY_PASSWORD, "b4se-pass")
    finally:
        logger.removeHandler(handler)
        undo()
    text = stream.getvalue()
    for secret in (PROXY_PASSWORD, "proxy-user:", "b4se-pass", "base-user:"):
        assert secret not in text, text
    assert "127.0.0.1:9" in text
