"""The openai plugin, imported from its folder, and its fake upstream on a loopback port: for
core tests that need a provider reporting usage, tools and errors as a real service does."""

from __future__ import annotations

import sys
from pathlib import Path

PLUGIN = Path(__file__).parents[1] / "plugins" / "aichats-openai"
sys.path[:0] = [str(PLUGIN), str(PLUGIN / "tests")]
from aichats_openai import OpenAICompatible  # noqa: E402
from fake_openai import FakeOpenAI, Reply  # noqa: E402

__all__ = ["PLUGIN", "FakeOpenAI", "OpenAICompatible", "Reply"]
