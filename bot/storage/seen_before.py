"""Resolved incidents whose accepted root cause is the one an incident's evidence points to, and which of them its
channel was told about ("Seen before"), on a shared root cause or on the resemblance of what both channels said."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.incident import Incident, Status

from .dialect import upsert
from .repository import _to_domain
from .tables import IncidentRow, SeenBeforeRow, SuggestionRow

Triple = tuple[str, str, str]  # runbook, error, root cause


@dataclass(frozen=True, slots=True)
class PastIncident:
    """A resolved incident, its accepted root cause and who accepted it (None: none was accepted)."""

    incident: Incident
    root_cause: Triple | None
    accepted_by: str | None
    accepted_at: datetime | None


@dataclass(frozen=True, slots=True)
class Told:
    """A past incident an incident's channel was told about."""

    past_incident_id: int
    root_cause: Triple | None  # None: told on the resemblance of the evidence
    posted_at: datetime
    message_ts: str | None
    shared: tuple[str, ...] = ()  # on the evidence: the distinctive terms both said
    score: float | None = None


class SeenBeforeStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def resolved_with(self, team_id: str, root_cause: Triple, *, besides: int, limit: int) -> list[PastIncident]:
        """The newest resolved incidents of the workspace where people accepted `root_cause` (never `besides`)."""
        runbook, error, cause = root_cause
        rows = await self._session.execute(
            select(IncidentRow, SuggestionRow.decided_by, SuggestionRow.decided_at)
            .join(SuggestionRow, SuggestionRow.incident_id == IncidentRow.id)
            .where(
                IncidentRow.team_id == team_id,
                IncidentRow.id != besides,
                IncidentRow.status == Status.RESOLVED.value,
                SuggestionRow.state == "accepted",
                SuggestionRow.runbook == runbook,
                SuggestionRow.error == error,
                SuggestionRow.root_cause == cause,
            )
            .order_by(IncidentRow.resolved_at.desc(), IncidentRow.id.desc())
            .limit(limit)
        )
        return [PastIncident(_to_domain(row), root_cause, by, at) for row, by, at in rows.all()]

    async def accepted_in(self, incident: Incident) -> PastIncident | None:
        """The incident with the root cause people accepted in it, or None when none was."""
        row = (
            await self._session.execute(
                select(SuggestionRow.runbook, SuggestionRow.error, SuggestionRow.root_cause)
                .add_columns(SuggestionRow.decided_by, SuggestionRow.decided_at)
                .where(SuggestionRow.incident_id == incident.id, SuggestionRow.state == "accepted")
                .order_by(SuggestionRow.decided_at.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return PastIncident(incident, (row[0], row[1], row[2]), row[3], row[4])

    async def claim_alike(
        self, incident_id: int, past_id: int, shared: tuple[str, ...], score: float, at: datetime
    ) -> bool:
        """Note that the channel of `incident_id` is being told that its evidence resembles `past_id`'s; False when
        it was told about that incident before (on either ground)."""
        inserted = await self._session.execute(
            upsert(self._session, SeenBeforeRow)
            .values(
                incident_id=incident_id,
                past_incident_id=past_id,
                shared=json.dumps(list(shared)),
                score=round(score, 4),
                posted_at=at,
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "past_incident_id"])
            .returning(SeenBeforeRow.past_incident_id)
        )
        return inserted.scalar_one_or_none() is not None

    async def claim(self, incident_id: int, past: list[int], root_cause: Triple, at: datetime) -> list[int]:
        """Note that the channel of `incident_id` is being told about `past`; returns those it was not told about
        before (each pair is told once, also when two replicas try at the same moment)."""
        claimed: list[int] = []
        runbook, error, cause = root_cause
        for past_id in past:
            inserted = await self._session.execute(
                upsert(self._session, SeenBeforeRow)
                .values(
                    incident_id=incident_id,
                    past_incident_id=past_id,
                    runbook=runbook,
                    error=error,
                    root_cause=cause,
                    posted_at=at,
                )
                .on_conflict_do_nothing(index_elements=["incident_id", "past_incident_id"])
                .returning(SeenBeforeRow.past_incident_id)
            )
            if inserted.scalar_one_or_none() is not None:
                claimed.append(past_id)
        return claimed

    async def set_message(self, incident_id: int, past: list[int], ts: str) -> None:
        await self._session.execute(
            update(SeenBeforeRow)
            .where(SeenBeforeRow.incident_id == incident_id, SeenBeforeRow.past_incident_id.in_(past))
            .values(message_ts=ts)
        )

    async def unclaim(self, incident_id: int, past: list[int]) -> None:
        """Slack refused the post: the channel was not told, and may be told later."""
        await self._session.execute(
            delete(SeenBeforeRow).where(
                SeenBeforeRow.incident_id == incident_id, SeenBeforeRow.past_incident_id.in_(past)
            )
        )

    async def told(self, incident_id: int) -> list[Told]:
        rows = await self._session.scalars(
            select(SeenBeforeRow).where(SeenBeforeRow.incident_id == incident_id).order_by(SeenBeforeRow.id)
        )
        return [
            Told(
                row.past_incident_id,
                (row.runbook, row.error or "", row.root_cause or "") if row.runbook is not None else None,
                row.posted_at,
                row.message_ts,
                tuple(json.loads(row.shared)) if row.shared else (),
                row.score,
            )
            for row in rows
        ]
