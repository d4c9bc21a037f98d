"""The server-wide image budget: slots taken several at a time, first come first served."""

from __future__ import annotations

import asyncio

import pytest

from aichats_core.server._slots import Slots


async def _hold(
    slots: Slots, count: int, release: asyncio.Event, log: list[str], name: str
) -> None:
    async with slots.take(count):
        log.append(name)
        await release.wait()


async def test_takers_are_served_in_order_and_a_big_one_is_not_starved() -> None:
    slots = Slots(4)
    log: list[str] = []
    first, second, third = asyncio.Event(), asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(_hold(slots, 3, first, log, "a"))
    await asyncio.sleep(0)
    big = asyncio.create_task(_hold(slots, 4, second, log, "big"))
    await asyncio.sleep(0)
    small = asyncio.create_task(_hold(slots, 1, third, log, "small"))
    await asyncio.sleep(0)
    # One slot is free, but "small" came after "big": it waits its turn.
    assert log == ["a"]
    first.set()
    await asyncio.sleep(0.01)
    assert log == ["a", "big"]
    second.set()
    await asyncio.sleep(0.01)
    assert log == ["a", "big", "small"]
    third.set()
    await asyncio.gather(a, big, small)
    assert slots.free == 4


async def test_a_waiter_cancelled_as_slots_are_released_leaks_nothing() -> None:
    """``cancel()`` marks the waiter's future at once, but its ``except`` runs a step later; a
    release in between must not hand the slots to it (nor fail the releasing task)."""
    slots = Slots(2)
    release = asyncio.Event()
    log: list[str] = []
    holder = asyncio.create_task(_hold(slots, 2, release, log, "holder"))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(_hold(slots, 1, asyncio.Event(), log, "waiter"))
    await asyncio.sleep(0)
    release.set()
    waiter.cancel()
    results = await asyncio.gather(holder, waiter, return_exceptions=True)
    assert results[0] is None  # the holder finished cleanly
    assert isinstance(results[1], asyncio.CancelledError)
    assert (slots.free, log) == (2, ["holder"])
    async with slots.take(2):  # everything is takeable again
        assert slots.free == 0


async def test_a_taker_of_more_than_all_takes_all() -> None:
    slots = Slots(2)
    async with slots.take(5):
        assert slots.free == 0
    assert slots.free == 2
    with pytest.raises(ValueError, match="at least one"):
        Slots(0)
