"""Root-cause suggestions in incident channels, kept in step with the evidence as messages are captured.

A channel has at most one suggestion standing. After each burst of messages the incident is re-ranked (its title
counts as a hypothesis, and what people of the same workspace accepted and dismissed in their other incidents
shifts the ranking, which the suggestion's evidence says) and one rule, `bot.suggestions.decision.decide`, says
what changes:
- post: a new message with the root cause, its citation, evidence, alternatives and remediation, and Accept /
  Dismiss. Posted once (tagged: an ambiguous failure is looked into, never repeated blindly), and at most one new
  post per `suggestions.min_interval_seconds`;
- update: the standing message is edited in place (same ts) to show the new root cause and why it changed; the old
  record becomes "superseded", the new one stands with that message (its buttons carry the new record's id);
- retract: the standing message is edited to say the suggestion is withdrawn and why, without buttons (record
  "retracted"); a later suggestion is a new post.
An update or a withdrawal corrects what stands and is never delayed. A root cause people dismissed is never
suggested again in that incident; once one is accepted, nothing more is posted. Clicks on a superseded or
withdrawn suggestion change nothing and say so. Why a suggestion changed is kept (`note`).

The database and the channel agree: each change is decided and stored under the incident's lock (one decision at
a time, also across replicas), then Slack is told; a change Slack refuses is taken back (an ambiguous failure is
not: it may have happened), and an update whose message is gone is posted as a new message instead.

The engine (bot/suggestions/) is pure; it runs in a process of its own (`EngineProcess`, bot/services/ranking.py)
that keeps each active incident's evidence state and reads what was said from the database itself. This service
asks it for rankings, decides what changes, and talks to Slack. Nothing Slack is waiting for ever waits on the
engine."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.config import Config
from bot.domain.incident import Incident
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.storage import AuditEntry, Database, SuggestionRecord
from bot.suggestions import decision

from .errors import AlreadyHandled, UserError
from .ranking import EngineProcess
from .seen_before import SeenBefore
from .timeline import Background

if TYPE_CHECKING:
    from bot.suggestions.engine import Suggestion
    from bot.suggestions.model import Runbook

log = logging.getLogger(__name__)

# Gather the messages of a burst before re-ranking (cheap, and one suggestion instead of several).
SETTLE_SECONDS = 0.2
# A standing suggestion without its message's ts may still be being posted (by another replica) for this long:
# what stands is not changed meanwhile, and looked at again every LOOK_AGAIN_SECONDS. After that its post is taken
# as lost, and its message is looked for by its tag before it is changed.
POSTING_SECONDS = 30.0
LOOK_AGAIN_SECONDS = 2.0
# chat.update refusals that mean the message is not there to edit (deleted, or its channel): an update is posted
# as a new message instead, a withdrawal has nothing left to do.
GONE = frozenset({"message_not_found", "cant_update_message", "channel_not_found", "is_inactive", "is_archived"})


@dataclass(frozen=True, slots=True)
class Change:
    """A change to what stands in a channel, as stored, before Slack is told."""

    action: str  # post | update | retract
    record: SuggestionRecord  # what is shown after it
    before: SuggestionRecord | None  # `record`'s row as it was before (None: a new row), to take the change back
    replaced: SuggestionRecord | None  # what stood before it (None for a post)


@dataclass(frozen=True, slots=True)
class Showing(Tag):
    """The tag of a suggestion's post: its record and when that record was shown, since a root cause shown again
    later (its row re-used) gets a new message, and an old message must never be taken for it."""

    shown: int = 0  # record.posted_at, in milliseconds

    def metadata(self) -> dict[str, Any]:
        metadata = Tag.metadata(self)
        metadata["event_payload"]["shown"] = self.shown
        return metadata


def showing(incident_id: int, record: SuggestionRecord) -> Showing:
    return Showing("incident_suggestion", incident_id, record.id, int(record.posted_at.timestamp() * 1000))


def _maybe_being_posted(record: SuggestionRecord, now: datetime) -> bool:
    return record.message_ts is None and (now - record.posted_at).total_seconds() < POSTING_SECONDS


def _later(error: SlackError) -> float | None:
    """When to try again after Slack refused: only when it said to wait (rate limited); otherwise at the next
    message (retrying a refusal at once would be refused again)."""
    if error.code == "ratelimited" or error.status == 429:
        return error.retry_after or LOOK_AGAIN_SECONDS
    return None


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
        seen_before: SeenBefore | None = None,
    ) -> None:
        self._config = config
        self._db = db
        self._slack = slack
        self._background = background
        self._clock = clock
        self._seen_before = seen_before  # told of each root cause that stands or is accepted, and of resemblances
        self._alike: set[tuple[int, int]] = set()  # (incident, past incident) resemblances handed to it
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
        """The incident's ranking, from its evidence state brought up to date with the database, its title (a
        hypothesis) and what people of its workspace decided in its other incidents."""
        async with self._db.unit() as stores:
            learned = await stores.suggestions.learned(incident.team_id, besides=incident.id)
        ranking = await self.engine.rank(incident.id, top, title=incident.title, learned=learned)
        return list(ranking.suggestions), ranking.threshold

    async def runbook(self, title: str) -> Runbook | None:
        """The runbook of that title, as the engine has it now."""
        return await self.engine.runbook(title)

    async def consider(self, incident_id: int) -> float | None:
        """Bring what stands in the incident's channel in line with its ranking (`decision.decide`): post, update in
        place, or withdraw. Returns seconds to wait when it must look again later (a new post waits for its slot)."""
        async with self._db.transaction() as incidents:
            incident = await incidents.get(incident_id)
        if incident is None or not incident.status.is_active or incident.channel_id is None:
            if incident is not None and self._engine is not None:
                await self._engine.forget(incident.id)  # over: its evidence is no longer kept in memory
            return None
        ranked, threshold = await self._rank(incident, top=10)
        await self._look_for_alike(incident)
        now = self._clock()
        async with self._db.unit() as stores:
            await stores.incidents.lock(incident.id)  # one decision at a time, also across replicas
            earlier = await stores.suggestions.for_incident(incident.id)
            if any(s.state == "accepted" for s in earlier):
                return None  # people named the root cause: nothing more to say
            standing = next((s for s in earlier if s.state == "posted"), None)
            dismissed = {s.key for s in earlier if s.state == "dismissed"}
            step = decision.decide(ranked, threshold, standing.key if standing is not None else None, dismissed)
            if step is None:
                return None
            if standing is not None and _maybe_being_posted(standing, now):
                return LOOK_AGAIN_SECONDS  # its post may still be under way (on another replica): not yet
            if step.action == "retract":
                assert standing is not None
                withdrawn = await stores.suggestions.set_state(standing.id, "retracted", step.why)
                assert withdrawn is not None
                change: Change = Change(step.action, withdrawn, None, standing)
            else:
                assert step.suggestion is not None
                record = suggestion_record(incident, step.suggestion, now)
                if step.action == "post":
                    if earlier:
                        since = (now - max(s.posted_at for s in earlier)).total_seconds()
                        wait = self._config.suggestions.min_interval_seconds - since
                        if wait > 0:
                            return wait  # a new post waits for its slot (an update or a withdrawal does not)
                else:
                    assert standing is not None
                    record = replace(record, message_ts=standing.message_ts, note=step.why)
                shown = await stores.suggestions.show(record)
                if shown is None:
                    return None  # that root cause stands already, or people decided about it
                if standing is not None:
                    await stores.suggestions.set_state(standing.id, "superseded", standing.note)
                change = Change(step.action, shown[0], shown[1], standing)
        if change.action == "post":
            return await self._post(incident, change)
        if change.action == "update":
            return await self._update(incident, change)
        return await self._withdraw(incident, change)

    async def _post(self, incident: Incident, change: Change) -> float | None:
        """A new message with Accept / Dismiss, posted once (tagged, so that an ambiguous failure is looked into).
        Refused: the record is taken back (not shown, so not standing), to be tried again later."""
        assert incident.channel_id is not None
        record = change.record
        try:
            ts = await self._slack.post_once(
                incident.channel_id,
                blocks.suggestion_text(record),
                blocks.suggestion_blocks(record),
                tag=showing(incident.id, record),
            )
        except SlackError as e:
            log.warning("could not post a suggestion for %s: %s", incident.public_id, e.code)
            if e.ambiguous:
                return None  # it may be in the channel: it stands (and is looked for before it is changed)
            async with self._db.unit() as stores:
                await stores.incidents.lock(incident.id)
                await stores.suggestions.undo(record, change.before)
            return _later(e)
        async with self._db.unit() as stores:
            await stores.suggestions.set_message(record.id, ts)
        self._tell_seen_before(incident, record)
        return None

    async def _update(self, incident: Incident, change: Change) -> float | None:
        """The standing message edited in place to show the new root cause and why. Its message gone: a new post
        instead. Refused otherwise: nothing changes (the old one stands again), to be tried again later."""
        assert incident.channel_id is not None
        assert change.replaced is not None
        record = change.record
        ts = record.message_ts or await self._look_for(incident, change.replaced)
        if ts is not None:
            try:
                await self._slack.update_message(
                    incident.channel_id, ts, blocks.suggestion_text(record), blocks.suggestion_blocks(record)
                )
            except SlackError as e:
                log.warning("could not update the suggestion of %s: %s", incident.public_id, e.code)
                if e.ambiguous:
                    return None  # it may show the new one: the database says it does
                if e.code not in GONE:
                    async with self._db.unit() as stores:
                        await stores.incidents.lock(incident.id)
                        await stores.suggestions.undo(record, change.before)
                        await stores.suggestions.set_state(change.replaced.id, "posted", change.replaced.note)
                    return _later(e)
                ts = None
            else:
                if record.message_ts != ts:
                    async with self._db.unit() as stores:
                        await stores.suggestions.set_message(record.id, ts)
                self._tell_seen_before(incident, record)
                return None
        # The message is gone (deleted, or its channel): the new root cause gets a message of its own.
        async with self._db.unit() as stores:
            await stores.suggestions.set_message(record.id, None)
        return await self._post(incident, replace(change, record=replace(record, message_ts=None)))

    async def _withdraw(self, incident: Incident, change: Change) -> float | None:
        """The standing message edited to say the suggestion is withdrawn and why (no buttons). Its message gone:
        nothing to withdraw. Refused otherwise: it stands again, to be withdrawn later."""
        assert incident.channel_id is not None
        assert change.replaced is not None
        record = change.record
        ts = record.message_ts or await self._look_for(incident, change.replaced)
        if ts is None:
            log.info("the suggestion withdrawn from %s was not found in its channel", incident.public_id)
            return None
        try:
            await self._slack.update_message(
                incident.channel_id, ts, blocks.suggestion_text(record), blocks.suggestion_blocks(record)
            )
        except SlackError as e:
            log.warning("could not withdraw the suggestion of %s: %s", incident.public_id, e.code)
            if e.ambiguous or e.code in GONE:
                return None
            async with self._db.unit() as stores:
                await stores.incidents.lock(incident.id)
                await stores.suggestions.set_state(record.id, "posted", change.replaced.note)
            return _later(e)
        return None

    async def _look_for(self, incident: Incident, record: SuggestionRecord) -> str | None:
        """The message of a suggestion whose post had no answer (Slack failed ambiguously, or the bot stopped)."""
        assert incident.channel_id is not None
        try:
            return await self._slack.find_tagged(incident.channel_id, showing(incident.id, record))
        except SlackError as e:
            log.warning("could not look for the suggestion of %s: %s", incident.public_id, e.code)
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
            if current.state == "superseded":
                raise UserError(
                    "That suggestion was replaced by a newer one (the same message now shows it): nothing was changed."
                )
            if current.state == "retracted":
                raise UserError("That suggestion was withdrawn (its message says why): nothing was changed.")
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
        if accept:
            self._tell_seen_before(incident, record)
        else:
            self.nudge(incident.id)  # nothing stands now: the next best root cause may deserve a post
        return record

    async def _look_for_alike(self, incident: Incident) -> None:
        """A resolved incident whose evidence this one's closely resembles is told once, in the background."""
        seen_before = self._seen_before
        if seen_before is None:
            return
        try:
            alike = await self.engine.resemble(incident.id, incident.team_id, title=incident.title)
        except UserError as e:
            log.info("no resemblance looked for in %s: %s", incident.public_id, e)
            return
        if alike is None or (incident.id, alike.incident_id) in self._alike:
            return
        self._alike.add((incident.id, alike.incident_id))
        self._background.spawn(lambda: seen_before.tell_alike(incident, alike))

    def _tell_seen_before(self, incident: Incident, record: SuggestionRecord) -> None:
        """After Slack shows a root cause: resolved incidents where people accepted it, told once (in the
        background: nothing waits for it)."""
        if self._seen_before is not None:
            seen_before = self._seen_before
            self._background.spawn(lambda: seen_before.tell(incident, record.key))

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
        score=decision.likelihood(best),  # shown as the suggestion's confidence
        citation=best.citation,
        evidence=tuple(best.evidence),
        alternatives=tuple(best.alternatives),
        remediation=remediation.body.strip() if remediation else "",
        state="posted",
        posted_at=now,
    )
