"""What gpt4free (g4f) provider modules import, under g4f's names and signatures.

A g4f provider ports by replacing its ``from ..typing import ...``, ``from .helper import
...`` and similar lines with ``from aichats_core.compat.g4f import ...``. The provider then
runs as a native aichats provider: the base class here hands it a fresh list of plain dict
messages per attempt, maps what it yields (``ImageResponse``, ``FinishReason``, ...) to
aichats events or drops it, applies the ``base_url`` option to its URLs and ``timeout`` to
its silences, checks the options of a call against its signature, and its errors name the
provider: raised without a name (g4f's one-argument errors, ``raise_for_status``), they get
the registered name from the core as they leave the call.

Importing this module imports neither pydantic nor aiohttp: the helpers that need aiohttp
import it when called. See ``docs/porting-from-g4f.md``.
"""

from __future__ import annotations

import os  # named by ImageType
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from aichats_core.compat import _g4f_debug as debug
from aichats_core.compat._g4f_base import AsyncGeneratorProvider, Messages, ProviderModelMixin
from aichats_core.compat._g4f_errors import (
    MissingAuthError,
    MissingRequirementsError,
    ModelNotFoundError,
    RateLimitError,
    ResponseError,
    ResponseStatusError,
)
from aichats_core.compat._g4f_helpers import (
    filter_none,
    format_image_prompt,
    format_media_prompt,
    format_prompt,
    get_last_user_message,
    get_random_hex,
    get_random_string,
    get_system_prompt,
    merge_media,
    to_string,
)
from aichats_core.compat._g4f_media import is_accepted_format, to_bytes, to_data_uri
from aichats_core.compat._g4f_openai import OpenaiTemplate
from aichats_core.compat._g4f_requests import (
    DEFAULT_HEADERS,
    get_connector,
    raise_for_status,
    sse_stream,
)
from aichats_core.compat._g4f_responses import (
    BaseConversation,
    FinishReason,
    ImagePreview,
    ImageResponse,
    JsonConversation,
    Reasoning,
    ResponseType,
    Sources,
    TitleGeneration,
    ToolCalls,
    Usage,
)

__all__ = [
    "DEFAULT_HEADERS",
    "AsyncGeneratorProvider",
    "AsyncResult",
    "BaseConversation",
    "Cookies",
    "FinishReason",
    "ImagePreview",
    "ImageResponse",
    "ImageType",
    "ImagesType",
    "JsonConversation",
    "MediaListType",
    "Messages",
    "MissingAuthError",
    "MissingRequirementsError",
    "ModelNotFoundError",
    "OpenaiTemplate",
    "ProviderModelMixin",
    "RateLimitError",
    "Reasoning",
    "ResponseError",
    "ResponseStatusError",
    "ResponseType",
    "Sources",
    "TitleGeneration",
    "ToolCalls",
    "Usage",
    "debug",
    "filter_none",
    "format_image_prompt",
    "format_media_prompt",
    "format_prompt",
    "get_connector",
    "get_last_user_message",
    "get_random_hex",
    "get_random_string",
    "get_system_prompt",
    "is_accepted_format",
    "merge_media",
    "raise_for_status",
    "raise_for_status_async",
    "sse_stream",
    "to_bytes",
    "to_data_uri",
    "to_string",
]

AsyncResult: TypeAlias = AsyncIterator["str | ResponseType"]
"""g4f's ``AsyncResult``: the return annotation of ``create_async_generator``."""
Cookies: TypeAlias = dict[str, str]
ImageType: TypeAlias = "str | bytes | os.PathLike[str]"
"""An image as ``to_bytes`` reads it: bytes, a data URI or a path."""
ImagesType: TypeAlias = list[tuple[ImageType, str | None]]
MediaListType: TypeAlias = list[tuple[Any, str | None]]
"""Media given to a call: ``(data, file name)`` pairs."""

raise_for_status_async = raise_for_status


def __getattr__(name: str) -> Any:
    """``G4FOptions`` (the layer's options model) imports pydantic: only when first read."""
    if name == "G4FOptions":
        from aichats_core.compat._g4f_options import G4FOptions

        return G4FOptions
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
