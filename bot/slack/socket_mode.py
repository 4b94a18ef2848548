"""Socket Mode with the same durability as HTTP: message and reaction events are stored before they are acked.

Bolt's Socket Mode handler acks an event as soon as it is dispatched. For timeline captures the ack must come
after the commit (no ack means Slack delivers the envelope again), so those envelopes are handled here and
everything else is passed to Bolt's own handler unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from .events import Dropped
from .http import clean, team_of

log = logging.getLogger(__name__)


def socket_mode_handler(
    bolt: AsyncApp,
    app_token: str,
    wants: Callable[[dict[str, Any]], bool],
    capture: Callable[[dict[str, Any]], Awaitable[None]],
    served_team: Callable[[], Awaitable[str]],
) -> AsyncSocketModeHandler:
    """The same trust rules as the HTTP front door (bot/slack/http.py), minus the signature: Slack's connection,
    opened with the app token, is the proof of origin. Unstorable characters are replaced, payloads from another
    workspace are acked and ignored, events that can never be stored are acked and recorded as dropped."""
    handler = AsyncSocketModeHandler(bolt, app_token)

    async def ack(client: SocketModeClient, request: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    async def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        payload = request.payload
        if not isinstance(payload, dict):
            await ack(client, request)
            return
        clean(payload)
        team = team_of(payload)
        if team is not None and team != await served_team():
            log.warning("ignored a Socket Mode request from workspace %s, which this bot does not serve", team)
            await ack(client, request)
            return
        if request.type == "events_api" and wants(payload):
            try:
                await capture(payload)
            except Dropped:
                pass  # recorded as dropped by the capture: acked, so that Slack does not deliver it forever
            except Exception as error:  # not stored: no ack, so Slack delivers it again
                log.warning("event %s not stored (%s); not acking", payload.get("event_id"), type(error).__name__)
                return
            await ack(client, request)
            return
        await handler.handle(client, request)

    handler.client.socket_mode_request_listeners[:] = [listener]  # type: ignore[list-item]
    return handler
