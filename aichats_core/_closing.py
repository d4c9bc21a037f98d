"""``async with`` for everything in aichats that holds something to release."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """Leaving the ``async with`` block calls ``aclose()``, whatever ended the block."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release what this object holds; safe to call more than once."""
        raise NotImplementedError
