"""Nothing from an unverified request is ever acted on; junk is refused with a 4xx; every answer is counted."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp import web

from bot.app import IncidentBot
from bot.emulator import SlackEmulator
from tests.conftest import SIGNING_SECRET, People, free_socket

from .steps import incident_channels, open_incident, run


class Trap:
    """A server that records every request it gets: where an attacker would point a response_url."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.url = ""

    async def record(self, request: web.Request) -> web.Response:
        self.hits.append(f"{request.method} {request.path}")
        return web.Response(text="ok")


@pytest.fixture
async def trap() -> AsyncIterator[Trap]:
    found = Trap()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.record)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = free_socket()
    await web.SockSite(runner, sock).start()
    found.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    yield found
    await runner.cleanup()


def command_form(people: People, response_url: str, text: str = "status") -> bytes:
    return urlencode(
        {
            "token": "x",
            "team_id": "T0EMULATE",
            "channel_id": people.general,
            "user_id": people.alice,
            "command": "/incident",
            "text": text,
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    ).encode()


FORM = "application/x-www-form-urlencoded"


def signed(body: bytes, content_type: str) -> dict[str, str]:
    """Headers Slack would send with this exact body (signed over the bytes, whatever they are)."""
    now = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{now}:".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": now, "X-Slack-Signature": f"v0={digest}"}


BAD_HEADERS = {
    "a timestamp that is not a number": {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64},
    "a signature that is not ASCII": {"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=é" + "0" * 63},
    "no headers at all": {},
    "an empty signature": {"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": ""},
    "a timestamp far in the future": {"X-Slack-Request-Timestamp": "99999999999999", "X-Slack-Signature": "v0=0"},
    "a negative timestamp": {"X-Slack-Request-Timestamp": "-5", "X-Slack-Signature": "v0=0"},
}


@pytest.mark.parametrize("what", list(BAD_HEADERS))
async def test_an_unverifiable_request_is_answered_401_and_nothing_is_called(
    what: str, emulator: SlackEmulator, bot: IncidentBot, people: People, trap: Trap
) -> None:
    headers = {k: v.replace("{now}", str(int(time.time()))) for k, v in BAD_HEADERS[what].items()}
    calls_before = len(emulator.calls)

    answer = await emulator.deliver_raw(command_form(people, trap.url, "open Forged"), FORM, headers)

    assert answer.status == 401
    assert await bot.services.in_flight.drained(within=5)
    assert trap.hits == []  # not even the error listener answered the (unverified) response_url
    assert emulator.calls[calls_before:] == []
    async with bot.db.transaction() as store:
        assert await store.count() == 0


async def test_a_verified_command_is_answered_only_through_slack_never_another_host(
    emulator: SlackEmulator, bot: IncidentBot, people: People, trap: Trap
) -> None:
    body = command_form(people, trap.url, "help")  # signed, but with a response_url that is not Slack's

    answer = await emulator.deliver_raw(body, FORM, signed(body, FORM))

    assert answer.status == 200
    assert await bot.services.in_flight.drained(within=5)
    assert trap.hits == []


JSON = "application/json"


def interaction(payload: dict[str, object]) -> bytes:
    return b"payload=" + quote(json.dumps({"team": {"id": "T0EMULATE"}, **payload})).encode()


SIGNED_JUNK = {
    "malformed JSON": (b'{"type": "event_callback", ', "application/json"),
    "a JSON list": (b'[{"type": "event_callback"}]', "application/json"),
    "a JSON string": (b'"event_callback"', "application/json"),
    "a JSON number": (b"42", "application/json"),
    "JSON that is not UTF-8": (b'{"text": "\xff\xfe"}', "application/json"),
    "a payload that is not JSON": (b"payload=notjson", FORM),
    "a payload that is a JSON list": (b"payload=%5B1%2C2%5D", FORM),
    "a form that is not UTF-8": (b"command=%2Fincident&text=%FF%FE", FORM),
    "a form that is neither a command nor an interaction": (b"hello=world", FORM),
    "an empty body": (b"", FORM),
    "JSON in UTF-16": (
        '{"type": "event_callback", "event": {"type": "app_mention"}}'.encode("utf-16"),
        "application/json",
    ),
    "JSON nested deeper than Python parses": (b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, "application/json"),
    "an event that is not an object": (
        b'{"type": "event_callback", "team_id": "T0EMULATE", "event": "x"}',
        "application/json",
    ),
    "an event type that is a list": (
        b'{"type": "event_callback", "team_id": "T0EMULATE", "event": {"type": ["message"]}}',
        "application/json",
    ),
    "actions that are not objects": (
        b"payload="
        + quote(json.dumps({"type": "block_actions", "team": {"id": "T0EMULATE"}, "actions": [5]})).encode(),
        FORM,
    ),
    "a view that is not an object": (
        b"payload=" + quote(json.dumps({"type": "view_submission", "team": {"id": "T0EMULATE"}, "view": "x"})).encode(),
        FORM,
    ),
}


@pytest.mark.parametrize("what", list(SIGNED_JUNK))
async def test_signed_junk_is_answered_400_not_500(
    what: str, emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    body, content_type = SIGNED_JUNK[what]

    answer = await emulator.deliver_raw(body, content_type, signed(body, content_type))

    assert answer.status == 400
    assert await bot.services.in_flight.drained(within=5)


async def test_unsigned_junk_is_answered_401_before_it_is_even_parsed(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    answers = [
        await emulator.deliver_raw(body, content_type, {"X-Slack-Request-Timestamp": "abc"})
        for body, content_type in SIGNED_JUNK.values()
    ]

    assert {a.status for a in answers} == {401}


def counted(metrics: str, status: int) -> float:
    found = re.search(rf'incident_bot_http_requests_total{{route="/slack/events",status="{status}"}} (\S+)', metrics)
    return float(found.group(1)) if found else 0.0


async def test_every_answer_is_counted_in_the_metrics_5xx_included(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Counting outage")
    body, content_type = SIGNED_JUNK["a JSON list"]
    await emulator.deliver_raw(body, content_type, signed(body, content_type))
    await emulator.deliver_raw(b"{}", "application/json", {})
    async with bot.db.engine.begin() as conn:  # the next message cannot be stored: 503, Slack retries
        await conn.exec_driver_sql("ALTER TABLE messages RENAME TO messages_gone")
    message = await emulator.post_message(people.alice, channel.id, "is anyone looking?", deliver=False)
    failed = await emulator.deliver_message_event(channel.id, message.ts, ordered=False)

    metrics = bot.metrics.render().decode()

    assert failed.status == 503
    assert counted(metrics, 400) == 1
    assert counted(metrics, 401) == 1
    assert counted(metrics, 503) >= 1
    assert 'incident_bot_requests_refused_total{reason="invalid_signature"} 1.0' in metrics
    assert 'incident_bot_requests_refused_total{reason="malformed_body"} 1.0' in metrics


async def test_a_body_declared_larger_than_a_megabyte_is_answered_413_before_it_is_sent(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    assert emulator._courier.request_url is not None
    url = urlsplit(emulator._courier.request_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)

    writer.write(
        f"POST {url.path} HTTP/1.1\r\nHost: {url.hostname}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {2 * 1024 * 1024}\r\n\r\n".encode()
        + b"{"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()

    assert status_line.startswith(b"HTTP/1.1 413")


async def test_a_body_larger_than_a_megabyte_without_a_length_is_cut_off_after_the_first_megabyte(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    assert emulator._courier.request_url is not None
    sent = 0

    async def endless_body() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        nonlocal sent
        for _ in range(1024):
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    async with aiohttp.ClientSession() as session:
        try:
            answer: int | str = (await session.post(emulator._courier.request_url, data=endless_body())).status
        except aiohttp.ClientError as e:  # the bot closed the connection while the body was still coming
            answer = type(e).__name__

    assert answer in (413, "ClientOSError", "ServerDisconnectedError")
    assert sent < 8 * 1024 * 1024  # it stopped reading after the first megabyte or so, not 64 MB later
    assert 'incident_bot_requests_refused_total{reason="body_too_large"} 1.0' in bot.metrics.render().decode()


async def test_a_request_from_another_workspace_is_ignored(
    emulator: SlackEmulator, bot: IncidentBot, people: People, trap: Trap
) -> None:
    body = command_form(people, trap.url, "open Cross-workspace outage").replace(b"T0EMULATE", b"T0OTHERWS")

    answer = await emulator.deliver_raw(body, FORM, signed(body, FORM))

    assert answer.status == 200
    assert "another Slack workspace" in answer.body
    assert await bot.services.in_flight.drained(within=5)
    assert incident_channels(emulator) == []
    async with bot.db.transaction() as store:
        assert await store.count() == 0


async def test_an_event_from_another_workspace_is_not_captured(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Foreign events")
    envelope = {
        "type": "event_callback",
        "team_id": "T0OTHERWS",
        "api_app_id": emulator.app_id,
        "event_id": "Ev0FOREIGN",
        "event_time": int(time.time()),
        "event": {
            "type": "message",
            "channel": channel.id,
            "user": people.bob,
            "text": "from elsewhere",
            "ts": f"{time.time():.6f}",
            "channel_type": "channel",
        },
    }
    body = json.dumps(envelope).encode()

    answer = await emulator.deliver_raw(body, "application/json", signed(body, "application/json"))

    assert answer.status == 200
    async with bot.db.timeline() as store:
        assert not await store.has_message(channel.id, envelope["event"]["ts"])  # type: ignore[index]


async def test_a_listener_that_fails_right_after_its_ack_still_answers_slack_in_time(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    async with bot.db.engine.begin() as conn:  # every command fails right after its ack
        await conn.exec_driver_sql("ALTER TABLE incidents RENAME TO incidents_gone")

    deliveries = [await run(emulator, people.alice, people.general, "status") for _ in range(10)]

    assert all(d.status == 200 and d.elapsed < 1.0 for d in deliveries)


async def raw_post(url: str, head: str, body: bytes) -> bytes:
    """Send exactly these headers and body; the status line of the answer (b"" if the connection was closed)."""
    target = urlsplit(url)
    reader, writer = await asyncio.open_connection(target.hostname, target.port)
    writer.write(f"POST {target.path} HTTP/1.1\r\nHost: {target.hostname}\r\n{head}\r\n".encode() + body)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.readline(), timeout=10)
    finally:
        writer.close()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
async def test_a_compressed_body_is_refused_before_it_is_inflated(
    encoding: str, emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    assert emulator._courier.request_url is not None
    bomb = gzip.compress(b"{" + b" " * 1_000_000 + b"}")  # a kilobyte that inflates to a megabyte (or not: junk)

    status = await raw_post(
        emulator._courier.request_url,
        f"Content-Type: application/json\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(bomb)}\r\n",
        bomb,
    )

    assert re.match(rb"HTTP/1.[01] 4", status)  # 415 from the bot; aiohttp itself refuses brotli (400) first
    if encoding != "br":
        assert 'incident_bot_requests_refused_total{reason="compressed_body"} 1.0' in bot.metrics.render().decode()


async def test_a_body_that_does_not_arrive_in_time_is_refused_and_the_slot_freed(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    assert emulator._courier.request_url is not None
    started = asyncio.get_running_loop().time()

    status = await raw_post(  # declares 100 bytes, sends 10, and waits
        emulator._courier.request_url, "Content-Type: application/json\r\nContent-Length: 100\r\n", b'{"type": "'
    )

    assert status.startswith(b"HTTP/1.1 408")
    assert asyncio.get_running_loop().time() - started < 5  # Slack itself gives up after 3 s


async def test_a_large_body_that_cannot_get_a_read_slot_in_time_is_answered_503_at_once(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    assert emulator._courier.request_url is not None
    url = urlsplit(emulator._courier.request_url)
    head = f"POST {url.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n"
    slow = []
    for _ in range(8):  # every large-body slot taken by a body that trickles in
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(head.encode() + b"{")
        slow.append((reader, writer))
    await asyncio.sleep(0.2)

    status = await raw_post(
        emulator._courier.request_url, "Content-Type: application/json\r\nContent-Length: 500000\r\n", b"{"
    )

    for _, writer in slow:
        writer.close()
    assert status.startswith(b"HTTP/1.1 503")
    assert 'reason="too_many_large_bodies"' in bot.metrics.render().decode()


async def test_answers_to_other_routes_and_methods_are_counted_too(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    assert emulator._courier.request_url is not None
    async with aiohttp.ClientSession() as session:
        async with session.get(emulator._courier.request_url) as wrong_method:
            assert wrong_method.status == 405
        async with session.get(emulator._courier.request_url.replace("/slack/events", "/nothing/here")) as unknown:
            assert unknown.status == 404

    metrics = bot.metrics.render().decode()

    assert 'incident_bot_http_requests_total{route="unmatched",status="405"} 1.0' in metrics
    assert 'incident_bot_http_requests_total{route="unmatched",status="404"} 1.0' in metrics


async def test_a_request_that_names_no_workspace_is_ignored(
    emulator: SlackEmulator, bot: IncidentBot, people: People, trap: Trap
) -> None:
    body = command_form(people, trap.url, "open Nowhere outage").replace(b"team_id=T0EMULATE&", b"")

    answer = await emulator.deliver_raw(body, FORM, signed(body, FORM))

    assert answer.status == 200
    assert await bot.services.in_flight.drained(within=5)
    async with bot.db.transaction() as store:
        assert await store.count() == 0
