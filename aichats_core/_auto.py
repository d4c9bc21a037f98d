"""``provider="auto"``: the installed providers that can serve a call, best first.

``auto`` takes text providers, ``auto:image`` image ones. A provider is a candidate when it
loads and serves the model asked for (any of its models, for ``auto:image`` without one); the
chain is ordered by measured health (``aichats_core.health``): success over the recent window,
with the declared ``working`` flag as the prior of a provider never measured, then the median
time to first event. The call then runs as a fallback chain, so ``Finish`` names who answered
and the trail who failed or was skipped before.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from aichats_core._registry import ProviderRegistry, default_registry, normalize_name
from aichats_core._select import Selection, resolve_model
from aichats_core.errors import AiChatsError, InvalidRequestError, ModelNotSupportedError

if TYPE_CHECKING:
    from aichats_core._provider import Provider
    from aichats_core.health import HealthTracker

AUTO = "auto"
AUTO_PREFIX = "auto:"


def is_auto(provider: object) -> bool:
    """Whether ``provider`` names ``auto`` (``auto:image``...), in any case."""
    return (
        isinstance(provider, str)
        and provider[:4].lower() == AUTO
        and (len(provider) == 4 or provider[4] == ":")
    )


def check_auto_targets(names: list[str], registry: ProviderRegistry | None) -> None:
    """``provider_options`` of an ``auto`` call must name installed providers: options for a
    misspelt one would be dropped without a word."""
    known = {normalize_name(info.name) for info in (registry or default_registry).list()}
    for name in names:
        if normalize_name(name) not in known:
            raise InvalidRequestError(
                f"provider_options names {name!r}, which is not installed; 'auto' calls"
                f" only installed providers ({', '.join(sorted(known))})"
            )


KINDS = ("text", "image")

PRIOR_WEIGHT = 2.0
"""How many attempts the declared ``working`` flag weighs against measured ones."""
PRIOR = {True: 0.9, False: 0.2}
"""The success a provider declared working (or not) is assumed to have before measuring."""


def auto_chain(
    name: str,
    model: str | None,
    registry: ProviderRegistry | None,
    health: HealthTracker | None,
) -> list[Selection]:
    """The providers ``auto`` (or ``auto:image``, any case) calls for ``model``, best first."""
    name = name.lower()
    kind = "text" if name == AUTO else name[len(AUTO_PREFIX) :]
    if kind not in KINDS:
        raise InvalidRequestError(
            f"unknown provider {name!r}: 'auto' picks text providers, 'auto:image' image ones"
        )
    found: list[Selection] = []
    offered: set[str] = set()
    for info in (registry or default_registry).list():
        if info.name == AUTO or info.broken:
            continue
        provider = info.load()
        images = _image_models(provider)
        served = _model_for(info.name, provider, model, images, kind)
        offered.update(images if kind == "image" else _text_models(provider, images))
        if served is not None:
            found.append(Selection(info.name, provider, served, info.distribution))
    if not found:
        what = "images" if kind == "image" else "text"
        if model:
            raise ModelNotSupportedError(name, model, sorted(offered))
        raise InvalidRequestError(f"{name}: no installed provider answers with {what}")
    return sorted(found, key=lambda selection: _rank(selection, health))


def _model_for(
    name: str, provider: type[Provider], model: str | None, images: list[str], kind: str
) -> str | None:
    """The model ``provider`` would be asked for, or None when it cannot serve the call."""
    if not model:
        if kind == "image":
            return images[0] if images else None
        default = provider.default_model
        return default if default and default not in images else None
    try:
        resolved = resolve_model(name, provider, model)
    except AiChatsError:
        return None
    return resolved if (resolved in images) == (kind == "image") else None


def _image_models(provider: type[Provider]) -> list[str]:
    return list(getattr(provider, "image_models", ()) or ())


def _text_models(provider: type[Provider], images: list[str]) -> list[str]:
    return [model for model in provider.models if model not in images]


def _rank(selection: Selection, health: HealthTracker | None) -> tuple[float, float, float]:
    """Cooling last; then the likelier to answer; then the faster to start."""
    try:
        working = bool(getattr(selection.provider, "working", True))
    except Exception:  # noqa: BLE001 - plugin code: a flag that cannot be read is no prior
        working = False
    if health is None:
        return (0.0, -PRIOR[working], math.inf)
    cooling, successes, attempts, first_ms = health.estimate(selection.name, selection.model)
    likely = (successes + PRIOR[working] * PRIOR_WEIGHT) / (attempts + PRIOR_WEIGHT)
    return (1.0 if cooling else 0.0, -round(likely, 1), first_ms or math.inf)
