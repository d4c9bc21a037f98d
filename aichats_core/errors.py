"""Every error aichats raises, under one root.

Catch ``AiChatsError`` to handle anything aichats can raise; catch a leaf to handle one
situation. Providers raise these instead of yielding error text, which is what makes retries
and fallback across providers possible.

::

    AiChatsError
    ├── InvalidRequestError          bad messages or options, found before any network
    │   ├── InvalidOptionError       an option unknown to, or badly typed for, a provider
    │   └── CapabilityError          the call needs what the provider does not declare (tools...)
    ├── ProviderNotFoundError        no provider by that name (lists the close matches)
    ├── PluginLoadError              a plugin failed to import or breaks the provider protocol
    │   └── ProviderConflictError    two distributions claim one provider name
    ├── ModelNotSupportedError       the provider does not offer that model
    ├── AllProvidersFailedError      every provider of a fallback chain failed (an ExceptionGroup)
    └── ProviderError                a provider failed while answering
        ├── ProviderHTTPError        the service answered with an HTTP error status
        │   └── RateLimitError       HTTP 429, with the Retry-After delay when given
        ├── ProviderTimeoutError     connecting, or a silence while reading, took too long
        │   ├── ConnectTimeoutError  connecting to the service
        │   ├── ReadTimeoutError     waiting for the answer, or for its next bytes
        │   └── PoolTimeoutError     waiting for a free connection of the pool
        ├── ProviderConnectionError  refused, reset, DNS failure, proxy failure
        ├── ResponseFormatError      the service answered something the protocol does not allow
        ├── StreamInterruptedError   the stream ended early; carries the text received so far
        ├── ProviderContractError    a plugin broke the provider contract while running
        └── ProviderUnavailableError its circuit breaker is open: cooling down ``until`` a time

The transport's own exceptions (aiohttp's) are translated at one boundary,
``aichats_core.http``, with ``raise ... from exc`` so the original stays in ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "AiChatsError",
    "AllProvidersFailedError",
    "CapabilityError",
    "ConnectTimeoutError",
    "InvalidOptionError",
    "InvalidRequestError",
    "ModelNotSupportedError",
    "PluginLoadError",
    "PoolTimeoutError",
    "ProviderConflictError",
    "ProviderConnectionError",
    "ProviderContractError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderNotFoundError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ReadTimeoutError",
    "ResponseFormatError",
    "StreamInterruptedError",
]


class AiChatsError(Exception):
    """Root of every error raised by aichats and its providers."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), self.args, self.__dict__)


class InvalidRequestError(AiChatsError, ValueError):
    """The request is invalid as given (messages, options); nothing was sent."""


class InvalidOptionError(InvalidRequestError):
    """An option a provider does not declare, or a value of the wrong type for it; raised at
    the call, before any network. ``provider`` and ``option`` say which; ``accepted`` lists
    the options the provider takes."""

    def __init__(self, provider: str, option: str, accepted: Sequence[str], message: str) -> None:
        self.provider = provider
        self.option = option
        self.accepted = list(accepted)
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.provider, self.option, self.accepted, str(self)))


class CapabilityError(InvalidRequestError):
    """The call needs a capability the provider does not declare (``tools``, ``json_output``,
    ``image_input``); raised at the call, before any network. ``provider`` and
    ``capability`` say which. In a fallback chain, such a provider is skipped instead."""

    def __init__(self, provider: str, capability: str, message: str) -> None:
        self.provider = provider
        self.capability = capability
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.provider, self.capability, str(self)))


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
    """Connecting, or a silence while reading the answer, exceeded the ``timeout`` option.

    Catch this for any timeout; the subclasses say which phase ran out of time.
    """


class ConnectTimeoutError(ProviderTimeoutError):
    """Connecting to the service (name resolution, TCP, TLS, a proxy tunnel) took too long."""


class ReadTimeoutError(ProviderTimeoutError):
    """Connected, but the answer, or its next bytes, did not come in time."""


class PoolTimeoutError(ProviderTimeoutError):
    """No pooled connection came free in time (a ``Client``'s ``max_connections`` are busy)."""


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


class ProviderUnavailableError(ProviderError):
    """The provider's circuit breaker is open (``aichats_core.health``): it failed again and
    again, or asked for a pause, and is not called before ``until`` (an aware UTC
    ``datetime``), so that the call fails at once instead of after a timeout. Nothing was
    sent. Pass ``ignore_breaker=True`` to call it anyway."""

    def __init__(
        self,
        provider: str,
        until: datetime,
        *,
        model: str = "",
        why: str = "",
        probing: bool = False,
    ) -> None:
        self.until = until
        self.model = model
        wait = self.retry_after
        what = f"model {model!r} " if model else ""
        last = f" (last: {why})" if why else ""
        if probing:
            state = (
                f"is being probed: after repeated failures{last}, one call is trying it now;"
                f" call again in {wait:.0f} s"
            )
        else:
            state = (
                f"is cooling down until {until.isoformat(timespec='seconds')} (in {wait:.0f} s)"
                f" after repeated failures{last}; call again then"
            )
        super().__init__(
            provider,
            f"{what}{state}, use another provider, or pass ignore_breaker=True to call it anyway",
        )

    @property
    def retry_after(self) -> float:
        """Seconds from now until ``until`` (0 once it has passed): when to call again, as a
        ``RateLimitError`` says it."""
        from datetime import UTC, datetime  # not at import: start-up pays for no error

        return max(0.0, (self.until - datetime.now(UTC)).total_seconds())


class AllProvidersFailedError(ExceptionGroup[AiChatsError], AiChatsError):
    """Every provider of a fallback chain failed before answering.

    ``errors`` holds ``(name, error)`` pairs in order; ``exceptions`` the errors, so that a
    traceback shows every cause and ``except* RateLimitError`` works. ``str()`` is one line.
    A chain fails only once a provider failed: an empty ``errors`` is a ``ValueError``.
    """

    errors: list[tuple[str, AiChatsError]]

    def __new__(cls, errors: Sequence[tuple[str, AiChatsError]]) -> Self:
        errors = list(errors)
        return cls._of(errors, f"all {len(errors)} providers failed ({_reasons(errors)})")

    def __init__(self, errors: Sequence[tuple[str, AiChatsError]]) -> None:
        super().__init__(self.message, [error for _, error in self.errors])

    @classmethod
    def _of(cls, errors: list[tuple[str, AiChatsError]], message: str) -> Self:
        if not errors:
            raise ValueError(f"{cls.__name__} needs the failure of at least one provider")
        group = super().__new__(cls, message, [error for _, error in errors])
        group.errors = errors
        return group

    # except* only ever hands back this group's own errors: narrower than ExceptionGroup's.
    def derive(self, excs: Sequence[AiChatsError]) -> AllProvidersFailedError:  # type: ignore[override]
        """The part of the group that ``except*`` matched, or left: still named per provider."""
        names = {id(error): name for name, error in self.errors}
        part = [(names.get(id(error), type(error).__name__), error) for error in excs]
        return self._of(
            part, f"{len(part)} of {len(self.errors)} providers failed ({_reasons(part)})"
        )

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.errors!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild_group, (type(self), self.errors, self.message), self.__dict__


def _reasons(errors: list[tuple[str, AiChatsError]]) -> str:
    return "; ".join(
        f"{name}: {type(err).__name__}: {err.detail if isinstance(err, ProviderError) else err}"
        for name, err in errors
    )


def _rebuild_group(
    cls: type[AllProvidersFailedError], errors: list[tuple[str, AiChatsError]], message: str
) -> AllProvidersFailedError:
    return cls._of(errors, message)


def _rebuild(cls: type[AiChatsError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle an error without calling its ``__init__``, whose arguments are not ``args``."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error
