"""The HTTP front door: Slack's requests in, Bolt's answers out (our own adapter around Bolt's aiohttp one)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest


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


def slack_events_handler(bolt: AsyncApp) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        bolt_request = await to_bolt_request(request)
        repair_form_body(bolt_request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    return handle
