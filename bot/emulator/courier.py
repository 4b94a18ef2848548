"""Routing deliveries to the bot: HTTP request URL or Socket Mode; events delivered the way Slack delivers them.

Slack promises no order: events go out concurrently, a later one may arrive first, and an event the bot does not
answer with a 2xx within 3 s (or answers non-2xx, or cannot be reached) is delivered again, up to 3 times: nearly
immediately, after about a minute and after about five (https://api.slack.com/apis/events-api, "Retries"), with
`X-Slack-Retry-Num` / `X-Slack-Retry-Reason` (Socket Mode: `retry_attempt` / `retry_reason` on the envelope). A
retry after a timeout goes out while the first delivery may still be running in the bot. The bot can stop the
retries of a failed delivery with the response header `X-Slack-No-Retry: 1`.

`DeliveryPolicy` is that behaviour, with the delays compressed and the shuffle seeded (the same seed makes the
same choices, so a failure can be replayed); `DeliveryPolicy.in_order()` is the old strictly ordered, never
retried delivery, for tests of ordering itself. Only Events API events are retried (Slack retries nothing else).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import urlencode

import aiohttp

from bot.emulator.delivery import Delivery, SocketHub, post_http, signed_headers
from bot.emulator.workspace import JSON

log = logging.getLogger(__name__)

Kind = Literal["command", "event", "interactive"]
T = TypeVar("T")
_SOCKET_TYPES = {"command": "slash_commands", "event": "events_api", "interactive": "interactive"}

# Slack's retry schedule (nearly at once, after ~1 min, after ~5 min), compressed 600 times.
RETRY_DELAYS = (0.0, 0.1, 0.5)
JITTER = 0.03  # a background event waits up to this long before it goes out, so close events overtake each other
# Why a retry is sent (X-Slack-Retry-Reason; the Events API docs list http_timeout, too_many_redirects,
# connection_failed, ssl_error, http_error, unknown_error). Socket Mode says `timeout` for an envelope nobody acked
# (as in slack_sdk's own Socket Mode test envelopes).
_RETRY_REASONS = {
    "http_timeout": "http_timeout",
    "http_error": "http_error",
    "connection_failed": "connection_failed",
    "no_ack": "timeout",
    "not_connected": "timeout",
}


@dataclass(frozen=True)
class DeliveryPolicy:
    """How events reach the bot. Default: as Slack does it (concurrent, shuffled by up to `jitter` seconds, retried
    after `retry_delays`); `in_order()`: one after the other, never retried."""

    seed: int = 0
    ordered: bool = False
    jitter: float = JITTER
    retry_delays: tuple[float, ...] = RETRY_DELAYS

    @classmethod
    def in_order(cls, seed: int = 0) -> DeliveryPolicy:
        return cls(seed=seed, ordered=True, jitter=0.0, retry_delays=())


def encode(kind: Kind, payload: Mapping[str, Any]) -> tuple[bytes, str]:
    """Body and Content-Type as Slack sends them: JSON events, form commands, `payload=` interactions."""
    if kind == "event":
        return json.dumps(payload).encode(), "application/json"
    if kind == "command":
        return urlencode(payload).encode(), "application/x-www-form-urlencoded"
    return urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"


class Courier:
    """Delivers to the request URL (signed) if set, else over Socket Mode; records every answer."""

    def __init__(
        self, hub: SocketHub, *, signing_secret: str, timeout: float, policy: DeliveryPolicy | None = None
    ) -> None:
        self.hub = hub
        self.signing_secret = signing_secret
        self.timeout = timeout
        self.policy = policy or DeliveryPolicy()
        self._random = random.Random(self.policy.seed)
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
        self._record(delivery)
        if kind == "event" and payload.get("type") == "event_callback" and retry_num is None:
            self._retry_if_failed(delivery)
        return delivery

    async def deliver_raw(self, body: bytes, content_type: str, headers: Mapping[str, str]) -> Delivery:
        if self.request_url is None or self._session is None:
            raise RuntimeError("deliver_raw needs a started emulator with a request URL (HTTP mode)")
        all_headers = {"Content-Type": content_type, **headers}
        delivery = await post_http(
            self._session, self.request_url, body, all_headers, kind="raw", give_up_after=self.timeout
        )
        return self._record(delivery)

    def emit(self, envelope: JSON) -> None:
        """Deliver an event envelope in the background (dropped if nobody listens): after every earlier one when
        ordered, else concurrently, after a seeded random wait of up to `jitter` seconds."""

        async def send() -> None:
            await self._send_or_drop(envelope)

        self._spawn(send)

    async def emit_and_wait(self, envelope: JSON, *, drop_if_no_target: bool = True) -> Delivery | None:
        """Deliver an event envelope as `emit` does and return the bot's answer to its first delivery (its retries,
        if any, go on in the background).

        With nowhere to deliver: dropped (None), or RuntimeError when drop_if_no_target is False.
        """
        if not drop_if_no_target and not self.has_target():
            raise RuntimeError("nowhere to deliver: call set_request_url() or connect a Socket Mode client first")
        return await self._spawn(lambda: self._send_or_drop(envelope))

    def _spawn(self, make: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        if self.policy.ordered:
            return self._spawn_ordered(make)
        wait = self._random.uniform(0.0, self.policy.jitter) if self.policy.jitter > 0 else 0.0

        async def run() -> T:
            await asyncio.sleep(wait)
            return await make()

        return self._track(asyncio.get_running_loop().create_task(run()))

    def _retry_if_failed(self, delivery: Delivery) -> None:
        """Slack's retries of a failed event delivery, in the background: each after its delay, while the previous
        attempt failed."""
        delays = self.policy.retry_delays
        if not delays or not _retried(delivery):
            return

        async def retry() -> None:
            failed = delivery
            for number, delay in enumerate(delays, start=1):
                await asyncio.sleep(delay)
                reason = _RETRY_REASONS[failed.failure or ""]
                try:
                    failed = await self.redeliver(delivery, retry_num=number, retry_reason=reason)
                except RuntimeError:  # the request URL was unset meanwhile: nowhere to retry to
                    return
                if not _retried(failed):
                    return

        self._track(asyncio.get_running_loop().create_task(retry()))

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
        again.retry_num = retry_num
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
        again.retry_num = retry_num
        return self._record(again)

    def _spawn_ordered(self, make: Callable[[], Awaitable[T]]) -> asyncio.Task[T]:
        previous = self._chain

        async def run() -> T:
            if previous is not None and not previous.done():
                await asyncio.wait({previous})
            return await make()

        task = asyncio.get_running_loop().create_task(run())
        self._chain = task
        return self._track(task)

    def _track(self, task: asyncio.Task[T]) -> asyncio.Task[T]:
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


def _retried(delivery: Delivery) -> bool:
    """Does Slack deliver this again? Not after a 2xx, nor after a non-2xx answer saying `X-Slack-No-Retry: 1`."""
    if delivery.ok or delivery.failure not in _RETRY_REASONS:
        return False
    return not (delivery.failure == "http_error" and _header(delivery.headers, "X-Slack-No-Retry") == "1")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)
