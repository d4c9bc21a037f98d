"""``with`` for the sync API's objects that hold something to release."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """Leaving the ``with`` block calls ``close()``, whatever ended the block."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release what this object holds; safe to call more than once."""
        raise NotImplementedError
