from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aichats_core import ProviderRegistry

GROUP = "aichats.tests"

MakeDistribution = Callable[..., Path]


@pytest.fixture
def make_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MakeDistribution]:
    """Lay out an installed distribution (modules + ``.dist-info``) on ``sys.path``.

    This is the on-disk form pip leaves behind, so ``importlib.metadata`` discovers it as it
    would a real install; tests/plugins installs real ones with pip too.
    """
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    created_modules: list[str] = []

    def make(
        name: str, entry_points: dict[str, str], modules: dict[str, str], group: str = GROUP
    ) -> Path:
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
            created_modules.append(module)
        info = site / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        lines = "\n".join(f"{ep} = {target}" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{group}]\n{lines}\n")
        return site

    yield make
    for module in created_modules:
        sys.modules.pop(module, None)


@pytest.fixture
def registry() -> ProviderRegistry:
    return ProviderRegistry(GROUP)


@pytest.fixture
def good_provider() -> str:
    """Source of a small, valid provider module."""
    return GOOD_PROVIDER


GOOD_PROVIDER = """
from aichats_core import AsyncGeneratorProvider, ProviderModelMixin

IMPORTED = True

class Good(AsyncGeneratorProvider, ProviderModelMixin):
    url = "https://good.invalid"
    default_model = "small"
    models = ["small", "large"]

    @classmethod
    async def create_async_generator(cls, model, messages, proxy=None, **kwargs):
        yield f"{model}: {messages[-1].content}"
"""
