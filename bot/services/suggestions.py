"""Root-cause suggestions in incident channels: re-ranked as messages are captured, posted when one first
crosses the engine's threshold or the top root cause changes, at most one per interval, never one that people
dismissed. Accepting one stores it as the incident's root cause (the report uses it).

The engine (bot/suggestions/) is pure; it runs in a process of its own (`EngineProcess`, bot/services/ranking.py)
that keeps each active incident's evidence state and reads what was said from the database itself. This service
asks it for rankings, decides what deserves a post, and talks to Slack. Nothing Slack is waiting for ever waits on
the engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import Config
from bot.domain.incident import Incident
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.storage import AuditEntry, Database, SuggestionRecord
from bot.suggestions.decision import key, worth_posting

from .errors import AlreadyHandled, UserError
from .ranking import EngineProcess
from .timeline import Background

if TYPE_CHECKING:
    from bot.suggestions.engine import Suggestion
    from bot.suggestions.model import Runbook

log = logging.getLogger(__name__)

# Gather the messages of a burst before re-ranking (cheap, and one suggestion instead of several).
SETTLE_SECONDS = 0.2


def utcnow() -> datetime:
    return datetime.now(UTC)


class SuggestionService:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        background: Background,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config
        self._db = db
        self._slack = slack
        self._background = background
        self._clock = clock
        self._running: set[int] = set()
        self._dirty: set[int] = set()
        self._later: dict[int, asyncio.TimerHandle] = {}
        self._engine: EngineProcess | None = None
        self._closing = False

    # -- re-ranking as people talk ---------------------------------------------------------------------------

    def nudge(self, incident_id: int) -> None:
        """New words in the incident channel: re-rank soon (at most one re-rank per incident at a time)."""
        if not self._config.suggestions.enabled or self._closing:
            return
        self._dirty.add(incident_id)
        if incident_id in self._running:
            return
        self._running.add(incident_id)
        self._background.spawn(lambda: self._rerank_while_dirty(incident_id))

    async def _rerank_while_dirty(self, incident_id: int) -> None:
        try:
            while incident_id in self._dirty:
                self._dirty.discard(incident_id)
                await asyncio.sleep(SETTLE_SECONDS)
                wait = await self.consider(incident_id)
                if wait is not None and incident_id not in self._later:
                    # A new top root cause must wait for the next slot: look again then (a timer, not a task,
                    # so nothing waits on it when the bot shuts down).
                    loop = asyncio.get_running_loop()
                    self._later[incident_id] = loop.call_later(wait, self._look_again, incident_id)
        finally:
            self._running.discard(incident_id)

    def _look_again(self, incident_id: int) -> None:
        self._later.pop(incident_id, None)
        self.nudge(incident_id)

    def close(self) -> None:
        """No more re-ranking is started (what runs finishes: wait for the background, then `release()`)."""
        self._closing = True
        for timer in self._later.values():
            timer.cancel()
        self._later.clear()

    def release(self) -> None:
        """Stop the engine's process (with the evidence it kept)."""
        self._closing = True
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    @property
    def engine(self) -> EngineProcess:
        """The engine's process (started on first use, or by `start()`)."""
        if self._engine is None:
            self._engine = EngineProcess(self._config.suggestions.runbooks, self._db.url)
        return self._engine

    async def start(self) -> None:
        """Start the engine's process now: it indexes the runbooks while the bot gets ready."""
        if self._config.suggestions.enabled:
            await self.engine.start()

    async def _rank(self, incident: Incident, top: int) -> tuple[list[Suggestion], float]:
        """The incident's ranking, from its evidence state brought up to date with the database."""
        ranking = await self.engine.rank(incident.id, top)
        return list(ranking.suggestions), ranking.threshold

    async def runbook(self, title: str) -> Runbook | None:
        """The runbook of that title, as the engine has it now."""
        return await self.engine.runbook(title)

    async def consider(self, incident_id: int) -> float | None:
        """Post the top suggestion if it deserves a post now. Returns seconds to wait when it must wait."""
        async with self._db.transaction() as incidents:
            incident = await incidents.get(incident_id)
        if incident is None or not incident.status.is_active or incident.channel_id is None:
            if incident is not None and self._engine is not None:
                await self._engine.forget(incident.id)  # over: its evidence is no longer kept in memory
            return None
        ranked, threshold = await self._rank(incident, top=10)
        best = worth_posting(ranked, threshold)
        if best is None:
            return None
        now = self._clock()
        async with self._db.unit() as stores:
            await stores.incidents.lock(incident.id)  # one decision at a time, also across replicas
            earlier = await stores.suggestions.for_incident(incident.id)
            if any(s.key == key(best) for s in earlier) or any(s.state == "accepted" for s in earlier):
                return None  # already posted, dismissed, or a root cause was accepted: nothing new to say
            if earlier:
                since = (now - max(s.posted_at for s in earlier)).total_seconds()
                wait = self._config.suggestions.min_interval_seconds - since
                if wait > 0:
                    return wait
            record = await stores.suggestions.add(suggestion_record(incident, best, now))
        if record is None:
            return None
        try:
            ts = await self._slack.post_once(
                incident.channel_id,
                blocks.suggestion_text(record),
                blocks.suggestion_blocks(record),
                tag=Tag("incident_suggestion", incident.id, record.id),
            )
        except SlackError as e:
            log.warning("could not post a suggestion for %s: %s", incident.public_id, e.code)
            if not e.ambiguous:
                async with self._db.unit() as stores:
                    await stores.suggestions.remove(record.id)  # not shown, so not "posted": try again later
            return None
        async with self._db.unit() as stores:
            await stores.suggestions.set_message(record.id, ts)
        return None

    # -- people decide ------------------------------------------------------------------------------------

    async def decide(
        self, incident: Incident, suggestion_id: int, user: str, accept: bool, *, request_key: str | None = None
    ) -> SuggestionRecord:
        """Accept or dismiss a suggestion of `incident` (the incident of the channel the button was clicked in)."""
        now = self._clock()
        async with self._db.unit() as stores:
            current = await stores.suggestions.get(suggestion_id)
            if current is None or current.incident_id != incident.id:
                raise UserError("That suggestion no longer exists here.")
            if request_key is not None and not await stores.incidents.claim_request(incident.team_id, request_key, now):
                raise AlreadyHandled(request_key)
            state = "accepted" if accept else "dismissed"
            if current.state == state:
                raise UserError(f"That suggestion is already {state}.")
            record = await stores.suggestions.decide(suggestion_id, state, user, now)
            assert record is not None
            await stores.incidents.audit(
                record.team_id,
                record.incident_id,
                AuditEntry(
                    actor_id=user,
                    action=f"root_cause_{state}",
                    at=now,
                    field="root_cause",
                    new_value=f"{record.root_cause} ({record.error}, {record.runbook})",
                    public_id=incident.public_id,
                ),
            )
        if incident.channel_id and record.message_ts:
            try:
                await self._slack.update_message(
                    incident.channel_id,
                    record.message_ts,
                    blocks.suggestion_text(record),
                    blocks.suggestion_blocks(record),
                )
                if accept:
                    await self._slack.post_message(
                        incident.channel_id,
                        f":white_check_mark: {blocks.mention(user)} accepted *{blocks.escape(record.root_cause)}* "
                        f"as the root cause (runbook: {blocks.escape(record.runbook)}).",
                    )
            except SlackError as e:
                log.warning("could not update a suggestion message: %s", e.code)
        return record

    async def accepted(self, incident_id: int) -> SuggestionRecord | None:
        async with self._db.unit() as stores:
            return next((s for s in await stores.suggestions.for_incident(incident_id) if s.state == "accepted"), None)

    # -- on demand ---------------------------------------------------------------------------------------

    async def ranking(self, incident: Incident, top: int = 3) -> tuple[list[Suggestion], float]:
        return await self._rank(incident, top)


def suggestion_record(incident: Incident, best: Suggestion, now: datetime) -> SuggestionRecord:
    remediation = best.error.section("remediation")
    return SuggestionRecord(
        id=0,
        team_id=incident.team_id,
        incident_id=incident.id,
        runbook=best.runbook.title,
        runbook_path=best.runbook.path,
        error=best.error.name,
        root_cause=best.cause.name,
        score=best.score,
        citation=best.citation,
        evidence=tuple(best.evidence),
        alternatives=tuple(best.alternatives),
        remediation=remediation.body.strip() if remediation else "",
        state="posted",
        posted_at=now,
    )
