"""The emulator contract: checked when an emulator entry point is loaded, like a provider."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest

from aichats_core.emulators import ENTRY_POINT_GROUP, EmulatorClass, find_emulator, has_emulator
from aichats_core.errors import InvalidRequestError, PluginLoadError
from providers.aichats.emulator import AiChatsEmulator

MakeDistribution = Callable[..., Path]

EMULATORS = """
class Good:
    url = "http://127.0.0.1:1"
    def __init__(self, *, host="127.0.0.1", port=0):
        pass
    def provider_options(self):
        return {"base_url": self.url}
    async def __aenter__(self):
        return self
    async def __aexit__(self, *exc_info):
        return None

class NoOptions:
    url = "http://127.0.0.1:1"
    async def __aenter__(self):
        return self
    async def __aexit__(self, *exc_info):
        return None

class NeedsAToken(Good):
    def __init__(self, token, *, host="127.0.0.1", port=0):
        pass

class NoHost(Good):
    def __init__(self, *, port=0):
        pass

not_a_class = Good()
"""


def test_the_aichats_emulator_satisfies_the_protocol() -> None:
    emulator_class: EmulatorClass = AiChatsEmulator  # mypy checks the constructor keywords
    assert find_emulator("Ai-Chats") is emulator_class


def test_a_good_emulator_is_found_by_normalised_name(make_distribution: MakeDistribution) -> None:
    make_distribution("emu", {"my_service": "emus:Good"}, {"emus": EMULATORS}, ENTRY_POINT_GROUP)
    assert has_emulator("My-Service")
    assert find_emulator("myservice") is importlib.import_module("emus").Good


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("emus:NoOptions", "it has no provider_options"),
        ("emus:NeedsAToken", "it cannot be built with no argument: missing a required argument"),
        ("emus:NoHost", "it cannot be built with host, port: got an unexpected keyword"),
        ("emus:not_a_class", "it is a Good, not a class"),
    ],
)
def test_an_emulator_breaking_the_protocol_is_a_load_error(
    make_distribution: MakeDistribution, target: str, problem: str
) -> None:
    make_distribution("emu", {"broken": target}, {"emus": EMULATORS}, ENTRY_POINT_GROUP)
    with pytest.raises(PluginLoadError) as caught:
        find_emulator("broken")
    assert caught.value.distribution == "emu"
    assert caught.value.cause.startswith(f"its emulator: {target} does not satisfy the emulator")
    assert problem in caught.value.cause


def test_an_emulator_failing_to_import_is_a_load_error(make_distribution: MakeDistribution) -> None:
    source = "raise SystemExit('no emulator today')\n"
    make_distribution("emu", {"exits": "exiting_emu:E"}, {"exiting_emu": source}, ENTRY_POINT_GROUP)
    with pytest.raises(PluginLoadError, match="its emulator: SystemExit: no emulator today"):
        find_emulator("exits")


def test_a_provider_without_an_emulator_is_said_so() -> None:
    assert not has_emulator("nothing-here")
    with pytest.raises(InvalidRequestError, match="ships no emulator"):
        find_emulator("nothing-here")
