"""The provider contract, in the g4f shape so that existing providers port by changing imports.

A provider is a class, never instantiated: class attributes describe it, and two classmethods
answer. ``AsyncGeneratorProvider`` writes ``create_async`` for you; ``ProviderModelMixin``
resolves model names. This module stays free of pydantic and aiohttp so that listing
providers imports neither.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeAlias

from aichats_core.errors import ModelNotSupportedError, ProviderContractError

if TYPE_CHECKING:
    from aichats_core._models import (
        FinishReason,
        ImageResponse,
        Message,
        TextChunk,
        ToolCall,
        Usage,
    )

ProviderItem: TypeAlias = "str | TextChunk | ImageResponse | ToolCall | Usage | FinishReason"
"""What a provider may yield: plain text, a result event, or why its answer ended."""
Messages: TypeAlias = "Sequence[Message]"
"""Validated messages, as providers receive them (``message["content"]`` also works)."""


class Provider(Protocol):
    """What every provider class offers. Checked when a plugin loads, not at first call.

    Besides these, the core relies on optional class attributes, checked at load when
    present: ``image_models`` (a list of the models that answer with images),
    ``model_aliases`` (names mapped to a model, or to a list of models: the first is used),
    ``get_model(model)`` (model resolution; ``ProviderModelMixin`` has one), ``Options``
    (a pydantic model forbidding extra fields, or ``DeferredOptions``: the options a call
    may give), and ``transient_statuses`` (a set
    of HTTP statuses that mean "try again"). An emulator is registered apart, under the
    ``aichats.emulators`` entry-point group with the provider's name.
    """

    url: ClassVar[str]
    working: ClassVar[bool]
    """Whether the service is known to work; informs listings, never blocks an explicit choice."""
    supports_stream: ClassVar[bool]
    supports_message_history: ClassVar[bool]
    default_model: ClassVar[str]
    models: ClassVar[list[str]]

    @classmethod
    def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[ProviderItem]:
        """Yield the answer as it arrives: ``str`` pieces of text or result events."""
        ...

    @classmethod
    async def create_async(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> str:
        """Return the whole answer: the text, or the first image URI for an image model."""
        ...


_ATTRIBUTE_TYPES: dict[str, type | tuple[type, ...]] = {
    "url": str,
    "working": bool,
    "supports_stream": bool,
    "supports_message_history": bool,
    "default_model": str,
    "models": (list, tuple),
    "create_async_generator": object,
    "create_async": object,
}


def protocol_problems(candidate: object) -> list[str]:
    """Say why ``candidate`` is not a provider class; an empty list means it is one."""
    if not inspect.isclass(candidate):
        return [f"expected a provider class, got {type(candidate).__name__} {candidate!r}"]
    problems = []
    values = {}
    for attribute, expected in _ATTRIBUTE_TYPES.items():
        try:
            values[attribute] = value = getattr(candidate, attribute)
        except AttributeError:
            problems.append(f"missing class attribute {attribute!r}")
            continue
        except Exception as exc:  # noqa: BLE001 - a plugin's attribute may raise anything
            problems.append(f"reading {attribute!r} raised {type(exc).__name__}: {exc}")
            continue
        if not isinstance(value, expected):
            problems.append(f"{attribute!r} should be {_type_names(expected)}, not {value!r}")
    models = values.get("models", ())
    if isinstance(models, list | tuple) and not all(isinstance(m, str) for m in models):
        problems.append("'models' should hold only strings")
    generator = values.get("create_async_generator")
    if "create_async_generator" not in values:
        pass  # already reported
    elif getattr(generator, "__func__", None) is _BASE_GENERATOR:
        problems.append("'create_async_generator' is not implemented (still the base class's)")
    elif not inspect.isasyncgenfunction(generator):
        problems.append(
            "'create_async_generator' must be an async generator classmethod (an 'async def'"
            f" that yields), not {_kind_of_callable(generator)}"
        )
    problems.extend(_optional_attribute_problems(candidate))
    if "create_async" in values and not inspect.iscoroutinefunction(values["create_async"]):
        problems.append("'create_async' should be an async classmethod")
    return problems


def _is_alias_target(value: object) -> bool:
    """A model name, or (g4f's shape) a list of them to choose from."""
    if isinstance(value, str):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _kind_of_callable(value: object) -> str:
    if inspect.iscoroutinefunction(value):
        return "a coroutine function"
    return "a plain function" if callable(value) else f"{type(value).__name__} {value!r:.40}"


def _optional_attribute_problems(candidate: type) -> list[str]:
    """``image_models``, ``model_aliases``, ``Options`` and ``transient_statuses`` are
    optional, but listings, the CLI and the core trust them."""
    problems = _declaration_problems(candidate)
    try:
        image_models = getattr(candidate, "image_models", [])
        aliases = getattr(candidate, "model_aliases", {})
    except Exception as exc:  # noqa: BLE001 - a plugin's attribute may raise anything
        return [f"reading optional attributes raised {type(exc).__name__}: {exc}"]
    if not isinstance(image_models, list | tuple) or not all(
        isinstance(m, str) for m in image_models
    ):
        problems.append(f"'image_models' should be a list of strings, not {image_models!r:.60}")
    declared: object = getattr(candidate, "capabilities", frozenset())
    from aichats_core.capabilities import CAPABILITIES

    if not isinstance(declared, set | frozenset) or not declared <= CAPABILITIES:
        problems.append(
            f"'capabilities' should be a set of {', '.join(sorted(CAPABILITIES))}, not"
            f" {declared!r:.80}"
        )
    if not isinstance(aliases, dict) or not all(
        isinstance(k, str) and _is_alias_target(v) for k, v in aliases.items()
    ):
        problems.append(
            "'model_aliases' should map strings to a model name (or a non-empty list of"
            f" them), not {aliases!r:.60}"
        )
    return problems


class DeferredOptions:
    """An ``Options`` named by path (``"package.module:Model"``), imported when first read.

    Listing providers (``aichats providers``) loads each provider class for its models; a
    provider module that defines its model inline imports pydantic there, about 50 ms. This
    keeps the model, and pydantic, out of that path. It is checked when first read.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._model: type[Any] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> type[Any]:
        if self._model is None:
            import importlib

            module, _, attribute = self.target.partition(":")
            self._model = getattr(importlib.import_module(module), attribute)
        return self._model


def _declaration_problems(candidate: type) -> list[str]:
    from aichats_core._retry import transient_statuses_problem

    try:
        deferred = isinstance(inspect.getattr_static(candidate, "Options", None), DeferredOptions)
        declares_options = not deferred and getattr(candidate, "Options", None) is not None
        statuses: object = getattr(candidate, "transient_statuses", frozenset())
    except Exception as exc:  # noqa: BLE001 - a plugin's attribute may raise anything
        return [f"reading optional attributes raised {type(exc).__name__}: {exc}"]
    problems = []
    if declares_options:  # pydantic only for providers that declare options
        from aichats_core._call_options import options_problem

        if (problem := options_problem(candidate)) is not None:
            problems.append(problem)
    if (problem := transient_statuses_problem(statuses)) is not None:
        problems.append(problem)
    return problems


def _type_names(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(t.__name__ for t in types)


class AsyncGeneratorProvider:
    """Base for providers that answer as an async generator; ``create_async`` comes for free."""

    url: ClassVar[str] = ""
    working: ClassVar[bool] = True
    supports_stream: ClassVar[bool] = True
    supports_message_history: ClassVar[bool] = False
    default_model: ClassVar[str] = ""
    models: ClassVar[list[str]] = []
    transient_statuses: ClassVar[frozenset[int] | set[int]] = frozenset()
    """The service's own statuses that mean "try again", beyond the core's."""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    """What it takes beyond plain text (``aichats_core.capabilities``): none by default."""

    @classmethod
    def create_async_generator(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> AsyncIterator[ProviderItem]:
        """Yield the answer as it arrives; subclasses write an ``async def`` that yields."""
        raise NotImplementedError(f"{cls.__name__} must implement create_async_generator")

    @classmethod
    async def create_async(
        cls, model: str, messages: Messages, proxy: str | None = None, **kwargs: Any
    ) -> str:
        """Drain the generator: the joined text, or the first image of an image answer."""
        from aichats_core._models import ImageResponse, TextChunk, Usage

        parts: list[str] = []
        items = cls.create_async_generator(model, messages, proxy, **kwargs)
        try:
            async for item in items:
                if isinstance(item, str):
                    parts.append(item)
                elif isinstance(item, TextChunk):
                    parts.append(item.text)
                elif isinstance(item, ImageResponse):
                    if item.images:
                        return item.images[0]
                elif not isinstance(item, Usage):
                    raise ProviderContractError(
                        cls.__name__,
                        f"yielded {type(item).__name__}; providers yield str or a result event",
                    )
        finally:
            # Returning early must release the connection now, not at garbage collection.
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()
        return "".join(parts)


_BASE_GENERATOR = AsyncGeneratorProvider.__dict__["create_async_generator"].__func__
"""The unimplemented default, refused at load time rather than failing at the first call."""


class ProviderModelMixin:
    """Model resolution: empty means ``default_model``, aliases map to real names, the rest fail."""

    default_model: ClassVar[str] = ""
    models: ClassVar[list[str]] = []
    image_models: ClassVar[list[str]] = []
    """The models that answer with images rather than text."""
    model_aliases: ClassVar[Mapping[str, str | list[str]]] = {}
    """Other names for models: the service's own name, or a list of them (the first is
    used). The provider vouches for its aliases: their targets need not be in ``models``."""

    @classmethod
    def get_model(cls, model: str | None) -> str:
        """Return the model to use, or raise ``ModelNotSupportedError`` listing the choices."""
        if not model:
            return cls.default_model
        target = cls.model_aliases.get(model)
        if target is not None:
            return target if isinstance(target, str) else target[0]
        if cls.models and model not in cls.models:
            raise ModelNotSupportedError(cls.__name__, model, cls.models)
        return model
