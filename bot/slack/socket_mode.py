"""Socket Mode with the same durability as HTTP: message and reaction events are stored before they are acked.

Bolt's Socket Mode handler acks an event as soon as it is dispatched. For timeline captures the ack must come
after the commit (no ack means Slack delivers the envelope again), so those envelopes are handled here and
everything else is passed to Bolt's own handler unchanged.

The same deadlines as over HTTP: a capture is over within CAPTURE_SECONDS of the envelope's arrival, acked once
stored, not acked if it was not (failed, or not known in time); and the bot's identity is never waited for: until
it is known, nothing is acked (Slack delivers again) except a slash command, which is told the bot is starting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from .events import Dropped
from .http import CAPTURE_SECONDS, STARTING_TEXT, Capture, clean
from .teams import team_of

log = logging.getLogger(__name__)


def socket_mode_handler(
    bolt: AsyncApp,
    app_token: str,
    wants: Callable[[dict[str, Any]], bool],
    capture: Capture,
    served_team: Callable[[], str | None],
) -> AsyncSocketModeHandler:
    """The same trust rules as the HTTP front door (bot/slack/http.py), minus the signature: Slack's connection,
    opened with the app token, is the proof of origin. Unstorable characters are replaced, payloads from another
    workspace are acked and ignored, events that can never be stored are acked and recorded as dropped."""
    handler = AsyncSocketModeHandler(bolt, app_token)

    async def ack(client: SocketModeClient, request: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    async def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        deadline = asyncio.get_running_loop().time() + CAPTURE_SECONDS
        payload = request.payload
        if not isinstance(payload, dict):
            await ack(client, request)
            return
        clean(payload)
        team = team_of(payload)
        served = served_team() if team is not None else None
        if team is not None and served is None:  # who the bot is is not known yet: nothing is done, nobody waits
            log.info("not acking a Socket Mode %s request: the bot's identity is not known yet", request.type)
            if request.type == "slash_commands":  # Slack does not repeat a command: tell the person
                await client.send_socket_mode_response(
                    SocketModeResponse(
                        envelope_id=request.envelope_id, payload={"response_type": "ephemeral", "text": STARTING_TEXT}
                    )
                )
            return
        if team is not None and team != served:
            log.warning("ignored a Socket Mode request from workspace %s, which this bot does not serve", team)
            await ack(client, request)
            return
        if request.type == "events_api" and wants(payload):
            try:
                await capture(payload, deadline=deadline)
            except Dropped:
                pass  # recorded as dropped by the capture: acked, so that Slack does not deliver it forever
            except Exception as error:  # not stored (or not known in time): no ack, so Slack delivers it again
                reason = "no answer in time" if isinstance(error, TimeoutError) else type(error).__name__
                log.warning("event %s not stored (%s); not acking", payload.get("event_id"), reason)
                return
            await ack(client, request)
            return
        await handler.handle(client, request)

    handler.client.socket_mode_request_listeners[:] = [listener]  # type: ignore[list-item]
    return handler
