"""Answering a submitted modal with the outcome of work that may be quick or slow.

Slack wants the submission acknowledged within 3 s, and the acknowledgement can replace the modal's content
(`response_action: update`). Bolt sends the ack's HTTP answer up to 10 ms after `ack()` is called (it polls for
it), while the listener goes on: a `views.update` made within those milliseconds reaches Slack before the ack,
and the ack then overwrites it ("Adding…" for good). So the outcome is given in the ack itself when the work is
done within `QUICK_SECONDS`; only slower work gets a placeholder ack first and the outcome later by views.update,
long after the ack was applied.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from slack_bolt.async_app import AsyncAck as Ack

from . import blocks
from .gateway import SlackGateway

__all__ = ["Ack", "ModalReply"]

QUICK_SECONDS = 2.0
SETTLE_SECONDS = 0.1  # between a placeholder ack and a views.update: ten times Bolt's polling interval


class ModalReply:
    """`async with ModalReply(...) as reply: ...; await reply.show(text)`."""

    def __init__(
        self, ack: Ack, slack: SlackGateway, view_id: str, title: str, placeholder: str, quick: float = QUICK_SECONDS
    ) -> None:
        self._ack = ack
        self._slack = slack
        self._view_id = view_id
        self._title = title
        self._placeholder = placeholder
        self._quick = quick
        self._acked = False
        self._acked_at = 0.0
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ModalReply:
        self._timer = asyncio.create_task(self._placeholder_in_time())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        if not self._acked:  # the work failed before showing anything: Slack still gets its ack
            await self._acknowledge(self._placeholder if exc is None else ":x: Something went wrong; please try again.")

    async def _placeholder_in_time(self) -> None:
        await asyncio.sleep(self._quick)
        async with self._lock:
            if not self._acked:
                await self._acknowledge(self._placeholder)

    async def _acknowledge(self, text: str) -> None:
        self._acked = True
        self._acked_at = asyncio.get_running_loop().time()
        await self._ack(response_action="update", view=blocks.message_modal(self._title, text))

    async def show(self, text: str) -> None:
        """The outcome: in the ack if it is not sent yet, else by views.update."""
        async with self._lock:
            if not self._acked:
                await self._acknowledge(text)
                return
        wait = self._acked_at + SETTLE_SECONDS - asyncio.get_running_loop().time()
        if wait > 0:  # let Bolt send the placeholder ack before this overtakes it
            await asyncio.sleep(wait)
        await self._slack.update_view(self._view_id, blocks.message_modal(self._title, text))
