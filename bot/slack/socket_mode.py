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

log = logging.getLogger(__name__)


def socket_mode_handler(
    bolt: AsyncApp,
    app_token: str,
    wants: Callable[[dict[str, Any]], bool],
    capture: Callable[[dict[str, Any]], Awaitable[None]],
) -> AsyncSocketModeHandler:
    handler = AsyncSocketModeHandler(bolt, app_token)

    async def listener(client: SocketModeClient, request: SocketModeRequest) -> None:
        payload = request.payload
        if request.type == "events_api" and isinstance(payload, dict) and wants(payload):
            try:
                await capture(payload)
            except Exception as error:  # not stored: no ack, so Slack delivers it again
                log.warning("event %s not stored (%s); not acking", payload.get("event_id"), type(error).__name__)
                return
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
            return
        await handler.handle(client, request)

    handler.client.socket_mode_request_listeners[:] = [listener]  # type: ignore[list-item]
    return handler
