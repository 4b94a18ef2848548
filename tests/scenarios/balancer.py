"""A round-robin load balancer on loopback, as in front of several replicas: each request Slack sends goes to
the next replica, headers and body untouched, and the replica's answer goes back to Slack."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import cycle

import aiohttp
from aiohttp import web

from tests.conftest import free_socket

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class Balancer:
    url: str
    sent: list[tuple[str, bytes]] = field(default_factory=list)  # (target, body) of every request, in order

    def bodies_sent_to(self, target: str) -> list[bytes]:
        return [body for to, body in self.sent if to == target]


@asynccontextmanager
async def round_robin(targets: Sequence[str]) -> AsyncIterator[Balancer]:
    """Serve a balancer over `targets` (request URLs)."""
    turn = cycle(targets)
    client = aiohttp.ClientSession(auto_decompress=False)
    balancer = Balancer("")

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = next(turn)
        balancer.sent.append((target, body))
        async with client.post(target, data=body, headers=headers) as answer:
            payload = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
            return web.Response(status=answer.status, body=payload, headers=kept)

    app = web.Application()
    app.router.add_post("/slack/events", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock).start()
    balancer.url = f"http://127.0.0.1:{sock.getsockname()[1]}/slack/events"
    try:
        yield balancer
    finally:
        await runner.cleanup()
        await client.close()
