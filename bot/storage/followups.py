"""Follow-ups of incidents and the state of their export to an issue tracker (see tables.FollowupRow)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import FollowupRow

OPEN = "open"
DONE = "done"


@dataclass(frozen=True, slots=True)
class Followup:
    id: int
    team_id: str
    incident_id: int
    number: int  # 1, 2, ... per incident
    text: str  # plain text, as typed
    owner_id: str | None
    due_on: date | None
    state: str  # open | done
    created_by: str
    created_at: datetime
    done_by: str | None = None
    done_at: datetime | None = None
    export_target: str | None = None  # "github:owner/name", "jira:OPS"; None: not exported
    export_state: str | None = None  # pending | exported | failed
    export_attempts: int = 0
    export_uncertain: bool = False
    export_claimed_until: datetime | None = None
    export_first_attempt_at: datetime | None = None
    export_error: str | None = None
    issue_id: str | None = None
    issue_url: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state == OPEN


def _followup(row: FollowupRow) -> Followup:
    return Followup(
        id=row.id,
        team_id=row.team_id,
        incident_id=row.incident_id,
        number=row.number,
        text=row.text,
        owner_id=row.owner_id,
        due_on=row.due_on,
        state=row.state,
        created_by=row.created_by,
        created_at=row.created_at,
        done_by=row.done_by,
        done_at=row.done_at,
        export_target=row.export_target,
        export_state=row.export_state,
        export_attempts=row.export_attempts,
        export_uncertain=row.export_uncertain,
        export_claimed_until=row.export_claimed_until,
        export_first_attempt_at=row.export_first_attempt_at,
        export_error=row.export_error,
        issue_id=row.issue_id,
        issue_url=row.issue_url,
    )


class FollowupStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def by_request(self, incident_id: int, request_key: str) -> Followup | None:
        row = await self._session.scalar(
            select(FollowupRow).where(FollowupRow.incident_id == incident_id, FollowupRow.request_key == request_key)
        )
        return None if row is None else _followup(row)

    async def add(
        self,
        *,
        team_id: str,
        incident_id: int,
        text: str,
        owner_id: str | None,
        due_on: date | None,
        created_by: str,
        created_at: datetime,
        request_key: str | None,
        export_target: str | None,
    ) -> Followup:
        """The next number of the incident. The caller holds the incident's row lock (numbers are handed out one at a
        time); the unique constraint on (incident, number) backs that up."""
        latest = await self._session.scalar(
            select(func.max(FollowupRow.number)).where(FollowupRow.incident_id == incident_id)
        )
        row = FollowupRow(
            team_id=team_id,
            incident_id=incident_id,
            number=int(latest or 0) + 1,
            text=text,
            owner_id=owner_id,
            due_on=due_on,
            state=OPEN,
            created_by=created_by,
            created_at=created_at,
            request_key=request_key,
            export_target=export_target,
            export_state="pending" if export_target else None,
            export_attempts=0,
            export_uncertain=False,
        )
        self._session.add(row)
        await self._session.flush()
        return _followup(row)

    async def of_incident(self, incident_id: int) -> list[Followup]:
        rows = await self._session.scalars(
            select(FollowupRow).where(FollowupRow.incident_id == incident_id).order_by(FollowupRow.number)
        )
        return [_followup(r) for r in rows]

    async def get(self, followup_id: int, *, lock: bool = False) -> Followup | None:
        row = await self._session.get(FollowupRow, followup_id, with_for_update=lock, populate_existing=True)
        return None if row is None else _followup(row)

    async def numbered(self, incident_id: int, number: int, *, lock: bool = False) -> Followup | None:
        stmt = select(FollowupRow).where(FollowupRow.incident_id == incident_id, FollowupRow.number == number)
        if lock:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt.execution_options(populate_existing=True))
        return None if row is None else _followup(row)

    async def mark_done(self, followup_id: int, by: str, at: datetime) -> None:
        await self._session.execute(
            update(FollowupRow).where(FollowupRow.id == followup_id).values(state=DONE, done_by=by, done_at=at)
        )

    async def claim_export(self, followup_id: int, at: datetime, until: datetime) -> None:
        """An export attempt begins: an issue may exist from now until the attempt says otherwise."""
        row = await self._session.get(FollowupRow, followup_id)
        assert row is not None
        row.export_attempts += 1
        row.export_uncertain = True
        row.export_claimed_until = until
        if row.export_first_attempt_at is None:
            row.export_first_attempt_at = at
        await self._session.flush()

    async def exported(self, followup_id: int, issue_id: str, issue_url: str, at: datetime) -> None:
        await self._session.execute(
            update(FollowupRow)
            .where(FollowupRow.id == followup_id)
            .values(
                export_state="exported",
                issue_id=issue_id,
                issue_url=issue_url,
                exported_at=at,
                export_error=None,
                export_uncertain=False,
                export_claimed_until=None,
            )
        )

    async def export_failed(self, followup_id: int, error: str, *, uncertain: bool) -> None:
        await self._session.execute(
            update(FollowupRow)
            .where(FollowupRow.id == followup_id)
            .values(export_state="failed", export_error=error, export_uncertain=uncertain, export_claimed_until=None)
        )

    async def pending_exports(self, target: str) -> list[int]:
        """Follow-ups for `target` whose export is not done (pending or failed), oldest first: what a retry would
        pick up."""
        rows = await self._session.scalars(
            select(FollowupRow.id)
            .where(FollowupRow.export_target == target, FollowupRow.export_state.in_(("pending", "failed")))
            .order_by(FollowupRow.id)
        )
        return list(rows)
