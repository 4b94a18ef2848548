"""The event loop's lag: how late a timer set for every `interval` seconds actually runs.

Anything that holds the event loop (a long computation, a blocking call) delays every request, timer and
heartbeat in the process by as long; this measures it from the inside. A timer callback (not a task: no future,
no coroutine step) re-arms itself every 5 ms and records how late it ran; while the loop is held it cannot run,
so one late run of N seconds is a stall of about N seconds. The cost is one callback per interval (a few
microseconds each: well under 0.5% of a core at 5 ms).

`LoopWatch(observe).start()` on the running loop, `stop()` at the end; `observe(seconds_late)` receives every
measurement (bot/metrics.py turns them into a histogram and a maximum).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["INTERVAL", "LoopWatch"]

INTERVAL = 0.005  # seconds between two runs when the loop is free


class LoopWatch:
    def __init__(self, observe: Callable[[float], None], interval: float = INTERVAL) -> None:
        self._observe = observe
        self._interval = interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0

    @property
    def running(self) -> bool:
        return self._handle is not None

    def start(self) -> None:
        """Start watching the running loop (again after `stop()`); does nothing when already watching."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._due = self._loop.time() + self._interval
        self._handle = self._loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        # The loop may run a timer up to its clock resolution early: that is no lag.
        self._observe(now - self._due if now > self._due else 0.0)
        self._due = now + self._interval
        self._handle = loop.call_at(self._due, self._tick)
