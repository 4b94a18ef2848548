"""The bot's scheduler, on SQLite and PostgreSQL with the test clock: a job the bot schedules runs when the clock
reaches it, and the jobs pending when the bot stops are run by the bot started again on the same database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.app import IncidentBot
from bot.clock import ManualClock
from bot.config import Config
from bot.emulator import SlackEmulator
from bot.services.scheduler import JobRun
from bot.slack.manifest import build_manifest
from tests.conftest import People

GUARD = 30.0  # seconds before a test that hangs fails instead (never an assertion on how long anything takes)


class Runs:
    def __init__(self, expected: int) -> None:
        self.keys: list[str] = []
        self._expected = expected
        self.all_ran = asyncio.Event()

    async def __call__(self, run: JobRun) -> None:
        self.keys.append(run.key)
        if len(self.keys) >= self._expected:
            self.all_ran.set()


async def schedule(bot: IncidentBot, key: str, after: timedelta) -> None:
    async with bot.db.unit() as stores:
        await stores.jobs.schedule("test", key, bot.clock.now() + after, {"key": key}, now=bot.clock.now())
    bot.scheduler.nudge()


async def test_a_job_the_bot_schedules_runs_when_the_clock_reaches_it(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    emulator.install(build_manifest(config))
    clock = ManualClock()
    bot = IncidentBot(config, clock=clock)
    runs = Runs(expected=1)
    bot.scheduler.register("test", runs)
    await bot.start()
    try:
        await schedule(bot, "in-an-hour", timedelta(hours=1))
        clock.advance(timedelta(minutes=59))
        before = await bot.scheduler.run_due()  # (a pass of its own, beside the bot's polling)
        clock.advance(timedelta(minutes=1))
        await asyncio.wait_for(runs.all_ran.wait(), GUARD)
    finally:
        await bot.close()

    assert before == 0
    assert runs.keys == ["in-an-hour"]


async def test_the_jobs_pending_when_the_bot_stops_run_after_it_starts_again(
    config: Config, emulator: SlackEmulator, people: People
) -> None:
    emulator.install(build_manifest(config))
    clock = ManualClock()
    first = IncidentBot(config, clock=clock)
    first.scheduler.register("test", Runs(expected=3))
    await first.start()
    for n in range(3):
        await schedule(first, f"pending-{n}", timedelta(hours=1))
    await first.close()

    again = IncidentBot(config, clock=clock)
    runs = Runs(expected=3)
    again.scheduler.register("test", runs)
    await again.start()
    try:
        clock.advance(timedelta(hours=1))
        await asyncio.wait_for(runs.all_ran.wait(), GUARD)
    finally:
        await again.close()

    assert sorted(runs.keys) == ["pending-0", "pending-1", "pending-2"]
