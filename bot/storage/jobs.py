"""Jobs: work to do at a time, stored with the records it concerns (the scheduler that runs them is
bot/services/scheduler.py).

A service schedules or cancels a job inside its own transaction (`Stores.jobs`), so the job exists exactly when the
record that wants it does: resolving an incident and scheduling its archiving commit together, or not at all.

A job's `key` names one piece of work (e.g. "remind-update:INC-2026-001:3"), and `schedule` is idempotent on it:

- no job with the key: a pending job is created (`Scheduled.created` is True);
- a pending or running job with the key: nothing changes (`created` False; the existing job is returned, with its
  own due time and payload);
- a done job with the key: nothing changes either (`created` False): that work happened, and a key is never done
  twice. Work that recurs takes a key per occurrence (the reminder's period number above);
- a cancelled or failed job with the key: it is scheduled afresh (pending, attempts 0, the new due time and
  payload; `created` True). Cancelling and then scheduling again means it (an incident reopened, then resolved
  again), and asking again for work that gave up is asking for another try.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.acting import acting_team

from .dialect import upsert
from .tables import JobRow

MAX_KIND = 64
MAX_KEY = 255
MAX_ERROR = 2000  # characters of an error kept in `last_error`


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    due_at: datetime
    state: JobState
    attempts: int  # how many times it was claimed to run (the one running now included)
    claimed_by: str | None
    lease_until: datetime | None
    last_error: str | None
    created_at: datetime
    finished_at: datetime | None
    team_id: str | None = None  # the workspace it acts for (None: single-workspace mode's one)


@dataclass(frozen=True, slots=True)
class Scheduled:
    job: Job
    created: bool  # False: a job with this key was already pending, running or done, and is left as it was


def _job(row: JobRow) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        key=row.key,
        payload=json.loads(row.payload),
        due_at=row.due_at,
        state=JobState(row.state),
        attempts=row.attempts,
        claimed_by=row.claimed_by,
        lease_until=row.lease_until,
        last_error=row.last_error,
        created_at=row.created_at,
        finished_at=row.finished_at,
        team_id=row.team_id,
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class JobStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- for services ------------------------------------------------------------------------------------------

    async def schedule(
        self,
        kind: str,
        key: str,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
        *,
        now: datetime | None = None,
        team_id: str | None = None,
    ) -> Scheduled:
        """Schedule `kind` to run at `due_at` (or at once if that has passed), once per `key` (see the module
        docstring). `payload` must be JSON-serialisable; `now` (the service's clock) is recorded as created_at.
        `team_id`: the workspace the job acts for (bot/slack/acting.py); by default the one the code scheduling it
        acts for."""
        if not kind or len(kind) > MAX_KIND:
            raise ValueError(f"a job kind has 1 to {MAX_KIND} characters: {kind!r}")
        if not key or len(key) > MAX_KEY:
            raise ValueError(f"a job key has 1 to {MAX_KEY} characters: {key!r}")
        if due_at.tzinfo is None:
            raise ValueError("a job's due time must be an aware datetime")
        body = json.dumps(payload or {}, sort_keys=True)
        created_at = now if now is not None else _utcnow()
        values = {
            "kind": kind,
            "payload": body,
            "due_at": due_at,
            "state": JobState.PENDING.value,
            "attempts": 0,
            "claimed_by": None,
            "lease_until": None,
            "last_error": None,
            "created_at": created_at,
            "finished_at": None,
            "team_id": team_id if team_id is not None else acting_team(),
        }
        inserted = await self._session.scalar(
            upsert(self._session, JobRow)
            .values(key=key, **values)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(JobRow.id)
        )
        if inserted is None:
            inserted = await self._session.scalar(
                update(JobRow)
                .where(JobRow.key == key, JobRow.state.in_([JobState.CANCELLED.value, JobState.FAILED.value]))
                .values(**values)
                .returning(JobRow.id)
            )
        row = await self._session.scalar(
            select(JobRow).where(JobRow.key == key).execution_options(populate_existing=True)
        )
        assert row is not None  # inserted, revived or already there
        return Scheduled(_job(row), created=inserted is not None)

    async def cancel(self, key: str, *, now: datetime | None = None) -> bool:
        """Cancel the pending or running job with this key. True if there was one. A running job's handler may be
        under way: whatever it writes with its completion is then rolled back (see bot/services/scheduler.py)."""
        result = await self._session.scalar(
            update(JobRow)
            .where(JobRow.key == key, JobRow.state.in_([JobState.PENDING.value, JobState.RUNNING.value]))
            .values(state=JobState.CANCELLED.value, finished_at=now if now is not None else _utcnow(), lease_until=None)
            .returning(JobRow.id)
        )
        return result is not None

    async def settle(self, key: str, *, now: datetime | None = None) -> bool:
        """Mark the pending job with this key done without running it: its work was done another way (a status
        update posted by its poster before its job came due). True if it was pending."""
        result = await self._session.scalar(
            update(JobRow)
            .where(JobRow.key == key, JobRow.state == JobState.PENDING.value)
            .values(state=JobState.DONE.value, finished_at=now if now is not None else _utcnow())
            .returning(JobRow.id)
        )
        return result is not None

    async def get(self, key: str) -> Job | None:
        row = await self._session.scalar(
            select(JobRow).where(JobRow.key == key).execution_options(populate_existing=True)
        )
        return None if row is None else _job(row)

    async def open_keys(self, kind: str, prefix: str = "") -> list[str]:
        """The keys of the pending and running jobs of `kind` (those starting with `prefix`)."""
        where = [JobRow.state.in_([JobState.PENDING.value, JobState.RUNNING.value]), JobRow.kind == kind]
        if prefix:
            where.append(JobRow.key.startswith(prefix, autoescape=True))
        return list(await self._session.scalars(select(JobRow.key).where(*where).order_by(JobRow.key)))

    # -- for the scheduler -------------------------------------------------------------------------------------

    async def current(self, job_id: int) -> Job | None:
        row = await self._session.scalar(
            select(JobRow).where(JobRow.id == job_id).execution_options(populate_existing=True)
        )
        return None if row is None else _job(row)

    async def claimers(self, me: str) -> list[str]:
        """The processes (boot ids) other than `me` holding running jobs."""
        rows = await self._session.scalars(
            select(JobRow.claimed_by).where(JobRow.state == JobState.RUNNING.value, JobRow.claimed_by != me).distinct()
        )
        return [r for r in rows if r is not None]

    async def claim(
        self,
        *,
        kinds: list[str],
        me: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
        gone: list[str],
        busy: Sequence[int] = (),
    ) -> list[Job]:
        """Claim up to `limit` jobs of `kinds` for `me`: those due and pending, those running whose lease has
        expired, and those running for a process in `gone`. Rows another transaction holds are skipped (FOR UPDATE
        SKIP LOCKED on PostgreSQL; SQLite's write lock is the whole database's, taken at BEGIN). Each claimed job
        is running, by `me`, until `lease_until`, one attempt more. `busy`: jobs `me` is running now (never
        claimed again by `me`, even when their lease has expired)."""
        if not kinds or limit <= 0:
            return []
        running = JobRow.state == JobState.RUNNING.value
        takeover = [and_(running, JobRow.lease_until <= now)]
        if gone:
            takeover.append(and_(running, JobRow.claimed_by.in_(gone)))
        rows = list(
            await self._session.scalars(
                select(JobRow)
                .where(
                    JobRow.kind.in_(kinds),
                    JobRow.id.not_in(list(busy)),
                    or_(and_(JobRow.state == JobState.PENDING.value, JobRow.due_at <= now), *takeover),
                )
                .order_by(JobRow.due_at, JobRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                .execution_options(populate_existing=True)
            )
        )
        for row in rows:
            row.state = JobState.RUNNING.value
            row.claimed_by = me
            row.lease_until = lease_until
            row.attempts = row.attempts + 1
        await self._session.flush()
        return [_job(r) for r in rows]

    async def hold(self, job_id: int, me: str, attempt: int) -> bool:
        """Lock the job's row for the rest of the transaction; True if it is still running as `me`'s claim number
        `attempt` (False: cancelled, or taken over by another claim, meanwhile)."""
        row = await self._session.scalar(
            select(JobRow).where(JobRow.id == job_id).with_for_update().execution_options(populate_existing=True)
        )
        return (
            row is not None and row.state == JobState.RUNNING.value and row.claimed_by == me and row.attempts == attempt
        )

    def _mine(self, job_id: int, me: str, attempt: int) -> Any:
        return and_(
            JobRow.id == job_id,
            JobRow.state == JobState.RUNNING.value,
            JobRow.claimed_by == me,
            JobRow.attempts == attempt,
        )

    async def finish(self, job_id: int, me: str, attempt: int, now: datetime) -> bool:
        done = await self._session.scalar(
            update(JobRow)
            .where(self._mine(job_id, me, attempt))
            .values(state=JobState.DONE.value, finished_at=now, lease_until=None)
            .returning(JobRow.id)
        )
        return done is not None

    async def retry(self, job_id: int, me: str, attempt: int, due_at: datetime, error: str) -> bool:
        """Back to pending, due at `due_at`, with the error kept."""
        again = await self._session.scalar(
            update(JobRow)
            .where(self._mine(job_id, me, attempt))
            .values(
                state=JobState.PENDING.value,
                due_at=due_at,
                claimed_by=None,
                lease_until=None,
                last_error=error[:MAX_ERROR],
            )
            .returning(JobRow.id)
        )
        return again is not None

    async def fail(self, job_id: int, me: str | None, attempt: int, error: str, now: datetime) -> bool:
        """Failed for good, with the error kept (`me` None: whoever holds it)."""
        where = (
            self._mine(job_id, me, attempt)
            if me is not None
            else and_(JobRow.id == job_id, JobRow.state == JobState.RUNNING.value)
        )
        failed = await self._session.scalar(
            update(JobRow)
            .where(where)
            .values(state=JobState.FAILED.value, finished_at=now, lease_until=None, last_error=error[:MAX_ERROR])
            .returning(JobRow.id)
        )
        return failed is not None

    async def release(self, job_id: int, me: str, attempt: int) -> bool:
        """Back to pending as it was, this claim not counted (the process is closing before it could run it)."""
        released = await self._session.scalar(
            update(JobRow)
            .where(self._mine(job_id, me, attempt))
            .values(state=JobState.PENDING.value, claimed_by=None, lease_until=None, attempts=JobRow.attempts - 1)
            .returning(JobRow.id)
        )
        return released is not None

    async def due_kinds_unknown(self, kinds: list[str], now: datetime) -> list[str]:
        """The kinds of due pending jobs that are not in `kinds` (no handler for them in this process)."""
        rows = await self._session.scalars(
            select(JobRow.kind)
            .where(JobRow.state == JobState.PENDING.value, JobRow.due_at <= now, JobRow.kind.not_in(kinds))
            .distinct()
        )
        return sorted(rows)


__all__ = ["MAX_KEY", "MAX_KIND", "Job", "JobState", "JobStore", "Scheduled"]
