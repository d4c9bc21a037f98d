"""The options of ported g4f providers (imported only when a call needs them: pydantic)."""

from __future__ import annotations

import inspect
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

_SIMPLE: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_OPTIONAL = re.compile(r"^(?:Optional\[(\w+)\]|(\w+) \| None|None \| (\w+))$")


class G4FOptions(BaseModel):
    """Options every port accepts; a port that declares its own ``Options`` subclasses this
    model and names it with ``DeferredOptions``."""

    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, coerce_numbers_to_str=True
    )

    base_url: str | None = None
    """Another host speaking the same protocol (a local emulator, a mirror): replaces the
    port's ``url``, and the host of its absolute ``*_endpoint``, ``*_url`` and ``*_base``
    URLs, for this call."""


def options_of(
    port: type, base: type[BaseModel], parameters: dict[str, inspect.Parameter]
) -> type[BaseModel]:
    """``base`` with a field for each keyword parameter of the port's generator, with its
    default. A parameter annotated ``str``, ``int``, ``float`` or ``bool`` (or one of them
    or None) is typed so; any other is taken as it comes (g4f's annotations are hints).
    Names that pydantic's ``BaseModel`` uses (``json``, ``schema``, ``copy``, ...) cannot be
    fields: a call giving them is refused, as for any unknown option."""
    fields: dict[str, Any] = {}
    for name, parameter in parameters.items():
        if name in base.model_fields or hasattr(BaseModel, name):
            continue
        default = None if parameter.default is parameter.empty else parameter.default
        fields[name] = (
            _type_of(parameter.annotation),
            Field(default=default, description="a parameter of the port's generator"),
        )
    if not fields:
        return base
    model: type[BaseModel] = create_model(f"{port.__name__}Options", __base__=base, **fields)
    return model


def _type_of(annotation: object) -> Any:
    """The option's type: a simple annotation (even written as a string, as ports written
    with ``from __future__ import annotations`` have them), always allowing None (ports
    write ``api_key: str = None``); Any otherwise."""
    if isinstance(annotation, type) and annotation.__name__ in _SIMPLE:
        return annotation | None
    if isinstance(annotation, str):
        text = annotation.strip()
        if text in _SIMPLE:
            return _SIMPLE[text] | None
        if (match := _OPTIONAL.match(text)) is not None:
            simple = _SIMPLE.get(next(group for group in match.groups() if group))
            if simple is not None:
                return simple | None
    return Any
