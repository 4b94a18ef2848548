"""Getting requests to the bot: signed HTTP POSTs to its request URL, or Socket Mode envelopes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

ACK_TIMEOUT = 3.0


@dataclass
class Delivery:
    """The bot's answer to one request. status 0 = no answer (timeout, connection failure, no ack)."""

    status: int
    body: str
    headers: dict[str, str]
    elapsed: float
    kind: str = ""
    mode: str = "http"
    failure: str | None = None
    request_body: bytes = b""
    request_headers: dict[str, str] = field(default_factory=dict)
    retry_num: int = 0  # 0: the first delivery; 1-3: Slack's automatic (or a test's) retries of it

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The answer body parsed as JSON, or None when empty / not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except json.JSONDecodeError:
            return None


def sign(signing_secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of `v0:{timestamp}:{body}`."""
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return str(signature)


def signed_headers(
    signing_secret: str,
    body: bytes,
    content_type: str,
    *,
    timestamp: str | None = None,
    signature: str | None = None,
    retry_num: int | None = None,
    retry_reason: str = "http_timeout",
) -> dict[str, str]:
    ts = timestamp if timestamp is not None else str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature if signature is not None else sign(signing_secret, ts, body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason
    return headers


async def post_http(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], *, kind: str, give_up_after: float
) -> Delivery:
    """POST to the bot's request URL; Slack gives up after `give_up_after` seconds (http_timeout)."""
    started = time.monotonic()
    try:
        async with session.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=give_up_after), allow_redirects=False
        ) as response:
            text = await response.text()
            return Delivery(
                status=response.status,
                body=text,
                headers=dict(response.headers),
                elapsed=time.monotonic() - started,
                kind=kind,
                request_body=body,
                request_headers=headers,
                failure=None if 200 <= response.status < 300 else "http_error",
            )
    except TimeoutError:
        failure = "http_timeout"
    except aiohttp.ClientError:
        failure = "connection_failed"
    return Delivery(
        status=0,
        body="",
        headers={},
        elapsed=time.monotonic() - started,
        kind=kind,
        request_body=body,
        request_headers=headers,
        failure=failure,
    )


@dataclass
class SocketConnection:
    ws: web.WebSocketResponse
    ticket: str
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    retiring: bool = False  # a disconnect message was sent: Slack delivers nothing more on it

    @property
    def live(self) -> bool:
        return not self.ws.closed and not self.retiring


class SocketHub:
    """Socket Mode: tickets from apps.connections.open, websocket connections, envelopes and their acks."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.tickets: set[str] = set()
        self.connections: list[SocketConnection] = []
        self.total_connections = 0
        self._connected = asyncio.Event()

    def issue_ticket(self) -> str:
        ticket = str(uuid.uuid4())
        self.tickets.add(ticket)
        return ticket

    def current(self) -> SocketConnection | None:
        live = [c for c in self.connections if c.live]
        return live[-1] if live else None

    async def wait_current(self, within: float) -> SocketConnection | None:
        """The connection to deliver on; after a disconnect, wait (up to `within` s) for the client to reconnect."""
        deadline = time.monotonic() + within
        while (connection := self.current()) is None and self.total_connections:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._connected.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), remaining)
        return connection

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self.tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self.tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True, timeout=1.0)
        await ws.prepare(request)
        connection = SocketConnection(ws=ws, ticket=ticket)
        self.connections.append(connection)
        self.total_connections += 1
        self._connected.set()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": len([c for c in self.connections if c.live]),
                "debug_info": {"host": "applink-emulator", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    log.warning("socket mode: non-JSON frame %r", msg.data)
                    continue
                future = connection.pending.pop(str(data.get("envelope_id")), None) if isinstance(data, dict) else None
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            for future in connection.pending.values():
                if not future.done():
                    future.set_result({})  # connection closed before the ack: no envelope_id
            connection.pending.clear()
            self.connections.remove(connection)
        return ws

    async def send(
        self,
        kind: str,
        payload: Any,
        *,
        accepts_response_payload: bool,
        retry_attempt: int = 0,
        retry_reason: str = "",
        ack_within: float = ACK_TIMEOUT,
    ) -> Delivery:
        """Send an envelope to the most recent live connection and wait for its ack."""
        started = time.monotonic()
        connection = await self.wait_current(ack_within)
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": kind,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        raw = json.dumps(envelope).encode()
        if connection is None:
            return Delivery(0, "", {}, 0.0, kind=kind, mode="socket", failure="not_connected", request_body=raw)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        connection.pending[envelope_id] = future
        ack: dict[str, Any] = {}
        try:
            await connection.ws.send_str(raw.decode())
            ack = await asyncio.wait_for(future, ack_within)
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            connection.pending.pop(envelope_id, None)
        if ack.get("envelope_id") != envelope_id:
            return Delivery(
                0, "", {}, time.monotonic() - started, kind=kind, mode="socket", failure="no_ack", request_body=raw
            )
        body = json.dumps(ack["payload"]) if ack.get("payload") is not None else ""
        return Delivery(200, body, {}, time.monotonic() - started, kind=kind, mode="socket", request_body=raw)

    async def disconnect(self, reason: str) -> None:
        for connection in [c for c in self.connections if c.live]:
            connection.retiring = True
            await connection.ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-emulator"}}
            )

    async def close_all(self) -> None:
        for connection in list(self.connections):
            if not connection.ws.closed:
                await connection.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")
