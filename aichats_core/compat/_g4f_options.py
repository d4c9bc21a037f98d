"""The options every ported g4f provider accepts (imported only when a call needs them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class G4FOptions(BaseModel):
    """Options of ``aichats_core.compat.g4f.AsyncGeneratorProvider``; a port that takes more
    subclasses this model and names it with ``DeferredOptions``."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    base_url: str | None = None
    """Another host speaking the same protocol (a local emulator, a mirror): replaces the
    port's ``url``, and the host of an absolute ``api_endpoint``, for this call."""
