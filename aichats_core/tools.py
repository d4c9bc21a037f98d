"""Helpers for providers that stream tool calls: OpenAI's argument deltas made whole.

A tool-calling service streams each call in pieces: the first delta of a call carries its
``index``, ``id`` and function ``name``, later ones more of its ``arguments`` text. The unified
stream has one ``ToolCall`` event per complete call; ``ToolCallAssembler`` makes them::

    calls = ToolCallAssembler(provider="my-provider")
    for delta in choice["delta"].get("tool_calls") or ():
        calls.feed(delta)
    ...
    for call in calls.finish():   # when the answer ends
        yield call

Importing this module imports nothing heavy; the events are made when ``finish`` runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aichats_core.errors import ResponseFormatError

if TYPE_CHECKING:
    from aichats_core._models import ToolCall

__all__ = ["ToolCallAssembler"]

MAX_ARGUMENTS = 1024 * 1024
"""Characters of arguments one call may have: a bound against a service that never stops."""


class ToolCallAssembler:
    """Gathers the streamed pieces of tool calls by their ``index``, in order."""

    __slots__ = ("_calls", "_provider")

    def __init__(self, provider: str = "") -> None:
        self._provider = provider
        self._calls: dict[int, list[Any]] = {}  # index -> [id, name, argument pieces, size]

    def feed(self, delta: Mapping[str, Any]) -> None:
        """One element of a streamed ``delta.tool_calls`` list."""
        index = delta.get("index", len(self._calls))
        if not isinstance(index, int) or isinstance(index, bool):
            raise self._malformed(f"a tool call delta's index is {index!r}")
        call = self._calls.setdefault(index, [None, None, [], 0])
        if isinstance(identifier := delta.get("id"), str) and identifier:
            call[0] = identifier
        function = delta.get("function") or {}
        if not isinstance(function, Mapping):
            raise self._malformed("a tool call delta's function is not an object")
        if isinstance(name := function.get("name"), str) and name and call[1] is None:
            call[1] = name  # sent whole in the call's first delta; some services repeat it
        if isinstance(arguments := function.get("arguments"), str) and arguments:
            call[3] += len(arguments)
            if call[3] > MAX_ARGUMENTS:
                raise self._malformed(f"a tool call's arguments exceed {MAX_ARGUMENTS} characters")
            call[2].append(arguments)

    def add(self, call: Mapping[str, Any]) -> None:
        """A whole call, as a non-streamed answer has it (``message.tool_calls[i]``)."""
        self.feed({**call, "index": len(self._calls)})

    def finish(self) -> list[ToolCall]:
        """The complete calls, in ``index`` order; a call without a name is malformed."""
        from aichats_core._models import ToolCall

        calls = []
        for index in sorted(self._calls):
            identifier, name, pieces, _ = self._calls[index]
            if not name:
                raise self._malformed(f"tool call {index} has no function name")
            arguments = "".join(pieces) or "{}"
            calls.append(ToolCall(id=identifier or f"call_{index}", name=name, arguments=arguments))
        self._calls.clear()
        return calls

    def __bool__(self) -> bool:
        return bool(self._calls)

    def _malformed(self, what: str) -> ResponseFormatError:
        return ResponseFormatError(
            self._provider, f"{what}; the service's tool calls are malformed"
        )
