"""Option declarations a provider builds its ``Options`` from.

A provider declares the per-call options it accepts as a nested pydantic model named
``Options`` that forbids unknown fields; the core checks every call against it before any
network (``aichats_core.errors.InvalidOptionError``). ``CoreOptions`` are the core's own,
accepted by every provider without declaring them; ``ImageOptions`` are those of the core's
image download (``aichats_core.http.image_bytes``), for providers that answer image URLs::

    from pydantic import BaseModel, ConfigDict

    class MyProvider(AsyncGeneratorProvider):
        class Options(BaseModel):
            model_config = ConfigDict(extra="forbid")
            temperature: float = 1.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictBool

__all__ = ["CoreOptions", "ImageOptions", "OptionField", "check_options", "option_fields"]


class CoreOptions(BaseModel):
    """The options the core owns: every provider accepts them (and may ignore them)."""

    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, frozen=True, use_attribute_docstrings=True
    )

    timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Seconds allowed to connect, and for each silence while reading."""
    session: Any = None
    """An ``aiohttp.ClientSession`` to send through (``Client`` passes its own)."""


class ImageOptions(BaseModel):
    """How the core downloads an image URL a service answered; subclass it in ``Options``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_image_bytes: int | None = Field(default=None, gt=0)
    """Largest image downloaded (default 20 MiB)."""
    image_timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Seconds the whole download may take, redirects included (default 120)."""
    allow_private_image_urls: StrictBool | None = None
    """Whether the URL may point at a private, loopback or link-local address; None: only
    when the service itself is on one. Strictly a bool: a security switch is not guessed
    from a string."""


class OptionField(NamedTuple):
    """One option a provider accepts, as listings show it."""

    name: str
    type: str
    default: Any
    description: str
    core: bool
    """Owned by the core (``timeout``, ``session``) rather than declared by the provider."""


def check_options(
    provider: type, options: Mapping[str, Any], *, name: str | None = None
) -> dict[str, Any]:
    """``options`` as ``provider`` accepts them (typed by its ``Options``), or
    ``InvalidOptionError`` naming the first that is unknown or of the wrong type: the check
    every call gets, for front ends that take options before any call (``aichats serve -o``)."""
    from aichats_core._call_options import checked_options

    return dict(checked_options(name or provider.__name__, provider, options))


def option_fields(provider: type) -> list[OptionField]:
    """Every option ``provider`` accepts, its own first, then the core's: for listings."""
    from aichats_core._call_options import options_spec

    return options_spec(provider).fields()
