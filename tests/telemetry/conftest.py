"""Calls traced to an in-memory exporter for the length of a test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from memory_spans import Traced, memory_provider

from aichats_core.hooks import flush
from aichats_core.telemetry import instrument


@pytest.fixture
def traced() -> Iterator[Traced]:
    """Calls of this test traced to memory (not through the global provider)."""
    found = memory_provider()
    uninstrument = instrument(found.provider)
    try:
        yield found
    finally:
        uninstrument()
        flush()
        found.provider.shutdown()
