"""Fingerprints of resolved incidents' evidence (`FingerprintRow`), for "Seen before" by resemblance."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.incident import Status

from .dialect import upsert
from .tables import FingerprintRow, IncidentRow

# Resolved incidents compared, the most recently resolved: the engine's process rebuilds their index when one is
# written (about a second at 500: bench/seen_before.py).
MOST = 500


class FingerprintStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, incident_id: int, team_id: str, terms: dict[str, int], messages: int, at: datetime) -> None:
        """Keep the incident's fingerprint (replacing the one of an earlier resolution)."""
        values = {"terms": json.dumps(terms, sort_keys=True), "messages": messages, "stored_at": at}
        await self._session.execute(
            upsert(self._session, FingerprintRow)
            .values(incident_id=incident_id, team_id=team_id, **values)
            .on_conflict_do_update(index_elements=["incident_id"], set_=values)
        )

    async def version(self, team_id: str) -> tuple[int, datetime | None]:
        """Changes whenever what `resolved` answers changes: a fingerprint written, an incident reopened (how many
        are compared, and the newest)."""
        row = (
            await self._session.execute(
                select(func.count(), func.max(FingerprintRow.stored_at))
                .join(IncidentRow, IncidentRow.id == FingerprintRow.incident_id)
                .where(FingerprintRow.team_id == team_id, IncidentRow.status == Status.RESOLVED.value)
            )
        ).one()
        return int(row[0]), row[1]

    async def resolved(self, team_id: str, most: int = MOST) -> dict[int, dict[str, int]]:
        """The fingerprints of the workspace's incidents that are resolved now (a reopened one is not compared), the
        `most` most recently resolved."""
        rows = await self._session.execute(
            select(FingerprintRow.incident_id, FingerprintRow.terms)
            .join(IncidentRow, IncidentRow.id == FingerprintRow.incident_id)
            .where(FingerprintRow.team_id == team_id, IncidentRow.status == Status.RESOLVED.value)
            .order_by(IncidentRow.resolved_at.desc(), IncidentRow.id.desc())
            .limit(most)
        )
        return {incident_id: json.loads(terms) for incident_id, terms in rows.all()}

    async def get(self, incident_id: int) -> dict[str, int] | None:
        terms = await self._session.scalar(
            select(FingerprintRow.terms).where(FingerprintRow.incident_id == incident_id)
        )
        return json.loads(terms) if terms is not None else None
