"""Routing deliveries to the bot: HTTP request URL or Socket Mode, plus ordered background deliveries."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import aiohttp

from bot.emulator.delivery import Delivery, SocketHub, post_http, signed_headers
from bot.emulator.workspace import JSON

log = logging.getLogger(__name__)

Kind = Literal["command", "event", "interactive"]
T = TypeVar("T")
_SOCKET_TYPES = {"command": "slash_commands", "event": "events_api", "interactive": "interactive"}


def encode(kind: Kind, payload: Mapping[str, Any]) -> tuple[bytes, str]:
    """Body and Content-Type as Slack sends them: JSON events, form commands, `payload=` interactions."""
    if kind == "event":
        return json.dumps(payload).encode(), "application/json"
    if kind == "command":
        return urlencode(payload).encode(), "application/x-www-form-urlencoded"
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


class Courier:
    """Delivers to the request URL (signed) if set, else over Socket Mode; records every answer."""

    def __init__(self, hub: SocketHub, *, signing_secret: str, timeout: float) -> None:
        self.hub = hub
        self.signing_secret = signing_secret
        self.timeout = timeout
        self.request_url: str | None = None
        self.deliveries: list[Delivery] = []
        self.failed: list[Delivery] = []
        self.dropped: list[JSON] = []
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._chain: asyncio.Task[Any] | None = None

    async def open(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def has_target(self) -> bool:
        return self.request_url is not None or self.hub.total_connections > 0

    def _record(self, delivery: Delivery) -> Delivery:
        self.deliveries.append(delivery)
        if not delivery.ok:
            self.failed.append(delivery)
        return delivery

    async def deliver(
        self,
        kind: Kind,
        payload: Mapping[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        timestamp: str | None = None,
        signature: str | None = None,
    ) -> Delivery:
        if self.request_url is not None:
            assert self._session is not None, "start() the emulator first"
            body, content_type = encode(kind, payload)
            headers = signed_headers(
                self.signing_secret,
                body,
                content_type,
                timestamp=timestamp,
                signature=signature,
                retry_num=retry_num,
                retry_reason=retry_reason,
            )
            delivery = await post_http(
                self._session, self.request_url, body, headers, kind=kind, give_up_after=self.timeout
            )
        elif self.hub.total_connections:
            accepts = kind == "command" or payload.get("type") in ("view_submission", "block_suggestion")
            delivery = await self.hub.send(
                _SOCKET_TYPES[kind],
                dict(payload),
                accepts_response_payload=accepts,
                retry_attempt=retry_num or 0,
                retry_reason=retry_reason if retry_num else "",
                ack_within=self.timeout,
            )
        else:
            raise RuntimeError("nowhere to deliver: call set_request_url() or connect a Socket Mode client first")
        delivery.kind = kind
        return self._record(delivery)

    async def deliver_raw(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Delivery:
        if self.request_url is None or self._session is None:
            raise RuntimeError("deliver_raw needs a started emulator with a request URL (HTTP mode)")
        all_headers = {"Content-Type": content_type, **headers}
        delivery = await post_http(
            self._session, self.request_url, body, all_headers, kind="raw", give_up_after=self.timeout
        )
        return self._record(delivery)

    def emit(self, envelope: JSON) -> None:
        """Deliver an event envelope in the background, after every earlier one (dropped if nobody listens)."""

        async def send() -> None:
            await self._send_or_drop(envelope)

        self._spawn_ordered(send)

    async def emit_and_wait(self, envelope: JSON, *, drop_if_no_target: bool = True) -> Delivery | None:
        """Deliver an event envelope after every earlier background one and return the bot's answer.

        With nowhere to deliver: dropped (None), or RuntimeError when drop_if_no_target is False.
        """
        if not drop_if_no_target and not self.has_target():
            raise RuntimeError("nowhere to deliver: call set_request_url() or connect a Socket Mode client first")
        return await self._spawn_ordered(lambda: self._send_or_drop(envelope))

    async def _send_or_drop(self, envelope: JSON) -> Delivery | None:
        if not self.has_target():
            self.dropped.append(envelope)
            return None
        return await self.deliver("event", envelope)

    async def redeliver(self, delivery: Delivery, *, retry_num: int, retry_reason: str) -> Delivery:
        """Send an earlier delivery's exact body again, as Slack's retry does (fresh signature + retry headers)."""
        if delivery.mode == "socket":
            return await self._redeliver_socket(delivery, retry_num=retry_num, retry_reason=retry_reason)
        if self.request_url is None or self._session is None:
            raise RuntimeError("redelivering an HTTP request needs a started emulator with a request URL")
        content_type = next(
            (v for k, v in delivery.request_headers.items() if k.lower() == "content-type"), "application/json"
        )
        body = delivery.request_body
        headers = signed_headers(
            self.signing_secret, body, content_type, retry_num=retry_num, retry_reason=retry_reason
        )
        again = await post_http(
            self._session, self.request_url, body, headers, kind=delivery.kind, give_up_after=self.timeout
        )
        return self._record(again)

    async def _redeliver_socket(self, delivery: Delivery, *, retry_num: int, retry_reason: str) -> Delivery:
        envelope = json.loads(delivery.request_body)
        again = await self.hub.send(
            str(envelope["type"]),
            envelope["payload"],
            accepts_response_payload=bool(envelope.get("accepts_response_payload")),
            retry_attempt=retry_num,
            retry_reason=retry_reason,
            ack_within=self.timeout,
        )
        again.kind = delivery.kind
        return self._record(again)

    def _spawn_ordered(self, make: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        previous = self._chain

        async def run() -> T:
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            return await make()

        task = asyncio.get_running_loop().create_task(run())
        self._chain = task
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("emulator background delivery failed", exc_info=task.exception())

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
