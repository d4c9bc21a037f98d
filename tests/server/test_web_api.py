"""The chat page's JSON API over a real socket: providers with health, one turn as events
recorded in the history ``aichats logs`` reads, continuing it (the provider gets the earlier
turns), errors in-band with their retry time, search and delete, and the bearer key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp

from aichats_core.history import HistoryStore
from providers.aichats.emulator import AiChatsEmulator, Script


async def events_of(http: aiohttp.ClientSession, url: str, **body: Any) -> list[dict[str, Any]]:
    async with http.post(f"{url}/aichats/chat", json=body) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = await response.text()
    return [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]


async def test_a_turn_streams_is_recorded_and_continues_with_its_history(
    base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(text="first answer", events=3), Script(text="second"))
    first = await events_of(http, base_url, model="aichats/gpt-4", prompt="Hello")
    assert first[0]["type"] == "conversation"
    ident = first[0]["id"]
    assert "".join(e["text"] for e in first if e["type"] == "text") == "first answer"
    assert first[-1] == {
        "type": "finish",
        "provider": "aichats",
        "model": "gpt-4",
        "reason": "stop",
        "failures": [],
    }
    second = await events_of(
        http, base_url, model="aichats/gpt-4", prompt="And?", conversation_id=ident
    )
    assert second[0] == {"type": "conversation", "id": ident}
    history = emulator.requests[-1].json["messagesHistory"]
    # AiChats sends the whole conversation as one flattened message, earlier turns first.
    assert history[-1]["content"] == "User: Hello\nAssistant: first answer\nUser: And?\nAssistant:"

    async with http.get(f"{base_url}/aichats/conversations") as response:
        listed = (await response.json())["conversations"]
    assert [(c["id"], c["turns"]) for c in listed] == [(ident, 2)]
    async with http.get(f"{base_url}/aichats/conversations/{ident}") as response:
        record = await response.json()
    assert [(t["prompt"], t["answer"], t["status"]) for t in record["turns"]] == [
        ("Hello", "first answer", "complete"),
        ("And?", "second", "complete"),
    ]
    with HistoryStore(Path(os.environ["AICHATS_HOME"]) / "history.db") as store:
        assert store.conversation(ident).turns[1].answer == "second"  # aichats logs' own


async def test_search_and_delete(
    base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(text="about cats"), Script(text="about dogs"))
    cats = (await events_of(http, base_url, model="aichats/gpt-4", prompt="cats?"))[0]["id"]
    await events_of(http, base_url, model="aichats/gpt-4", prompt="dogs?")
    async with http.get(f"{base_url}/aichats/conversations", params={"q": "cats"}) as response:
        assert [c["id"] for c in (await response.json())["conversations"]] == [cats]
    async with http.delete(f"{base_url}/aichats/conversations/{cats}") as response:
        assert response.status == 204
    async with http.get(f"{base_url}/aichats/conversations/{cats}") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "conversation_not_found"


async def test_a_rate_limit_is_an_error_event_with_its_retry_time(
    base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(status=429, retry_after=7))
    events = await events_of(http, base_url, model="aichats/gpt-4", prompt="Hi")
    error = events[-1]
    assert error["type"] == "error"
    assert (error["error"], error["retry_after"], error["partial_text"]) == (
        "RateLimitError",
        7,
        "",
    )
    assert "retry after 7s" in error["message"]


async def test_a_cut_stream_keeps_its_partial_text(
    base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    emulator.enqueue(Script(text="one two three four", events=4, disconnect_after=2))
    events = await events_of(http, base_url, model="aichats/gpt-4", prompt="Hi")
    error = events[-1]
    assert error["error"] == "StreamInterruptedError"
    assert error["partial_text"] == "".join(e["text"] for e in events if e["type"] == "text")
    assert error["partial_text"]


async def test_an_image_model_answers_an_image_event(
    base_url: str, http: aiohttp.ClientSession
) -> None:
    events = await events_of(http, base_url, model="aichats/dalle", prompt="a red square")
    [image] = [e for e in events if e["type"] == "image"]
    assert image["url"].startswith("data:image/png;base64,")


async def test_providers_list_models_with_health(
    base_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{base_url}/aichats/providers") as response:
        [aichats] = (await response.json())["providers"]
    assert aichats["name"] == "aichats"
    assert aichats["working"] is False
    assert {m["id"]: m["image"] for m in aichats["models"]} == {
        "aichats/gpt-4": False,
        "aichats/dalle": True,
    }
    assert aichats["models"][0]["health"]["status"] == "unknown"


async def test_bad_requests_are_4xx_before_any_stream(
    base_url: str, http: aiohttp.ClientSession
) -> None:
    cases = [
        ({"model": "aichats/gpt-4"}, 400, "'prompt' must be a non-empty string"),
        ({"model": "nope/x", "prompt": "Hi"}, 404, "no provider named 'nope'"),
        ({"model": "aichats/gpt-4", "prompt": "Hi", "conversation_id": "zzzzzz"}, 404, "zzzzzz"),
    ]
    for body, status, message in cases:
        async with http.post(f"{base_url}/aichats/chat", json=body) as response:
            assert response.status == status
            assert message in (await response.json())["error"]["message"]


async def test_the_api_needs_the_key_and_the_page_does_not(
    start_server: Any, http: aiohttp.ClientSession
) -> None:
    url = await start_server(api_key="s3cret")
    async with http.get(f"{url}/aichats/conversations") as response:
        assert response.status == 401
    headers = {"Authorization": "Bearer s3cret"}
    async with http.get(f"{url}/aichats/conversations", headers=headers) as response:
        assert response.status == 200
    root = url.removesuffix("/v1")
    async with http.get(f"{root}/static/.hidden") as response:
        assert response.status == 404  # no key asked, and nothing but shipped assets
    async with http.get(f"{root}/static/..%2Fapp.py") as response:
        assert response.status == 404


async def test_without_history_the_page_api_says_so(
    start_server: Any, http: aiohttp.ClientSession
) -> None:
    url = await start_server(history=False)
    async with http.get(f"{url}/aichats/conversations") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "history_off"


async def test_the_page_revalidates_with_its_etag(
    base_url: str, http: aiohttp.ClientSession
) -> None:
    root = base_url.removesuffix("/v1")
    async with http.get(f"{root}/static/app.js") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/javascript")
        assert response.headers["Cache-Control"] == "no-cache"
        etag = response.headers["ETag"]
    async with http.get(f"{root}/static/app.js", headers={"If-None-Match": etag}) as response:
        assert response.status == 304
        assert await response.read() == b""
    async with http.get(f"{root}/", headers={"If-None-Match": '"other"'}) as response:
        assert response.status == 200
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_without_history_the_page_still_chats_but_cannot_continue(
    start_server: Any, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    url = await start_server(history=False)
    emulator.enqueue(Script(text="unrecorded"))
    events = await events_of(http, url, model="aichats/gpt-4", prompt="Hi")
    assert "".join(e["text"] for e in events if e["type"] == "text") == "unrecorded"
    async with http.post(
        f"{url}/aichats/chat",
        json={"model": "aichats/gpt-4", "prompt": "Hi", "conversation_id": events[0]["id"]},
    ) as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "history_off"


async def test_delete_needs_the_whole_id_and_errors_hide_the_servers_paths(
    base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    ident = (await events_of(http, base_url, model="aichats/gpt-4", prompt="Hi"))[0]["id"]
    async with http.delete(f"{base_url}/aichats/conversations/{ident[:8]}") as response:
        assert response.status == 404
    async with http.get(f"{base_url}/aichats/conversations/{ident}") as response:
        assert response.status == 200  # still there
    async with http.get(f"{base_url}/aichats/conversations/nothere") as response:
        message = (await response.json())["error"]["message"]
    assert "history.db" not in message
    assert "nothere" in message


async def test_only_the_pages_own_files_are_served(
    base_url: str, http: aiohttp.ClientSession
) -> None:
    root = base_url.removesuffix("/v1")
    for name in ("__init__.py", "_web_page.py", "app.py", ".env"):
        async with http.get(f"{root}/static/{name}") as response:
            assert response.status == 404, name
    async with http.get(f"{root}/static/app.css", headers={"If-None-Match": "*"}) as response:
        assert response.status == 304


async def test_an_image_answered_as_a_url_is_kept_and_served_from_this_server(
    start_server: Any, http: aiohttp.ClientSession
) -> None:
    import io

    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from PIL import Image

    from aichats_core import ImageResponse
    from aichats_core.testing import ScriptedProvider, registered

    picture = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(picture, format="PNG")
    png = picture.getvalue()

    async def serve_png(request: web.Request) -> web.Response:
        return web.Response(body=png, content_type="image/png")

    app = web.Application()
    app.router.add_get("/red.png", serve_png)
    async with TestServer(app, host="127.0.0.1") as elsewhere:
        remote = str(elsewhere.make_url("/red.png"))
        drawer = ScriptedProvider.script(
            ImageResponse(images=[remote]),
            name="Drawer",
            options={"base_url": None},  # on loopback: its images may be too
            models=["draw"],
            default_model="draw",
            image_models=["draw"],
        )
        with registered("drawer", drawer):
            url = await start_server(
                provider_options={"drawer": {"base_url": str(elsewhere.make_url("/"))}}
            )
            events = await events_of(http, url, model="drawer/draw", prompt="red")
            [image] = [e for e in events if e["type"] == "image"]
            assert image["url"].startswith("/v1/images/files/")  # same origin: the CSP allows it
            root = url.removesuffix("/v1")
            async with http.get(root + image["url"]) as response:
                assert response.status == 200
                assert await response.read() == png
