"""Archiving: a resolved incident's channel is archived `archive.after_days` after its resolution (app.yaml).

- Resolving schedules an "archive" job, in the transaction that records the resolution, keyed by the incident and
  the resolution's time: `/incident reopen` cancels it (in the reopening's transaction), and resolving again
  schedules a new one, counted from the new resolution.
- When the job runs it does nothing if the incident is no longer resolved at that time (reopened, or resolved
  again later: that resolution has its own job). It checks again under the incident's row lock at the moment it
  archives, holding the lock while Slack archives, so a reopening racing it either wins (nothing is archived) or
  waits and finds the channel archived: a reopening of an incident whose channel is archived is refused, saying
  that a person must unarchive it first (Slack does not let a bot token call conversations.unarchive).
  With `wait_for_followups`, while follow-ups of the incident are
  open it says so once in the channel and looks again a day later (a new job, same resolution). Otherwise it posts a
  last line (tagged, so a run repeated after a crash or a refusal finds it instead of posting it again), archives
  the channel (already archived counts as done) and records `channel_archived` on the audit log (the timeline).
- Slack refusing (restricted_action: only admins may archive there; not_in_channel; ...) is recorded on the audit
  log (`archive_refused`) and the job fails: the scheduler tries it again with backoff, up to its attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.config import Config
from bot.domain.incident import Incident, Status
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.storage import AuditEntry, Database
from bot.storage.database import Stores

from .errors import UserError
from .scheduler import JobRun, Scheduler

log = logging.getLogger(__name__)

KIND = "archive"
RECHECK = timedelta(days=1)  # how often archiving waiting for follow-ups looks again


def archive_key(incident: Incident, check: int = 0) -> str:
    """One job per incident and resolution (and per later check while follow-ups wait)."""
    assert incident.resolved_at is not None
    key = f"archive:{incident.id}:{incident.resolved_at.strftime('%Y%m%dT%H%M%S%f')}"
    return key if check == 0 else f"{key}:{check}"


def _resolution_item(incident: Incident) -> int:
    """Tells one resolution's posts from another's (a reopened incident resolved again)."""
    assert incident.resolved_at is not None
    return int(incident.resolved_at.timestamp())


class Archiver:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        open_followups: Callable[[Incident], Awaitable[list[Any]]],
        clock: Callable[[], datetime],
    ) -> None:
        self._clock = clock
        self._config = config
        self._db = db
        self._slack = slack
        self._open_followups = open_followups

    @property
    def enabled(self) -> bool:
        return self._config.archive.enabled

    def register(self, scheduler: Scheduler) -> None:
        scheduler.register(KIND, self.run)

    # -- in the services' transactions ---------------------------------------------------------------------

    async def schedule(self, stores: Stores, incident: Incident, now: datetime) -> None:
        """At resolution (in its transaction): archive `after_days` later."""
        days = self._config.archive.after_days
        if days is None or incident.resolved_at is None or incident.channel_id is None:
            return
        await stores.jobs.schedule(
            KIND,
            archive_key(incident),
            incident.resolved_at + timedelta(days=days),
            {"incident_id": incident.id, "resolved_at": incident.resolved_at.isoformat(), "check": 0},
            now=now,
            team_id=incident.team_id,
        )

    async def cancel(self, stores: Stores, resolved: Incident, now: datetime) -> None:
        """At a reopening (in its transaction, under the incident's lock): every pending archive job of the incident
        is cancelled (the resolution's, and a later check's while follow-ups were waited for)."""
        for key in await stores.jobs.open_keys(KIND, f"{KIND}:{resolved.id}:"):
            await stores.jobs.cancel(key, now=now)

    # -- the job -------------------------------------------------------------------------------------------

    async def run(self, run: JobRun) -> None:
        if not self.enabled:
            return  # scheduled before `archive` was turned off in app.yaml
        incident_id = int(run.payload["incident_id"])
        resolved_at = datetime.fromisoformat(str(run.payload["resolved_at"]))
        check = int(run.payload.get("check", 0))
        async with self._db.unit() as stores:
            incident = await stores.incidents.get(incident_id)
        if (
            incident is None
            or incident.status is not Status.RESOLVED
            or incident.resolved_at != resolved_at
            or incident.channel_id is None
        ):
            return  # reopened since (or resolved again: that resolution has its own job)
        if self._config.archive.wait_for_followups:
            waiting = await self._open_followups(incident)
            if waiting:
                await self._wait(run, incident, len(waiting), check)
                return
        await self._archive(run, incident)

    async def _wait(self, run: JobRun, incident: Incident, count: int, check: int) -> None:
        assert incident.channel_id is not None
        if not run.payload.get("told"):
            await run.check()
            try:
                await self._slack.post_once(
                    incident.channel_id,
                    self.waiting_text(incident, count),
                    tag=Tag("incident_archive_waiting", incident.id, _resolution_item(incident)),
                    look_first=run.attempt > 1,
                )
            except SlackError as e:  # saying so is a courtesy: the waiting goes on anyway
                log.warning("%s: could not say archiving waits (%s)", incident.public_id, e.code)
        now = self._clock()
        async with run.completing() as stores:
            await stores.jobs.schedule(
                KIND,
                archive_key(incident, check + 1),
                now + RECHECK,
                {**run.payload, "check": check + 1, "told": True},
                now=now,
                team_id=incident.team_id,
            )
            if not run.payload.get("told"):
                await self._audit(stores, incident, "archive_waiting", now, f"{count} open follow-up(s)")

    async def _archive(self, run: JobRun, incident: Incident) -> None:
        channel = incident.channel_id
        assert channel is not None
        assert incident.resolved_at is not None
        resolved_at = incident.resolved_at
        me = await self._slack.identity()
        await run.check()
        archived = False
        try:
            await self._slack.post_once(
                channel,
                self.last_line(incident, self._clock()),
                tag=Tag("incident_archive", incident.id, _resolution_item(incident)),
                look_first=run.attempt > 1,
            )
            # The incident's row lock (taken before the job's own, in the order a reopening takes them) is held
            # while Slack archives: a reopening waits for it and then finds the channel archived, or this finds the
            # incident reopened and archives nothing. Never open in the record and archived in Slack.
            async with run.completing(first=lambda stores: stores.incidents.lock(incident.id)) as stores:
                current = await stores.incidents.get(incident.id)
                if current is not None and current.status is Status.RESOLVED and current.resolved_at == resolved_at:
                    await self._slack.archive(channel)
                    await self._audit(stores, incident, "channel_archived", self._clock(), None, actor=me.user_id)
                    archived = True
        except SlackError as e:
            log.warning("%s: Slack refused to archive the channel (%s); trying again later", incident.public_id, e.code)
            async with self._db.unit() as stores:
                await self._audit(stores, incident, "archive_refused", self._clock(), e.code, actor=me.user_id)
            raise
        if archived:
            log.info("%s: channel archived", incident.public_id)
        else:
            log.info("%s: reopened while its archiving ran; the channel stays", incident.public_id)

    async def refuse_if_archived(self, stores: Stores, incident: Incident) -> None:
        """At a reopening, under the incident's lock: refuse it (UserError) when the channel is archived. Slack does
        not let a bot token unarchive a channel (conversations.unarchive: "Bot tokens cannot currently be used to
        unarchive conversations"), so a person unarchives it; then the reopening goes through."""
        if incident.channel_id is None or not await stores.incidents.has_audit(incident.id, "channel_archived"):
            return
        try:
            archived = await self._slack.is_archived(incident.channel_id)
        except SlackError as e:
            log.warning("%s: cannot tell whether its channel is archived (%s)", incident.public_id, e.code)
            archived = True
        if archived:
            raise UserError(
                f"{incident.public_id} cannot be reopened: its channel <#{incident.channel_id}> is archived, and "
                "Slack does not let a bot unarchive a channel. Someone can unarchive it (the channel's settings: "
                f"*Unarchive channel*), then run `{self._config.command} reopen` there."
            )

    async def _audit(
        self, stores: Stores, incident: Incident, action: str, at: datetime, new: str | None, actor: str = ""
    ) -> None:
        if not actor:
            actor = (await self._slack.identity()).user_id
        await stores.incidents.audit(
            incident.team_id,
            incident.id,
            AuditEntry(actor_id=actor, action=action, at=at, new_value=new, public_id=incident.public_id),
        )

    # -- what it says --------------------------------------------------------------------------------------

    def last_line(self, incident: Incident, now: datetime) -> str:
        assert incident.resolved_at is not None
        days = max(0, (now - incident.resolved_at).days)
        ago = "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"
        return (
            f":file_cabinet: Archiving this channel: {incident.public_id} was resolved {ago}. "
            f"The record and the report stay; `{self._config.command} status` lists the open incidents."
        )

    def waiting_text(self, incident: Incident, count: int) -> str:
        return (
            f":hourglass: Archiving this channel waits for {count} open follow-up{'s' if count != 1 else ''} of "
            f"{incident.public_id}: `{self._config.command} followup list` shows them, "
            f"`{self._config.command} followup done <n>` marks one done. "
            f"`{self._config.command} reopen` reopens the incident."
        )
