"""Every error aichats raises, under one root.

Catch ``AiChatsError`` to handle anything aichats can raise; catch a leaf to handle one
situation. Providers raise these instead of yielding error text, which is what makes retries
and fallback across providers possible.

::

    AiChatsError
    ├── InvalidRequestError          bad messages or options, found before any network
    ├── ProviderNotFoundError        no provider by that name (lists the close matches)
    ├── PluginLoadError              a plugin failed to import or breaks the provider protocol
    │   └── ProviderConflictError    two distributions claim one provider name
    ├── ModelNotSupportedError       the provider does not offer that model
    ├── AllProvidersFailedError      every provider of a fallback chain failed
    └── ProviderError                a provider failed while answering
        ├── ProviderHTTPError        the service answered with an HTTP error status
        │   └── RateLimitError       HTTP 429, with the Retry-After delay when given
        ├── ProviderTimeoutError     connecting, or a silence while reading, took too long
        ├── ProviderConnectionError  refused, reset, DNS failure, proxy failure
        ├── ResponseFormatError      the service answered something the protocol does not allow
        ├── StreamInterruptedError   the stream ended early; carries the text received so far
        └── ProviderContractError    a plugin broke the provider contract while running

The transport's own exceptions (aiohttp's) are translated at one boundary,
``aichats_core.http``, with ``raise ... from exc`` so the original stays in ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "AiChatsError",
    "AllProvidersFailedError",
    "InvalidRequestError",
    "ModelNotSupportedError",
    "PluginLoadError",
    "ProviderConflictError",
    "ProviderConnectionError",
    "ProviderContractError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderNotFoundError",
    "ProviderTimeoutError",
    "RateLimitError",
    "ResponseFormatError",
    "StreamInterruptedError",
]


class AiChatsError(Exception):
    """Root of every error raised by aichats and its providers."""


class InvalidRequestError(AiChatsError, ValueError):
    """The request is invalid as given (messages, options); nothing was sent."""


class InvalidOptionError(InvalidRequestError):
    """An option a provider does not declare, or a value of the wrong type for it; raised at
    the call, before any network. ``provider`` and ``option`` say which; ``accepted`` lists
    the options the provider takes."""

    def __init__(
        self, provider: str, option: str, accepted: Sequence[str], message: str
    ) -> None:
        self.provider = provider
        self.option = option
        self.accepted = list(accepted)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.provider, self.option, self.accepted, str(self)))


class ProviderNotFoundError(AiChatsError, LookupError):
    """No provider is registered under the requested name."""

    def __init__(self, name: str, *, close_matches: Sequence[str] = (), hint: str = "") -> None:
        self.name = name
        self.close_matches = list(close_matches)
        message = f"no provider named {name!r}"
        if self.close_matches:
            message += f"; did you mean {', '.join(map(repr, self.close_matches))}?"
        message += ". " + (hint or "Run `aichats providers` to list the installed ones.")
        super().__init__(message)


class PluginLoadError(AiChatsError):
    """A plugin could not be used: it failed to import or does not satisfy the protocol."""

    def __init__(self, name: str, *, distribution: str | None, cause: str) -> None:
        self.name = name
        self.distribution = distribution
        self.cause = cause
        source = f" (distribution {distribution!r})" if distribution else ""
        super().__init__(f"provider {name!r}{source} cannot be loaded: {cause}")


class ProviderConflictError(PluginLoadError):
    """Several distributions register the same provider name; aichats refuses to guess."""

    def __init__(self, name: str, *, distributions: Sequence[str]) -> None:
        self.distributions = list(distributions)
        listed = ", ".join(map(repr, self.distributions))
        super().__init__(
            name,
            distribution=None,
            cause=(
                f"the name is claimed by several distributions ({listed}); uninstall all but "
                f"one, or register the class you want with register_provider()"
            ),
        )


class ModelNotSupportedError(AiChatsError, ValueError):
    """The provider does not offer the requested model."""

    def __init__(self, provider: str, model: str, models: Sequence[str]) -> None:
        self.provider = provider
        self.model = model
        self.models = list(models)
        super().__init__(
            f"provider {provider!r} does not support model {model!r}; "
            f"choose one of: {', '.join(self.models) or '(none listed)'}"
        )


class ProviderError(AiChatsError):
    """A provider failed while answering. ``provider`` names it."""

    def __init__(self, provider: str, message: str) -> None:
        self.provider = provider
        self.detail = message
        super().__init__(f"{provider}: {message}")


class ProviderHTTPError(ProviderError):
    """The service answered with an HTTP error status."""

    def __init__(self, provider: str, status: int, body: str = "", *, url: str = "") -> None:
        self.status = status
        self.body = body
        self.url = url
        message = f"HTTP {status}"
        if url:
            message += f" from {url}"
        if body:
            message += f": {body}"
        super().__init__(provider, message)


class RateLimitError(ProviderHTTPError):
    """The service is rate limiting (HTTP 429). ``retry_after`` is in seconds, when sent."""

    def __init__(
        self, provider: str, body: str = "", *, retry_after: float | None = None, url: str = ""
    ) -> None:
        self.retry_after = retry_after
        super().__init__(provider, 429, body, url=url)
        if retry_after is not None:
            self.detail += f" (retry after {retry_after:g}s)"
            self.args = (f"{provider}: {self.detail}",)


class ProviderTimeoutError(ProviderError):
    """Connecting, or a silence while reading the answer, exceeded the ``timeout`` option."""


class ProviderConnectionError(ProviderError):
    """The connection could not be made or was lost (refused, reset, DNS, proxy)."""


class ResponseFormatError(ProviderError):
    """The service answered something the provider's protocol does not allow."""


class StreamInterruptedError(ProviderError):
    """The stream ended before it was complete. ``partial_text`` is what arrived before."""

    def __init__(self, provider: str, message: str, *, partial_text: str = "") -> None:
        self.partial_text = partial_text
        super().__init__(provider, message)


class ProviderContractError(ProviderError):
    """A plugin broke the contract while running: yielded garbage or raised a foreign error."""


class AllProvidersFailedError(AiChatsError):
    """Every provider of a fallback chain failed before answering. ``errors`` says why, in order."""

    def __init__(self, errors: Sequence[tuple[str, AiChatsError]]) -> None:
        self.errors = list(errors)
        reasons = "; ".join(
            f"{name}: {type(err).__name__}: {err.detail if isinstance(err, ProviderError) else err}"
            for name, err in self.errors
        )
        super().__init__(f"all {len(self.errors)} providers failed ({reasons})")
