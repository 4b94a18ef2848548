"""The test clock: time moves only when the test moves it, and a sleeper wakes when its time has come, not before."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock, SystemClock

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


async def test_time_stands_still_until_the_test_moves_it() -> None:
    clock = ManualClock(START)

    await asyncio.sleep(0.01)
    still = clock.now()
    clock.advance(timedelta(minutes=5))
    moved = clock.now()
    clock.set(START + timedelta(days=1))

    assert still == START
    assert moved == START + timedelta(minutes=5)
    assert clock.now() == START + timedelta(days=1)


async def test_a_sleeper_wakes_when_the_clock_reaches_its_time_and_not_before() -> None:
    clock = ManualClock(START)
    woke: list[str] = []

    async def sleep(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    sleepers = [asyncio.create_task(sleep("one minute", 60)), asyncio.create_task(sleep("one hour", 3600))]
    await asyncio.sleep(0)
    asleep = clock.sleeping

    clock.advance(timedelta(seconds=59))
    await asyncio.sleep(0)
    after_59_seconds = list(woke)
    clock.advance(timedelta(seconds=1))
    await asyncio.sleep(0)
    after_a_minute = list(woke)
    clock.set(START + timedelta(hours=2))
    await asyncio.gather(*sleepers)

    assert asleep == 2
    assert after_59_seconds == []
    assert after_a_minute == ["one minute"]
    assert woke == ["one minute", "one hour"]
    assert clock.sleeping == 0


async def test_a_cancelled_sleeper_is_dropped() -> None:
    clock = ManualClock(START)
    sleeper = asyncio.create_task(clock.sleep(10))
    await asyncio.sleep(0)

    sleeper.cancel()
    await asyncio.gather(sleeper, return_exceptions=True)
    clock.advance(timedelta(seconds=10))

    assert sleeper.cancelled()
    assert clock.sleeping == 0


def test_the_clocks_refuse_naive_times_and_going_backwards_by_advance() -> None:
    clock = ManualClock(START)

    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(timedelta(seconds=-1))
    assert SystemClock().now().tzinfo is UTC
