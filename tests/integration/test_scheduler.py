"""The scheduler on SQLite and PostgreSQL, with a clock the tests move: jobs run when due and once, idempotent keys,
cancelling, retries with backoff, database work committed with completion, taking over, closing and restarting."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.acting import acting_for, acting_team
from bot.clock import ManualClock
from bot.services.scheduler import JobRun, Scheduler
from bot.storage import AuditEntry, Database, Job, JobState
from bot.storage.liveness import Liveness, new_boot_id, open_liveness
from bot.storage.tables import JobRow

GUARD = 30.0  # seconds before a test that hangs fails instead (never an assertion on how long anything takes)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def liveness(db: Database) -> AsyncIterator[Liveness]:
    process = open_liveness(db.url, new_boot_id())
    await process.start()
    yield process
    await process.close()


@pytest.fixture
async def scheduler(db: Database, liveness: Liveness, clock: ManualClock) -> AsyncIterator[Scheduler]:
    running = Scheduler(db, liveness, clock=clock, max_attempts=3, backoff=(30.0, 3600.0))
    yield running
    await running.close(grace=1.0)


class Calls:
    """A handler that records each run (its key and attempt)."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, int]] = []
        self.ran = asyncio.Event()

    async def __call__(self, run: JobRun) -> None:
        self.runs.append((run.key, run.attempt))
        self.ran.set()


async def schedule(
    db: Database, clock: ManualClock, key: str, *, after: timedelta = timedelta(0), **payload: str
) -> bool:
    async with db.unit() as stores:
        scheduled = await stores.jobs.schedule("test", key, clock.now() + after, payload, now=clock.now())
    return scheduled.created


async def job(db: Database, key: str) -> Job:
    async with db.unit() as stores:
        found = await stores.jobs.get(key)
    assert found is not None
    return found


async def audit_of(db: Database) -> list[tuple[str, str | None]]:
    async with db.unit() as stores:
        return [(e.action, e.new_value) for e in await stores.incidents.audit_trail("T-jobs")]


def ran_entry(key: str, clock: ManualClock, by: str = "scheduler") -> AuditEntry:
    return AuditEntry(actor_id=by, action="job ran", at=clock.now(), new_value=key)


async def test_a_due_job_runs_once(db: Database, scheduler: Scheduler, clock: ManualClock) -> None:
    calls = Calls()
    scheduler.register("test", calls)
    await schedule(db, clock, "once")

    first = await scheduler.run_due()
    second = await scheduler.run_due()

    assert (first, second) == (1, 0)
    assert calls.runs == [("once", 1)]
    done = await job(db, "once")
    assert done.state is JobState.DONE
    assert done.finished_at == clock.now()


async def test_a_job_not_yet_due_runs_only_once_the_clock_reaches_its_time(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler.register("test", calls)
    await schedule(db, clock, "later", after=timedelta(minutes=10))

    before = await scheduler.run_due()
    clock.advance(timedelta(minutes=9, seconds=59))
    still_before = await scheduler.run_due()
    clock.advance(timedelta(seconds=1))
    at_its_time = await scheduler.run_due()

    assert (before, still_before, at_its_time) == (0, 0, 1)
    assert calls.runs == [("later", 1)]


async def test_scheduling_the_same_key_twice_makes_one_job_as_first_scheduled(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    payloads: list[dict[str, object]] = []

    async def record(run: JobRun) -> None:
        payloads.append(run.payload)

    scheduler.register("test", record)

    first = await schedule(db, clock, "remind:INC-1:1", text="first")
    second = await schedule(db, clock, "remind:INC-1:1", after=timedelta(hours=1), text="second")
    await scheduler.run_due()

    assert (first, second) == (True, False)
    assert payloads == [{"text": "first"}]


async def test_a_key_whose_job_is_done_is_never_scheduled_again(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler.register("test", calls)
    await schedule(db, clock, "archive:INC-1")
    await scheduler.run_due()

    again = await schedule(db, clock, "archive:INC-1")
    ran_again = await scheduler.run_due()

    assert again is False
    assert ran_again == 0
    assert calls.runs == [("archive:INC-1", 1)]


async def test_a_cancelled_job_never_runs_and_its_key_can_be_scheduled_afresh(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler.register("test", calls)
    await schedule(db, clock, "archive:INC-2", after=timedelta(days=7))
    async with db.unit() as stores:
        cancelled = await stores.jobs.cancel("archive:INC-2", now=clock.now())
        cancelled_again = await stores.jobs.cancel("archive:INC-2", now=clock.now())

    clock.advance(timedelta(days=8))
    ran = await scheduler.run_due()
    state = (await job(db, "archive:INC-2")).state
    rescheduled = await schedule(db, clock, "archive:INC-2", after=timedelta(days=7))
    clock.advance(timedelta(days=7))
    ran_after_rescheduling = await scheduler.run_due()

    assert (cancelled, cancelled_again) == (True, False)
    assert ran == 0
    assert state is JobState.CANCELLED
    assert rescheduled is True
    assert ran_after_rescheduling == 1
    assert calls.runs == [("archive:INC-2", 1)]


async def test_a_failing_handler_is_retried_with_growing_pauses_then_failed(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    attempts: list[int] = []

    async def broken(run: JobRun) -> None:
        attempts.append(run.attempt)
        raise RuntimeError(f"Slack said no ({run.attempt})")

    scheduler.register("test", broken)
    start = clock.now()
    await schedule(db, clock, "export:F-1")

    await scheduler.run_due()
    after_first = await job(db, "export:F-1")
    clock.advance(timedelta(seconds=29))
    early = await scheduler.run_due()
    clock.advance(timedelta(seconds=1))
    await scheduler.run_due()
    after_second = await job(db, "export:F-1")
    clock.advance(timedelta(seconds=60))
    await scheduler.run_due()
    after_third = await job(db, "export:F-1")
    clock.advance(timedelta(days=1))
    after_giving_up = await scheduler.run_due()
    asked_again = await schedule(db, clock, "export:F-1")

    assert attempts == [1, 2, 3]
    assert (after_first.state, after_first.attempts) == (JobState.PENDING, 1)
    assert after_first.last_error == "RuntimeError: Slack said no (1)"
    assert after_first.due_at == start + timedelta(seconds=30)
    assert early == 0
    assert after_second.due_at == start + timedelta(seconds=30 + 60)
    assert (after_second.state, after_second.last_error) == (JobState.PENDING, "RuntimeError: Slack said no (2)")
    assert after_third.state is JobState.FAILED
    assert after_third.last_error == "RuntimeError: Slack said no (3)"
    assert after_giving_up == 0
    assert asked_again is True  # scheduling work that gave up asks for another try
    assert (await job(db, "export:F-1")).attempts == 0


async def test_a_handler_that_fails_once_is_done_on_its_retry(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    attempts: list[int] = []

    async def flaky(run: JobRun) -> None:
        attempts.append(run.attempt)
        if run.attempt == 1:
            raise ConnectionError("reset")

    scheduler.register("test", flaky)
    await schedule(db, clock, "flaky")
    await scheduler.run_due()
    clock.advance(timedelta(seconds=30))
    await scheduler.run_due()

    done = await job(db, "flaky")
    assert attempts == [1, 2]
    assert (done.state, done.attempts, done.last_error) == (JobState.DONE, 2, "ConnectionError: reset")


async def test_database_work_in_the_handler_commits_with_the_jobs_completion(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    async def record(run: JobRun) -> None:
        async with run.completing() as stores:
            await stores.incidents.audit("T-jobs", None, ran_entry(run.key, clock))

    scheduler.register("test", record)
    await schedule(db, clock, "with-writes")

    await scheduler.run_due()

    assert await audit_of(db) == [("job ran", "with-writes")]
    assert (await job(db, "with-writes")).state is JobState.DONE


async def test_a_handler_that_fails_after_writing_leaves_no_writes_and_is_retried(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    async def half_done(run: JobRun) -> None:
        async with run.completing() as stores:
            await stores.incidents.audit("T-jobs", None, ran_entry(run.key, clock))
            raise ValueError("could not finish")

    scheduler.register("test", half_done)
    await schedule(db, clock, "half")

    await scheduler.run_due()

    assert await audit_of(db) == []
    after = await job(db, "half")
    assert (after.state, after.last_error) == (JobState.PENDING, "ValueError: could not finish")


async def test_a_job_cancelled_while_its_handler_runs_commits_none_of_its_writes(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    async def cancelled_meanwhile(run: JobRun) -> None:
        async with db.unit() as stores:  # e.g. the incident is resolved while its reminder is being sent
            await stores.jobs.cancel(run.key, now=clock.now())
        async with run.completing() as stores:
            await stores.incidents.audit("T-jobs", None, ran_entry(run.key, clock))

    scheduler.register("test", cancelled_meanwhile)
    await schedule(db, clock, "remind:INC-3:1")

    await scheduler.run_due()

    assert await audit_of(db) == []
    assert (await job(db, "remind:INC-3:1")).state is JobState.CANCELLED


async def test_a_handler_can_check_its_job_is_still_wanted_before_acting(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    acted: list[str] = []

    async def careful(run: JobRun) -> None:
        async with db.unit() as stores:
            await stores.jobs.cancel(run.key, now=clock.now())
        await run.check()
        acted.append(run.key)

    scheduler.register("test", careful)
    await schedule(db, clock, "remind:INC-4:1")

    await scheduler.run_due()

    assert acted == []
    assert (await job(db, "remind:INC-4:1")).state is JobState.CANCELLED


async def test_a_job_of_a_kind_nobody_here_runs_is_logged_and_left_pending(
    db: Database, scheduler: Scheduler, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler.register("test", Calls())
    async with db.unit() as stores:
        await stores.jobs.schedule("from-a-newer-version", "mystery", clock.now(), now=clock.now())

    with caplog.at_level(logging.WARNING, logger="bot.services.scheduler"):
        ran = await scheduler.run_due()
        ran_again = await scheduler.run_due()

    assert (ran, ran_again) == (0, 0)
    assert (await job(db, "mystery")).state is JobState.PENDING
    warnings = [r.getMessage() for r in caplog.records if "from-a-newer-version" in r.getMessage()]
    assert len(warnings) == 1


async def wait_for(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), GUARD)


async def test_the_running_scheduler_runs_a_job_when_the_clock_reaches_it(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler.register("test", calls)
    await schedule(db, clock, "at-ten", after=timedelta(minutes=10))
    scheduler.start()

    clock.advance(timedelta(minutes=10))
    await wait_for(calls.ran)

    assert calls.runs == [("at-ten", 1)]


async def test_a_nudge_runs_a_job_just_scheduled_without_waiting_for_the_next_poll(
    db: Database, liveness: Liveness, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler = Scheduler(db, liveness, clock=clock, poll=3600.0)
    scheduler.register("test", calls)
    scheduler.start()
    try:
        await asyncio.sleep(0)  # its first pass finds nothing
        await schedule(db, clock, "right-now")
        scheduler.nudge()
        await wait_for(calls.ran)
    finally:
        await scheduler.close()

    assert calls.runs == [("right-now", 1)]


async def test_closing_lets_a_running_job_finish(db: Database, liveness: Liveness, clock: ManualClock) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(run: JobRun) -> None:
        started.set()
        await release.wait()
        async with run.completing() as stores:
            await stores.incidents.audit("T-jobs", None, ran_entry(run.key, clock))

    scheduler = Scheduler(db, liveness, clock=clock)
    scheduler.register("test", slow)
    await schedule(db, clock, "slow")
    scheduler.start()
    await wait_for(started)

    closing = asyncio.create_task(scheduler.close(grace=GUARD))
    await asyncio.sleep(0)
    release.set()
    await closing

    assert await audit_of(db) == [("job ran", "slow")]
    assert (await job(db, "slow")).state is JobState.DONE


async def test_a_job_still_running_after_the_grace_period_is_put_back_for_the_next_start(
    db: Database, liveness: Liveness, clock: ManualClock
) -> None:
    started = asyncio.Event()

    async def stuck(run: JobRun) -> None:
        started.set()
        await asyncio.Event().wait()

    scheduler = Scheduler(db, liveness, clock=clock)
    scheduler.register("test", stuck)
    await schedule(db, clock, "stuck")
    scheduler.start()
    await wait_for(started)

    await scheduler.close(grace=0.0)

    after = await job(db, "stuck")
    assert (after.state, after.attempts, after.claimed_by) == (JobState.PENDING, 0, None)


async def test_a_restarted_scheduler_runs_the_jobs_left_pending(db: Database, clock: ManualClock) -> None:
    first_process = open_liveness(db.url, new_boot_id())
    await first_process.start()
    first = Scheduler(db, first_process, clock=clock)
    first.register("test", Calls())
    first.start()
    for n in range(3):
        await schedule(db, clock, f"pending-{n}", after=timedelta(hours=1))
    await first.close()
    await first_process.close()
    await db.dispose()

    restarted_db = Database(db.url)
    second_process = open_liveness(db.url, new_boot_id())
    await second_process.start()
    second = Scheduler(restarted_db, second_process, clock=clock)
    calls = Calls()
    second.register("test", calls)
    try:
        clock.advance(timedelta(hours=1))
        ran = await second.run_due()
    finally:
        await second.close()
        await second_process.close()
        await restarted_db.dispose()

    assert ran == 3
    assert sorted(key for key, _ in calls.runs) == ["pending-0", "pending-1", "pending-2"]


async def mark_running(
    db: Database, key: str, by: str, attempts: int, lease_until: timedelta, clock: ManualClock
) -> None:
    async with db.session() as session, session.begin():
        await session.execute(
            update(JobRow)
            .where(JobRow.key == key)
            .values(state="running", claimed_by=by, attempts=attempts, lease_until=clock.now() + lease_until)
        )


async def test_a_job_left_running_by_a_process_that_is_gone_is_taken_over(
    db: Database, liveness: Liveness, scheduler: Scheduler, clock: ManualClock
) -> None:
    liveness.confirm_seconds = 0.0  # (PostgreSQL's lock is confirmed gone after 5 s; the replica test waits for it)
    calls = Calls()
    scheduler.register("test", calls)
    await schedule(db, clock, "orphan")
    await mark_running(db, "orphan", new_boot_id(), attempts=1, lease_until=timedelta(hours=1), clock=clock)

    ran = await scheduler.run_due()

    assert ran == 1
    assert calls.runs == [("orphan", 2)]
    assert (await job(db, "orphan")).state is JobState.DONE


async def test_a_job_whose_process_died_every_time_is_failed_without_running_it_again(
    db: Database, liveness: Liveness, scheduler: Scheduler, clock: ManualClock
) -> None:
    liveness.confirm_seconds = 0.0
    calls = Calls()
    scheduler.register("test", calls)
    await schedule(db, clock, "poison")
    await mark_running(db, "poison", new_boot_id(), attempts=3, lease_until=timedelta(hours=1), clock=clock)

    await scheduler.run_due()

    after = await job(db, "poison")
    assert calls.runs == []
    assert after.state is JobState.FAILED
    assert after.last_error is not None
    assert after.last_error.startswith("gave up after 3 attempts")


async def test_a_job_running_for_a_live_process_is_left_to_it(
    db: Database, liveness: Liveness, scheduler: Scheduler, clock: ManualClock
) -> None:
    other = open_liveness(db.url, new_boot_id())
    await other.start()
    try:
        calls = Calls()
        scheduler.register("test", calls)
        await schedule(db, clock, "theirs")
        await mark_running(db, "theirs", other.boot_id, attempts=1, lease_until=timedelta(hours=1), clock=clock)

        ran = await scheduler.run_due()
    finally:
        await other.close()

    assert ran == 0
    assert calls.runs == []


def on_postgresql(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite one process runs jobs: no other process can take over a lease")


Step = Callable[[JobRun], Awaitable[None]]


async def test_a_job_past_its_lease_is_run_again_and_only_the_last_runs_writes_commit(
    db: Database, liveness: Liveness, clock: ManualClock
) -> None:
    on_postgresql(db)
    first_started, release_first = asyncio.Event(), asyncio.Event()

    def recording(by: str, before: Callable[[], Awaitable[None]] | None = None) -> Step:
        async def handler(run: JobRun) -> None:
            if before is not None:
                await before()
            async with run.completing() as stores:
                await stores.incidents.audit("T-jobs", None, ran_entry(run.key, clock, by=by))

        return handler

    async def wait_until_released() -> None:
        first_started.set()
        await release_first.wait()

    other = open_liveness(db.url, new_boot_id())
    await other.start()
    first = Scheduler(db, liveness, clock=clock, lease=60.0)
    second = Scheduler(db, other, clock=clock, lease=60.0)
    first.register("test", recording("first", wait_until_released))
    second.register("test", recording("second"))
    try:
        await schedule(db, clock, "leased")
        first_run = asyncio.create_task(first.run_due())
        await wait_for(first_started)
        clock.advance(timedelta(seconds=61))
        taken_over = await second.run_due()
        release_first.set()
        await first_run
    finally:
        await first.close()
        await second.close()
        await other.close()

    assert taken_over == 1
    async with db.unit() as stores:
        trail = await stores.incidents.audit_trail("T-jobs")
    assert [(e.actor_id, e.new_value) for e in trail] == [("second", "leased")]
    after = await job(db, "leased")
    assert (after.state, after.attempts, after.claimed_by) == (JobState.DONE, 2, other.boot_id)


async def test_a_job_scheduled_in_a_transaction_that_rolls_back_does_not_exist(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    calls = Calls()
    scheduler.register("test", calls)

    async def resolve_and_fail() -> None:
        async with db.unit() as stores:
            await stores.jobs.schedule("test", "archive:INC-9", clock.now(), now=clock.now())
            raise RuntimeError("resolving failed")

    with pytest.raises(RuntimeError, match="resolving failed"):
        await resolve_and_fail()
    ran = await scheduler.run_due()

    assert ran == 0
    async with db.unit() as stores:
        assert await stores.jobs.get("archive:INC-9") is None


async def test_on_sqlite_one_process_runs_jobs_and_another_takes_over_when_it_stops(
    db: Database, liveness: Liveness, clock: ManualClock
) -> None:
    if db.engine.dialect.name != "sqlite":
        pytest.skip("on PostgreSQL every replica runs jobs")
    other = open_liveness(db.url, new_boot_id())
    await other.start()
    first, second = Scheduler(db, liveness, clock=clock), Scheduler(db, other, clock=clock)
    first_calls, second_calls = Calls(), Calls()
    first.register("test", first_calls)
    second.register("test", second_calls)
    try:
        await schedule(db, clock, "one")
        ran_by_first = await first.run_due()
        await schedule(db, clock, "two")
        ran_by_second_while_first_runs = await second.run_due()
        await first.close()
        ran_by_second_after = await second.run_due()
    finally:
        await first.close()
        await second.close()
        await other.close()

    assert (ran_by_first, ran_by_second_while_first_runs, ran_by_second_after) == (1, 0, 1)
    assert first_calls.runs == [("one", 1)]
    assert second_calls.runs == [("two", 1)]


async def test_a_handler_that_runs_past_its_lease_is_stopped_and_retried(
    db: Database, liveness: Liveness, clock: ManualClock
) -> None:
    attempts: list[int] = []

    async def never_ends(run: JobRun) -> None:
        attempts.append(run.attempt)
        await asyncio.Event().wait()

    scheduler = Scheduler(db, liveness, clock=clock, lease=0.05)
    scheduler.register("test", never_ends)
    await schedule(db, clock, "endless")
    try:
        await scheduler.run_due()
    finally:
        await scheduler.close()

    after = await job(db, "endless")
    assert attempts == [1]
    assert (after.state, after.attempts) == (JobState.PENDING, 1)
    assert after.last_error == "ran longer than its lease (0.05 s) and was stopped"


async def test_a_planner_runs_at_the_first_pass_and_then_once_per_period_of_the_clock(
    scheduler: Scheduler, clock: ManualClock
) -> None:
    times: list[timedelta] = []
    start = clock.now()

    async def planner() -> None:
        times.append(clock.now() - start)

    scheduler.register("test", Calls())
    scheduler.plan("test-plan", planner, every=timedelta(minutes=5))

    await scheduler.run_due()
    await scheduler.run_due()  # the same moment: not again
    clock.advance(timedelta(minutes=4))
    await scheduler.run_due()
    clock.advance(timedelta(minutes=1))
    await scheduler.run_due()

    assert times == [timedelta(0), timedelta(minutes=5)]


async def test_a_planner_that_raises_runs_again_at_its_next_time_and_jobs_still_run(
    db: Database, scheduler: Scheduler, clock: ManualClock
) -> None:
    attempts: list[int] = []

    async def planner() -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            raise RuntimeError("the database blinked")

    calls = Calls()
    scheduler.register("test", calls)
    scheduler.plan("test-plan", planner, every=timedelta(minutes=5))
    await schedule(db, clock, "due-now")

    await scheduler.run_due()
    clock.advance(timedelta(minutes=5))
    await scheduler.run_due()

    assert attempts == [1, 2]
    assert calls.runs == [("due-now", 1)]


async def test_a_job_acts_for_the_workspace_that_scheduled_it(db: Database, scheduler: Scheduler) -> None:
    seen: list[str | None] = []

    async def handler(run: JobRun) -> None:
        seen.append(acting_team())

    scheduler.register("test", handler)
    with acting_for("T-ALPHA"):
        async with db.unit() as stores:
            await stores.jobs.schedule("test", "scheduled-in-a-request", scheduler.clock.now())
    async with db.unit() as stores:
        await stores.jobs.schedule("test", "scheduled-for-beta", scheduler.clock.now(), team_id="T-BETA")

    await scheduler.run_due()

    assert sorted(t or "" for t in seen) == ["T-ALPHA", "T-BETA"]


async def test_a_job_of_a_workspace_no_longer_served_is_finished_unrun_unless_its_kind_acts_outside_it(
    db: Database, scheduler: Scheduler
) -> None:
    calls, cleanup = Calls(), Calls()
    scheduler.register("test", calls)
    scheduler.register("cleanup", cleanup, in_workspace=False)

    async def serves(team: str | None) -> bool:
        return team == "T-ALPHA"

    scheduler.serves = serves
    async with db.unit() as stores:
        for key, team in (("alpha", "T-ALPHA"), ("gone", "T-GONE")):
            await stores.jobs.schedule("test", key, scheduler.clock.now(), team_id=team)
        await stores.jobs.schedule("cleanup", "gone-cleanup", scheduler.clock.now(), team_id="T-GONE")

    await scheduler.run_due()

    assert calls.runs == [("alpha", 1)]
    assert cleanup.runs == [("gone-cleanup", 1)]
    assert (await job(db, "gone")).state is JobState.DONE
