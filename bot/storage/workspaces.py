"""The workspaces served in OAuth mode (`workspaces`, written by bot/slack/installations.py), and deleting all that is
kept of one that uninstalled the app, once its retention period is over."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import Base, IncidentRow, JobRow, WorkspaceRow

# Kept when a workspace's data is deleted: the workspace's own row goes last, and jobs are the scheduler's (the job
# deleting the data is one of them).
_KEPT = frozenset({WorkspaceRow.__tablename__, JobRow.__tablename__})


class WorkspaceStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def uninstalled_at(self, team_id: str) -> datetime | None:
        """When the app was uninstalled from the workspace; None if it is installed (or unknown)."""
        row = await self._session.get(WorkspaceRow, team_id, with_for_update=True)
        return None if row is None else row.uninstalled_at

    async def delete_everything(self, team_id: str) -> int:
        """Every row kept for the workspace: its incidents and all that hangs on them (deleted with them), and its
        other records. Returns how many incidents were deleted."""
        incidents = len(
            (await self._session.scalars(select(IncidentRow.id).where(IncidentRow.team_id == team_id))).all()
        )
        for table in reversed(Base.metadata.sorted_tables):  # what refers to incidents before incidents
            if table.name in _KEPT or "team_id" not in table.c:
                continue
            await self._session.execute(delete(table).where(table.c.team_id == team_id))
        await self._session.execute(delete(WorkspaceRow).where(WorkspaceRow.team_id == team_id))
        return int(incidents or 0)
