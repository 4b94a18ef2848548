"""Work that outlives Slack's acknowledgement, tracked so that shutting down finishes it first.

After `ack()` a Bolt listener goes on in a task nobody awaits. A SIGTERM in the middle of opening an incident
must not leave it half-open, so `close()` waits (bounded) until such work is done before closing the database.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class InFlight:
    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def __aenter__(self) -> None:
        self._count += 1
        self._idle.clear()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    async def drained(self, within: float) -> bool:
        """True once no work is in flight; False if some was still running after `within` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), within)
        except TimeoutError:
            return False
        return True
