"""The options of ported g4f providers (imported only when a call needs them: pydantic)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model


class G4FOptions(BaseModel):
    """Options every port accepts; a port that declares its own ``Options`` subclasses this
    model and names it with ``DeferredOptions``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: str | None = None
    """Another host speaking the same protocol (a local emulator, a mirror): replaces the
    port's ``url``, and the host of its absolute ``*_endpoint``, ``*_url`` and ``*_base``
    URLs, for this call."""


def options_of(port: type, base: type[BaseModel], parameters: dict[str, Any]) -> type[BaseModel]:
    """``base`` with a field for each keyword parameter of the port's generator, of any type
    (g4f's annotations are hints), with its default."""
    fields: dict[str, Any] = {
        name: (Any, Field(default=default, description="a parameter of the port's generator"))
        for name, default in parameters.items()
        if name not in base.model_fields and not hasattr(BaseModel, name)
    }
    if not fields:
        return base
    model: type[BaseModel] = create_model(f"{port.__name__}Options", __base__=base, **fields)
    return model
