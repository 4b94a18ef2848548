"""The incidents list's query. Kept to this one function so that the storage layer's own query (`WebStore`) can take
its place in one spot."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import false, or_, select

from bot.domain.incident import Incident
from bot.storage import Database
from bot.storage.repository import _to_domain  # the row-to-Incident mapping the stores use (until WebStore)
from bot.storage.tables import IncidentRow


@dataclass(frozen=True, slots=True)
class Filter:
    status: str | None = None  # an incident status value ("open", ...), or None for any
    severity: str | None = None  # a severity name, or None for any


@dataclass(frozen=True, slots=True)
class Page:
    incidents: list[Incident]
    next_cursor: str | None  # the cursor of the next (older) page; None on the last page


async def incidents_page(
    db: Database,
    team_id: str,
    wanted: Filter,
    *,
    visible_private: Collection[str],
    cursor: str | None = None,
    limit: int = 25,
) -> Page:
    """The team's incidents, newest first, `limit` at a time, after `cursor` (from the previous page). An incident
    that may be private (bot/domain/incident.py) is listed only when its channel is in `visible_private`, the private
    channels the reader is in: the same rule as Slack's."""
    query = select(IncidentRow).where(IncidentRow.team_id == team_id)
    visible = list(visible_private)
    query = query.where(
        or_(IncidentRow.private.is_(False), IncidentRow.channel_id.in_(visible) if visible else false())
    )
    if wanted.status:
        query = query.where(IncidentRow.status == wanted.status)
    if wanted.severity:
        query = query.where(IncidentRow.severity == wanted.severity)
    if cursor and cursor.isdigit():
        query = query.where(IncidentRow.id < int(cursor))
    async with db.session() as session:
        rows = list(await session.scalars(query.order_by(IncidentRow.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page([_to_domain(r) for r in rows], str(rows[-1].id) if more and rows else None)
