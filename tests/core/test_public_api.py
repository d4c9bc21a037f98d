from __future__ import annotations

import inspect
import subprocess
import sys

import aichats_core
import aichats_core.emulators
import aichats_core.errors
import aichats_core.http
import aichats_core.lazy
import aichats_core.pricing
import aichats_core.testing


def _public_names(module: object) -> list[str]:
    return sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    )


def test_all_is_sorted_and_every_name_resolves() -> None:
    for module in (
        aichats_core,
        aichats_core.emulators,
        aichats_core.errors,
        aichats_core.http,
        aichats_core.lazy,
        aichats_core.pricing,
        aichats_core.testing,
    ):
        assert module.__all__ == sorted(module.__all__), module.__name__
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_the_root_package_exports_exactly_its_public_api() -> None:
    assert aichats_core.__all__ == [
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


def test_submodules_export_every_public_name() -> None:
    for module in (
        aichats_core.errors,
        aichats_core.lazy,
        aichats_core.pricing,
        aichats_core.testing,
    ):
        defined = [
            name
            for name in _public_names(module)
            if getattr(getattr(module, name), "__module__", None) == module.__name__
        ]
        assert sorted(defined) == sorted(module.__all__), module.__name__


def test_every_error_descends_from_one_root() -> None:
    for name in aichats_core.errors.__all__:
        assert issubclass(getattr(aichats_core.errors, name), aichats_core.AiChatsError)


def test_import_and_listing_load_neither_pydantic_nor_aiohttp() -> None:
    code = (
        "import sys, aichats_core; aichats_core.list_providers(); "
        "print(sorted(m for m in ('aiohttp', 'pydantic') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
