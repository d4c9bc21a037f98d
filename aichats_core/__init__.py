"""aichats: many chat and image AI providers, one async result stream.

>>> import aichats_core
>>> [info.name for info in aichats_core.list_providers()]  # doctest: +SKIP
['aichats']

Names are imported lazily: ``import aichats_core`` and ``list_providers()`` load neither
pydantic nor aiohttp, which keeps command-line start-up fast. Only a request pays for the
HTTP stack.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ForwardRef

from aichats_core import errors
from aichats_core._provider import (
    AsyncGeneratorProvider,
    DeferredOptions,
    Provider,
    ProviderModelMixin,
)
from aichats_core._registry import (
    ProviderInfo,
    ProviderRegistry,
    get_provider,
    list_providers,
    normalize_name,
    provider_info,
    refresh,
    register_provider,
)
from aichats_core._retry import RetryPolicy, is_transient
from aichats_core.errors import AiChatsError
from aichats_core.lazy import lazy_attributes

if TYPE_CHECKING:
    from aichats_core._client import Client
    from aichats_core._conversation import Conversation, conversation
    from aichats_core._models import (
        Failure,
        Finish,
        FinishReason,
        ImagePart,
        ImageResponse,
        ImageURL,
        Message,
        ResultEvent,
        ResultEventAdapter,
        TextChunk,
        TextPart,
        ToolCall,
        Usage,
    )
    from aichats_core._select import resolve_model
    from aichats_core._stream import ResultStream, complete, stream

if TYPE_CHECKING:
    __version__: str  # read from the installed metadata on first use (see __getattr__)

__all__ = [
    "AiChatsError",
    "AsyncGeneratorProvider",
    "Client",
    "Conversation",
    "DeferredOptions",
    "Failure",
    "Finish",
    "FinishReason",
    "ImagePart",
    "ImageResponse",
    "ImageURL",
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
    "TextPart",
    "ToolCall",
    "Usage",
    "__version__",
    "complete",
    "conversation",
    "errors",
    "get_provider",
    "is_transient",
    "list_providers",
    "normalize_name",
    "provider_info",
    "refresh",
    "register_provider",
    "resolve_model",
    "stream",
]

_LAZY = {
    "Client": "aichats_core._client",
    "Conversation": "aichats_core._conversation",
    "conversation": "aichats_core._conversation",
    "Failure": "aichats_core._models",
    "Finish": "aichats_core._models",
    "FinishReason": "aichats_core._models",
    "ImagePart": "aichats_core._models",
    "ImageURL": "aichats_core._models",
    "TextPart": "aichats_core._models",
    "ToolCall": "aichats_core._models",
    "ImageResponse": "aichats_core._models",
    "Message": "aichats_core._models",
    "ResultEvent": "aichats_core._models",
    "ResultEventAdapter": "aichats_core._models",
    "TextChunk": "aichats_core._models",
    "Usage": "aichats_core._models",
    "resolve_model": "aichats_core._select",
    "ResultStream": "aichats_core._stream",
    "complete": "aichats_core._stream",
    "stream": "aichats_core._stream",
}


def _public_path(package: str, names: Iterable[str], where: Mapping[str, str]) -> None:
    """Name each class ``package`` re-exports from a private module by its public path, so
    that ``repr``, pickles and tracebacks say ``aichats_core.TextChunk``.

    ``where`` gives the module of a lazy name; a name whose module is not imported yet is
    skipped. String annotations become forward references to their own module, which
    ``typing.get_type_hints`` (and pydantic) would otherwise look up in ``package``.
    """
    for name in names:
        module = sys.modules.get(where.get(name, package))
        value = vars(module).get(name) if module else None  # not getattr: no lazy import
        if isinstance(value, type) and value.__module__.startswith(f"{package}._"):
            hints = vars(value).get("__annotations__", {})
            for key, hint in hints.items():
                if isinstance(hint, str):
                    hints[key] = ForwardRef(hint, False, value.__module__, is_class=True)
            value.__module__ = package


_lazy_getattr, __dir__ = lazy_attributes(__name__, globals(), _LAZY, __all__)


def __getattr__(name: str) -> Any:
    if name == "__version__":  # about 2 ms, so not paid by every start-up
        from importlib.metadata import version

        globals()[name] = version("aichats")
        return globals()[name]
    value = _lazy_getattr(name)
    _public_path(__name__, __all__, _LAZY)  # the names of each module imported since
    return value


_public_path(__name__, __all__, _LAZY)
