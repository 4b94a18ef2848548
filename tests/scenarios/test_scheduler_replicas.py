"""Two scheduler replicas, each its own process, on one PostgreSQL database: 100 jobs, each run exactly once (its
database effect committed once, none missed), also when one replica is killed (SIGKILL) with jobs in hand.

The replicas are tests/scenarios/scheduler_replica.py, on the real clock with short polls; nothing here is
asserted about durations (the waits are guards against hanging, not measurements)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.storage import Database, JobState
from bot.storage.tables import JobRow
from tests.conftest import ROOT

from .scheduler_replica import ACTION, KIND, TEAM

JOBS = 100
GUARD = 120.0  # seconds before a wait gives up and the test fails, saying what it saw


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    boot_id: str = ""
    lines: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def said(self, word: str) -> list[str]:
        return [line.split(" ", 1)[1] for line in self.lines if line.startswith(word + " ")]

    async def read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(raw.decode().strip())
            self.changed.set()
        self.changed.set()

    async def until(self, word: str) -> list[str]:
        """Wait until the replica has said `word` at least once (or fail, with what it said, if it stopped)."""

        async def seen() -> list[str]:
            while not self.said(word):
                if self.process.returncode is not None and self.process.stdout is not None:
                    raise AssertionError(f"the replica stopped before saying {word!r}: {self.lines}")
                self.changed.clear()
                await self.changed.wait()
            return self.said(word)

        return await asyncio.wait_for(seen(), GUARD)


@asynccontextmanager
async def replicas(url: str, log: Path, *options: list[str]) -> AsyncIterator[list[Replica]]:
    """One replica process per list of options, each ready (polling) when this yields; stopped at the end
    (SIGTERM, or SIGKILL if that does not do)."""
    started: list[Replica] = []
    readers: list[asyncio.Task[None]] = []
    errors = await asyncio.to_thread(log.open, "ab")
    try:
        for args in options:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.scenarios.scheduler_replica", url, *args,
                cwd=ROOT, env=dict(os.environ), stdout=asyncio.subprocess.PIPE, stderr=errors,
            )  # fmt: skip
            replica = Replica(process)
            started.append(replica)
            readers.append(asyncio.create_task(replica.read()))
        for replica in started:
            [replica.boot_id] = await replica.until("ready")
        yield started
    finally:
        for replica in started:
            if replica.process.returncode is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in started:
            try:
                await asyncio.wait_for(replica.process.wait(), 30)
            except TimeoutError:
                replica.process.kill()
                await replica.process.wait()
        await asyncio.gather(*readers, return_exceptions=True)
        errors.close()


async def schedule_jobs(db: Database) -> list[str]:
    keys = [f"record:{n:03d}" for n in range(JOBS)]
    now = datetime.now(UTC)
    async with db.unit() as stores:
        for key in keys:
            await stores.jobs.schedule(KIND, key, now, {"n": key}, now=now)
    return keys


async def states(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(select(JobRow.state, func.count()).group_by(JobRow.state))
        return {state: int(count) for state, count in rows}


async def until_all_done(db: Database) -> None:
    async def poll() -> None:
        while True:
            if (await states(db)).get(JobState.DONE.value, 0) >= JOBS:
                return
            await asyncio.sleep(0.1)

    try:
        await asyncio.wait_for(poll(), GUARD)
    except TimeoutError:
        raise AssertionError(f"not every job was done: {await states(db)}") from None


async def running_for(db: Database, boot_id: str) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).where(JobRow.state == JobState.RUNNING.value, JobRow.claimed_by == boot_id)
        )
        return int(count or 0)


async def executions(db: Database) -> list[tuple[str, str]]:
    """(key, boot id of the replica) of every committed run, from the audit log the handlers write in the
    transaction that completes their job."""
    async with db.unit() as stores:
        trail = await stores.incidents.audit_trail(TEAM)
    return [(entry.new_value or "", entry.actor_id) for entry in trail if entry.action == ACTION]


@pytest.fixture
async def db(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url)
    await database.upgrade()
    yield database
    await database.dispose()


async def test_two_replicas_run_each_of_100_jobs_exactly_once(db: Database, tmp_path: Path) -> None:
    # Arrange: two replica processes polling one database; each holds its first jobs until the other has claimed
    # some too, so both are running jobs at the same time.
    async with replicas(db.url, tmp_path / "replicas.log", ["--wait-for-peer"], ["--wait-for-peer"]) as (a, b):
        # Act
        keys = await schedule_jobs(db)
        await until_all_done(db)

    # Assert: every job committed its effect once; none twice, none missed; both replicas ran jobs. With no
    # replica lost, no job was even started twice (its external effects happened once too).
    ran = await executions(db)
    times = Counter(key for key, _ in ran)
    assert [key for key, n in times.items() if n > 1] == []
    assert sorted(times) == keys
    starts = Counter(a.said("started") + b.said("started"))
    assert [key for key, n in starts.items() if n > 1] == []
    assert {by for _, by in ran} == {a.boot_id, b.boot_id}
    assert await states(db) == {JobState.DONE.value: JOBS}


async def test_when_a_replica_is_killed_mid_run_the_other_runs_its_jobs_and_each_job_still_once(
    db: Database, tmp_path: Path
) -> None:
    # Arrange: replica A hangs in every run it starts after its third (with those jobs claimed; its first three
    # may or may not have committed when it dies); B holds its first jobs until A has claimed some.
    async with replicas(db.url, tmp_path / "replicas.log", ["--hang-after", "3"], ["--wait-for-peer"]) as (a, b):
        keys = await schedule_jobs(db)
        await a.until("hanging")
        claimed_by_a = await running_for(db, a.boot_id)

        # Act: kill A (SIGKILL: no clean-up, its liveness lock dropped by the server) with jobs in hand.
        a.process.send_signal(signal.SIGKILL)
        await a.process.wait()
        await until_all_done(db)
        hung = a.said("hanging")

    # Assert: A had claimed jobs when it died; B ran them; every job committed its effect once, none missed.
    ran = await executions(db)
    times = Counter(key for key, _ in ran)
    assert claimed_by_a > 0
    assert [key for key, n in times.items() if n > 1] == []
    assert sorted(times) == keys
    by = dict(ran)
    assert hung
    assert {by[key] for key in hung} == {b.boot_id}
    # (their external effect, the `started` line, happened twice: at least once, as the contract says)
    assert set(hung) <= set(a.said("started")) & set(b.said("started"))
    assert await states(db) == {JobState.DONE.value: JOBS}
