"""Time, injected: what happens at a time (bot/services/scheduler.py) asks a `Clock`, so that tests move time
instead of waiting for it.

- `SystemClock`: the wall clock (aware UTC) and `asyncio.sleep`.
- `ManualClock`: time stands still until a test moves it (`advance`, `set`); a coroutine sleeping on it wakes when
  the time it waits for has come, and only then.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class ManualClock:
    """A clock for tests: `now()` is what the test last set; `sleep()` returns when `advance`/`set` reach its end."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start if start is not None else datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + timedelta(seconds=seconds), next(self._order), wake))
        await wake

    @property
    def sleeping(self) -> int:
        """How many coroutines are asleep on this clock now."""
        return sum(1 for _, _, wake in self._sleepers if not wake.done())

    def advance(self, by: timedelta) -> None:
        if by < timedelta(0):
            raise ValueError("time does not go backwards")
        self.set(self._now + by)

    def set(self, when: datetime) -> None:
        """Move to `when` (forwards or backwards) and wake every sleeper whose end has come."""
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = when.astimezone(UTC)
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():  # a sleeper cancelled meanwhile is simply dropped
                wake.set_result(None)


__all__ = ["Clock", "ManualClock", "SystemClock"]
