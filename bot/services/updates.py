"""Status updates: `/incident update <text>` (or its form: current status, impact, next steps) posts a formatted
update in the incident channel, and in the announcement channel when there is one, and records it (the timeline
and the report show it).

The record is committed first, keyed by the request (a redelivered command or a resubmitted form is the same
update, posted once), and with it an "update-post" job due POST_AFTER later: the posting survives the process.
Slack is called at once after the commit, each post tagged so that an ambiguous failure is looked for before it is
tried again; when both posts are in, the job is marked done with their message times. When they are not (a Slack
failure, or the process died between the record and the posts), the job posts what is missing, each post looked for
first (`post_once`), so a crash anywhere still ends with each post made once; it is retried with the scheduler's
backoff while Slack refuses. An announcement channel the bot cannot read back (it posts there without being a member)
is not posted in by the job: better none than two, as for the opening's announcement.

`update_due` says when the next update is due, from the severity's `update_every_minutes`: what a reminder job
needs to decide, without Slack or the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import Config
from bot.domain.incident import Incident, Status
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.slack.markup import to_markup
from bot.storage import Database, StatusUpdate
from bot.storage.jobs import JobStore

from .errors import UserError

if TYPE_CHECKING:
    from .scheduler import JobRun, Scheduler

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
    await jobs.schedule(
        KIND, reminder_key(incident.id, due), due, {"incident_id": incident.id}, now=now, team_id=incident.team_id
    )
    return due


POST_KIND = "update-post"  # the scheduler job that posts a recorded update its poster did not get to post
POST_AFTER = timedelta(minutes=1)  # how long the poster has before the job posts it instead


def post_key(update_id: int) -> str:
    return f"{POST_KIND}:{update_id}"


class NotPosted(Exception):
    """Slack refused a post of a recorded update: its job runs again later."""


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
            if update is not None:  # the next update is due a period from this one; the posting is durable
                now = self._clock()
                await plan_reminder(store.jobs, self._config, current, update.posted_at, now)
                payload = {"incident_id": current.id, "update_id": update.id}
                await store.jobs.schedule(
                    POST_KIND, post_key(update.id), now + POST_AFTER, payload, now=now, team_id=current.team_id
                )
        if update is None:
            return Posted(None)
        warnings, message_ts, announcement_ts = await self._deliver(current, update)
        async with self._db.transaction() as store:
            await store.set_update_posted(update.id, message_ts=message_ts, announcement_ts=announcement_ts)
            if not warnings:
                await store.jobs.settle(post_key(update.id), now=self._clock())
        if warnings:
            warnings.append("I will try posting it again in a minute.")
        return Posted(update, tuple(warnings))

    def register(self, scheduler: Scheduler) -> None:
        scheduler.register(POST_KIND, self.run)

    async def run(self, run: JobRun) -> None:
        """The "update-post" job: post what of the recorded update is not posted yet."""
        incident_id, update_id = int(run.payload["incident_id"]), int(run.payload["update_id"])
        async with self._db.transaction() as store:
            incident = await store.get(incident_id)
            update = next((u for u in await store.updates(incident_id) if u.id == update_id), None)
        if incident is None or update is None:
            return
        await run.check()
        warnings, message_ts, announcement_ts = await self._deliver(incident, update, look_first=True)
        if warnings:
            async with self._db.transaction() as store:
                await store.set_update_posted(update.id, message_ts=message_ts, announcement_ts=announcement_ts)
            raise NotPosted(" ".join(warnings))
        async with run.completing() as stores:
            await stores.incidents.set_update_posted(update.id, message_ts=message_ts, announcement_ts=announcement_ts)
        log.info("%s: status update %d posted by its job", incident.public_id, update.id)

    async def _deliver(
        self, incident: Incident, update: StatusUpdate, *, look_first: bool = False
    ) -> tuple[list[str], str | None, str | None]:
        """Post the update where it is not posted yet: (warnings, the channel's message ts, the announcement's)."""
        warnings: list[str] = []
        message_ts, announcement_ts = update.message_ts, update.announcement_ts
        if incident.channel_id and message_ts is None:
            try:
                message_ts = await self._slack.post_once(
                    incident.channel_id,
                    blocks.status_update_text(self._config, incident, update),
                    blocks.status_update_blocks(self._config, incident, update),
                    tag=Tag("incident_update", incident.id, update.id),
                    look_first=look_first,
                )
            except SlackError as e:
                warnings.append(f"I could not post the update in the incident channel (`{e.code}`).")
        where = self._config.announcement_channel
        if where and where != incident.channel_id and announcement_ts is None:
            private = incident.may_be_private
            tag = Tag("incident_update_announcement", incident.id, update.id)
            if look_first:
                try:
                    announcement_ts = await self._slack.find_tagged(where, tag)
                except SlackError as e:  # cannot read it back (not a member): better none than two, as at opening
                    log.warning("cannot tell whether update %d was announced (%s); not announcing", update.id, e.code)
                    return warnings, message_ts, None
                if announcement_ts is not None:
                    return warnings, message_ts, announcement_ts
            try:
                announcement_ts = await self._slack.post_once(
                    where,
                    blocks.status_update_text(self._config, incident, update, announced=True),
                    None if private else blocks.status_update_blocks(self._config, incident, update, announced=True),
                    tag=tag,
                )
            except SlackError as e:
                warnings.append(f"I could not post the update in <#{where}> (`{e.code}`).")
        return warnings, message_ts, announcement_ts
