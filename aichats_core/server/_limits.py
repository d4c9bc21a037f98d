"""The bounds one server holds every client to, in one place, with their defaults.

A public deployment meets clients that send their request head a byte a minute, bodies that
inflate to gigabytes, JSON nested a hundred thousand deep, and upstreams that answer without
end. Each bound here has a default such a deployment can live with, a ``create_app`` keyword,
an ``aichats serve`` flag and an environment variable for the gunicorn factory (the table in
docs/server.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from aichats_core.errors import InvalidRequestError

DEFAULT_MAX_BODY_BYTES = 1_048_576
DEFAULT_HEAD_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_ANSWER_BYTES = 16 * 1_048_576
DEFAULT_MAX_REQUEST_JSON_DEPTH = 64


@dataclass(frozen=True)
class ServerLimits:
    """What one request, and all of them together, may cost the server."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Largest request body, counted after decompression (413 beyond it)."""
    head_timeout: float = DEFAULT_HEAD_TIMEOUT
    """Seconds a client has to send a whole request head, from its connection or from the end
    of its previous request (the connection is closed after a 408 beyond it)."""
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    """Seconds a client has to send a whole request body once its head arrived (408)."""
    max_clients: int = 0
    """Client connections open at once; the next ones get an immediate 503 and are closed.
    0: derived from the process's file-descriptor limit, so the server never reaches it."""
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    """Largest answer (UTF-8 bytes of text) a non-streaming chat completion collects before
    it is refused (502 ``answer_too_large``); streams are relayed with backpressure instead."""
    max_json_depth: int = DEFAULT_MAX_REQUEST_JSON_DEPTH
    """Deepest nesting of arrays and objects a request body may have (400 beyond it)."""

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_answer_bytes", "max_json_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidRequestError(f"{name} must be a positive integer, not {value!r}")
        for name in ("head_timeout", "body_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidRequestError(f"{name} must be a positive number of seconds")
        clients = self.max_clients
        if isinstance(clients, bool) or not isinstance(clients, int) or clients < 0:
            raise InvalidRequestError("max_clients must be 0 (automatic) or more")


LIMIT_NAMES = tuple(field.name for field in fields(ServerLimits))
"""The ``create_app`` keywords that are limits."""
