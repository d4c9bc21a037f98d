"""The server measures its calls: ``/v1/models`` shows each model's health next to the
declared ``working`` flag, and a cooling provider is a 503 with ``Retry-After`` before any
upstream request."""

from __future__ import annotations

from datetime import datetime

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from providers.aichats.emulator import AiChatsEmulator, Script


async def chat(client: AsyncOpenAI) -> str | None:
    answer = await client.chat.completions.create(
        model="aichats/gpt-4", messages=[{"role": "user", "content": "Hi"}]
    )
    return answer.choices[0].message.content


async def test_models_show_measured_health_and_a_cooling_provider_is_a_503(
    client: AsyncOpenAI, base_url: str, http: aiohttp.ClientSession, emulator: AiChatsEmulator
) -> None:
    async with http.get(f"{base_url}/models") as response:
        listed = {model["id"]: model for model in (await response.json())["data"]}
    assert listed["aichats/gpt-4"]["working"] is False  # the declared flag, as the class says
    assert listed["aichats/gpt-4"]["health"]["status"] == "unknown"

    assert await chat(client)
    emulator.enqueue(*[Script(status=503)] * 5)
    for _ in range(5):
        with pytest.raises(openai.APIStatusError) as caught:
            await chat(client)
        assert caught.value.status_code == 502
    sent = len(emulator.requests)
    async with http.post(
        f"{base_url}/chat/completions",
        json={"model": "aichats/gpt-4", "messages": [{"role": "user", "content": "Hi"}]},
    ) as response:
        body = await response.json()
        assert response.status == 503
        assert 25 <= int(response.headers["Retry-After"]) <= 30
    assert len(emulator.requests) == sent  # refused before the upstream
    assert body["error"]["code"] == "provider_cooling_down"
    assert "cooling down" in body["error"]["message"]

    async with http.get(f"{base_url}/models/aichats/gpt-4") as response:
        health = (await response.json())["health"]
    assert health["status"] == "cooling"
    assert health["success_rate"] == round(1 / 6, 4)
    assert datetime.fromisoformat(health["cooling_until"]) > datetime.fromisoformat(
        health["last_error"]
    )
    assert health["median_first_event_ms"] > 0
    async with http.get(f"{base_url}/models") as response:
        listed = {model["id"]: model for model in (await response.json())["data"]}
    assert listed["aichats/dalle"]["health"]["status"] == "unknown"  # another model's breaker
