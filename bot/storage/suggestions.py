"""Root-cause suggestions as shown in incident channels, what became of them, and what people decided about them.

One row per (incident, runbook, error, root cause). Its state: "posted" while it stands in the channel (at most one
per incident), "superseded" when another root cause took its place in the same message, "retracted" when it was
withdrawn, "accepted" or "dismissed" when people decided. A root cause shown again later is the same row, shown
anew (`show`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, delete, func, select, update
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
    state: str  # posted | accepted | dismissed | superseded | retracted
    posted_at: datetime  # when it was last shown
    message_ts: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None  # why it was updated to (while shown) or withdrawn, in a sentence

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
        note=row.note,
    )


Triple = tuple[str, str, str]  # (runbook title, error name, root cause name)
# States a root cause may be shown again from (the others stand, or people decided).
SHOWN_AGAIN_FROM = ("superseded", "retracted")


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

    async def show(self, record: SuggestionRecord) -> tuple[SuggestionRecord, SuggestionRecord | None] | None:
        """Make `record` stand (state, message_ts, note and figures as given): a new row, or the row of that root
        cause if it was superseded or retracted before. Returns (what stands now, the row as it was before, or None
        if it is new), for `undo`; None when that root cause stands already or people decided about it. Call it
        holding the incident's lock."""
        existing = await self._session.scalar(
            select(SuggestionRow)
            .where(
                SuggestionRow.incident_id == record.incident_id,
                SuggestionRow.runbook == record.runbook,
                SuggestionRow.error == record.error,
                SuggestionRow.root_cause == record.root_cause,
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        values = _values(record)
        if existing is not None:
            if existing.state not in SHOWN_AGAIN_FROM:
                return None
            before = _record(existing)
            await self._session.execute(
                update(SuggestionRow)
                .where(SuggestionRow.id == existing.id)
                .values(**values, decided_by=None, decided_at=None)
            )
            shown = await self.get(existing.id)
            assert shown is not None
            return shown, before
        result = await self._session.execute(
            upsert(self._session, SuggestionRow)
            .values(
                team_id=record.team_id,
                incident_id=record.incident_id,
                runbook=record.runbook,
                error=record.error,
                root_cause=record.root_cause,
                **values,
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "runbook", "error", "root_cause"])
            .returning(SuggestionRow.id)
        )
        new_id = result.scalar_one_or_none()
        if new_id is None:
            return None
        added = await self.get(int(new_id))
        assert added is not None
        return added, None

    async def undo(self, shown: SuggestionRecord, before: SuggestionRecord | None) -> None:
        """Take back a `show` that never reached the channel: the row is removed, or put back as it was."""
        if before is None:
            await self.remove(shown.id)
            return
        await self._session.execute(
            update(SuggestionRow)
            .where(SuggestionRow.id == before.id)
            .values(**_values(before), decided_by=before.decided_by, decided_at=before.decided_at)
        )

    async def set_state(self, suggestion_id: int, state: str, note: str | None) -> SuggestionRecord | None:
        """Superseded, retracted (with why), or posted again (a change Slack refused, taken back)."""
        await self._session.execute(
            update(SuggestionRow).where(SuggestionRow.id == suggestion_id).values(state=state, note=note)
        )
        return await self.get(suggestion_id)

    async def learned(self, team_id: str, *, besides: int) -> dict[Triple, tuple[int, int]]:
        """What people of a workspace decided in its incidents other than `besides`: per root cause, (times
        accepted, times dismissed)."""
        accepted = func.sum(case((SuggestionRow.state == "accepted", 1), else_=0))
        dismissed = func.sum(case((SuggestionRow.state == "dismissed", 1), else_=0))
        rows = await self._session.execute(
            select(SuggestionRow.runbook, SuggestionRow.error, SuggestionRow.root_cause, accepted, dismissed)
            .where(
                SuggestionRow.team_id == team_id,
                SuggestionRow.state.in_(("accepted", "dismissed")),
                SuggestionRow.incident_id != besides,
            )
            .group_by(SuggestionRow.runbook, SuggestionRow.error, SuggestionRow.root_cause)
        )
        return {(r[0], r[1], r[2]): (int(r[3] or 0), int(r[4] or 0)) for r in rows}

    async def set_message(self, suggestion_id: int, ts: str | None) -> None:
        await self._session.execute(
            update(SuggestionRow).where(SuggestionRow.id == suggestion_id).values(message_ts=ts)
        )

    async def remove(self, suggestion_id: int) -> None:
        await self._session.execute(delete(SuggestionRow).where(SuggestionRow.id == suggestion_id))

    async def decide(self, suggestion_id: int, state: str, user: str, at: datetime) -> SuggestionRecord | None:
        """Accept or dismiss. Accepting one takes the acceptance away from any other of the same incident (which
        becomes superseded: it never stands again by itself)."""
        row = await self._session.get(SuggestionRow, suggestion_id, with_for_update=True)
        if row is None:
            return None
        if state == "accepted":
            await self._session.execute(
                update(SuggestionRow)
                .where(
                    SuggestionRow.incident_id == row.incident_id,
                    SuggestionRow.state == "accepted",
                    SuggestionRow.id != row.id,
                )
                .values(state="superseded")
            )
        row.state = state
        row.decided_by = user
        row.decided_at = at
        await self._session.flush()
        return _record(row)


def _values(record: SuggestionRecord) -> dict[str, object]:
    """The columns a showing sets (not the key, the workspace or the decision)."""
    return {
        "runbook_path": record.runbook_path,
        "score": record.score,
        "citation": record.citation,
        "evidence": json.dumps(list(record.evidence)),
        "alternatives": json.dumps(list(record.alternatives)),
        "remediation": record.remediation,
        "state": record.state,
        "posted_at": record.posted_at,
        "message_ts": record.message_ts,
        "note": record.note,
    }
