"""g4f's errors, as aichats errors.

g4f's errors take a message only: they are raised with ``provider=""``, and the core names
them after the selected provider as they leave the call (``aichats_core._calls``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aichats_core import errors


class RateLimitError(errors.RateLimitError):
    """g4f's ``RateLimitError(message)``: an aichats ``RateLimitError`` (HTTP 429) named after
    the provider whose call raises it."""

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__("", message, retry_after=retry_after)


class _MessageOnly:
    """g4f's constructor, ``Error(message)``, for an aichats error that takes the provider
    first: it is left empty for the core to fill in."""

    def __init__(self, message: str = "") -> None:
        super().__init__("", message)  # type: ignore[call-arg]  # the aichats error's


class ResponseError(_MessageOnly, errors.ResponseFormatError):
    """g4f's ``ResponseError(message)``: the service answered something unexpected."""


class ResponseStatusError(_MessageOnly, errors.ProviderError):
    """g4f's ``ResponseStatusError(message)``: an error status, without its number."""


class MissingAuthError(_MessageOnly, errors.ProviderError):
    """g4f's ``MissingAuthError(message)``: the service wants credentials."""


class MissingRequirementsError(_MessageOnly, errors.ProviderError):
    """g4f's ``MissingRequirementsError(message)``: a package the port needs is missing."""


class ModelNotFoundError(errors.ModelNotSupportedError):
    """g4f's ``ModelNotFoundError(message)``: an aichats ``ModelNotSupportedError``. Raised
    by ``get_model`` with the model and the choices, which a port's own message lacks."""

    def __init__(self, message: str = "", *, model: str = "", models: Sequence[str] = ()) -> None:
        super().__init__("", model, models)
        if message:
            self.args = (message,)
