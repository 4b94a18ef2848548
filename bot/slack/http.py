"""The HTTP front door: Slack's requests in, answers out.

Message and reaction events take a fast path in front of Bolt: verify the signature, capture, answer. They are
by far the most frequent requests, they must be stored before Slack gets its 200 (so a failed write makes
Slack deliver again), and Bolt's dispatch alone costs more than half of what one process can serve (see the
README's benchmark). Everything else (commands, interactivity, other events, url_verification) goes to Bolt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.metrics import Metrics

log = logging.getLogger(__name__)

ROUTE = "/slack/events"

Capture = Callable[[dict[str, Any]], Awaitable[None]]
Wants = Callable[[dict[str, Any]], bool]


def repair_form_body(request: AsyncBoltRequest) -> None:
    """Bolt 1.30 parses any form body containing the substring "payload" as an interactivity payload, so
    `/incident open payload service down` would come out empty and be answered 404. Slash commands are flat
    forms without a `payload` field: parse those again, properly."""
    if request.body or not request.raw_body or request.raw_body.startswith("{"):
        return
    fields = dict(parse_qsl(request.raw_body, keep_blank_values=True))
    if "payload" not in fields and "command" in fields:
        request.body = fields
        request.context = build_async_context(AsyncBoltContext({}), fields)


class SlackEndpoint:
    """`POST /slack/events`."""

    def __init__(self, bolt: AsyncApp, signing_secret: str, wants: Wants, capture: Capture, metrics: Metrics) -> None:
        self._metrics = metrics
        self._bolt = bolt
        self._verifier = SignatureVerifier(signing_secret)
        self._wants = wants
        self._capture = capture

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request)
        self._metrics.count_request(ROUTE, response.status)
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        if raw[:1] == b"{":
            answer = await self._fast_path(raw, request)
            if answer is not None:
                return answer
        text = raw.decode("utf-8")
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
        repair_form_body(bolt_request)
        return await to_aiohttp_response(await self._bolt.async_dispatch(bolt_request))

    async def _fast_path(self, raw: bytes, request: web.Request) -> web.Response | None:
        try:
            payload = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(payload, dict) or not self._wants(payload):
            return None
        headers = request.headers
        if not self._verifier.is_valid(raw, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")):
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            await self._capture(payload)  # the writer fails it in time (2.5 s) if the database does not answer
        except Exception as error:  # not stored: Slack must deliver it again
            reason = type(error).__name__
            log.warning("event %s not stored (%s); answering 503 so Slack retries", payload.get("event_id"), reason)
            return web.json_response({"error": "storage unavailable, retry"}, status=503)
        return web.Response(status=200)


def slack_events_handler(
    bolt: AsyncApp, signing_secret: str, wants: Wants, capture: Capture, metrics: Metrics
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    return SlackEndpoint(bolt, signing_secret, wants, capture, metrics).handle
