"""Choosing the provider and model of a call, before any network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, TypeAlias

from aichats_core._boundary import is_plugins_own, plugin_failure
from aichats_core._registry import ProviderRegistry, default_registry
from aichats_core.errors import (
    AiChatsError,
    ModelNotSupportedError,
    PluginLoadError,
    ProviderContractError,
)

if TYPE_CHECKING:
    from aichats_core._provider import Provider

ProviderRef: TypeAlias = "str | type[Provider]"
"""A provider given by registered name (``"aichats"``) or by class."""


class Selection(NamedTuple):
    """A provider chosen for a call, with the model it will be asked for."""

    name: str
    provider: type[Provider]
    model: str
    distribution: str | None = None


def select(
    provider: ProviderRef, model: str | None, registry: ProviderRegistry | None = None
) -> Selection:
    """Resolve a provider reference (a name in ``registry``, the default one unless given)
    and the model, failing early with a clear error."""
    if isinstance(provider, str):
        info = (registry or default_registry).info(provider)
        cls = info.load()
        name, distribution = info.name, info.distribution
    else:
        cls, name, distribution = provider, provider.__name__, None
    return Selection(name, cls, resolve_model(name, cls, model), distribution)


def resolve_model(name: str, provider: type[Provider], model: str | None) -> str:
    """The model a call to ``provider`` (registered as ``name``, which errors say) asking for
    ``model`` would be sent: empty means the default model, names outside ``models`` are a
    ``ModelNotSupportedError`` (aliases allowed), as the call itself would decide, before any
    network. For front ends that validate a model before calling (``aichats serve``)."""
    get_model = getattr(provider, "get_model", None)
    if callable(get_model):
        try:
            resolved: object = get_model(model)
        except ModelNotSupportedError as exc:  # named as registered, the model as asked
            models = exc.models or list(getattr(provider, "models", []))
            raise ModelNotSupportedError(name, exc.model or model or "", models) from None
        except AiChatsError:
            raise
        except BaseException as exc:  # plugin code: contained like a call (see _boundary)
            if not is_plugins_own(exc):
                raise
            raise plugin_failure(name, f"provider {name!r}", exc) from exc
        if not isinstance(resolved, str):
            raise ProviderContractError(
                name,
                f"provider {name!r}: get_model({model!r}) returned {type(resolved).__name__}"
                f" {resolved!r:.60}, not a model name; this is a bug in the plugin",
            )
        return resolved
    if not model:
        return provider.default_model
    if provider.models and model not in provider.models:
        raise ModelNotSupportedError(name, model, provider.models)
    return model


def select_or_failure(
    provider: ProviderRef, model: str | None, registry: ProviderRegistry | None = None
) -> Selection | Failed:
    """A chain skips providers that cannot serve the call; an unknown name is still a typo."""
    try:
        return select(provider, model, registry)
    except (PluginLoadError, ModelNotSupportedError, ProviderContractError) as exc:
        name = provider if isinstance(provider, str) else provider.__name__
        return Failed(name, exc)


@dataclass(frozen=True)
class Failed:
    """A provider of a fallback chain that cannot serve the call, and why."""

    name: str
    error: AiChatsError
