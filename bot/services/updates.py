"""Status updates: `/incident update <text>` (or its form: current status, impact, next steps) posts a formatted
update in the incident channel, and in the announcement channel when there is one, and records it (the timeline
and the report show it).

The record is committed first, keyed by the request (a redelivered command or a resubmitted form is the same
update, posted once); Slack is called after, each post tagged so that an ambiguous failure is looked for before it
is tried again.

`update_due` says when the next update is due, from the severity's `update_every_minutes`: what a reminder job
needs to decide, without Slack or the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.config import Config
from bot.domain.incident import Incident, Status
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.slack.markup import to_markup
from bot.storage import Database, StatusUpdate
from bot.storage.jobs import JobStore

from .errors import UserError

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


def update_due(incident: Incident, last_update_at: datetime | None, now: datetime, config: Config) -> datetime | None:
    """When a status update is (or became) due for `incident` at `now`; None when none ever is: the incident is
    resolved, or its severity has no `update_every_minutes`.

    The first is due one period after the incident opened; each update starts a new period. While overdue, the
    answer is the start of the current overdue period (due, due + period, due + 2 periods, ... the latest not after
    `now`), so that a reminder job reminds once per period: when the answer is not after `now` and differs from the
    one it last reminded for."""
    if not incident.status.is_active:
        return None
    level = config.severity(incident.severity)
    if level is None or level.update_every_minutes is None:
        return None
    period = timedelta(minutes=level.update_every_minutes)
    due = (last_update_at or incident.opened_at) + period
    if now <= due:
        return due
    return due + period * ((now - due) // period)


KIND = "update-reminder"  # the scheduler job that reminds of an overdue update (reminders.py)


def reminder_key(incident_id: int, due: datetime) -> str:
    return f"{KIND}:{incident_id}:{due.isoformat()}"


async def plan_reminder(
    jobs: JobStore,
    config: Config,
    incident: Incident,
    last_update_at: datetime | None,
    now: datetime,
    *,
    at: datetime | None = None,
) -> datetime | None:
    """Schedule the reminder job for the update due at `at` (default: now): the next one, or the current overdue
    period's. None when none is ever due."""
    due = update_due(incident, last_update_at, at or now, config)
    if due is None:
        return None
    await jobs.schedule(KIND, reminder_key(incident.id, due), due, {"incident_id": incident.id}, now=now)
    return due


@dataclass(frozen=True, slots=True)
class Posted:
    update: StatusUpdate | None  # None: this request was posted before (a redelivery or a second submission)
    warnings: tuple[str, ...] = ()


def timeline_text(config: Config, update: StatusUpdate) -> str:
    """The update as one timeline line, in Slack's markup (the update's own words are kept as they came)."""
    level = config.severity(update.severity)
    label = level.label if level else update.severity
    text = f"Status update ({to_markup(Status(update.status).label)}, {to_markup(label)}): {update.text}"
    if update.impact:
        text += f" Impact: {update.impact}"
    if update.next_steps:
        text += f" Next steps: {update.next_steps}"
    return text


class StatusUpdates:
    def __init__(
        self, config: Config, db: Database, slack: SlackGateway, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._config = config
        self._db = db
        self._slack = slack
        self._clock = clock

    async def updates(self, incident: Incident) -> list[StatusUpdate]:
        async with self._db.transaction() as store:
            return await store.updates(incident.id)

    async def last_update_at(self, incident: Incident) -> datetime | None:
        async with self._db.transaction() as store:
            return await store.last_update_at(incident.id)

    async def due(self, incident: Incident) -> datetime | None:
        """`update_due` for the incident as stored now."""
        async with self._db.transaction() as store:
            current = await store.get(incident.id)
            last = await store.last_update_at(incident.id)
        return None if current is None else update_due(current, last, self._clock(), self._config)

    async def post(
        self,
        incident: Incident,
        author: str,
        text: str,
        *,
        impact: str | None = None,
        next_steps: str | None = None,
        request_key: str | None = None,
    ) -> Posted:
        """Record the update (texts in Slack's markup), then post it in the incident channel and the announcement
        channel. Slack failures after the record are warnings."""
        if not text.strip():
            raise UserError(f"Say what the update is: `{self._config.command} update <text>`.")
        async with self._db.transaction() as store:
            current = await store.lock(incident.id)  # the status and severity as they are now
            if current is None:
                raise UserError("That incident no longer exists.")
            update = await store.add_update(
                current,
                author,
                text.strip(),
                self._clock(),
                impact=(impact or "").strip() or None,
                next_steps=(next_steps or "").strip() or None,
                request_key=request_key,
            )
            if update is not None:  # the next update is due a period from this one
                await plan_reminder(store.jobs, self._config, current, update.posted_at, self._clock())
        if update is None:
            return Posted(None)
        warnings: list[str] = []
        message_ts = announcement_ts = None
        if current.channel_id:
            try:
                message_ts = await self._slack.post_once(
                    current.channel_id,
                    blocks.status_update_text(self._config, current, update),
                    blocks.status_update_blocks(self._config, current, update),
                    tag=Tag("incident_update", current.id, update.id),
                )
            except SlackError as e:
                warnings.append(f"I could not post the update in the incident channel (`{e.code}`).")
        where = self._config.announcement_channel
        if where and where != current.channel_id:
            private = current.may_be_private
            try:
                announcement_ts = await self._slack.post_once(
                    where,
                    blocks.status_update_text(self._config, current, update, announced=True),
                    None if private else blocks.status_update_blocks(self._config, current, update, announced=True),
                    tag=Tag("incident_update_announcement", current.id, update.id),
                )
            except SlackError as e:
                warnings.append(f"I could not post the update in <#{where}> (`{e.code}`).")
        if message_ts or announcement_ts:
            async with self._db.transaction() as store:
                await store.set_update_posted(update.id, message_ts=message_ts, announcement_ts=announcement_ts)
        return Posted(update, tuple(warnings))
