""" "Seen before": when the root cause an incident's evidence points to (its standing suggestion, or the one people
accepted) is the root cause people accepted in resolved incidents of the same workspace, the channel is told once
which ones, what fixed each (its first message marked as an action taken) and where its report is.

The match is the accepted root cause, exactly (the same runbook, error and root cause), never a resemblance of
wording: an incident that was resolved with another root cause is not "seen before", however alike the chat. That
is explainable (the post says which root cause both share and who accepted it then) and silent when the evidence is
weak, since a suggestion stands only when the evidence is strong (`bot.suggestions.decision`). Each past incident
is told once per incident, across replicas (`seen_before` rows claimed under the incident's lock), and a private
past incident is never named outside its channel.

Without a root cause in common, a resolved incident whose captured evidence closely resembles this one's (what
both channels said, `bot.suggestions.resemblance`, checked by the engine's process after each burst of messages) is
told too, once, with the distinctive words both said and how strong the resemblance is, so that people can judge
it; never when either incident's accepted root cause contradicts the other's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.domain.incident import Incident, Status
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.storage import Database
from bot.storage.database import Stores
from bot.storage.reports import StoredReport
from bot.storage.seen_before import PastIncident, Told, Triple

from .ranking import Alike

log = logging.getLogger(__name__)

MOST = 3  # past incidents named in one post (the newest)
FIX_MAX = 300  # characters of what fixed a past incident
SHOWN_WORDS = 8  # words both said, shown in a post on the resemblance of evidence


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Resemblance:
    """A past incident, with what fixed it and where its report is, as told to a channel."""

    past: PastIncident
    fixed_by: str | None  # the first message marked "action taken" (Slack markup), None when none was
    fixed_by_author: str | None
    report_link: str | None  # the permalink of its newest report's message, when there is one


class SeenBefore:
    def __init__(self, db: Database, slack: SlackGateway, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._slack = slack
        self._clock = clock

    async def tell(self, incident: Incident, root_cause: Triple) -> None:
        """Tell the incident's channel about the resolved incidents where `root_cause` was accepted, each once."""
        if incident.channel_id is None:
            return
        async with self._db.unit() as stores:
            past = await stores.seen_before.resolved_with(incident.team_id, root_cause, besides=incident.id, limit=MOST)
            past = [p for p in past if not p.incident.may_be_private]  # its details stay in its own channel
            if not past:
                return
            await stores.incidents.lock(incident.id)
            claimed = await stores.seen_before.claim(
                incident.id, [p.incident.id for p in past], root_cause, self._clock()
            )
            if not claimed:
                return
            fresh: list[tuple[PastIncident, tuple[str, str | None] | None, StoredReport | None]] = []
            for p in past:
                if p.incident.id in claimed:
                    fresh.append((p, *await _fix_and_report(stores, p.incident.id)))
        told = [await self._resemblance(p, first, report) for p, first, report in fresh]
        try:
            ts = await self._slack.post_once(
                incident.channel_id,
                seen_before_text(told),
                seen_before_blocks(told),
                tag=Tag("incident_seen_before", incident.id, min(claimed)),
            )
        except SlackError as e:
            log.warning("could not tell %s it was seen before: %s", incident.public_id, e.code)
            if not e.ambiguous:  # not told: the next change of what stands may tell it
                async with self._db.unit() as stores:
                    await stores.seen_before.unclaim(incident.id, claimed)
            return
        async with self._db.unit() as stores:
            await stores.seen_before.set_message(incident.id, claimed, ts)

    async def tell_alike(self, incident: Incident, alike: Alike) -> None:
        """Tell the incident's channel, once, that its evidence closely resembles a resolved incident's (`alike`),
        unless a root cause accepted in either contradicts the other's (it was a different problem)."""
        if incident.channel_id is None:
            return
        async with self._db.unit() as stores:
            past = await stores.incidents.get(alike.incident_id)
            if (
                past is None
                or past.team_id != incident.team_id
                or past.status is not Status.RESOLVED
                or past.may_be_private  # its details stay in its own channel
            ):
                return
            then = await stores.seen_before.accepted_in(past)
            mine = [s for s in await stores.suggestions.for_incident(incident.id) if s.state in ("accepted", "posted")]
            if then is not None and any(s.key != then.root_cause for s in mine):
                return  # what points to a root cause here points elsewhere than what was accepted there
            await stores.incidents.lock(incident.id)
            if not await stores.seen_before.claim_alike(incident.id, past.id, alike.shared, alike.score, self._clock()):
                return
            first, report = await _fix_and_report(stores, past.id)
        told = await self._resemblance(then or PastIncident(past, None, None, None), first, report)
        try:
            ts = await self._slack.post_once(
                incident.channel_id,
                f"Seen before? What is said here closely resembles {past.public_id}",
                alike_blocks(told, alike),
                tag=Tag("incident_seen_before", incident.id, past.id),
            )
        except SlackError as e:
            log.warning("could not tell %s it resembles %s: %s", incident.public_id, past.public_id, e.code)
            if not e.ambiguous:
                async with self._db.unit() as stores:
                    await stores.seen_before.unclaim(incident.id, [past.id])
            return
        async with self._db.unit() as stores:
            await stores.seen_before.set_message(incident.id, [past.id], ts)

    async def told(self, incident_id: int) -> list[tuple[Told, Incident]]:
        """The past incidents the incident's channel was told about, with those incidents (for the report)."""
        async with self._db.unit() as stores:
            told = await stores.seen_before.told(incident_id)
            found = [(t, await stores.incidents.get(t.past_incident_id)) for t in told]
        return [(t, past) for t, past in found if past is not None]

    async def _resemblance(
        self, past: PastIncident, first: tuple[str, str | None] | None, report: StoredReport | None
    ) -> Resemblance:
        link = None
        if report is not None and report.message_ts and past.incident.channel_id:
            try:
                link = await self._slack.permalink(past.incident.channel_id, report.message_ts)
            except SlackError as e:
                log.info("no permalink for the report of %s: %s", past.incident.public_id, e.code)
        return Resemblance(past, first[0] if first else None, first[1] if first else None, link)


async def _fix_and_report(stores: Stores, past_id: int) -> tuple[tuple[str, str | None] | None, StoredReport | None]:
    """What fixed a past incident (its first message marked as an action taken, and who wrote it) and its newest
    report."""
    actions = [e for e in await stores.timeline.marked_messages(past_id) if "action_taken" in e.kinds and not e.deleted]
    first = (actions[0].text, actions[0].author_id) if actions else None
    return first, await stores.reports.latest(past_id)


def seen_before_text(told: list[Resemblance]) -> str:
    names = ", ".join(r.past.incident.public_id for r in told)
    return f"Seen before: {names} had the same root cause"


def seen_before_blocks(told: list[Resemblance]) -> list[dict[str, Any]]:
    assert told[0].past.root_cause is not None
    runbook, error, cause = (blocks.escaped_cut(name, blocks.NAME_MAX) for name in told[0].past.root_cause)
    head = (
        f":repeat: *Seen before.* The root cause the evidence points to, *{cause}* (runbook *{runbook}* → "
        f"`{error}`), was accepted as the root cause of {_count(len(told))}:"
    )
    sections: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    for r in told:
        by = f" (accepted by {blocks.mention(r.past.accepted_by)})" if r.past.accepted_by else ""
        lines = [_past_line(r.past.incident) + by, *_fix_lines(r)]
        sections.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    why = "Matched on the accepted root cause (the same runbook section), not on wording."
    sections.append({"type": "context", "elements": [{"type": "mrkdwn", "text": why}]})
    return sections


def alike_blocks(told: Resemblance, alike: Alike) -> list[dict[str, Any]]:
    """The post for a resemblance of evidence: which incident, the words both said, its root cause if one was
    accepted, what fixed it, its report, and how strong the match is."""
    words = ", ".join(f"`{blocks.escaped_cut(w, 60)}`" for w in alike.shared[:SHOWN_WORDS])
    head = (
        f":repeat: *Seen before?* What is said here closely resembles a resolved incident. Both channels said {words}."
    )
    lines = [_past_line(told.past.incident)]
    if told.past.root_cause is not None:
        cause = blocks.escaped_cut(told.past.root_cause[2], blocks.NAME_MAX)
        by = f" (accepted by {blocks.mention(told.past.accepted_by)})" if told.past.accepted_by else ""
        lines.append(f"Its root cause: *{cause}*{by}")
    lines.extend(_fix_lines(told))
    why = (
        f"Matched on the wording of the evidence (resemblance {alike.score:.2f}, {alike.margin:.2f} clear of the "
        "next most alike incident), not on a root cause: check that it is the same problem before acting on it."
    )
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": why}]},
    ]


def _past_line(incident: Incident) -> str:
    where = f"<#{incident.channel_id}>" if incident.channel_id else ""
    resolved = f", resolved {blocks.slack_date(incident.resolved_at)}" if incident.resolved_at else ""
    return f"*{incident.public_id}* {blocks.escaped_cut(incident.title, 150)} {where}{resolved}"


def _fix_lines(r: Resemblance) -> list[str]:
    lines = []
    if r.fixed_by is not None:
        author = f"{blocks.mention(r.fixed_by_author)}: " if r.fixed_by_author else ""
        lines.append(f"What fixed it: {author}{blocks.user_line(r.fixed_by, FIX_MAX)}")
    else:
        lines.append("What fixed it: no message was marked as an action taken.")
    if r.report_link:
        lines.append(f"<{r.report_link}|Its report>")
    return lines


def _count(n: int) -> str:
    return "a resolved incident" if n == 1 else f"{n} resolved incidents"
