"""Fingerprints of resolved incidents' evidence, kept so that a later incident that says much the same is told it
was seen before (bot/services/seen_before.py, bot/suggestions/resemblance.py).

Resolving schedules a "fingerprint" job in the resolution's transaction (keyed by the incident and the resolution's
time, so a reopened incident resolved again is fingerprinted again, and a crash before it ran leaves it pending).
The job has the engine's process read everything said in the incident and count its terms (the CPU is the
engine's, never the event loop's), and stores the result in the job's completing transaction. A job that finds the
incident no longer resolved does nothing: only resolved incidents are compared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bot.domain.incident import Incident, Status
from bot.storage import Database
from bot.storage.database import Stores

from .ranking import EngineProcess
from .scheduler import JobRun, Scheduler

log = logging.getLogger(__name__)

KIND = "fingerprint"


def fingerprint_key(incident: Incident) -> str:
    assert incident.resolved_at is not None
    return f"fingerprint:{incident.id}:{incident.resolved_at.strftime('%Y%m%dT%H%M%S%f')}"


class Fingerprints:
    def __init__(self, db: Database, engine: Callable[[], EngineProcess], clock: Callable[[], datetime]) -> None:
        self._db = db
        self._engine = engine
        self._clock = clock

    def register(self, scheduler: Scheduler) -> None:
        scheduler.register(KIND, self.run)

    async def schedule(self, stores: Stores, incident: Incident, now: datetime) -> None:
        """At resolution (in its transaction): fingerprint the incident now."""
        if incident.resolved_at is None:
            return
        await stores.jobs.schedule(
            KIND, fingerprint_key(incident), now, {"incident_id": incident.id}, now=now, team_id=incident.team_id
        )

    async def run(self, run: JobRun) -> None:
        incident_id = int(run.payload["incident_id"])
        async with self._db.unit() as stores:
            incident = await stores.incidents.get(incident_id)
        if incident is None or incident.status is not Status.RESOLVED:
            return  # reopened since: it is fingerprinted when it is resolved again
        terms, messages = await self._engine().fingerprint(incident.id, incident.title)
        async with run.completing() as stores:
            await stores.fingerprints.put(incident.id, incident.team_id, terms, messages, self._clock())
        log.info("fingerprinted %s: %d terms from %d messages", incident.public_id, len(terms), messages)
