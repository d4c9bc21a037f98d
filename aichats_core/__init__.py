"""aichats: many chat and image AI providers, one async result stream.

>>> import aichats_core
>>> [info.name for info in aichats_core.list_providers()]  # doctest: +SKIP
['aichats']

Names are imported lazily: ``import aichats_core`` and ``list_providers()`` load neither
pydantic nor aiohttp, which keeps command-line start-up fast. Only a request pays for the
HTTP stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aichats_core import errors
from aichats_core._lazy import lazy_attributes
from aichats_core._provider import (
    AsyncGeneratorProvider,
    Provider,
    ProviderModelMixin,
)
from aichats_core._registry import (
    ProviderInfo,
    ProviderRegistry,
    get_provider,
    list_providers,
    normalize_name,
    refresh,
    register_provider,
)
from aichats_core._retry import RetryPolicy
from aichats_core.errors import AiChatsError

if TYPE_CHECKING:
    from aichats_core._client import Client
    from aichats_core._models import (
        Finish,
        ImageResponse,
        Message,
        ResultEvent,
        ResultEventAdapter,
        TextChunk,
        Usage,
    )
    from aichats_core._stream import ResultStream, complete, stream

__version__ = "0.1.0"

__all__ = [
    "AiChatsError",
    "AsyncGeneratorProvider",
    "Client",
    "Finish",
    "ImageResponse",
    "Message",
    "Provider",
    "ProviderInfo",
    "ProviderModelMixin",
    "ProviderRegistry",
    "ResultEvent",
    "ResultEventAdapter",
    "ResultStream",
    "RetryPolicy",
    "TextChunk",
    "Usage",
    "__version__",
    "complete",
    "errors",
    "get_provider",
    "list_providers",
    "normalize_name",
    "refresh",
    "register_provider",
    "stream",
]

_LAZY = {
    "Client": "aichats_core._client",
    "Finish": "aichats_core._models",
    "ImageResponse": "aichats_core._models",
    "Message": "aichats_core._models",
    "ResultEvent": "aichats_core._models",
    "ResultEventAdapter": "aichats_core._models",
    "TextChunk": "aichats_core._models",
    "Usage": "aichats_core._models",
    "ResultStream": "aichats_core._stream",
    "complete": "aichats_core._stream",
    "stream": "aichats_core._stream",
}


__getattr__, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)
