"""Model ids: every provider model as ``provider/model``, and back again.

A model id is split at its first ``/``, so model names that contain slashes themselves
(``meta-llama/Llama-3``) still work. A bare provider name means its default model.
"""

from __future__ import annotations

from dataclasses import dataclass

from aichats_core import ProviderInfo, list_providers, normalize_name, provider_info, resolve_model
from aichats_core.errors import ModelNotSupportedError, ProviderNotFoundError
from aichats_core.server._errors import ApiError

_LISTED_IN_ERRORS = 20


@dataclass(frozen=True)
class Target:
    """What a model id names: a provider and one of its models."""

    provider: str
    model: str
    image: bool
    """The model answers with images rather than text."""


@dataclass(frozen=True)
class ModelEntry:
    id: str
    provider: str
    image: bool


def catalog(served: frozenset[str] | None = None) -> list[ModelEntry]:
    """Every model of every provider that loads; broken plugins are left out, not fatal, and
    so are providers outside ``served`` (normalised names) when it is given."""
    entries = []
    for info in _loaded(served):
        image_models = info.detail("image_models", None) or []
        for model in info.detail("models", []):
            entries.append(ModelEntry(f"{info.name}/{model}", info.name, model in image_models))
    return entries


def resolve(model_id: str, served: frozenset[str] | None = None) -> Target:
    """The provider and model behind ``model_id``, or a 404 that lists what exists.

    A plugin that fails to load raises ``PluginLoadError`` (the error mapping makes it 503).
    A provider outside ``served`` is refused before it is loaded: an offline server
    (``--emulate``) never calls a provider that has no emulator.
    """
    provider, _, model = model_id.partition("/")
    try:
        info = provider_info(provider)
    except ProviderNotFoundError:
        raise _not_found(model_id, f"no provider named {provider!r}", served) from None
    if served is not None and normalize_name(info.name) not in served:
        why = (
            f"provider {info.name!r} ships no emulator, and this server runs offline"
            " (--emulate) with only the providers that do"
        )
        raise _not_found(model_id, why, served)
    cls = info.load()
    try:
        resolved = resolve_model(info.name, cls, model or None)
    except ModelNotSupportedError:
        why = f"provider {info.name!r} has no model {model!r}"
        raise _not_found(model_id, why, served) from None
    image_models = getattr(cls, "image_models", None) or []
    return Target(info.name, resolved, resolved in image_models)


def default_image_target(served: frozenset[str] | None = None) -> Target | None:
    """The first image model in provider name order, for image requests that name none."""
    for info in _loaded(served):
        image_models = info.detail("image_models", None) or []
        if image_models:
            return Target(info.name, image_models[0], True)
    return None


def _loaded(served: frozenset[str] | None) -> list[ProviderInfo]:
    return [
        info
        for info in list_providers()
        if info.error is None and (served is None or normalize_name(info.name) in served)
    ]


def _not_found(model_id: str, why: str, served: frozenset[str] | None) -> ApiError:
    ids = [entry.id for entry in catalog(served)]
    listed = ", ".join(ids[:_LISTED_IN_ERRORS]) or "(none)"
    if len(ids) > _LISTED_IN_ERRORS:
        listed += f" and {len(ids) - _LISTED_IN_ERRORS} more (GET /v1/models)"
    return ApiError(
        404,
        f"the model {model_id!r} does not exist ({why}); available models: {listed}",
        param="model",
        code="model_not_found",
    )
