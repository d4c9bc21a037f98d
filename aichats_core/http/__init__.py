"""The HTTP layer providers share, so that a new provider is only its wire format.

It owns what every HTTP provider gets wrong on its own: one session reused across calls,
proxies from the option or the environment, timeouts on connecting and on each silence,
incremental server-sent events, bounded reads, image downloads that stay out of private
networks unless allowed, and the translation of aiohttp's exceptions into
``aichats_core.errors``. Importing it imports aiohttp, so providers import it inside the
call, keeping ``aichats providers`` fast.
"""

from __future__ import annotations

from aichats_core import _public_path
from aichats_core.http._addresses import is_private_host
from aichats_core.http._download import (
    DEFAULT_IMAGE_TIMEOUT,
    DEFAULT_MAX_IMAGE_BYTES,
    decode_data_uri,
    download_data_uri,
    image_bytes,
    sniff_image_type,
)
from aichats_core.http._json import (
    DEFAULT_MAX_JSON_DEPTH,
    JSONNotTextError,
    JSONTooDeepError,
    load_json,
)
from aichats_core.http._proxy import ProxySettings, proxy_problem, redact
from aichats_core.http._responses import parse_retry_after, read_bounded, refuse_unexpected
from aichats_core.http._session import (
    DEFAULT_MAX_JSON_BYTES,
    DEFAULT_TIMEOUT,
    HttpSession,
    new_client_session,
)
from aichats_core.http._sse import SSEDecoder, SSEEvent, SSEEventDecoder

__all__ = [
    "DEFAULT_IMAGE_TIMEOUT",
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_MAX_JSON_BYTES",
    "DEFAULT_MAX_JSON_DEPTH",
    "DEFAULT_TIMEOUT",
    "HttpSession",
    "JSONNotTextError",
    "JSONTooDeepError",
    "ProxySettings",
    "SSEDecoder",
    "SSEEvent",
    "SSEEventDecoder",
    "decode_data_uri",
    "download_data_uri",
    "image_bytes",
    "is_private_host",
    "load_json",
    "new_client_session",
    "parse_retry_after",
    "proxy_problem",
    "read_bounded",
    "redact",
    "refuse_unexpected",
    "sniff_image_type",
]

_public_path(__name__, __all__, {})  # aichats_core.http.HttpSession, not ..._session
