"""Root-cause suggestions as posted, and what people decided about them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .dialect import upsert
from .tables import SuggestionRow


@dataclass(frozen=True, slots=True)
class SuggestionRecord:
    id: int
    team_id: str
    incident_id: int
    runbook: str
    runbook_path: str
    error: str
    root_cause: str
    score: float
    citation: str
    evidence: tuple[str, ...]
    alternatives: tuple[str, ...]
    remediation: str
    state: str  # posted | accepted | dismissed
    posted_at: datetime
    message_ts: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.runbook, self.error, self.root_cause)


def _record(row: SuggestionRow) -> SuggestionRecord:
    return SuggestionRecord(
        id=row.id,
        team_id=row.team_id,
        incident_id=row.incident_id,
        runbook=row.runbook,
        runbook_path=row.runbook_path,
        error=row.error,
        root_cause=row.root_cause,
        score=row.score,
        citation=row.citation,
        evidence=tuple(json.loads(row.evidence)),
        alternatives=tuple(json.loads(row.alternatives)),
        remediation=row.remediation,
        state=row.state,
        posted_at=row.posted_at,
        message_ts=row.message_ts,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


class SuggestionStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def for_incident(self, incident_id: int) -> list[SuggestionRecord]:
        rows = await self._session.scalars(
            select(SuggestionRow).where(SuggestionRow.incident_id == incident_id).order_by(SuggestionRow.id)
        )
        return [_record(r) for r in rows]

    async def get(self, suggestion_id: int) -> SuggestionRecord | None:
        row = await self._session.get(SuggestionRow, suggestion_id, populate_existing=True)
        return None if row is None else _record(row)

    async def add(self, record: SuggestionRecord) -> SuggestionRecord | None:
        """None when this root cause was suggested for the incident before (it is never posted twice)."""
        result = await self._session.execute(
            upsert(self._session, SuggestionRow)
            .values(
                team_id=record.team_id,
                incident_id=record.incident_id,
                runbook=record.runbook,
                runbook_path=record.runbook_path,
                error=record.error,
                root_cause=record.root_cause,
                score=record.score,
                citation=record.citation,
                evidence=json.dumps(list(record.evidence)),
                alternatives=json.dumps(list(record.alternatives)),
                remediation=record.remediation,
                state=record.state,
                posted_at=record.posted_at,
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "runbook", "error", "root_cause"])
            .returning(SuggestionRow.id)
        )
        new_id = result.scalar_one_or_none()
        return None if new_id is None else await self.get(int(new_id))

    async def set_message(self, suggestion_id: int, ts: str) -> None:
        await self._session.execute(
            update(SuggestionRow).where(SuggestionRow.id == suggestion_id).values(message_ts=ts)
        )

    async def remove(self, suggestion_id: int) -> None:
        await self._session.execute(delete(SuggestionRow).where(SuggestionRow.id == suggestion_id))

    async def decide(self, suggestion_id: int, state: str, user: str, at: datetime) -> SuggestionRecord | None:
        """Accept or dismiss. Accepting one takes the acceptance away from any other of the same incident."""
        row = await self._session.get(SuggestionRow, suggestion_id, with_for_update=True)
        if row is None:
            return None
        if state == "accepted":
            await self._session.execute(
                update(SuggestionRow)
                .where(SuggestionRow.incident_id == row.incident_id, SuggestionRow.state == "accepted")
                .values(state="posted")
            )
        row.state = state
        row.decided_by = user
        row.decided_at = at
        await self._session.flush()
        return _record(row)
