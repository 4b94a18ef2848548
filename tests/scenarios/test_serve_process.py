"""`incident-bot serve` as its own process, against the emulator, as it runs in production."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bot.emulator import SlackEmulator
from tests.conftest import APP_TOKEN, ROOT, People, environment, free_socket

from .steps import card_field, incident_channels, open_incident, run, wait_for_private


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """Start `incident-bot serve` on a free port with the repository's app.yaml; yields its base URL; stops it."""
    with serve_process(env | {"INCIDENT_BOT_CONFIG": str(ROOT / "app.yaml")}, log) as (url, _process):
        yield url


@contextmanager
def serve_process(
    env: dict[str, str], log: Path, *options: str, command: Sequence[str] = (sys.executable, "-m", "bot")
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`incident-bot serve [options]` on a free port, in the folder of `log` (its output goes there), with `env`
    over this process's environment; yields its base URL and the process; stops it (SIGTERM) afterwards."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "serve", "--host", "127.0.0.1", "--port", str(port), *options],
            env={**os.environ, **env},
            cwd=log.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_healthy(url: str, log: Path, within: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    async with aiohttp.ClientSession() as session:
        while asyncio.get_running_loop().time() < deadline:
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    said = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"{url}/healthz never answered 200; the bot said:\n{said}")


@pytest.fixture
async def served(emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path) -> AsyncIterator[str]:
    log = tmp_path / "serve.log"
    with serve(environment(emulator, database_url), log) as url:
        await wait_healthy(url, log)
        emulator.set_request_url(f"{url}/slack/events")
        yield url
        await emulator.wait_idle()


async def test_a_served_bot_opens_an_incident_with_channel_invite_and_pinned_card_within_three_seconds(
    emulator: SlackEmulator, served: str, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "API 500 errors on User Service")

    assert channel.name.startswith("inc-")
    assert channel.name.endswith("-001-api-500-errors-on-user-service")
    assert people.alice in channel.members
    assert channel.pins
    assert card_field(emulator, channel, "Opened by") == f"<@{people.alice}>"
    command = next(d for d in emulator.deliveries if d.kind == "command")
    assert command.elapsed < 3.0
    assert await wait_for_private(emulator, people.alice, f"<#{channel.id}>")


async def test_health_and_metrics_are_served(emulator: SlackEmulator, served: str, people: People) -> None:
    await open_incident(emulator, people.alice, people.general, "Metrics please")

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{served}/healthz") as health:
            assert health.status == 200
        async with session.get(f"{served}/metrics") as response:
            metrics = await response.text()

    assert response.headers["Content-Type"].startswith("text/plain")
    assert "incident_bot_incidents_opened_total 1.0" in metrics
    assert 'incident_bot_slack_api_calls_total{method="conversations.create"} 1.0' in metrics
    assert 'incident_bot_http_requests_total{route="/slack/events",status="200"}' in metrics


async def round_robin(backends: list[str]) -> tuple[web.AppRunner, str]:
    """A load balancer in front of replicas: each Slack request goes to the next backend."""
    turn = itertools.cycle(backends)
    session = aiohttp.ClientSession()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with session.post(f"{next(turn)}/slack/events", data=body, headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read(), content_type=answer.content_type)

    async def close(_: web.Application) -> None:
        await session.close()

    app = web.Application()
    app.router.add_post("/slack/events", forward)
    app.on_cleanup.append(close)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}/slack/events"


@pytest.mark.postgres
async def test_two_replicas_on_one_postgresql_give_twenty_concurrent_opens_twenty_distinct_ids(
    emulator: SlackEmulator, postgres_url: str, people: People, tmp_path: Path
) -> None:
    env = environment(emulator, postgres_url)
    with serve(env, tmp_path / "a.log") as first, serve(env, tmp_path / "b.log") as second:
        await asyncio.gather(wait_healthy(first, tmp_path / "a.log"), wait_healthy(second, tmp_path / "b.log"))
        balancer, url = await round_robin([first, second])
        emulator.set_request_url(url)
        try:
            await asyncio.gather(
                *(run(emulator, people.alice, people.general, f"open Replica outage {n}") for n in range(20))
            )
            await emulator.wait_for(lambda: sum(1 for c in incident_channels(emulator) if c.pins) == 20, timeout=30)
        finally:
            await emulator.wait_idle()
            await balancer.cleanup()

    numbers = sorted(int(c.name.split("-")[2]) for c in incident_channels(emulator))
    assert numbers == list(range(1, 21))
    served_by = {log: (tmp_path / log).read_text().count("opened INC-") for log in ("a.log", "b.log")}
    assert all(count > 0 for count in served_by.values()), served_by


async def test_a_served_bot_with_an_app_token_works_over_socket_mode(
    emulator: SlackEmulator, database_url: str, people: People, tmp_path: Path
) -> None:
    log = tmp_path / "socket.log"
    env = environment(emulator, database_url, SLACK_APP_TOKEN=APP_TOKEN)
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode needs none
    with serve(env, log) as url:
        await wait_healthy(url, log)
        await emulator.wait_for(lambda: emulator.socket_connected, timeout=20, what="the bot connects over Socket Mode")

        channel = await open_incident(emulator, people.alice, people.general, "Socket outage")
        await wait_for_private(emulator, people.alice, f"<#{channel.id}>")
        await emulator.wait_idle()

    assert channel.pins
    assert {d.mode for d in emulator.deliveries} == {"socket"}
