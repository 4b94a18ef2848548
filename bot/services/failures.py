"""When something unexpected breaks while handling a request: the person hears about it instead of silence."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.slack.gateway import SlackError, SlackGateway

log = logging.getLogger(__name__)

APOLOGY = (
    ":x: Something went wrong on my side while handling that ({kind}). It is logged for the operators; "
    "please try again in a moment."
)


class Failures:
    def __init__(self, slack: SlackGateway) -> None:
        self._slack = slack

    @asynccontextmanager
    async def guard(self, body: dict[str, Any]) -> AsyncIterator[None]:
        """Around a listener's work after its ack: an unexpected error is reported here rather than raised to Bolt.

        Bolt 1.30 (listener/asyncio_runner.py) resets the ack's response to None when a listener raises after
        acking; if that happens before Bolt has read the ack (it polls every 10 ms), Slack gets no answer at all
        and the person sees a timeout instead of our apology."""
        try:
            yield
        except Exception as error:
            await self.report(error, body)

    async def report(self, error: BaseException, body: dict[str, Any]) -> None:
        """Log it and tell the person. `body` is always a verified payload (bot/slack/http.py), so its response_url
        is Slack's own (and the gateway calls no other)."""
        log.error("unexpected error handling a Slack request", exc_info=error)
        text = APOLOGY.format(kind=type(error).__name__)
        user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else body.get("user_id")
        channel = (
            (body.get("channel") or {}).get("id") if isinstance(body.get("channel"), dict) else body.get("channel_id")
        )
        try:
            if body.get("response_url"):
                await self._slack.respond(str(body["response_url"]), text)
            elif user and channel:
                await self._slack.post_ephemeral(str(channel), str(user), text)
        except SlackError as e:
            log.warning("could not tell the person about the error: %s", e.code)
