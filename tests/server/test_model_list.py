"""``GET /v1/models`` and ``GET /v1/models/{id}`` through the official client."""

from __future__ import annotations

from types import SimpleNamespace

import openai
import pytest
from openai import AsyncOpenAI

from aichats_core.server import _catalog
from aichats_core.testing import ScriptedProvider, registered


async def test_the_list_names_every_model_as_provider_slash_model(client: AsyncOpenAI) -> None:
    models = [model async for model in client.models.list()]
    by_id = {model.id: model for model in models}
    assert {"aichats/gpt-4", "aichats/dalle"} <= set(by_id)
    gpt4 = by_id["aichats/gpt-4"]
    assert (gpt4.object, gpt4.owned_by) == ("model", "aichats")
    assert isinstance(gpt4.created, int)
    assert gpt4.created > 0


async def test_a_model_is_retrieved_under_its_canonical_id(client: AsyncOpenAI) -> None:
    model = await client.models.retrieve("aichats/dalle")
    assert (model.id, model.owned_by) == ("aichats/dalle", "aichats")
    # A bare provider name is its default model; names ignore case, '-' and '_'.
    assert (await client.models.retrieve("AiChats")).id == "aichats/gpt-4"
    assert (await client.models.retrieve("ai_chats/gpt-4")).id == "aichats/gpt-4"


@pytest.mark.parametrize(
    ("model_id", "why"),
    [("nope/gpt-4", "no provider named 'nope'"), ("aichats/gpt-5", "has no model 'gpt-5'")],
)
async def test_an_unknown_model_is_404_listing_what_exists(
    client: AsyncOpenAI, model_id: str, why: str
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve(model_id)
    error = caught.value
    assert (error.status_code, error.code, error.param) == (404, "model_not_found", "model")
    assert error.type == "invalid_request_error"
    assert why in error.message
    assert "aichats/gpt-4, aichats/dalle" in error.message


async def test_broken_providers_are_left_out_of_the_list(
    client: AsyncOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _catalog.list_providers()
    broken = SimpleNamespace(name="broken", error="ImportError: no module named 'x'")
    monkeypatch.setattr(_catalog, "list_providers", lambda: [broken, *real])
    ids = [model.id async for model in client.models.list()]
    assert "aichats/gpt-4" in ids
    assert not any(model_id.startswith("broken/") for model_id in ids)


async def test_a_provider_of_any_model_id_lists_none_and_answers_any(
    client: AsyncOpenAI,
) -> None:
    anything = ScriptedProvider.script("Hi", models=[], image_models=[])
    with registered("anything", anything):
        ids = [model.id async for model in client.models.list()]
        model = await client.models.retrieve("anything/some-model-v2")
        answer = await client.chat.completions.create(
            model="anything/some-model-v2", messages=[{"role": "user", "content": "x"}]
        )
    assert not any(model_id.startswith("anything") for model_id in ids)
    assert (model.id, model.owned_by) == ("anything/some-model-v2", "anything")
    assert answer.choices[0].message.content == "Hi"
    assert anything.calls[0].model == "some-model-v2"
