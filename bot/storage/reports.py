"""Generated post-incident reports, versioned per incident."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import ReportRow


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: int
    incident_id: int
    version: int
    final: bool
    markdown: str
    built_from: dict[str, Any]
    created_by: str
    created_at: datetime
    message_ts: str | None

    @property
    def label(self) -> str:
        return "Final" if self.final else f"Draft {self.version}"


def _stored(row: ReportRow) -> StoredReport:
    return StoredReport(
        id=row.id,
        incident_id=row.incident_id,
        version=row.version,
        final=row.final,
        markdown=row.markdown,
        built_from=json.loads(row.built_from),
        created_by=row.created_by,
        created_at=row.created_at,
        message_ts=row.message_ts,
    )


class ReportStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def next_version(self, incident_id: int) -> int:
        latest = await self._session.scalar(
            select(func.max(ReportRow.version)).where(ReportRow.incident_id == incident_id)
        )
        return int(latest or 0) + 1

    async def add(
        self,
        *,
        team_id: str,
        incident_id: int,
        version: int,
        final: bool,
        markdown: str,
        built_from: dict[str, Any],
        created_by: str,
        created_at: datetime,
    ) -> StoredReport:
        row = ReportRow(
            team_id=team_id,
            incident_id=incident_id,
            version=version,
            final=final,
            markdown=markdown,
            built_from=json.dumps(built_from),
            created_by=created_by,
            created_at=created_at,
        )
        self._session.add(row)
        await self._session.flush()
        return _stored(row)

    async def set_message(self, report_id: int, ts: str) -> None:
        await self._session.execute(update(ReportRow).where(ReportRow.id == report_id).values(message_ts=ts))

    async def latest(self, incident_id: int) -> StoredReport | None:
        row = await self._session.scalar(
            select(ReportRow).where(ReportRow.incident_id == incident_id).order_by(ReportRow.version.desc()).limit(1)
        )
        return None if row is None else _stored(row)

    async def all(self, incident_id: int) -> list[StoredReport]:
        rows = await self._session.scalars(
            select(ReportRow).where(ReportRow.incident_id == incident_id).order_by(ReportRow.version)
        )
        return [_stored(r) for r in rows]
