from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import aichats_core
from aichats_core import ProviderRegistry, normalize_name
from aichats_core.errors import (
    InvalidRequestError,
    PluginLoadError,
    ProviderConflictError,
    ProviderNotFoundError,
)
from aichats_core.testing import ScriptedProvider

MakeDistribution = Callable[..., Path]


@pytest.mark.parametrize("spelling", ["AiChats", "aichats", "ai-chats", "AI_CHATS", "Ai-Chats"])
def test_names_are_normalised(spelling: str) -> None:
    assert normalize_name(spelling) == "aichats"


def test_the_builtin_provider_is_found_through_its_entry_point() -> None:
    info = next(i for i in aichats_core.list_providers() if i.name == "aichats")
    assert (info.distribution, info.source, info.target) == (
        "aichats",
        "entry-point",
        "providers.aichats:AiChats",
    )
    assert aichats_core.get_provider("Ai-Chats").__name__ == "AiChats"


def test_listing_imports_no_plugin(
    good_provider: str, registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    make_distribution("good-dist", {"good": "good_mod:Good"}, {"good_mod": good_provider})
    [info] = registry.list()
    assert (info.name, info.distribution) == ("good", "good-dist")
    assert "good_mod" not in sys.modules
    assert info.detail("models") == ["small", "large"]
    assert "good_mod" in sys.modules
    assert not info.broken


def test_unknown_name_lists_close_matches(
    good_provider: str, registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    make_distribution("good-dist", {"good": "good_mod:Good"}, {"good_mod": good_provider})
    with pytest.raises(ProviderNotFoundError) as caught:
        registry.get("goood")
    assert caught.value.close_matches == ["good"]
    assert "did you mean 'good'" in str(caught.value)


def test_a_plugin_that_fails_to_import_is_listed_as_broken(
    good_provider: str, registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    make_distribution(
        "bad-dist",
        {"bad": "bad_mod:Bad", "good": "good_mod:Good"},
        {"bad_mod": "import not_a_module_anywhere\n", "good_mod": good_provider},
    )
    by_name = {info.name: info for info in registry.list()}
    assert by_name["bad"].broken
    assert "ModuleNotFoundError" in (by_name["bad"].error or "")
    assert not by_name["good"].broken
    with pytest.raises(PluginLoadError) as caught:
        registry.get("bad")
    assert caught.value.distribution == "bad-dist"
    assert "not_a_module_anywhere" in str(caught.value)
    assert registry.get("good").__name__ == "Good"


def test_a_plugin_breaking_the_protocol_is_refused_with_each_problem(
    registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    source = """
    class NotAProvider:
        url = 42
        @classmethod
        async def create_async_generator(cls, model, messages, proxy=None):
            return "not a generator"
    """
    make_distribution("odd-dist", {"odd": "odd_mod:NotAProvider"}, {"odd_mod": source})
    with pytest.raises(PluginLoadError) as caught:
        registry.get("odd")
    message = str(caught.value)
    assert "does not satisfy the provider protocol" in message
    for problem in (
        "'url' should be str",
        "missing class attribute 'models'",
        "coroutine function",
        "missing class attribute 'create_async'",
    ):
        assert problem in message


def test_two_distributions_claiming_one_name_conflict(
    good_provider: str, registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    make_distribution("first-dist", {"twin": "good_mod:Good"}, {"good_mod": good_provider})
    make_distribution("second-dist", {"Twin": "good_mod:Good"}, {})
    [info] = registry.list()
    assert info.broken
    assert "first-dist" in (info.distribution or "")
    assert "second-dist" in (info.distribution or "")
    with pytest.raises(ProviderConflictError) as caught:
        registry.get("twin")
    assert sorted(caught.value.distributions) == ["first-dist", "second-dist"]
    # Registering a class in-process is how an application settles it.
    registry.register("twin", ScriptedProvider)
    assert registry.get("twin") is ScriptedProvider


def test_the_allow_list_restricts_which_plugins_load(
    good_provider: str,
    registry: ProviderRegistry,
    make_distribution: MakeDistribution,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_distribution(
        "both-dist",
        {"good": "good_mod:Good", "bad": "bad_mod:Bad"},
        {"good_mod": good_provider, "bad_mod": "raise RuntimeError('spoils everything')\n"},
    )
    monkeypatch.setenv("AICHATS_PROVIDERS", " Good , other")
    assert [info.name for info in registry.list()] == ["good"]
    with pytest.raises(ProviderNotFoundError, match="AICHATS_PROVIDERS does not allow it"):
        registry.get("bad")
    monkeypatch.delenv("AICHATS_PROVIDERS")
    assert sorted(info.name for info in registry.list()) == ["bad", "good"]


def test_refresh_finds_a_distribution_installed_after_the_first_lookup(
    good_provider: str, registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    assert registry.list() == []
    make_distribution("late-dist", {"late": "good_mod:Good"}, {"good_mod": good_provider})
    assert registry.list() == []  # discovery is cached for speed...
    registry.refresh()  # ...until asked to look again
    assert [info.name for info in registry.list()] == ["late"]


def test_in_process_registration_is_checked_and_wins(
    good_provider: str, registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    make_distribution("good-dist", {"good": "good_mod:Good"}, {"good_mod": good_provider})
    registry.register("Good", ScriptedProvider)
    [info] = registry.list()
    assert (info.source, info.distribution) == ("in-process", None)
    assert registry.get("good") is ScriptedProvider
    with pytest.raises(InvalidRequestError, match="replace=True"):
        registry.register("good", ScriptedProvider)
    with pytest.raises(PluginLoadError, match="expected a provider class"):
        registry.register("thing", object())  # type: ignore[arg-type]
    registry.unregister("GOOD")
    assert registry.get("good").__name__ == "Good"


def test_module_level_register_provider_uses_the_default_registry() -> None:
    aichats_core.register_provider("scripted-test", ScriptedProvider)
    try:
        assert aichats_core.get_provider("scripted_test") is ScriptedProvider
        assert "scripted-test" in [info.name for info in aichats_core.list_providers()]
    finally:
        aichats_core._registry.default_registry.unregister("scripted-test")


def test_a_plugin_whose_attributes_raise_is_contained(
    registry: ProviderRegistry, make_distribution: MakeDistribution
) -> None:
    source = """
    from aichats_core import AsyncGeneratorProvider

    class Exploding(type):
        @property
        def models(cls):
            raise RuntimeError("models are computed from a config file that is missing")

    class Touchy(AsyncGeneratorProvider, metaclass=Exploding):
        @classmethod
        async def create_async_generator(cls, model, messages, proxy=None, **kwargs):
            yield "x"
    """
    make_distribution("touchy-dist", {"touchy": "touchy_mod:Touchy"}, {"touchy_mod": source})
    [info] = registry.list()
    assert info.broken
    assert "reading 'models' raised RuntimeError: models are computed" in (info.error or "")
    assert info.detail("models", []) == []
    with pytest.raises(PluginLoadError, match="touchy-dist"):
        registry.get("touchy")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (
            "from aichats_core import AsyncGeneratorProvider\n"
            "class P(AsyncGeneratorProvider):\n    models = ['m']\n",
            "not implemented (still the base class's)",
        ),
        (
            "from aichats_core import AsyncGeneratorProvider\n"
            "class P(AsyncGeneratorProvider):\n    models = ['m']\n"
            "    @classmethod\n    def create_async_generator(cls, model, messages, proxy=None):\n"
            "        return ['not', 'async']\n",
            "must be an async generator classmethod",
        ),
        (
            "from aichats_core import AsyncGeneratorProvider\n"
            "class P(AsyncGeneratorProvider):\n    models = ['m']\n    image_models = None\n"
            "    @classmethod\n"
            "    async def create_async_generator(cls, model, messages, proxy=None):\n"
            "        yield 'x'\n",
            "'image_models' should be a list of strings",
        ),
    ],
)
def test_providers_that_would_fail_at_their_first_call_are_refused_at_load(
    registry: ProviderRegistry, make_distribution: MakeDistribution, source: str, problem: str
) -> None:
    make_distribution("early-dist", {"early": "early_mod:P"}, {"early_mod": source})
    [info] = registry.list()
    assert problem in (info.error or "")


def test_an_info_kept_from_a_listing_survives_unregister(registry: ProviderRegistry) -> None:
    registry.register("kept", ScriptedProvider)
    [info] = registry.list()
    registry.unregister("kept")
    assert info.load() is ScriptedProvider
    assert not info.broken


def test_registered_restores_what_the_application_had_registered() -> None:
    from aichats_core.testing import registered

    original = ScriptedProvider.script("original")
    aichats_core.register_provider("restored", original)
    try:
        with registered("restored", ScriptedProvider.script("temporary")):
            pass
        assert aichats_core.get_provider("restored") is original
    finally:
        aichats_core._registry.default_registry.unregister("restored")


def test_two_emulators_for_one_provider_are_a_conflict(make_distribution: MakeDistribution) -> None:
    from aichats_core.emulators import find_emulator

    make_distribution("emu-one", {"twin": "x:One"}, {}, group="aichats.emulators")
    make_distribution("emu-two", {"Twin": "y:Two"}, {}, group="aichats.emulators")
    with pytest.raises(ProviderConflictError) as caught:
        find_emulator("twin")
    assert sorted(caught.value.distributions) == ["emu-one", "emu-two"]
