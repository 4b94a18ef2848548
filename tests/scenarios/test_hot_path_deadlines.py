"""Slack gets its answer to every message and reaction event in time, whatever the database or Slack does: stored
and 200, or 503 at once when it cannot be stored (and Slack delivers it again), never no answer at all. And a
channel another replica has just opened is captured at once, not hidden behind the cache of ordinary channels.

Slack gives up on a request after 3 s: that is the bound asserted (the emulator records no answer, status 0, after
3 s), not a benchmark of how fast the bot is.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import IncidentBot
from bot.config import Config, ConfigError, load_config
from bot.emulator import Delivery, SlackEmulator
from bot.storage import notify
from tests.conftest import APP_TOKEN, People, environment, serving, serving_at

from .steps import COMMAND, incident_channels, open_incident, run, wait_for_private

SLACK_GIVES_UP = 3.0


@asynccontextmanager
async def database_hanging(database_url: str) -> AsyncIterator[None]:
    """Another session holds a lock that blocks the bot's channel lookup and its writes, and does not let go until
    the block ends: on PostgreSQL an open transaction holding `LOCK TABLE incidents, messages IN ACCESS EXCLUSIVE
    MODE`; on SQLite another connection's exclusive transaction on the file."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        blocker = sqlite3.connect(str(url.database), isolation_level=None, timeout=5, check_same_thread=False)
        await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")  # waits (off the loop) for a write under way
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
    try:
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("LOCK TABLE incidents, messages IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await conn.close()


async def stored(incident_bot: IncidentBot, message_text: str) -> int:
    async with incident_bot.db.engine.connect() as conn:
        result = await conn.execute(text("SELECT count(*) FROM messages WHERE text = :t"), {"t": message_text})
        return int(result.scalar_one())


async def health(base_url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{base_url}/healthz") as response:
        return response.status


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str, every: float = 0.05) -> float:
    """Poll `check` until it holds; returns how long that took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await check():
        if loop.time() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(every)
    return loop.time() - started


async def ready(base_url: str) -> bool:
    return await health(base_url) == 200


def delivery_of(emulator: SlackEmulator, message_text: str) -> Delivery:
    """The (last) delivery of the event carrying this text."""
    return next(d for d in reversed(emulator.deliveries) if message_text.encode() in d.request_body)


def answered_in_time(deliveries: list[Delivery]) -> list[int]:
    """The statuses, once every delivery is known to have been answered before Slack gave up."""
    late = [d for d in deliveries if d.status == 0 or d.elapsed >= SLACK_GIVES_UP]
    assert not late, f"{len(late)} deliveries got no answer within {SLACK_GIVES_UP} s: {late[0].failure}"
    return [d.status for d in deliveries]


async def redelivered_until_answered_200(emulator: SlackEmulator, delivery: Delivery, within: float = 10.0) -> Delivery:
    """Slack delivers an event again after a 5xx (or, over Socket Mode, no ack), later (its retries come after a
    minute, then five: here sooner, polling); every HTTP answer must come in time."""
    answers: list[Delivery] = []

    async def answered_200() -> bool:
        answers.append(await emulator.redeliver(delivery, retry_num=min(len(answers) + 1, 3)))
        if answers[-1].mode == "http":
            answered_in_time(answers[-1:])
        return answers[-1].status == 200

    await eventually(answered_200, within, "a redelivery stored", every=0.2)
    return answers[-1]


async def test_with_the_database_locked_every_event_of_a_freshly_started_bot_is_answered_in_time_and_stored_later(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    async with serving(config, emulator):
        channel = await open_incident(emulator, people.alice, people.general, "Database locked")
    elsewhere = emulator.add_channel("random", members=[people.bob, emulator.bot_user_id])
    in_incident = [
        await emulator.post_message(people.alice, channel.id, f"while locked {n}", deliver=False) for n in range(3)
    ]
    in_ordinary = [
        await emulator.post_message(people.bob, elsewhere, f"elsewhere {n}", deliver=False) for n in range(3)
    ]

    async with serving(config, emulator, slack_timeout=1.0) as restarted:  # a fresh bot: nothing cached
        async with database_hanging(restarted.db.url):
            first = await asyncio.gather(
                *(emulator.deliver_message_event(channel.id, m.ts, ordered=False) for m in in_incident),
                *(emulator.deliver_message_event(elsewhere, m.ts, ordered=False) for m in in_ordinary),
            )
            second = [await emulator.deliver_message_event(channel.id, in_incident[0].ts, ordered=False)]
            assert set(answered_in_time([*first, *second])) == {503}
        again = [await redelivered_until_answered_200(emulator, d) for d in first]

        assert set(answered_in_time(again)) == {200}
        assert [await stored(restarted, m.text) for m in in_incident] == [1, 1, 1]
        assert [await stored(restarted, m.text) for m in in_ordinary] == [0, 0, 0]


async def test_over_socket_mode_an_event_a_locked_database_cannot_take_is_not_acked_and_is_stored_when_sent_again(
    config_path: Path, emulator: SlackEmulator, people: People, database_url: str
) -> None:
    async with serving(load_config(config_path, environment(emulator, database_url)), emulator):
        channel = await open_incident(emulator, people.alice, people.general, "Database locked")
    emulator.set_request_url(None)
    posted = await emulator.post_message(people.alice, channel.id, "over the socket", deliver=False)
    config = load_config(config_path, environment(emulator, database_url, SLACK_APP_TOKEN=APP_TOKEN))

    async with over_socket_mode(config, emulator) as restarted:  # a fresh bot: nothing cached
        async with database_hanging(restarted.db.url):
            first = await emulator.deliver_message_event(channel.id, posted.ts, ordered=False)
        again = await redelivered_until_answered_200(emulator, first)

        assert (first.mode, first.status, first.failure) == ("socket", 0, "no_ack")  # Slack delivers it again
        assert (again.mode, again.status) == ("socket", 200)
        assert await stored(restarted, "over the socket") == 1


@asynccontextmanager
async def over_socket_mode(config: Config, emulator: SlackEmulator) -> AsyncIterator[IncidentBot]:
    incident_bot = IncidentBot(config)
    await incident_bot.start()
    handler = incident_bot.socket_mode_handler(APP_TOKEN)
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await emulator.wait_for(lambda: emulator.socket_connected, what="the bot connects over Socket Mode")
        yield incident_bot
    finally:
        await emulator.wait_idle()
        await handler.close_async()  # type: ignore[no-untyped-call]
        await incident_bot.close()


async def test_with_the_database_locked_a_message_of_a_known_incident_channel_is_answered_503_in_time_and_stored_later(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    async with serving(config, emulator) as incident_bot:
        channel = await open_incident(emulator, people.alice, people.general, "Database locked")
        await emulator.post_message(people.alice, channel.id, "before the lock")  # the channel is known (cached)
        await emulator.wait_idle()
        posted = [
            await emulator.post_message(people.alice, channel.id, f"during the lock {n}", deliver=False)
            for n in range(5)
        ]

        async with database_hanging(incident_bot.db.url):
            first = await asyncio.gather(
                *(emulator.deliver_message_event(channel.id, m.ts, ordered=False) for m in posted)
            )
            assert set(answered_in_time(first)) == {503}
        again = [await redelivered_until_answered_200(emulator, d) for d in first]

        assert set(answered_in_time(again)) == {200}
        assert [await stored(incident_bot, m.text) for m in posted] == [1] * 5


async def test_while_auth_test_hangs_after_a_restart_events_are_answered_503_at_once_and_stored_once_slack_answers(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    async with serving(config, emulator):
        channel = await open_incident(emulator, people.alice, people.general, "Slack slow")
    holds = [emulator.hold("auth.test", perform=False) for _ in range(20)]  # Slack takes auth.test, never answers

    async with serving_at(config, emulator, slack_timeout=1.0) as (restarted, url):
        emulator.set_request_url(f"{url}/slack/events")
        assert holds[0].arrived.is_set()
        assert await health(url) == 503  # not ready while it does not know who it is
        posted = [await emulator.post_message(people.alice, channel.id, f"early {n}", deliver=False) for n in range(3)]
        first = [await emulator.deliver_message_event(channel.id, m.ts, ordered=False) for m in posted]
        assert set(answered_in_time(first)) == {503}
        assert [await stored(restarted, m.text) for m in posted] == [0, 0, 0]

        for held in holds:
            held.release()
        await eventually(lambda: ready(url), within=15, what="the bot is ready once auth.test answers")
        again = [await emulator.redeliver(d, retry_num=1) for d in first]

        assert set(answered_in_time(again)) == {200}
        assert [await stored(restarted, m.text) for m in posted] == [1, 1, 1]


async def test_while_auth_test_is_rate_limited_after_a_restart_events_are_answered_503_until_slack_may_be_asked_again(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    async with serving(config, emulator):
        channel = await open_incident(emulator, people.alice, people.general, "Slack rate limiting")
    asked_before = len(emulator.calls_to("auth.test"))
    emulator.rate_limit_next("auth.test", retry_after=20)

    async with serving_at(config, emulator, slack_timeout=1.0) as (restarted, url):
        emulator.set_request_url(f"{url}/slack/events")
        early: list[Delivery] = []

        async def ready_while_slack_keeps_delivering() -> bool:
            if await ready(url):
                return True
            posted = await emulator.post_message(people.alice, channel.id, f"rate limited {len(early)}", deliver=False)
            early.append(await emulator.deliver_message_event(channel.id, posted.ts, ordered=False))
            return False

        waited = await eventually(
            ready_while_slack_keeps_delivering, within=40, what="the bot is ready after Retry-After", every=0.5
        )
        late = await emulator.post_message(people.alice, channel.id, "after the rate limit", deliver=False)
        after = await emulator.deliver_message_event(channel.id, late.ts, ordered=False)

        assert len(early) > 10
        assert set(answered_in_time(early)) == {503}
        assert waited >= 19  # Retry-After honoured: auth.test was asked again only after it (once, and answered)
        assert len(emulator.calls_to("auth.test")) - asked_before == 2
        assert answered_in_time([after]) == [200]
        assert await stored(restarted, "after the rate limit") == 1


async def test_a_slash_command_while_the_bot_does_not_know_who_it_is_is_told_it_is_starting(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    holds = [emulator.hold("auth.test", perform=False) for _ in range(20)]  # Slack takes auth.test, never answers

    async with serving_at(config, emulator, slack_timeout=1.0) as (_, url):
        emulator.set_request_url(f"{url}/slack/events")
        delivery = await emulator.send_command(people.alice, people.general, COMMAND, "open Payments down")

        assert holds[0].arrived.is_set()
        assert answered_in_time([delivery]) == [200]
        assert "still starting" in await wait_for_private(emulator, people.alice, "nothing was done")
        assert incident_channels(emulator) == []


async def test_a_bot_whose_token_slack_refuses_does_not_start_and_says_why(
    config_path: Path, emulator: SlackEmulator, database_url: str
) -> None:
    config = load_config(config_path, environment(emulator, database_url, SLACK_BOT_TOKEN="xoxb-not-this-workspace"))
    incident_bot = IncidentBot(config)

    with pytest.raises(ConfigError, match=r"SLACK_BOT_TOKEN: Slack refused the bot token \(auth.test: invalid_auth\)"):
        await incident_bot.start()
    await incident_bot.close()


async def test_a_channel_another_replica_opens_is_captured_at_once_though_this_one_took_it_for_an_ordinary_channel(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    async with serving_at(config, emulator) as (first, first_url), serving_at(config, emulator) as (_, other_url):
        await other_replica_opens_a_channel_the_first_took_for_an_ordinary_one(emulator, people, first_url, other_url)
        await emulator.post_message(people.bob, incident_channels(emulator)[0].id, "first words in the new channel")
        await emulator.wait_idle()

        assert answered_in_time([delivery_of(emulator, "first words in the new channel")]) == [200]
        assert await stored(first, "first words in the new channel") == 1


async def test_a_replica_whose_notice_connection_dropped_listens_again_and_still_captures_a_new_channel_at_once(
    config_path: Path, emulator: SlackEmulator, people: People, postgres_url: str
) -> None:
    config = load_config(config_path, environment(emulator, postgres_url))
    async with serving_at(config, emulator) as (first, first_url), serving_at(config, emulator) as (_, other_url):
        dropped = await listeners(postgres_url)
        assert len(dropped) == 2  # one per replica
        await drop_connections(postgres_url, dropped)

        await eventually(
            lambda: _listening_again(postgres_url, dropped), within=10, what="both replicas listening again"
        )
        await other_replica_opens_a_channel_the_first_took_for_an_ordinary_one(emulator, people, first_url, other_url)
        await emulator.post_message(people.bob, incident_channels(emulator)[0].id, "words after the reconnect")
        await emulator.wait_idle()

        assert answered_in_time([delivery_of(emulator, "words after the reconnect")]) == [200]
        assert await stored(first, "words after the reconnect") == 1


async def other_replica_opens_a_channel_the_first_took_for_an_ordinary_one(
    emulator: SlackEmulator, people: People, first_url: str, other_url: str
) -> None:
    """The other replica opens an incident; while its channel exists in Slack but is not recorded yet, an event of
    that channel reaches the first replica (answered as an ordinary channel's, and remembered as one). Returns once
    the other replica has finished (its card is pinned); Slack then delivers to the first replica."""
    created = emulator.hold("conversations.create", perform=True)  # created in Slack, its answer held
    emulator.set_request_url(f"{other_url}/slack/events")
    await run(emulator, people.alice, people.general, "open Payments down")
    await asyncio.wait_for(created.arrived.wait(), 5)
    [channel] = incident_channels(emulator)
    emulator.set_request_url(f"{first_url}/slack/events")
    joined = await emulator.join(people.bob, channel.id)
    await emulator.wait_idle()
    assert answered_in_time([delivery_of(emulator, joined.ts)]) == [200]

    created.release()  # the other replica records the channel and sets the incident up
    await emulator.wait_for(lambda: bool(channel.pins), what="the card pinned by the other replica")


async def listeners(database_url: str) -> set[int]:
    """The backends of the replicas' channel notice connections."""
    conn = await asyncpg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1",
            notify.APPLICATION_NAME,
        )
    finally:
        await conn.close()
    return {int(row["pid"]) for row in rows}


async def drop_connections(database_url: str, pids: set[int]) -> None:
    conn = await asyncpg.connect(make_url(database_url).set(drivername="postgresql").render_as_string(False))
    try:
        await conn.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", list(pids))
    finally:
        await conn.close()


async def _listening_again(database_url: str, dropped: set[int]) -> bool:
    now = await listeners(database_url)
    return len(now) == 2 and not now & dropped
