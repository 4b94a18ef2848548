"""Overdue status-update reminders, as scheduler jobs (bot/services/scheduler.py).

Scheduling: when an incident opens, its severity changes or a status update is posted, `plan_reminder` schedules an
"update-reminder" job for the time `update_due` gives (bot/services/updates.py), in that same transaction. The key
names the incident and the due time (`update-reminder:<incident id>:<due, ISO>`), so asking twice for the same
period is one job, and each period is a job of its own.

Running (`UpdateReminders.run`): the incident is read as it is now and `update_due` asked again.
- None (resolved, or its severity has no cadence): nothing, and no next job. Never a reminder after resolution.
- Later than now (an update was posted since the job was scheduled, or the severity changed): nothing is posted; the
  job for the new due time is scheduled (the same key as the one the update scheduled: one job).
- Not after now: the update is overdue; the reminder for the current period is posted in the incident channel,
  mentioning the comms lead if that role is held (else the commander), and the next period's job is scheduled.
  The post is tagged with the incident and the period (Slack message metadata) and looked for before posting, so a
  job run again after a crash, or two jobs landing in the same period, post it once.

Catching up (`UpdateReminders.plan`, a scheduler planner: at start and every PLAN_EVERY): every incident that is not
resolved, at a severity with a cadence, and has no pending or running reminder job, gets one, as if it had just been
opened or updated. That covers an incident opened by a version without reminders, and a chain broken by a job that
failed for good (Slack down for hours) or was lost. Cheap: the unresolved incidents' ids and the open reminder jobs'
keys (jobs by state are indexed), then only the incidents missing one, each under its row lock with the check
repeated, so two replicas planning at once (or a planning racing an update) schedule one job: the same key.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.config import Config
from bot.domain.incident import Incident
from bot.slack import blocks
from bot.slack.gateway import SlackGateway, Tag
from bot.storage import Database

from .incidents import IncidentService
from .scheduler import JobRun, Scheduler
from .updates import KIND, plan_reminder, reminder_key, update_due

log = logging.getLogger(__name__)

TAG = "incident_update_reminder"
PLAN_EVERY = timedelta(minutes=5)  # how often incidents without a reminder job are looked for
COMMS_ROLE = "comms"  # the role reminded, when someone holds it; otherwise the commander


def reminder_text(config: Config, incident: Incident, who: str | None) -> str:
    level = config.severity(incident.severity)
    label = blocks.escape(level.label if level else incident.severity)
    every = level.update_every_minutes if level else None
    cadence = f" (every {every} min for {label})" if every else ""
    mention = f"{blocks.mention(who)} " if who else ""
    return (
        f":alarm_clock: {mention}A status update for {incident.public_id} is due{cadence}: "
        f"`{config.command} update <text>`"
    )


class UpdateReminders:
    def __init__(
        self, config: Config, db: Database, slack: SlackGateway, incidents: IncidentService, clock: Clock
    ) -> None:
        self._config = config
        self._db = db
        self._slack = slack
        self._incidents = incidents
        self._clock = clock

    def register(self, scheduler: Scheduler) -> None:
        scheduler.register(KIND, self.run)
        scheduler.plan("update-reminders", self.plan, every=PLAN_EVERY)

    async def plan(self) -> int:
        """Schedule the reminder job of every unresolved incident with a cadence that has none. Returns how many
        were scheduled."""
        severities = [s.name for s in self._config.severities if s.update_every_minutes]
        if not severities:
            return 0
        async with self._db.unit() as stores:
            active = await stores.incidents.active_ids(severities)
            keys = await stores.jobs.open_keys(KIND)
        covered = {int(key.split(":")[1]) for key in keys}
        planned = 0
        for incident_id in active:
            if incident_id not in covered and await self._plan_one(incident_id):
                planned += 1
        return planned

    async def _plan_one(self, incident_id: int) -> bool:
        async with self._db.transaction() as store:
            incident = await store.lock(incident_id)  # an update or a severity change waits, and so does a replica
            if incident is None or await store.jobs.open_keys(KIND, f"{KIND}:{incident_id}:"):
                return False
            now = self._clock.now()
            last = await store.last_update_at(incident_id)
            due = await plan_reminder(store.jobs, self._config, incident, last, now)
            if due is None:
                return False
            job = await store.jobs.get(reminder_key(incident_id, due))
            if job is not None and job.state == "done":  # this period was reminded: the next one's
                await plan_reminder(store.jobs, self._config, incident, last, now, at=self._next(incident, due))
        log.info("%s had no status-update reminder job; one is scheduled", incident.public_id)
        return True

    def _next(self, incident: Incident, due: datetime) -> datetime:
        level = self._config.severity(incident.severity)
        return due + timedelta(minutes=level.update_every_minutes if level and level.update_every_minutes else 0)

    async def run(self, run: JobRun) -> None:
        incident_id = int(run.payload["incident_id"])
        now = self._clock.now()
        async with self._db.transaction() as store:
            incident = await store.get(incident_id)
            last = await store.last_update_at(incident_id)
        if incident is None:
            return
        due = update_due(incident, last, now, self._config)
        if due is None:
            return  # resolved, or no cadence (any more)
        if due <= now and incident.channel_id:
            await run.check()
            holders = await self._incidents.role_holders(incident)
            who = holders.get(COMMS_ROLE) or incident.commander_id
            await self._slack.post_once(
                incident.channel_id,
                reminder_text(self._config, incident, who),
                tag=Tag(TAG, incident.id, int(due.timestamp())),
                look_first=True,
            )
            log.info("reminded %s of its overdue status update (due %s)", incident.public_id, due.isoformat())
        level = self._config.severity(incident.severity)
        period = timedelta(minutes=level.update_every_minutes if level and level.update_every_minutes else 0)
        async with run.completing() as stores:
            # The next one: the next period's when overdue, or the due time an update (or a severity) moved to.
            await plan_reminder(stores.jobs, self._config, incident, last, now, at=due + period if due <= now else None)
