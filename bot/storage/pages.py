"""Pages: which services were paged for an incident, and what the provider answered (services/paging.py).

One row per (incident, service): asking again finds the row instead of paging twice. Sending is claimed with a
short lease (`sending_until`), so that one sender at a time (of any replica, or a retry job) talks to the provider
about a page; its outcome is recorded when the provider answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .dialect import upsert
from .tables import PageRow

Action = Literal["trigger", "resolve"]


@dataclass(frozen=True, slots=True)
class Page:
    id: int
    team_id: str
    incident_id: int
    service: str
    provider: str
    dedup_key: str
    reason: str  # "severity" (app.yaml) or "command"
    severity: str
    requested_by: str
    requested_at: datetime
    trigger_attempts: int
    triggered_at: datetime | None
    resolve_wanted_at: datetime | None
    resolve_attempts: int
    resolved_at: datetime | None
    last_error: str | None
    retry_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewPage:
    team_id: str
    incident_id: int
    service: str
    provider: str
    dedup_key: str
    reason: str
    severity: str
    requested_by: str
    requested_at: datetime


def _page(row: PageRow) -> Page:
    return Page(
        id=row.id,
        team_id=row.team_id,
        incident_id=row.incident_id,
        service=row.service,
        provider=row.provider,
        dedup_key=row.dedup_key,
        reason=row.reason,
        severity=row.severity,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        trigger_attempts=row.trigger_attempts,
        triggered_at=row.triggered_at,
        resolve_wanted_at=row.resolve_wanted_at,
        resolve_attempts=row.resolve_attempts,
        resolved_at=row.resolved_at,
        last_error=row.last_error,
        retry_at=row.retry_at,
    )


class PageStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, new: NewPage) -> Page | None:
        """The new page; None if this service already has one for the incident (it is never paged twice)."""
        stmt = (
            upsert(self._session, PageRow)
            .values(
                team_id=new.team_id,
                incident_id=new.incident_id,
                service=new.service,
                provider=new.provider,
                dedup_key=new.dedup_key,
                reason=new.reason,
                severity=new.severity,
                requested_by=new.requested_by,
                requested_at=new.requested_at,
                trigger_attempts=0,
                resolve_attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "service"])
            .returning(PageRow.id)
        )
        page_id = (await self._session.execute(stmt)).scalar_one_or_none()
        return None if page_id is None else await self.get(int(page_id))

    async def get(self, page_id: int) -> Page | None:
        row = await self._session.get(PageRow, page_id, populate_existing=True)
        return None if row is None else _page(row)

    async def sending(self, page_id: int, now: datetime) -> bool:
        """Whether a sender holds the page's lease now."""
        until = await self._session.scalar(select(PageRow.sending_until).where(PageRow.id == page_id))
        return until is not None and until > now

    async def find(self, incident_id: int, service: str) -> Page | None:
        row = await self._session.scalar(
            select(PageRow).where(PageRow.incident_id == incident_id, PageRow.service == service)
        )
        return None if row is None else _page(row)

    async def of_incident(self, incident_id: int) -> list[Page]:
        rows = await self._session.scalars(
            select(PageRow).where(PageRow.incident_id == incident_id).order_by(PageRow.id)
        )
        return [_page(r) for r in rows]

    async def claim(
        self, page_id: int, action: Action, now: datetime, until: datetime, *, first: bool = False
    ) -> Page | None:
        """Take the lease to send `action` for this page, if it still needs sending and nobody holds it; else None.

        A trigger is needed until the provider accepted one, and never once the incident is resolved; a resolve once
        the incident is resolved, until the provider accepted it. `first`: only if it was never tried."""
        needed = (
            and_(PageRow.triggered_at.is_(None), PageRow.resolve_wanted_at.is_(None))
            if action == "trigger"
            else and_(PageRow.resolve_wanted_at.is_not(None), PageRow.resolved_at.is_(None))
        )
        if first:
            tried = PageRow.trigger_attempts if action == "trigger" else PageRow.resolve_attempts
            needed = and_(needed, tried == 0)
        attempts = PageRow.trigger_attempts if action == "trigger" else PageRow.resolve_attempts
        result = await self._session.execute(
            update(PageRow)
            .where(
                PageRow.id == page_id,
                needed,
                or_(PageRow.sending_until.is_(None), PageRow.sending_until < now),
            )
            .values({"sending_until": until, attempts.key: attempts + 1})
            .returning(PageRow.id)
        )
        if result.scalar_one_or_none() is None:
            return None
        return await self.get(page_id)

    async def sent(self, page_id: int, action: Action, now: datetime) -> Page:
        """The provider accepted `action`: recorded, the lease let go."""
        column = "triggered_at" if action == "trigger" else "resolved_at"
        await self._session.execute(
            update(PageRow)
            .where(PageRow.id == page_id)
            .values({column: now, "sending_until": None, "last_error": None, "retry_at": None})
        )
        page = await self.get(page_id)
        assert page is not None
        return page

    async def failed(self, page_id: int, error: str, retry_at: datetime | None) -> Page:
        """The provider refused, or did not answer: recorded (for the channel and a later retry), the lease let go."""
        await self._session.execute(
            update(PageRow).where(PageRow.id == page_id).values(sending_until=None, last_error=error, retry_at=retry_at)
        )
        page = await self.get(page_id)
        assert page is not None
        return page

    async def release(self, page_id: int) -> None:
        await self._session.execute(update(PageRow).where(PageRow.id == page_id).values(sending_until=None))

    async def want_resolve(self, incident_id: int, now: datetime) -> list[int]:
        """The incident is resolved: every page of it wants a resolve. Returns their ids."""
        result = await self._session.execute(
            update(PageRow)
            .where(PageRow.incident_id == incident_id, PageRow.resolve_wanted_at.is_(None))
            .values(resolve_wanted_at=now)
            .returning(PageRow.id)
        )
        return sorted(int(i) for i in result.scalars())

    async def reopen(self, incident_id: int, actor: str, now: datetime) -> list[int]:
        """The incident is reopened: every page of it that was to be resolved is to be triggered again, as if new
        (asked for by `actor` now; the provider's alert was resolved, and a trigger with the same deduplication key
        opens a new one). Returns their ids."""
        result = await self._session.execute(
            update(PageRow)
            .where(PageRow.incident_id == incident_id, PageRow.resolve_wanted_at.is_not(None))
            .values(
                requested_by=actor,
                requested_at=now,
                trigger_attempts=0,
                triggered_at=None,
                resolve_wanted_at=None,
                resolve_attempts=0,
                resolved_at=None,
                last_error=None,
                retry_at=None,
            )
            .returning(PageRow.id)
        )
        return sorted(int(i) for i in result.scalars())

    async def unsent(self, now: datetime) -> list[tuple[int, Action]]:
        """Pages with something still to send and nobody sending it, not before their retry time: for a retry job."""
        idle = or_(PageRow.sending_until.is_(None), PageRow.sending_until < now)
        due = or_(PageRow.retry_at.is_(None), PageRow.retry_at <= now)
        rows = await self._session.execute(
            select(PageRow.id, PageRow.triggered_at, PageRow.resolve_wanted_at)
            .where(
                idle,
                due,
                or_(
                    and_(PageRow.triggered_at.is_(None), PageRow.resolve_wanted_at.is_(None)),
                    and_(PageRow.resolve_wanted_at.is_not(None), PageRow.resolved_at.is_(None)),
                ),
            )
            .order_by(PageRow.id)
        )
        return [(int(i), "trigger" if w is None else "resolve") for i, _t, w in rows.all()]
