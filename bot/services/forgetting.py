"""OAuth mode: a workspace that uninstalled the app. Its incidents stay readable (the web view) for
`oauth.retention_days`; then a job deletes everything kept for it, unless the app was installed there again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.acting import Acting
from bot.storage import Database

from .scheduler import JobRun, Scheduler

log = logging.getLogger(__name__)

KIND = "forget-workspace"
SAME_UNINSTALL = timedelta(minutes=1)  # the uninstall recorded and this job's may be a moment apart


class Forgetting:
    def __init__(self, db: Database, retention_days: int, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._retention = timedelta(days=retention_days)
        self._clock = clock

    def register(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        scheduler.register(KIND, self.run, in_workspace=False)

    async def schedule(self, workspace: Acting) -> None:
        """The app was uninstalled from `workspace` (its installation is gone already): delete its data later."""
        now = self._clock()
        async with self._db.unit() as stores:
            await stores.jobs.schedule(
                KIND,
                f"{KIND}:{workspace.team_id}:{now.isoformat()}",
                now + self._retention,
                {"uninstalled": now.isoformat()},
                now=now,
                team_id=workspace.team_id,
            )
        self._scheduler.nudge()

    async def run(self, run: JobRun) -> None:
        team = run.job.team_id
        if team is None:
            return
        async with run.completing() as stores:
            uninstalled = await stores.workspaces.uninstalled_at(team)
            if uninstalled is None:
                log.info("workspace %s installed the app again: its incidents are kept", team)
                return
            if uninstalled > datetime.fromisoformat(run.payload["uninstalled"]) + SAME_UNINSTALL:
                return  # installed again and uninstalled later: that uninstall's own job deletes, in its time
            deleted = await stores.workspaces.delete_everything(team)
        log.info(
            "deleted what was kept of workspace %s (%d incidents), uninstalled %s ago", team, deleted, self._retention
        )
