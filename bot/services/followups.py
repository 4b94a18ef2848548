"""Follow-ups: the actions agreed during an incident (`/incident followup <text> [@owner] [due <date>]`, `followup
list`, `followup done <n>`), numbered 1, 2, ... per incident, on the timeline (audit log), in the report, listed in
the channel when the incident resolves, and optionally exported to GitHub Issues or Jira Cloud.

`export(followup_id)` is the export, as an operation that may be called any number of times, by anyone, at any
moment (a retry job, a person, a second delivery of the same command): it files at most one issue per follow-up.
Each attempt claims the follow-up for LEASE (a concurrent attempt backs off) and first records that an issue may
exist from now on; when the tracker's answer is lost (the connection dropped, a timeout, a 5xx, a crash), the next
attempt looks for the issue by the follow-up's marker before it files one. Closing a follow-up does not close its
issue.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.config import Config
from bot.domain.incident import Incident
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.markup import from_slack, slack_safe
from bot.slack.payloads import CommandRequest
from bot.storage import AuditEntry, Database, Followup, IncidentStore
from bot.trackers import NewIssue, Tracker, TrackerError

from .errors import UserError
from .retries import schedule_export_retry

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)  # an export attempt holds its follow-up this long at most
TEXT_LIMIT = 2000

Names = Callable[[str, set[str]], Awaitable[dict[str, str]]]
Reply = Callable[[str], Awaitable[None]]


def utcnow() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------------------------- the command's words

_TRAILING_MENTION = re.compile(r"\s*<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>\s*$")
_DUE = re.compile(r"(?:^|\s)due\s+(\S+(?:\s+\S+){0,2})\s*$", re.IGNORECASE)
_IN = re.compile(r"in\s+(\d{1,3})\s+(day|days|week|weeks)", re.IGNORECASE)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DATE_HELP = "`YYYY-MM-DD` (such as 2026-12-24), `today`, `tomorrow`, `in 3 days`, `in 2 weeks` or a weekday (`friday`)"


@dataclass(frozen=True, slots=True)
class Asked:
    text: str  # plain text
    owner_id: str | None
    due_on: date | None


def parse_due(words: str, today: date) -> date | None:
    """A due date as people write it, or None when these words are not one."""
    said = words.strip().lower()
    if _ISO.fullmatch(said):
        try:
            return date.fromisoformat(said)
        except ValueError:
            return None
    if said == "today":
        return today
    if said == "tomorrow":
        return today + timedelta(days=1)
    match = _IN.fullmatch(said)
    if match:
        count = int(match.group(1))
        return today + timedelta(days=count * (7 if match.group(2).startswith("week") else 1))
    day = said.removeprefix("next ").strip()
    if day in _WEEKDAYS:
        ahead = (_WEEKDAYS.index(day) - today.weekday()) % 7 or 7
        return today + timedelta(days=ahead)
    return None


def _looks_like_a_date(words: str) -> bool:
    said = words.strip().lower()
    return any(ch.isdigit() for ch in said) or said.split()[0] in ("today", "tomorrow", "in", "next", *_WEEKDAYS)


def parse_followup(rest: str, today: date, usage: str) -> Asked:
    """`<text> [@owner] [due <date>]` (owner and due in either order, at the end) from the command's escaped text."""
    remaining = rest.strip()
    owner: str | None = None
    due: date | None = None
    for _ in range(2):
        mention = _TRAILING_MENTION.search(remaining)
        if owner is None and mention:
            owner = mention.group(1)
            remaining = remaining[: mention.start()].rstrip()
            continue
        clause = _DUE.search(remaining)
        if due is None and clause:
            parsed = parse_due(clause.group(1), today)
            if parsed is None:
                if _looks_like_a_date(clause.group(1)):
                    raise UserError(
                        f"I could not read the due date “{slack_safe(clause.group(1))}”. Write it as {DATE_HELP}: "
                        f"`{usage}`."
                    )
                break  # "due" is part of the text ("review the due diligence steps")
            if parsed < today:
                raise UserError(f"The due date {parsed.isoformat()} has passed; give a date from today on.")
            due = parsed
            remaining = remaining[: clause.start()].rstrip()
            continue
        break
    text = " ".join(from_slack(remaining).split())
    if not text:
        raise UserError(
            f"What should be done? `{usage}`, for example `followup Raise the pool size @alice due friday`."
        )
    if len(text) > TEXT_LIMIT:
        raise UserError(f"A follow-up is at most {TEXT_LIMIT} characters; this one has {len(text)}.")
    return Asked(text=text, owner_id=owner, due_on=due)


# ------------------------------------------------------------------------------------------------ the service


@dataclass(frozen=True, slots=True)
class ExportOutcome:
    """What one call of `export` did. state: exported (now, or before: `already`), failed, busy (another attempt holds
    it), off (no tracker configured, or the follow-up is not meant for the configured one), gone."""

    state: str
    issue_url: str | None = None
    issue_id: str | None = None
    error: str | None = None
    already: bool = False
    found: bool = False  # an earlier attempt had filed it; found by its marker
    retrying: bool = False  # failed: the scheduler tries again later (False: not until it is fixed, or gave up)


class FollowupService:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        names: Names,
        tracker: Tracker | None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config
        self._db = db
        self._slack = slack
        self._names = names
        self.tracker = tracker
        self._clock = clock

    # -- the subcommand --------------------------------------------------------------------------------------

    @property
    def usage(self) -> str:
        return f"{self._config.command} followup <what> [@owner] [due <date>]"

    def help_text(self) -> str:
        cmd = self._config.command
        export = f" Each one is also filed as a {self.tracker.name} issue." if self.tracker is not None else ""
        return (
            f"`{cmd} followup <what> [@owner] [due <date>]` adds a follow-up (due: {DATE_HELP}).{export}\n"
            f"`{cmd} followup list` lists them (only you see it).\n"
            f"`{cmd} followup done <n>` marks number <n> done.\n"
            f"`{cmd} followup export <n>` tries the export of number <n> again."
        )

    async def run(self, request: CommandRequest, incident: Incident, rest: str, reply: Reply) -> None:
        word, _, tail = rest.strip().partition(" ")
        word = word.lower()
        if not rest.strip() or word == "help":
            await reply(self.help_text())
            return
        if word == "list" and not tail.strip():
            await reply(await self.list_text(incident))
            return
        if word in ("done", "export") and (not tail.strip() or tail.strip().lstrip("#").isdigit()):
            number = tail.strip().lstrip("#")
            if not number:
                await reply(f"Which one? `{self._config.command} followup {word} <n>` (see `followup list`).")
                return
            if word == "done":
                await self._done(request, incident, int(number), reply)
            else:
                await self._export_again(incident, int(number), reply)
            return
        asked = parse_followup(rest, self._clock().date(), self.usage)
        key = f"command:{request.trigger_id}" if request.trigger_id else None
        followup, created = await self.add(incident, request.user_id, asked, key)
        if created:
            await self._post(incident, self._added_line(request.user_id, followup))
        to_export = bool(followup.export_target) and not followup.issue_url
        exporting = f" Filing it in {self.tracker_name(followup)}…" if to_export else ""
        await reply(
            f":clipboard: Follow-up #{followup.number} of {incident.public_id} "
            f"{'added' if created else 'was already added'}.{exporting}"
        )
        if to_export:
            await reply(self._export_text(followup, await self.export(followup.id)))

    async def _done(self, request: CommandRequest, incident: Incident, number: int, reply: Reply) -> None:
        followup, changed = await self.done(incident, request.user_id, number)
        if changed:
            await self._post(
                incident,
                f":white_check_mark: {blocks.mention(request.user_id)} marked follow-up #{followup.number} done: "
                f"{slack_safe(followup.text)}",
            )
        note = ""
        if followup.issue_url:
            name = self.tracker_name(followup)
            note = f" Its {name} issue is not closed by this: close <{followup.issue_url}|it> there."
        await reply(
            f":white_check_mark: Follow-up #{followup.number} is done.{note}"
            if changed
            else f"Follow-up #{followup.number} was already done.{note}"
        )

    async def _export_again(self, incident: Incident, number: int, reply: Reply) -> None:
        async with self._db.unit() as stores:
            followup = await stores.followups.numbered(incident.id, number)
        if followup is None:
            raise UserError(f"{incident.public_id} has no follow-up #{number}; `followup list` shows them.")
        if self.tracker is None:
            raise UserError(
                "No issue tracker is configured (`followups.export` in app.yaml), so there is nothing to export to."
            )
        await reply(self._export_text(followup, await self.export(followup.id)))

    def _added_line(self, actor: str, followup: Followup) -> str:
        return f":clipboard: {blocks.mention(actor)} added follow-up #{followup.number}: {self.describe(followup)}"

    def describe(self, followup: Followup, *, with_export: bool = False) -> str:
        parts = [f"*{slack_safe(followup.text)}*"]
        if followup.owner_id:
            parts.append(f"owner {blocks.mention(followup.owner_id)}")
        if followup.due_on:
            parts.append(f"due {followup.due_on.isoformat()}")
        if with_export:
            parts.append("done" if not followup.is_open else "open")
            export = self._export_state(followup)
            if export:
                parts.append(export)
        return " — ".join([parts[0], ", ".join(parts[1:])]) if len(parts) > 1 else parts[0]

    def _export_state(self, followup: Followup) -> str:
        name = self.tracker_name(followup)
        if followup.issue_url:
            return f"<{followup.issue_url}|{name} {followup.issue_id}>"
        if followup.export_state == "failed":
            return f"not in {name} yet ({slack_safe(followup.export_error or 'the export failed')})"
        if followup.export_state == "pending":
            return f"being filed in {name}"
        return ""

    def tracker_name(self, followup: Followup) -> str:
        target = followup.export_target or ""
        return "GitHub" if target.startswith("github:") else "Jira" if target.startswith("jira:") else "the tracker"

    def _export_text(self, followup: Followup, outcome: ExportOutcome) -> str:
        name = self.tracker_name(followup)
        if outcome.state == "exported":
            return f":link: Follow-up #{followup.number} is {name} issue <{outcome.issue_url}|{outcome.issue_id}>."
        if outcome.state == "busy":
            return f":hourglass_flowing_sand: Follow-up #{followup.number} is being filed in {name} right now."
        if outcome.state == "failed":
            return (
                f":warning: I could not file follow-up #{followup.number} in {name}: "
                f"{slack_safe(outcome.error or '')}. "
                f"The follow-up itself is saved; "
                + ("I will try again later by myself, and " if outcome.retrying else "I will not try again by myself; ")
                + f"`{self._config.command} followup export {followup.number}` tries again (and never files it twice)."
            )
        return f"Follow-up #{followup.number} is not exported (no issue tracker is configured for it)."

    async def list_text(self, incident: Incident) -> str:
        followups = await self.of_incident(incident)
        if not followups:
            return f"{incident.public_id} has no follow-ups yet. {self.help_text()}"
        open_count = sum(1 for f in followups if f.is_open)
        lines = [f"*Follow-ups of {incident.public_id}* ({open_count} open of {len(followups)})"]
        lines += [
            f"{f.number}. {':white_circle:' if f.is_open else ':white_check_mark:'} "
            f"{self.describe(f, with_export=True)}"
            for f in followups
        ]
        return "\n".join(lines)

    async def _post(self, incident: Incident, text: str) -> None:
        if incident.channel_id is None:
            return
        try:
            await self._slack.post_message(incident.channel_id, text)
        except SlackError as e:
            log.warning("could not post a follow-up line in %s: %s", incident.public_id, e.code)

    # -- the record --------------------------------------------------------------------------------------------

    async def add(self, incident: Incident, actor: str, asked: Asked, request_key: str | None) -> tuple[Followup, bool]:
        """Store a follow-up under the incident's next number; (the one stored, True), or (the one this request
        stored before, False) for a second delivery of the same command."""
        now = self._clock()
        async with self._db.unit() as stores:
            locked = await stores.incidents.lock(incident.id)
            if locked is None:
                raise UserError("That incident no longer exists.")
            if request_key is not None:
                before = await stores.followups.by_request(incident.id, request_key)
                if before is not None:
                    return before, False
            followup = await stores.followups.add(
                team_id=incident.team_id,
                incident_id=incident.id,
                text=asked.text,
                owner_id=asked.owner_id,
                due_on=asked.due_on,
                created_by=actor,
                created_at=now,
                request_key=request_key,
                export_target=self.tracker.target if self.tracker is not None else None,
            )
            await self._audit(
                stores.incidents,
                incident,
                actor,
                "followup_added",
                now,
                followup,
                f"#{followup.number} {followup.text}",
            )
        return followup, True

    async def of_incident(self, incident: Incident) -> list[Followup]:
        async with self._db.unit() as stores:
            return await stores.followups.of_incident(incident.id)

    async def open_ones(self, incident: Incident) -> list[Followup]:
        return [f for f in await self.of_incident(incident) if f.is_open]

    async def done(self, incident: Incident, actor: str, number: int) -> tuple[Followup, bool]:
        now = self._clock()
        async with self._db.unit() as stores:
            followup = await stores.followups.numbered(incident.id, number, lock=True)
            if followup is None:
                raise UserError(f"{incident.public_id} has no follow-up #{number}; `followup list` shows them.")
            if not followup.is_open:
                return followup, False
            await stores.followups.mark_done(followup.id, actor, now)
            await self._audit(stores.incidents, incident, actor, "followup_done", now, followup, _numbered(followup))
        return followup, True

    async def _audit(
        self,
        store: IncidentStore,
        incident: Incident,
        actor: str,
        action: str,
        at: datetime,
        followup: Followup,
        new: str,
    ) -> None:
        await store.audit(
            incident.team_id,
            incident.id,
            AuditEntry(
                actor_id=actor,
                action=action,
                at=at,
                field=f"followup#{followup.number}",
                new_value=new,
                public_id=incident.public_id,
            ),
        )

    # -- at resolution -----------------------------------------------------------------------------------------

    async def open_listing(self, incident: Incident) -> str | None:
        """The follow-ups still open, for the line that says the incident is resolved (None: none is open)."""
        still_open = await self.open_ones(incident)
        if not still_open:
            return None
        count = len(still_open)
        lines = [f":clipboard: *{count} follow-up{'s' if count != 1 else ''} still open* for {incident.public_id}:"]
        lines += [f"{f.number}. {self.describe(f, with_export=True)}" for f in still_open]
        lines.append(f"_`{self._config.command} followup done <n>` when one is done._")
        return "\n".join(lines)

    # -- the export --------------------------------------------------------------------------------------------

    @staticmethod
    def marker(followup: Followup, incident: Incident) -> str:
        """Unique to the follow-up, in the issue (GitHub: an HTML comment in the body; Jira: a label)."""
        return f"incident-bot-followup-{incident.team_id}-{incident.public_id}-{followup.number}"

    async def pending_exports(self) -> list[int]:
        """The follow-ups whose export to the configured tracker is not done yet (pending or failed): what a retry
        job calls `export` for. None without a tracker."""
        if self.tracker is None:
            return []
        async with self._db.unit() as stores:
            return await stores.followups.pending_exports(self.tracker.target)

    async def export(self, followup_id: int) -> ExportOutcome:
        """File the follow-up's issue unless it is filed; safe to call again at any time (see the module docstring)."""
        now = self._clock()
        tracker = self.tracker
        async with self._db.unit() as stores:
            followup = await stores.followups.get(followup_id, lock=True)
            if followup is None:
                return ExportOutcome("gone")
            if followup.issue_url:
                return ExportOutcome("exported", followup.issue_url, followup.issue_id, already=True)
            if tracker is None or followup.export_target != tracker.target:
                return ExportOutcome("off")
            if followup.export_claimed_until is not None and followup.export_claimed_until > now:
                return ExportOutcome("busy")
            may_exist = followup.export_uncertain
            since = followup.export_first_attempt_at or now
            await stores.followups.claim_export(followup.id, now, now + LEASE)
            incident = await stores.incidents.get(followup.incident_id)
        assert incident is not None
        searched = False
        try:
            found = None
            if may_exist:
                found = await tracker.find(self.marker(followup, incident), since)
                searched = True
            issue = found or await tracker.create(await self._new_issue(followup, incident))
        except TrackerError as e:
            log.warning("exporting follow-up #%d of %s failed: %s", followup.number, incident.public_id, e.message)
            async with self._db.unit() as stores:
                await stores.followups.export_failed(
                    followup.id, e.message, uncertain=e.ambiguous or (may_exist and not searched)
                )
                # Tried again by the scheduler, with backoff (bot/services/retries.py), unless that cannot help.
                retrying = e.retry and await schedule_export_retry(
                    stores.jobs, followup.id, followup.export_attempts + 1, self._clock(), e.retry_after
                )
                await self._audit(
                    stores.incidents, incident, "", "followup_export_failed", self._clock(), followup, e.message
                )
            return ExportOutcome("failed", error=e.message, retrying=retrying)
        async with self._db.unit() as stores:
            await stores.followups.exported(followup.id, issue.id, issue.url, self._clock())
            await self._audit(stores.incidents, incident, "", "followup_exported", self._clock(), followup, issue.url)
        return ExportOutcome("exported", issue.url, issue.id, found=found is not None)

    async def _new_issue(self, followup: Followup, incident: Incident) -> NewIssue:
        people = {u for u in (followup.owner_id, followup.created_by) if u}
        names = await self._names(incident.team_id, people)

        def name(user: str | None) -> str:
            return "nobody yet" if user is None else f"{names.get(user, user)} (Slack {user})"

        lines = [
            followup.text,
            f"A follow-up of incident {incident.public_id}: {incident.title}",
            "\n".join(
                [
                    f"Owner: {name(followup.owner_id)}",
                    f"Due: {followup.due_on.isoformat() if followup.due_on else 'no date set'}",
                    f"Added by {name(followup.created_by)} on {followup.created_at:%Y-%m-%d %H:%M} UTC"
                    + (f" in #{incident.channel_name}" if incident.channel_name else ""),
                ]
            ),
            f"Filed by incident-bot. Marking the follow-up done in Slack (`{self._config.command} followup done "
            f"{followup.number}`) does not close this issue.",
        ]
        title = f"[{incident.public_id}] {followup.text}"
        return NewIssue(
            title=title if len(title) <= 256 else title[:255] + "…",
            body="\n\n".join(lines),
            marker=self.marker(followup, incident),
        )


def _numbered(followup: Followup) -> str:
    return f"#{followup.number} {followup.text}"
