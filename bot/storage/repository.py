"""Incidents, participants and the audit trail, read and written inside one caller-owned transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.incident import Incident, Status, format_public_id

from .dialect import upsert
from .jobs import JobStore
from .pages import PageStore
from .tables import (
    AuditRow,
    HandledRequestRow,
    IncidentCounterRow,
    IncidentRoleRow,
    IncidentRow,
    ParticipantRow,
    StatusUpdateRow,
)


@dataclass(frozen=True, slots=True)
class NewIncident:
    team_id: str
    title: str
    description: str
    severity: str
    opener_id: str
    opened_at: datetime
    commander_id: str | None = None
    request_key: str | None = None
    private: bool = False
    setup_owner: str | None = None  # the process that sets it up (the incident is not set up yet when given)
    setup_reply: str | None = None  # JSON: how to tell the opener


@dataclass(frozen=True, slots=True)
class SetupState:
    """How far opening an incident got (see services/opening.py)."""

    done: bool
    owner: str | None
    attempts: int
    reply: str | None
    channel_intent: str | None
    announcement_ts: str | None
    opener_told: bool


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor_id: str
    action: str
    at: datetime
    field: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    public_id: str | None = None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A status update as posted (`/incident update`)."""

    id: int
    incident_id: int
    author_id: str
    status: str  # the incident's status when it was posted
    severity: str  # and its severity
    text: str
    posted_at: datetime
    impact: str | None = None
    next_steps: str | None = None
    message_ts: str | None = None
    announcement_ts: str | None = None


def _update(row: StatusUpdateRow) -> StatusUpdate:
    return StatusUpdate(
        id=row.id,
        incident_id=row.incident_id,
        author_id=row.author_id,
        status=row.status,
        severity=row.severity,
        text=row.text,
        posted_at=row.posted_at,
        impact=row.impact,
        next_steps=row.next_steps,
        message_ts=row.message_ts,
        announcement_ts=row.announcement_ts,
    )


def _to_domain(row: IncidentRow) -> Incident:
    return Incident(
        id=row.id,
        team_id=row.team_id,
        public_id=row.public_id,
        year=row.year,
        number=row.number,
        title=row.title,
        description=row.description,
        severity=row.severity,
        status=Status(row.status),
        opener_id=row.opener_id,
        opened_at=row.opened_at,
        commander_id=row.commander_id,
        channel_id=row.channel_id,
        channel_name=row.channel_name,
        card_ts=row.card_ts,
        acknowledged_at=row.acknowledged_at,
        mitigated_at=row.mitigated_at,
        resolved_at=row.resolved_at,
        private=row.private,
        setup_done=row.setup_done,
    )


_MUTABLE_FIELDS = (
    "title",
    "description",
    "severity",
    "status",
    "commander_id",
    "channel_id",
    "channel_name",
    "card_ts",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
)


class IncidentStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def pages(self) -> PageStore:
        """The incidents' pages, in this transaction."""
        return PageStore(self._session)

    @property
    def jobs(self) -> JobStore:
        """The scheduler's jobs, in this transaction."""
        return JobStore(self._session)

    async def _next_number(self, team_id: str, year: int) -> int:
        """Atomically hand out the next number for (workspace, year): one upsert, no read-then-write race.

        On PostgreSQL concurrent upserts of the same row queue on its row lock; on SQLite the transaction
        already holds the database write lock (BEGIN IMMEDIATE). Numbers are never handed out twice."""
        stmt = (
            upsert(self._session, IncidentCounterRow)
            .values(team_id=team_id, year=year, last_number=1)
            .on_conflict_do_update(
                index_elements=[IncidentCounterRow.team_id, IncidentCounterRow.year],
                set_={"last_number": IncidentCounterRow.last_number + 1},
            )
            .returning(IncidentCounterRow.last_number)
        )
        return int((await self._session.execute(stmt)).scalar_one())

    async def add(self, new: NewIncident) -> Incident:
        year = new.opened_at.year
        number = await self._next_number(new.team_id, year)
        row = IncidentRow(
            team_id=new.team_id,
            public_id=format_public_id(year, number),
            year=year,
            number=number,
            title=new.title,
            description=new.description,
            severity=new.severity,
            status=Status.OPEN.value,
            commander_id=new.commander_id,
            opener_id=new.opener_id,
            request_key=new.request_key,
            opened_at=new.opened_at,
            updated_at=new.opened_at,
            private=new.private,
            setup_done=new.setup_owner is None,
            setup_owner=new.setup_owner,
            setup_attempts=1 if new.setup_owner else 0,
            setup_reply=new.setup_reply,
            opener_told=new.setup_owner is None,
        )
        self._session.add(row)
        await self._session.flush()
        return _to_domain(row)

    async def get(self, incident_id: int) -> Incident | None:
        row = await self._session.get(IncidentRow, incident_id)
        return None if row is None else _to_domain(row)

    async def get_by_request_key(self, team_id: str, request_key: str) -> Incident | None:
        row = await self._session.scalar(
            select(IncidentRow).where(IncidentRow.team_id == team_id, IncidentRow.request_key == request_key)
        )
        return None if row is None else _to_domain(row)

    async def get_by_public_id(self, public_id: str) -> list[Incident]:
        rows = await self._session.scalars(select(IncidentRow).where(IncidentRow.public_id == public_id))
        return [_to_domain(r) for r in rows]

    async def get_by_channel(self, team_id: str, channel_id: str) -> Incident | None:
        row = await self._session.scalar(
            select(IncidentRow).where(IncidentRow.team_id == team_id, IncidentRow.channel_id == channel_id)
        )
        return None if row is None else _to_domain(row)

    async def list_active(self, team_id: str) -> list[Incident]:
        rows = await self._session.scalars(
            select(IncidentRow)
            .where(
                IncidentRow.team_id == team_id,
                IncidentRow.status != Status.RESOLVED.value,
                IncidentRow.channel_id.is_not(None),
            )
            .order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc())
        )
        return [_to_domain(r) for r in rows]

    async def active_ids(self, severities: Sequence[str]) -> list[int]:
        """The ids of the incidents of every workspace that are not resolved, at one of `severities`."""
        if not severities:
            return []
        rows = await self._session.scalars(
            select(IncidentRow.id)
            .where(IncidentRow.status != Status.RESOLVED.value, IncidentRow.severity.in_(list(severities)))
            .order_by(IncidentRow.id)
        )
        return list(rows)

    async def count(self, team_id: str | None = None) -> int:
        stmt = select(func.count()).select_from(IncidentRow)
        if team_id is not None:
            stmt = stmt.where(IncidentRow.team_id == team_id)
        return int(await self._session.scalar(stmt) or 0)

    async def save(self, incident: Incident, at: datetime) -> Incident:
        row = await self._session.get(IncidentRow, incident.id, with_for_update=True)
        if row is None:
            raise LookupError(f"incident {incident.id} does not exist")
        for name in _MUTABLE_FIELDS:
            value = getattr(incident, name)
            setattr(row, name, value.value if isinstance(value, Status) else value)
        row.updated_at = at
        await self._session.flush()
        return _to_domain(row)

    async def update_fields(self, incident_id: int, at: datetime, **fields: str | None) -> Incident:
        """Set only these fields (channel_id, channel_name, card_ts), leaving what others changed meanwhile."""
        allowed = {"channel_id", "channel_name", "card_ts"}
        if not fields.keys() <= allowed:
            raise ValueError(f"update_fields sets only {sorted(allowed)}, not {sorted(fields.keys() - allowed)}")
        row = await self._session.get(IncidentRow, incident_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise LookupError(f"incident {incident_id} does not exist")
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = at
        await self._session.flush()
        return _to_domain(row)

    # -- opening: the progress of setting an incident up ------------------------------------------------------

    async def setup_state(self, incident_id: int) -> SetupState | None:
        row = await self._session.get(IncidentRow, incident_id, populate_existing=True)
        if row is None:
            return None
        return SetupState(
            done=row.setup_done,
            owner=row.setup_owner,
            attempts=row.setup_attempts,
            reply=row.setup_reply,
            channel_intent=row.channel_intent,
            announcement_ts=row.announcement_ts,
            opener_told=row.opener_told,
        )

    async def update_setup(self, incident_id: int, **fields: object) -> None:
        """Record a step of the setup (channel_intent, announcement_ts, opener_told, setup_done, setup_owner,
        setup_reply)."""
        allowed = {"channel_intent", "announcement_ts", "opener_told", "setup_done", "setup_owner", "setup_reply"}
        if not fields.keys() <= allowed:
            raise ValueError(f"update_setup sets only {sorted(allowed)}, not {sorted(fields.keys() - allowed)}")
        await self._session.execute(update(IncidentRow).where(IncidentRow.id == incident_id).values(**fields))

    async def release_setup(self, incident_id: int, owner: str) -> None:
        """`owner` lets go of the setup (only if it still owns it), for any live process to finish."""
        await self._session.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident_id, IncidentRow.setup_owner == owner)
            .values(setup_owner=None)
        )

    async def unfinished_setups(self) -> list[tuple[int, str | None]]:
        """(incident id, owner) of every incident whose setup is not done, oldest first."""
        rows = await self._session.execute(
            select(IncidentRow.id, IncidentRow.setup_owner)
            .where(IncidentRow.setup_done.is_(False))
            .order_by(IncidentRow.id)
        )
        return [(int(i), o) for i, o in rows.all()]

    async def claim_setup(self, incident_id: int, owner: str | None, me: str) -> int | None:
        """Take over an unfinished setup from `owner` (gone), if nobody else did first: the attempt number, or None."""
        same_owner = IncidentRow.setup_owner.is_(None) if owner is None else IncidentRow.setup_owner == owner
        result = await self._session.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident_id, IncidentRow.setup_done.is_(False), same_owner)
            .values(setup_owner=me, setup_attempts=IncidentRow.setup_attempts + 1)
            .returning(IncidentRow.setup_attempts)
        )
        attempt = result.scalar_one_or_none()
        return None if attempt is None else int(attempt)

    # -- requests already handled -------------------------------------------------------------------------

    async def claim_request(self, team_id: str, request_key: str, at: datetime) -> bool:
        """True the first time a request (a click, by its action_ts) is seen; False for a replay."""
        stmt = (
            upsert(self._session, HandledRequestRow)
            .values(team_id=team_id, request_key=request_key, handled_at=at)
            .on_conflict_do_nothing(index_elements=["team_id", "request_key"])
            .returning(HandledRequestRow.id)
        )
        return (await self._session.execute(stmt)).first() is not None

    async def lock(self, incident_id: int) -> Incident | None:
        """Read an incident and hold its row until the transaction ends (concurrent changes queue)."""
        row = await self._session.get(IncidentRow, incident_id, with_for_update=True, populate_existing=True)
        return None if row is None else _to_domain(row)

    async def remove(self, incident_id: int) -> None:
        await self._session.execute(delete(IncidentRow).where(IncidentRow.id == incident_id))

    async def add_participant(self, incident_id: int, user_id: str, role: str, at: datetime) -> bool:
        """Adds the person once; returns False if they were already a participant."""
        existing = await self._session.scalar(
            select(ParticipantRow).where(ParticipantRow.incident_id == incident_id, ParticipantRow.user_id == user_id)
        )
        if existing is not None:
            if role == "commander" and existing.role != "commander":
                existing.role = role
            return False
        self._session.add(ParticipantRow(incident_id=incident_id, user_id=user_id, role=role, joined_at=at))
        await self._session.flush()
        return True

    async def participants(self, incident_id: int) -> list[tuple[str, str]]:
        rows = await self._session.scalars(
            select(ParticipantRow).where(ParticipantRow.incident_id == incident_id).order_by(ParticipantRow.id)
        )
        return [(r.user_id, r.role) for r in rows]

    # -- roles (the commander is on the incident itself) ------------------------------------------------------

    async def role_holders(self, incident_id: int) -> dict[str, str]:
        """role name -> the user holding it, for the roles held (the commander not included)."""
        rows = await self._session.execute(
            select(IncidentRoleRow.role, IncidentRoleRow.user_id)
            .where(IncidentRoleRow.incident_id == incident_id)
            .order_by(IncidentRoleRow.id)
        )
        return {str(role): str(user) for role, user in rows.all()}

    async def set_role(self, incident_id: int, role: str, user_id: str | None, by: str, at: datetime) -> None:
        """`user_id` holds `role` from now on (None: nobody). Call with the incident locked."""
        await self._session.execute(
            delete(IncidentRoleRow).where(IncidentRoleRow.incident_id == incident_id, IncidentRoleRow.role == role)
        )
        if user_id is not None:
            self._session.add(
                IncidentRoleRow(incident_id=incident_id, role=role, user_id=user_id, assigned_by=by, assigned_at=at)
            )
        await self._session.flush()

    # -- status updates ---------------------------------------------------------------------------------------

    async def add_update(
        self,
        incident: Incident,
        author_id: str,
        text: str,
        at: datetime,
        *,
        impact: str | None = None,
        next_steps: str | None = None,
        request_key: str | None = None,
    ) -> StatusUpdate | None:
        """The update stored, with the incident's status and severity now; None when one with this request key
        exists already (a redelivered command, a resubmitted form)."""
        result = await self._session.execute(
            upsert(self._session, StatusUpdateRow)
            .values(
                team_id=incident.team_id,
                incident_id=incident.id,
                author_id=author_id,
                status=incident.status.value,
                severity=incident.severity,
                text=text,
                impact=impact,
                next_steps=next_steps,
                posted_at=at,
                request_key=request_key,
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "request_key"])
            .returning(StatusUpdateRow.id)
        )
        new_id = result.scalar_one_or_none()
        if new_id is None:
            return None
        row = await self._session.get(StatusUpdateRow, int(new_id))
        assert row is not None
        return _update(row)

    async def set_update_posted(
        self, update_id: int, *, message_ts: str | None = None, announcement_ts: str | None = None
    ) -> None:
        values = {
            name: value
            for name, value in (("message_ts", message_ts), ("announcement_ts", announcement_ts))
            if value is not None
        }
        if values:
            await self._session.execute(update(StatusUpdateRow).where(StatusUpdateRow.id == update_id).values(**values))

    async def updates(self, incident_id: int) -> list[StatusUpdate]:
        """Every status update of the incident, oldest first."""
        rows = await self._session.scalars(
            select(StatusUpdateRow)
            .where(StatusUpdateRow.incident_id == incident_id)
            .order_by(StatusUpdateRow.posted_at, StatusUpdateRow.id)
        )
        return [_update(r) for r in rows]

    async def last_update_at(self, incident_id: int) -> datetime | None:
        """When the newest status update of the incident was posted (None: never)."""
        return await self._session.scalar(
            select(StatusUpdateRow.posted_at)
            .where(StatusUpdateRow.incident_id == incident_id)
            .order_by(StatusUpdateRow.posted_at.desc())
            .limit(1)
        )

    async def audit(self, team_id: str, incident_id: int | None, entry: AuditEntry) -> None:
        self._session.add(
            AuditRow(
                team_id=team_id,
                incident_id=incident_id,
                public_id=entry.public_id,
                actor_id=entry.actor_id,
                action=entry.action,
                field=entry.field,
                old_value=entry.old_value,
                new_value=entry.new_value,
                at=entry.at,
            )
        )
        await self._session.flush()

    async def has_audit(self, incident_id: int, action: str) -> bool:
        """Whether the incident's audit log has an entry of `action` (e.g. "channel_archived")."""
        found = await self._session.scalar(
            select(AuditRow.id).where(AuditRow.incident_id == incident_id, AuditRow.action == action).limit(1)
        )
        return found is not None

    async def audit_trail(self, team_id: str, incident_id: int | None = None) -> list[AuditEntry]:
        stmt = select(AuditRow).where(AuditRow.team_id == team_id).order_by(AuditRow.id)
        if incident_id is not None:
            stmt = stmt.where(AuditRow.incident_id == incident_id)
        rows = await self._session.scalars(stmt)
        return [
            AuditEntry(
                actor_id=r.actor_id,
                action=r.action,
                at=r.at,
                field=r.field,
                old_value=r.old_value,
                new_value=r.new_value,
                public_id=r.public_id,
            )
            for r in rows
        ]
