"""Per-call options, declared by each provider and checked by the core at the call.

A provider declares what it accepts as a nested pydantic model named ``Options``
(``extra="forbid"``); the core owns the options every provider takes (``CoreOptions``:
``timeout``, ``session``). ``stream()`` checks a call's options against them before it returns,
so a misspelt or badly typed option fails at once, naming the provider, the option and what it
accepts, and no provider repeats the check. In a fallback chain each provider gets the options
it declares and none of the others; an option that no provider of the chain declares is
refused.

Checking costs a set difference per call, and a pydantic validation only the first time a
provider sees a given set of option values (the result is kept, per provider, for hashable
values): no more than the hand-written checks it replaces.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from aichats_core._registry import normalize_name
from aichats_core.errors import InvalidOptionError, ProviderContractError
from aichats_core.options import CoreOptions, OptionField

_CACHED = 256
"""Validated option sets kept per provider; a full cache starts over."""


CORE_OPTIONS = frozenset(CoreOptions.model_fields)


@dataclass(frozen=True)
class OptionsSpec:
    """What one provider class accepts, worked out once."""

    model: type[BaseModel] | None
    """The provider's ``Options``, or None when it declares none."""
    declared: frozenset[str]
    """The provider's own option names."""
    accepted: frozenset[str]
    """Its own and the core's."""

    def fields(self) -> list[OptionField]:
        """Every option it accepts, with its type, default and description, own first."""
        own = _fields(self.model) if self.model is not None else []
        return own + _fields(CoreOptions)


def options_spec(provider: type) -> OptionsSpec:
    """The options ``provider`` accepts, worked out once per class. A malformed ``Options``
    (also one named by ``DeferredOptions`` and read only now) raises ``TypeError``."""
    spec = _specs.get(provider)
    if spec is None:
        spec = _specs[provider] = _spec_of(provider)
    return spec


_specs: weakref.WeakKeyDictionary[type, OptionsSpec] = weakref.WeakKeyDictionary()


def _spec_of(provider: type) -> OptionsSpec:
    from aichats_core._provider import DeferredOptions

    declared_as = inspect.getattr_static(provider, "Options", None)
    if declared_as is None:
        return OptionsSpec(None, frozenset(), CORE_OPTIONS)
    try:  # getattr would hide a deferred model's AttributeError as "no Options at all"
        if isinstance(declared_as, DeferredOptions):
            model = declared_as.__get__(None, provider)
        else:
            model = provider.Options  # type: ignore[attr-defined]
    except Exception as exc:
        raise TypeError(f"'Options' cannot be read: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"'Options' must be a pydantic model class, not {model!r:.60}")
    if model.model_config.get("extra") != "forbid":
        raise TypeError(
            "'Options' must forbid unknown fields (model_config = ConfigDict(extra='forbid'))"
        )
    declared = frozenset(model.model_fields)
    clash = sorted(declared & CORE_OPTIONS)
    if clash:
        raise TypeError(f"'Options' redeclares the core's option(s) {', '.join(clash)}; drop them")
    return OptionsSpec(model, declared, declared | CORE_OPTIONS)


def options_problem(provider: type) -> str | None:
    """Why ``provider``'s ``Options`` is unusable, for the load-time check; else None."""
    try:
        options_spec(provider)
    except TypeError as exc:
        return str(exc)
    return None


def _spec_for_call(name: str, provider: type) -> OptionsSpec:
    """``options_spec``, with a malformed declaration (a deferred one is read at the first
    call) reported as the plugin's bug."""
    try:
        return options_spec(provider)
    except TypeError as exc:
        raise ProviderContractError(
            name, f"provider {name!r}: {exc}; this is a bug in the plugin"
        ) from exc


def checked_options(
    name: str,
    provider: type,
    options: Mapping[str, Any],
    memo: dict[type, tuple[Mapping[str, Any], dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """``options`` validated for ``provider`` (registered as ``name``): the values as its
    ``Options`` reads them, or ``InvalidOptionError`` for the first wrong one. The dict may
    be shared with other calls: read it, never change it (``check_options``, the public
    form, hands out copies; a provider gets its own as ``**kwargs``).

    Validating is remembered, so that a call costs what a provider's own check did:
    ``memo`` (a ``Client``'s) keeps, per provider, the result for the read-only mapping of
    the client's defaults; other option sets are remembered by their values and exact types
    (``True`` is not ``1`` to a strict field), ``session`` aside, which is never validated
    (it is ``Any``) and so never kept alive here.
    """
    if not options:
        return {}
    if memo is not None and type(options) is MappingProxyType:
        last = memo.get(provider)
        if last is None or last[0] is not options:
            last = memo[provider] = (options, checked_options(name, provider, dict(options)))
        return last[1]
    key = _key(options)
    cache = _caches.get(provider) if key is not None else None
    known = cache.get(key) if cache is not None else None
    if known is None:
        spec = _spec_for_call(name, provider)
        unknown = options.keys() - spec.accepted
        if unknown:
            raise unknown_option(name, min(unknown), spec)
        known = _validated(name, spec, {k: v for k, v in options.items() if k != "session"})
        if key is not None:
            if cache is None:
                cache = _caches.setdefault(provider, {})
            elif len(cache) >= _CACHED:
                cache.clear()
            cache[key] = known
    if "session" not in options:
        return known
    return {**known, "session": options["session"]}


_CACHEABLE = (str, int, float, bool, type(None))


def _key(options: Mapping[str, Any]) -> tuple[tuple[str, type, Any], ...] | None:
    """The options as a cache key, ``session`` aside, or None when a value is not a plain
    scalar (a dict of cookies): those are validated every time."""
    key = []
    for name, value in options.items():
        if name == "session":
            continue
        kind = type(value)
        if kind not in _CACHEABLE:
            return None
        key.append((name, kind, value))
    return tuple(key)


_caches: weakref.WeakKeyDictionary[type, dict[Any, dict[str, Any]]] = weakref.WeakKeyDictionary()
"""Validated option sets, per provider class (forgotten with the class)."""


def unknown_option(name: str, option: str, spec: OptionsSpec) -> InvalidOptionError:
    accepted = sorted(spec.accepted - {"session"})
    close = difflib.get_close_matches(option, accepted, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return InvalidOptionError(
        name,
        option,
        accepted,
        f"provider {name!r} has no option {option!r}{hint}; it accepts {', '.join(accepted)}",
    )


def _validated(name: str, spec: OptionsSpec, options: Mapping[str, Any]) -> dict[str, Any]:
    result = dict(options)
    core = {key: value for key, value in options.items() if key in CORE_OPTIONS}
    own = {key: value for key, value in options.items() if key in spec.declared}
    for model, given in ((CoreOptions, core), (spec.model, own)):
        if not given or model is None:
            continue
        try:
            values = model.model_validate(given)
        except ValidationError as exc:
            raise _bad_value(name, spec, exc) from None
        result.update((key, getattr(values, key)) for key in given)
    return result


def _bad_value(name: str, spec: OptionsSpec, exc: ValidationError) -> InvalidOptionError:
    error = exc.errors(include_url=False)[0]
    option = str(error["loc"][0]) if error["loc"] else "?"
    return InvalidOptionError(
        name,
        option,
        sorted(spec.accepted - {"session"}),
        # The value is not quoted: it may be a key or a password.
        f"provider {name!r}: option {option!r}: {error['msg']}"
        f" (given: {type(error['input']).__name__})",
    )


def _fields(model: type[BaseModel]) -> list[OptionField]:
    core = model is CoreOptions
    return [
        OptionField(
            name,
            _type_name(info.annotation),
            None if info.is_required() else info.get_default(call_default_factory=True),
            " ".join((info.description or "").split()),
            core,
        )
        for name, info in model.model_fields.items()
    ]


def _type_name(annotation: Any) -> str:
    """``int | None``, ``Literal['a', 'b']``: a type as a user writes it, without metadata."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin in (Union, UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if annotation is type(None):
        return "None"
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(map(_type_name, args))}]"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


class CallScope(NamedTuple):
    """What every attempt of one call shares: who watches it, who measures it, whether its
    providers' breakers are heeded, and by when it must start answering."""

    hooks: tuple[Any, ...] | None = None
    """The call's lifecycle hooks, the process's then its client's (``aichats_core.hooks``);
    None when there are none."""
    health: Any = None
    """The ``HealthTracker`` the call reports to, or None (``health=False``)."""
    gate: bool = True
    """Heed open breakers (skip, refuse, wait); False for ``ignore_breaker=True``."""
    deadline: float | None = None
    """``time.monotonic()`` after which the call takes no more waits (retries, cooldowns);
    None: the breaker policy's ``max_wait`` bounds a wait for a cooldown."""
    call: int = 0
    """The call's number in its hook events (0 without hooks)."""


NO_SCOPE = CallScope()


@functools.lru_cache(maxsize=64)
def plain_scope(health: Any, gate: bool) -> CallScope:
    """The scope of a call without hooks or deadline: one value per tracker, shared."""
    return CallScope(None, health, gate)


class ChainOptions(NamedTuple):
    """What one provider of a call gets: its options, and the call's options it does not
    declare (given to others of the chain), for ``Finish`` to tell; and, for a call with
    features (``_features``), the messages in a shape it takes and the limits the core
    enforces on its answer."""

    options: dict[str, Any]
    withheld: tuple[str, ...]
    messages: Any = None
    """The messages this provider gets instead of the call's (None: the call's)."""
    limits: Any = None
    """``_enforce.Limits`` of ``stop``/``max_tokens`` to apply to its answer, or None."""
    scope: CallScope = NO_SCOPE
    """What the call's attempts share: hooks, health, deadline."""


def solo_options(
    name: str,
    provider: type,
    options: Mapping[str, Any],
    memo: dict[type, tuple[Mapping[str, Any], dict[str, Any]]] | None = None,
    scope: CallScope = NO_SCOPE,
) -> ChainOptions:
    """The options of a call to one provider: all of them are its own, or refused."""
    # tuple.__new__: a NamedTuple's own __new__ costs a quarter of this path.
    return tuple.__new__(
        ChainOptions, (checked_options(name, provider, options, memo), (), None, None, scope)
    )


def route_options(
    chain: Sequence[tuple[str, type]],
    options: Mapping[str, Any],
    per_provider: Mapping[str, Mapping[str, Any]],
    *,
    refuse_unused: bool = True,
) -> list[ChainOptions]:
    """Each provider's share of a chain's options, validated; ``per_provider`` (by normalised
    name) gives options to one provider only. An option of the call that no provider of the
    chain declares is refused, as it would be silently dropped; ``refuse_unused=False`` when
    a provider of the chain could not be looked at (it did not load)."""
    routed = []
    taken: set[str] = set()
    for name, provider in chain:
        spec = _spec_for_call(name, provider)
        mine = {key: value for key, value in options.items() if key in spec.accepted}
        taken.update(mine)
        own = per_provider.get(normalize_name(name), {})
        withheld = tuple(sorted(key for key in options if key not in spec.accepted))
        routed.append(ChainOptions(checked_options(name, provider, {**mine, **own}), withheld))
    unused = sorted(set(options) - taken)
    if unused and refuse_unused:
        names = ", ".join(repr(name) for name, _ in chain)
        raise InvalidOptionError(
            names,
            unused[0],
            sorted(taken),
            f"no provider of the chain ({names}) has an option {unused[0]!r}; give it to one"
            " provider with provider_options, or drop it",
        )
    return routed
