"""``stop`` and ``max_tokens`` applied by the core, for providers that cannot apply them.

The answer ends before the first stop sequence, found even when it spans chunks (the end
of a chunk that could start one is held back until the next chunk tells). ``max_tokens``
is counted at four characters a token, the usual estimate for English: the answer is cut
there, and ``Finish.reason`` says ``length``.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4
"""The estimate ``max_tokens`` is enforced with, for providers that do not count tokens."""


class Limits:
    """Feed the answer's text as it arrives; take what may be shown, and whether it ended."""

    __slots__ = ("_budget", "_pending", "_stop", "reason")

    def __init__(self, stop: tuple[str, ...], max_tokens: int | None) -> None:
        self._stop = stop
        self._pending = ""
        self._budget = None if max_tokens is None else max_tokens * CHARS_PER_TOKEN
        self.reason: str | None = None
        """``stop`` or ``length`` once a limit ended the answer, else None."""

    def feed(self, text: str) -> str:
        """The part of ``text`` (with what was held back) that may be shown now; once
        ``reason`` is set, the answer is over and nothing more may be fed."""
        stopped = False
        if self._stop:
            text = self._pending + text
            cut = min((at for s in self._stop if (at := text.find(s)) >= 0), default=-1)
            if cut >= 0:
                text, self._pending, stopped = text[:cut], "", True
            else:
                hold = self._could_begin_a_stop(text)
                text, self._pending = text[: len(text) - hold], text[len(text) - hold :]
        text = self._spend(text)
        if stopped and self.reason is None:
            self.reason = "stop"
        return text

    def flush(self) -> str:
        """What was held back, once the answer ended without a stop sequence."""
        text, self._pending = self._pending, ""
        return self._spend(text)

    def _spend(self, text: str) -> str:
        """``text`` within the budget: ``length`` only once text beyond it arrives (an answer
        that fills it exactly is complete)."""
        if self._budget is None or not text:
            return text
        if len(text) > self._budget:
            text = text[: self._budget]
            self.reason = "length"
        self._budget -= len(text)
        return text

    def _could_begin_a_stop(self, text: str) -> int:
        """The length of the longest end of ``text`` that begins a stop sequence."""
        longest = 0
        for stop in self._stop:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
