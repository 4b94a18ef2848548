"""A message Slack delivered is never lost: if it cannot be stored, Slack is told to deliver it again."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import IncidentBot
from bot.config import Config, load_config
from bot.emulator import SlackEmulator
from tests.conftest import People, environment
from tests.databases import run_admin

from .steps import open_incident


@pytest.fixture
def config(config_path: Path, emulator: SlackEmulator, database_url: str) -> Config:
    # A SQLite writer gives up on a lock after half a second here (30 s by default), to keep the test short.
    url = f"{database_url}?timeout=0.5" if database_url.startswith("sqlite") else database_url
    return load_config(config_path, environment(emulator, url))


@asynccontextmanager
async def database_unavailable(database_url: str) -> AsyncIterator[None]:
    """The database stops taking writes: PostgreSQL refuses connections (and drops the open ones); a SQLite
    file is locked by another process's exclusive transaction."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # Waits (off the event loop) for a write the bot may be doing right now (its reconciler, a join), then
        # holds the lock.
        blocker = sqlite3.connect(str(url.database), isolation_level=None, timeout=5, check_same_thread=False)
        await asyncio.to_thread(blocker.execute, "BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    name = url.database
    await asyncio.to_thread(run_admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    await asyncio.to_thread(
        run_admin, f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    )
    try:
        yield
    finally:
        await asyncio.to_thread(run_admin, f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def stored(bot: IncidentBot, prefix: str) -> int:
    async with bot.db.engine.connect() as conn:
        result = await conn.execute(text("SELECT count(*) FROM messages WHERE text LIKE :p"), {"p": f"{prefix}%"})
        return int(result.scalar_one())


async def test_fifty_messages_that_could_not_be_stored_are_all_stored_when_slack_delivers_them_again(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Database trouble")
    await emulator.join(people.bob, channel.id)
    await emulator.wait_idle()
    posted = [
        await emulator.post_message(people.bob, channel.id, f"during outage {n}", deliver=False) for n in range(50)
    ]

    async with database_unavailable(bot.db.url):
        first = await asyncio.gather(*(emulator.deliver_message_event(channel.id, m.ts, ordered=False) for m in posted))
    await emulator.wait_idle()  # Slack's own retries of each, the last of them minutes later (here: compressed)

    assert {d.status for d in first} == {503}
    assert len([d for d in emulator.deliveries if d.retry_num and d.ok]) == 50
    assert await stored(bot, "during outage") == 50


async def test_a_reaction_that_could_not_be_stored_is_stored_on_redelivery(
    emulator: SlackEmulator, bot: IncidentBot, people: People
) -> None:
    channel = await open_incident(emulator, people.alice, people.general, "Database trouble")
    posted = await emulator.post_message(people.alice, channel.id, "the moment it broke")
    await emulator.wait_idle()

    async with database_unavailable(bot.db.url):
        first = await emulator.react(people.alice, channel.id, posted.ts, "pushpin")
    assert first is not None
    again = await emulator.redeliver(first, retry_num=1)

    assert (first.status, again.status) == (503, 200)
    async with bot.db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM marks"))).scalar_one() == 1
