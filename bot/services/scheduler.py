"""The scheduler: runs the jobs stored in the database (bot/storage/jobs.py) when they are due, once.

Scheduling is the services' part: `stores.jobs.schedule(kind, key, due_at, payload)` inside the service's own
transaction, then `scheduler.nudge()` if the job is due soon. Running is this module's: `register(kind, handler)`
for every kind this process can run, `start()`, `close()`.

Who runs what
- PostgreSQL: every replica runs jobs. A pass claims due jobs in one short transaction (`SELECT … FOR UPDATE SKIP
  LOCKED`, then running / claimed_by = the process's boot id / lease_until / attempts + 1), commits, and only then
  runs their handlers; a row another replica is claiming or completing is skipped, never waited for.
- SQLite: one process runs jobs, the one holding an exclusive `flock` on `<database>.scheduler`; the others only
  schedule. When it dies the kernel drops its lock and the next process to poll takes over.
- A running job is taken over (claimed again, one attempt more) when its process is gone (`Liveness.is_alive`
  false on two checks `confirm_seconds` apart: see bot/storage/liveness.py) or its lease has expired (a handler
  that ran longer than `lease` is cancelled by its own process first).
- Only registered kinds are claimed. A due job of a kind this process does not know is left pending for one that
  does (during a rolling upgrade the older replicas must not fail the newer kinds) and logged once per kind.
- A closing process lets running handlers finish for up to `grace` seconds, then cancels them and puts their jobs
  back to pending, this attempt not counted. Pending jobs are rows: a restart, or another replica, runs them.

The handler contract (what "exactly once" means here)
- `async def handler(run: JobRun) -> None`. `run.key`, `run.payload`, `run.due_at`, `run.attempt` (1, 2, …).
- Database effects are exactly once: a handler writes inside `async with run.completing() as stores:`, the
  transaction that also marks the job done. It first locks the job's row and checks the job is still this claim's
  (not cancelled, not taken over), so of all the runs of one job at most one commits its writes, and a run killed
  mid-way commits nothing. A handler that does not call `completing()` is marked done when it returns.
- External effects (a Slack post, an HTTP call) are at least once: a process killed after posting and before its
  completion commits leaves the job to be run again. Handlers make them idempotent: look before acting (the
  gateway's `post_once`), or use the job's key as the remote side's idempotency key (PagerDuty's `dedup_key`).
  `await run.check()` (raises JobLost) before an external effect keeps a cancelled job from acting; do external
  work before `completing()`, never inside it (it holds the job's row lock, and on SQLite the write lock).
- A handler that raises (or runs past its lease) is retried with backoff (`backoff`: 30 s, 60 s, 120 s, … up to an
  hour), `attempts` counted and `last_error` kept; after `max_attempts` the job is `failed` and logged as an error.
  A job claimed more than `max_attempts` times without finishing (its process died each time) is failed unrun.
- Planners (`plan(name, planner, every)`) make sure the jobs that should exist do: a job lost (failed for good,
  deleted) or never scheduled (a record from before the version that schedules it) is scheduled again. Each runs
  when the scheduler starts and then every `every` of the clock's time, before due jobs are claimed, in every process
  that runs jobs. A planner must be idempotent (two replicas plan at once): it schedules by key, under the lock of the
  record it plans for. One that raises is logged and runs again at its next time.
- Time is the injected clock's (bot/clock.py): due checks, leases and backoff use `clock.now()`, and the polling loop
  sleeps with `clock.sleep()`, so a test's ManualClock decides when jobs come due. (How long a handler may run is
  real time, `lease` seconds.) Replicas compare leases written by each other's clocks: they are assumed to agree
  (NTP) to well within the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy.engine import make_url

from bot.acting import acting_for
from bot.clock import Clock, SystemClock
from bot.storage.database import Database, Stores, stores_of
from bot.storage.jobs import Job, JobStore
from bot.storage.liveness import Liveness

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often due jobs are looked for (nudge() looks at once)
LEASE_SECONDS = 120.0  # how long a claimed job may run before it is cancelled and may be claimed again
CONCURRENCY = 10  # jobs one process runs at once
MAX_ATTEMPTS = 5
BACKOFF = (30.0, 3600.0)  # seconds before the first retry, doubling each time up to the second
UNKNOWN_CHECK = timedelta(minutes=10)  # how often due jobs of kinds nobody here runs are looked for

Handler = Callable[["JobRun"], Awaitable[None]]
Planner = Callable[[], Awaitable[object]]


class JobLost(Exception):
    """The job was cancelled, or taken over by another claim, while this run was under way."""


class Overran(Exception):
    """A handler ran past its job's lease and was stopped."""


@dataclass(frozen=True, slots=True)
class _Kind:
    handler: Handler
    max_attempts: int
    in_workspace: bool = True  # acts in its workspace: not run once the app is uninstalled there (OAuth mode)


@dataclass(slots=True)
class _Plan:
    planner: Planner
    every: timedelta
    next_at: datetime | None = None  # None: at the next pass (the first one after start)


class JobRun:
    """One run of a job, handed to its handler."""

    def __init__(self, scheduler: Scheduler, job: Job) -> None:
        self.job = job
        self._scheduler = scheduler
        self.completed = False

    @property
    def kind(self) -> str:
        return self.job.kind

    @property
    def key(self) -> str:
        return self.job.key

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    @property
    def due_at(self) -> datetime:
        return self.job.due_at

    @property
    def attempt(self) -> int:
        return self.job.attempts

    async def check(self) -> None:
        """Raise JobLost if the job was cancelled or taken over since this run began."""
        async with self._scheduler.db.session() as session, session.begin():
            job = await JobStore(session).current(self.job.id)
        if job is None or (job.state, job.claimed_by, job.attempts) != (
            "running",
            self._scheduler.boot_id,
            self.job.attempts,
        ):
            raise JobLost(self.job.key)

    @asynccontextmanager
    async def completing(self, *, first: Callable[[Stores], Awaitable[object]] | None = None) -> AsyncIterator[Stores]:
        """The transaction that marks the job done: what the block writes commits with it, or not at all. Raises
        JobLost (and writes nothing) if the job is no longer this run's. `first`: rows to lock before the job's own
        (a record whose writers also cancel this job, in that order: taken the other way the two would deadlock)."""
        if self.completed:
            raise RuntimeError(f"job {self.job.key} is already completed")
        me, attempt = self._scheduler.boot_id, self.job.attempts
        async with self._scheduler.db.session() as session, session.begin():
            jobs = JobStore(session)
            if first is not None:
                await first(stores_of(session))
            if not await jobs.hold(self.job.id, me, attempt):
                raise JobLost(self.job.key)
            yield stores_of(session)
            if not await jobs.finish(self.job.id, me, attempt, self._scheduler.clock.now()):
                raise JobLost(self.job.key)  # cannot happen while the row is held; rolls back if it does
        self.completed = True


class _Runner(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class _EveryProcess:
    """PostgreSQL (and an in-memory SQLite database): every process runs jobs; the rows arbitrate."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


class _FileRunner:
    """SQLite: the process holding an exclusive flock on `<database>.scheduler` runs the jobs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[bytes] | None = None

    def acquire(self) -> bool:
        if self._handle is not None:
            return True
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        log.info("this process runs the scheduled jobs (it holds %s)", self.path.name)
        return True

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None


def _runner_for(database_url: str) -> _Runner:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return _EveryProcess()
    if not url.database or url.database == ":memory:":
        return _EveryProcess()
    database = Path(url.database)
    return _FileRunner(database.with_name(database.name + ".scheduler"))


class Scheduler:
    def __init__(
        self,
        db: Database,
        liveness: Liveness,
        *,
        clock: Clock | None = None,
        poll: float = POLL_SECONDS,
        lease: float = LEASE_SECONDS,
        concurrency: int = CONCURRENCY,
        max_attempts: int = MAX_ATTEMPTS,
        backoff: tuple[float, float] = BACKOFF,
    ) -> None:
        self.db = db
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._liveness = liveness
        self._poll = poll
        self._lease = lease
        self._concurrency = concurrency
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._kinds: dict[str, _Kind] = {}
        self._plans: dict[str, _Plan] = {}
        self._runner = _runner_for(db.url)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._suspects: dict[str, float] = {}  # boot id → when (loop time) it first looked gone
        self._unknown_seen: set[str] = set()
        self._unknown_checked: datetime | None = None
        self._filled = False  # the last claim took as many as it could
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # OAuth mode: whether the bot is still installed in a job's workspace (a job for one that uninstalled the
        # app is finished unrun). None: single-workspace mode, every job runs.
        self.serves: Callable[[str | None], Awaitable[bool]] | None = None

    @property
    def boot_id(self) -> str:
        return self._liveness.boot_id

    def register(
        self, kind: str, handler: Handler, *, max_attempts: int | None = None, in_workspace: bool = True
    ) -> None:
        """Run jobs of `kind` with `handler` (see the module docstring for its contract). `in_workspace=False`: runs
        even after the app was uninstalled from the job's workspace (OAuth mode), such as deleting its data."""
        if kind in self._kinds:
            raise ValueError(f"job kind {kind!r} is registered already")
        attempts = max_attempts if max_attempts is not None else self._max_attempts
        self._kinds[kind] = _Kind(handler, attempts, in_workspace)

    def plan(self, name: str, planner: Planner, *, every: timedelta) -> None:
        """Run `planner` when the scheduler starts and every `every` after (see the module docstring)."""
        if name in self._plans:
            raise ValueError(f"planner {name!r} is registered already")
        self._plans[name] = _Plan(planner, every)

    def start(self) -> None:
        """Run due jobs now and whenever they come due, until `close()`."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._loop(), name="scheduler")

    def nudge(self) -> None:
        """Look for due jobs now rather than at the next poll (a job due soon was just scheduled here)."""
        self._wake.set()

    async def close(self, grace: float = 10.0) -> None:
        """Stop claiming; let running handlers finish for up to `grace` s; put back the jobs of those that do not."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        running = list(self._running.values())
        if running:
            _, pending = await asyncio.wait(running, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
        self._runner.release()

    async def run_due(self) -> int:
        """One pass: claim what is due now (within the concurrency limit), run it and wait for it. Returns how many
        jobs were claimed."""
        jobs = await self._claim()
        await asyncio.gather(*(self._spawn(job) for job in jobs))
        return len(jobs)

    # -- the loop ----------------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            started = self.clock.now()
            claimed = 0
            try:
                for job in await self._claim():
                    self._spawn(job)
                    claimed += 1
            except Exception:
                log.exception("looking for due jobs failed; trying again in %.0f s", self._poll)
            if self._stopping:
                return
            if claimed and self._filled and len(self._running) < self._concurrency:
                continue  # there may be more due than one claim could take
            remaining = self._poll - (self.clock.now() - started).total_seconds()
            await self._pause(remaining)

    async def _pause(self, seconds: float) -> None:
        """Sleep on the clock for `seconds`, or until nudged, a job finishes with the process full, or closing."""
        if seconds <= 0 or self._wake.is_set():
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)

    async def _claim(self) -> list[Job]:
        if self._stopping or not self._kinds or not self._runner.acquire():
            return []
        await self._run_plans()
        free = self._concurrency - len(self._running)
        if free <= 0:
            return []
        gone = await self._gone_claimers()
        now = self.clock.now()
        kinds = sorted(self._kinds)
        async with self.db.session() as session, session.begin():
            jobs = JobStore(session)
            claimed = await jobs.claim(
                kinds=kinds,
                me=self.boot_id,
                now=now,
                lease_until=now + timedelta(seconds=self._lease),
                limit=free,
                gone=gone,
                busy=list(self._running),
            )
            unknown: list[str] = []
            if self._unknown_checked is None or now - self._unknown_checked >= UNKNOWN_CHECK:
                self._unknown_checked = now
                unknown = await jobs.due_kinds_unknown(kinds, now)
        for kind in unknown:
            if kind not in self._unknown_seen:
                self._unknown_seen.add(kind)
                log.warning("jobs of kind %r are due but this process has no handler for them; left pending", kind)
        for job in claimed:
            if job.attempts > 1:
                log.info("job %s (%s): attempt %d", job.key, job.kind, job.attempts)
        self._filled = len(claimed) == free
        return claimed

    async def _run_plans(self) -> None:
        now = self.clock.now()
        for name, plan in self._plans.items():
            if plan.next_at is not None and plan.next_at > now:
                continue
            plan.next_at = now + plan.every  # before awaiting: a concurrent pass in this process skips it
            try:
                await plan.planner()
            except Exception:
                log.exception("planner %s failed; it runs again in %s", name, plan.every)

    async def _gone_claimers(self) -> list[str]:
        """Processes holding running jobs that have looked gone on two checks `confirm_seconds` apart."""
        async with self.db.session() as session, session.begin():
            claimers = await JobStore(session).claimers(self.boot_id)
        now = asyncio.get_running_loop().time()
        gone: list[str] = []
        suspects: dict[str, float] = {}
        for claimer in claimers:
            if await self._liveness.is_alive(claimer):
                continue
            suspects[claimer] = first = self._suspects.get(claimer, now)
            if now - first >= self._liveness.confirm_seconds:
                gone.append(claimer)
        self._suspects = suspects
        for claimer in gone:
            log.warning("process %s is gone; taking over its running jobs", claimer)
        return gone

    # -- running one job ---------------------------------------------------------------------------------------

    def _spawn(self, job: Job) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run(job), name=f"job {job.key}")
        self._running[job.id] = task

        def finished(_: asyncio.Task[None]) -> None:
            full = len(self._running) >= self._concurrency
            self._running.pop(job.id, None)
            if full:
                self._wake.set()  # room again: look for more at once

        task.add_done_callback(finished)
        return task

    async def _run(self, job: Job) -> None:
        kind = self._kinds[job.kind]  # only registered kinds are claimed
        if job.attempts > kind.max_attempts:
            # Claimed again and again without ever finishing or failing: its process died each time (or it ran
            # past its lease). Not run again.
            error = f"gave up after {job.attempts - 1} attempts; the last: {job.last_error or 'its process died'}"
            await self._write(lambda jobs: jobs.fail(job.id, self.boot_id, job.attempts, error, self.clock.now()))
            log.error("job %s (%s) failed for good: %s", job.key, job.kind, error)
            return
        run = JobRun(self, job)
        if kind.in_workspace and self.serves is not None and not await self.serves(job.team_id):
            # OAuth mode: the workspace it would act for uninstalled the app; the bot no longer acts there.
            log.info(
                "job %s (%s) not run: the bot is no longer installed in workspace %s", job.key, job.kind, job.team_id
            )
            await self._write(lambda jobs: jobs.finish(job.id, self.boot_id, job.attempts, self.clock.now()))
            return
        try:
            await self._call(kind.handler, run)
            if not run.completed:
                async with run.completing():
                    pass
        except JobLost:
            log.info("job %s (%s) was cancelled or taken over while it ran; its writes are undone", job.key, job.kind)
        except asyncio.CancelledError:
            if self._stopping:  # closing: back to pending, this attempt not counted
                with contextlib.suppress(Exception):
                    await self._write(lambda jobs: jobs.release(job.id, self.boot_id, job.attempts))
            raise
        except Exception as e:
            if run.completed:
                log.exception("job %s (%s) raised after it completed; it stays done", job.key, job.kind)
                return
            await self._failed(job, kind, e)

    async def _call(self, handler: Handler, run: JobRun) -> None:
        """The handler, cancelled if it runs past the lease (before another process may claim its job again)."""
        with acting_for(run.job.team_id):  # the job acts for the workspace that scheduled it (bot/acting.py)
            task = asyncio.ensure_future(handler(run))
        try:
            done, _ = await asyncio.wait({task}, timeout=self._lease)
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not done:
            raise Overran(f"ran longer than its lease ({self._lease:g} s) and was stopped")
        task.result()  # the handler's own exception, if it raised

    async def _failed(self, job: Job, kind: _Kind, e: BaseException) -> None:
        error = str(e) if isinstance(e, Overran) else f"{type(e).__name__}: {e}"
        now = self.clock.now()
        try:
            if job.attempts >= kind.max_attempts:
                if await self._write(lambda jobs: jobs.fail(job.id, self.boot_id, job.attempts, error, now)):
                    log.error(
                        "job %s (%s) failed for good after %d attempts: %s", job.key, job.kind, job.attempts, error
                    )
                return
            first, most = self._backoff
            delay = min(first * 2 ** (job.attempts - 1), most)
            due = now + timedelta(seconds=delay)
            if await self._write(lambda jobs: jobs.retry(job.id, self.boot_id, job.attempts, due, error)):
                log.warning(
                    "job %s (%s) failed (attempt %d of %d): %s; trying again in %.0f s",
                    job.key,
                    job.kind,
                    job.attempts,
                    kind.max_attempts,
                    error,
                    delay,
                    exc_info=e,
                )
        except Exception:
            # The job stays running under this claim until its lease expires; then it is claimed again.
            log.exception("could not record that job %s failed; it runs again when its lease expires", job.key)

    async def _write(self, change: Callable[[JobStore], Awaitable[bool]]) -> bool:
        async with self.db.session() as session, session.begin():
            return await change(JobStore(session))


__all__ = ["Handler", "JobLost", "JobRun", "Overran", "Planner", "Scheduler"]
