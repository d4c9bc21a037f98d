"""The events of a streamed answer, read by network read, and whether ``[DONE]`` ended them.

``HttpSession.iter_sse`` does the same reading but does not say whether ``[DONE]`` arrived or
the body just ended, and for a service that sends no ``finish_reason`` that difference is the
difference between a complete answer and a cut one. So this loop drives the core's
``SSEDecoder`` itself and keeps it, for the caller to look at ``decoder.done`` afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp
    from aichats_core.http import SSEDecoder

DRAIN_GRACE = 0.05
"""Seconds a server gets to end its body after ``[DONE]``, so the connection can be reused."""
DRAIN_LIMIT = 64 * 1024


async def events_by_read(
    decoder: SSEDecoder, response: aiohttp.ClientResponse
) -> AsyncIterator[list[str]]:
    """The data of the events each network read completes, until ``[DONE]`` or the end."""
    async for chunk in response.content.iter_any():
        events = decoder.feed(chunk)
        if events:
            yield events
        if decoder.done:
            await _finish_body(response)
            return
    events = decoder.close()
    if events:
        yield events


async def _finish_body(response: aiohttp.ClientResponse) -> None:
    """Read the little that usually follows ``[DONE]`` (the end of a chunked body), briefly.

    A response released before its body ended closes its connection instead of returning it
    to the pool. The answer is complete by now, so a failure here is no longer the caller's
    concern: the connection is simply not reused.
    """
    import aiohttp

    content = response.content
    drained = 0
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(DRAIN_GRACE):
            while not content.at_eof() and drained <= DRAIN_LIMIT:
                drained += len(await content.readany())
