""" "Seen before": when the root cause an incident's evidence points to (its standing suggestion, or the one people
accepted) is the root cause people accepted in resolved incidents of the same workspace, the channel is told once
which ones, what fixed each (its first message marked as an action taken) and where its report is.

The match is the accepted root cause, exactly (the same runbook, error and root cause), never a resemblance of
wording: an incident that was resolved with another root cause is not "seen before", however alike the chat. That
is explainable (the post says which root cause both share and who accepted it then) and silent when the evidence is
weak, since a suggestion stands only when the evidence is strong (`bot.suggestions.decision`). Each past incident
is told once per incident, across replicas (`seen_before` rows claimed under the incident's lock), and a private
past incident is never named outside its channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.domain.incident import Incident
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.storage import Database
from bot.storage.reports import StoredReport
from bot.storage.seen_before import PastIncident, Told, Triple

log = logging.getLogger(__name__)

MOST = 3  # past incidents named in one post (the newest)
FIX_MAX = 300  # characters of what fixed a past incident


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
                    actions = [
                        e
                        for e in await stores.timeline.marked_messages(p.incident.id)
                        if "action_taken" in e.kinds and not e.deleted
                    ]
                    first = (actions[0].text, actions[0].author_id) if actions else None
                    fresh.append((p, first, await stores.reports.latest(p.incident.id)))
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


def seen_before_text(told: list[Resemblance]) -> str:
    names = ", ".join(r.past.incident.public_id for r in told)
    return f"Seen before: {names} had the same root cause"


def seen_before_blocks(told: list[Resemblance]) -> list[dict[str, Any]]:
    runbook, error, cause = (blocks.escaped_cut(name, blocks.NAME_MAX) for name in told[0].past.root_cause)
    head = (
        f":repeat: *Seen before.* The root cause the evidence points to, *{cause}* (runbook *{runbook}* → "
        f"`{error}`), was accepted as the root cause of {_count(len(told))}:"
    )
    sections: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    for r in told:
        incident = r.past.incident
        where = f"<#{incident.channel_id}>" if incident.channel_id else ""
        resolved = f", resolved {blocks.slack_date(incident.resolved_at)}" if incident.resolved_at else ""
        by = f" (accepted by {blocks.mention(r.past.accepted_by)})" if r.past.accepted_by else ""
        lines = [f"*{incident.public_id}* {blocks.escaped_cut(incident.title, 150)} {where}{resolved}{by}"]
        if r.fixed_by is not None:
            author = f"{blocks.mention(r.fixed_by_author)}: " if r.fixed_by_author else ""
            lines.append(f"What fixed it: {author}{blocks.user_line(r.fixed_by, FIX_MAX)}")
        else:
            lines.append("What fixed it: no message was marked as an action taken.")
        if r.report_link:
            lines.append(f"<{r.report_link}|Its report>")
        sections.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    why = "Matched on the accepted root cause (the same runbook section), not on wording."
    sections.append({"type": "context", "elements": [{"type": "mrkdwn", "text": why}]})
    return sections


def _count(n: int) -> str:
    return "a resolved incident" if n == 1 else f"{n} resolved incidents"
