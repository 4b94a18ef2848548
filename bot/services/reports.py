"""Post-incident reports: built only from what the bot recorded, stored with their version, posted in Slack.

`/incident report` posts a draft (Draft 1, 2, ...); resolving posts the final one and links it in the
announcement channel. In Slack the report is a summary message with the key facts and the full report as a
Markdown file (files upload v2); when the file cannot be uploaded, the report follows as thread replies, cut
at paragraph boundaries and never truncated, about one a second (Slack's pace for posting in a channel)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.config import COMMANDER, Config
from bot.domain.incident import Incident
from bot.reports import (
    FollowupInput,
    Report,
    ReportInput,
    ReportTemplateError,
    RootCauseInput,
    SeenBeforeInput,
    build_report,
    markdown_for_slack,
    render_html,
    render_markdown,
    report_sections_for_slack,
    summary_blocks,
)
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway, Tag
from bot.slack.markup import mentioned_users
from bot.storage import Database, StoredReport

from .errors import UserError
from .followups import FollowupService
from .ranking import EngineUnavailable
from .suggestions import SuggestionService, suggestion_record
from .timeline import TimelineService

log = logging.getLogger(__name__)

VERSION_ATTEMPTS = 5  # tries at storing a report under the next free version
THREAD_PACE = 1.0  # seconds between the report's thread replies: Slack allows about one message a second per channel
RATE_LIMIT_WAITS = 3  # times one reply waits out a rate limit (after slack_sdk's own retries) before giving up
_RATE_LIMITED = ("ratelimited", "rate_limited")  # HTTP 429 (with Retry-After) / HTTP 200 "posted too many messages"


def _with_roles(
    config: Config, incident: Incident, people: list[tuple[str, str]], held: dict[str, str]
) -> list[tuple[str, str]]:
    """(user, role) of every participant, the role being the labels of the roles they hold at the end ("Commander,
    Scribe"); someone who holds none is a responder (a commander handed over: a former commander). Holders not
    recorded as participants (Slack refused to invite them) are listed too."""
    holders = {COMMANDER: incident.commander_id} if incident.commander_id else {}
    holders.update({r.name: held[r.name] for r in config.roles if r.name in held})
    labels: dict[str, list[str]] = {}
    for role in config.all_roles:
        user = holders.get(role.name)
        if user:
            labels.setdefault(user, []).append(role.label)
    out: list[tuple[str, str]] = []
    for user, recorded in people:
        fallback = "former commander" if recorded == COMMANDER else recorded
        out.append((user, ", ".join(labels.pop(user, [])) or fallback))
    out += [(user, ", ".join(roles)) for user, roles in labels.items()]
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReportService:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        timeline: TimelineService,
        suggestions: SuggestionService,
        clock: Callable[[], datetime] = utcnow,
        pace: float = THREAD_PACE,
        followups: FollowupService | None = None,
    ) -> None:
        self._followups = followups
        self._pace = pace
        self._config = config
        self._db = db
        self._slack = slack
        self._timeline = timeline
        self._suggestions = suggestions
        self._clock = clock

    async def report_input(self, incident: Incident, version: str) -> ReportInput:
        """Everything the report is built from, gathered from the record."""
        entries = await self._timeline.entries(incident)
        async with self._db.unit() as stores:
            people = await stores.incidents.participants(incident.id)
            seen_before = []
            for told in await stores.seen_before.told(incident.id):
                past = await stores.incidents.get(told.past_incident_id)
                if past is not None:
                    seen_before.append(
                        SeenBeforeInput(
                            past.public_id,
                            past.title,
                            past.resolved_at,
                            told.root_cause[2] if told.root_cause is not None else None,
                            told.shared,
                        )
                    )
            held = await stores.incidents.role_holders(incident.id)
        people = _with_roles(self._config, incident, people, held)
        followups = await self._followups.of_incident(incident) if self._followups is not None else []
        mentioned = {m for e in entries for m in mentioned_users(e.text)}
        owners = {f.owner_id for f in followups if f.owner_id}
        names = await self._timeline.names(incident.team_id, {u for u, _ in people} | mentioned | owners)
        return ReportInput(
            incident=incident,
            severity_label=blocks.severity_label(self._config, incident.severity),
            author=self._config.report.author,
            generated_at=self._clock(),
            version=version,
            participants=tuple((names.get(user, user), role) for user, role in people),
            timeline=tuple(entries),
            root_cause=await self._root_cause(incident),
            channel_name=incident.channel_name,
            user_names=names,
            seen_before=tuple(seen_before),
            followups=tuple(
                FollowupInput(
                    number=f.number,
                    text=f.text,
                    owner=names.get(f.owner_id, f.owner_id) if f.owner_id else None,
                    due_on=f.due_on,
                    done=not f.is_open,
                    done_at=f.done_at,
                    tracker=self._followups.tracker_name(f) if self._followups is not None else None,
                    issue_id=f.issue_id,
                    issue_url=f.issue_url,
                )
                for f in followups
            ),
        )

    async def _root_cause(self, incident: Incident) -> RootCauseInput | None:
        """The accepted suggestion, or else the engine's current top one (above its threshold), or none. A report
        is never held up by the engine: without it, the accepted root cause is reported without its runbook's
        sections, and an incident with none accepted says it has no root cause."""
        record = await self._suggestions.accepted(incident.id)
        try:
            if record is None:
                ranked, threshold = await self._suggestions.ranking(incident, top=1)
                if not ranked or ranked[0].score < threshold:
                    return None
                record = suggestion_record(incident, ranked[0], self._clock())
            runbook = await self._suggestions.runbook(record.runbook)
        except EngineUnavailable:
            if record is None:
                return None
            runbook = None
        return replace(RootCauseInput.from_record(record, runbook), accepted=record.state == "accepted")

    async def render(self, incident: Incident, version: str, fmt: str = "markdown") -> str:
        report = build_report(await self.report_input(incident, version))
        try:
            if fmt == "html":
                return render_html(report)
            return render_markdown(report, self._config.report.template)
        except ReportTemplateError as e:
            raise UserError(f"The report template is broken: {e}") from e

    async def generate(self, incident: Incident, actor: str, *, final: bool) -> StoredReport:
        """Build, store and post a new version of the report. Two asked for at once (a double click, `report` while
        the incident resolves) each get a version of their own: a version taken meanwhile is built again as the
        next one."""
        for attempt in range(VERSION_ATTEMPTS):
            try:
                stored, report = await self._build_and_store(incident, actor, final=final)
                break
            except IntegrityError:
                if attempt == VERSION_ATTEMPTS - 1:
                    raise
                log.info("report version of %s taken meanwhile; building the next one", incident.public_id)
        if incident.channel_id:
            page = self._config.web.incident_url(incident.public_id)
            await self._post(incident, stored, summary_blocks(report, page))
        return stored

    async def _build_and_store(self, incident: Incident, actor: str, *, final: bool) -> tuple[StoredReport, Report]:
        """The next version of the report, built and stored (IntegrityError if another took that version first)."""
        async with self._db.unit() as stores:
            version = await stores.reports.next_version(incident.id)
        label = "Final" if final else f"Draft {version}"
        data = await self.report_input(incident, label)
        report = build_report(data)
        try:
            markdown = render_markdown(report, self._config.report.template)
        except ReportTemplateError as e:
            raise UserError(f"The report template is broken: {e}") from e
        built_from: dict[str, Any] = {
            "timeline_entries": len(data.timeline),
            "root_cause": None
            if data.root_cause is None
            else {
                "runbook": data.root_cause.runbook,
                "error": data.root_cause.error,
                "root_cause": data.root_cause.root_cause,
                "accepted": data.root_cause.accepted,
            },
            "template": str(self._config.report.template) if self._config.report.template else "built-in",
            "status": incident.status.value,
        }
        async with self._db.unit() as stores:
            stored = await stores.reports.add(
                team_id=incident.team_id,
                incident_id=incident.id,
                version=version,
                final=final,
                markdown=markdown,
                built_from=built_from,
                created_by=actor,
                created_at=data.generated_at,
            )
        return stored, report

    async def _post(self, incident: Incident, stored: StoredReport, summary: list[dict[str, Any]]) -> None:
        assert incident.channel_id is not None
        channel = incident.channel_id
        text = f"Post-incident report for {incident.public_id} ({stored.label})"
        try:
            ts = await self._slack.post_once(channel, text, summary, tag=Tag("incident_report", incident.id, stored.id))
        except SlackError as e:
            log.warning("could not post the report summary of %s: %s", incident.public_id, e.code)
            raise UserError(f"The report was saved, but Slack refused to show it (`{e.code}`).") from e
        async with self._db.unit() as stores:
            await stores.reports.set_message(stored.id, ts)
        suffix = "final" if stored.final else f"draft-{stored.version}"
        problem: str | None = None
        try:
            await self._slack.upload_file(
                channel,
                f"{incident.public_id}-report-{suffix}.md",
                stored.markdown,
                title=f"{incident.public_id} post-incident report ({stored.label})",
            )
        except SlackError as e:
            if e.ambiguous:  # it may have been shared: better no thread copy than the report twice
                log.warning("the report file of %s may not have been shared (%s)", incident.public_id, e.code)
            else:
                log.info("could not upload the report file (%s); posting it as thread replies", e.code)
                problem = await self._post_in_thread(incident, stored, ts)
        if stored.final and self._config.announcement_channel:
            try:
                link = await self._slack.permalink(channel, ts)
                what = "" if incident.may_be_private else f" (*{blocks.escape(incident.title)}*)"
                await self._slack.post_message(
                    self._config.announcement_channel,
                    f":page_facing_up: The post-incident report of {incident.public_id}{what} is ready: "
                    f"<{link}|read it>",
                )
            except SlackError as e:
                log.warning("could not announce the report of %s: %s", incident.public_id, e.code)
        if problem is not None:
            raise UserError(problem)

    async def _post_in_thread(self, incident: Incident, stored: StoredReport, thread_ts: str) -> str | None:
        """The whole report as replies under its summary, in order, one every `pace` seconds; a rate limit is waited
        out as Slack asks (Retry-After). Returns what to tell the person if Slack stopped it part-way (the report
        itself is stored whatever happens), else None."""
        assert incident.channel_id is not None
        sections = report_sections_for_slack(stored.markdown)
        loop = asyncio.get_running_loop()
        due = loop.time()
        for index, section in enumerate(sections):
            for waits in range(RATE_LIMIT_WAITS + 1):
                await asyncio.sleep(max(0.0, due - loop.time()))
                try:
                    await self._slack.post_message(
                        incident.channel_id, markdown_for_slack(section), thread_ts=thread_ts
                    )
                    break
                except SlackError as e:
                    if e.code in _RATE_LIMITED and waits < RATE_LIMIT_WAITS:
                        due = loop.time() + (e.retry_after or self._pace * 2 ** (waits + 1))
                        continue
                    log.warning(
                        "the report of %s stopped after %d of %d thread replies: %s",
                        incident.public_id,
                        index,
                        len(sections),
                        e.code,
                    )
                    return (
                        f"The report ({stored.label}) is saved, but Slack stopped me posting it in the thread "
                        f"(`{e.code}`) after {index} of its {len(sections)} parts. Nothing is lost: "
                        f"`{self._config.command} report` posts it again, and `incident-bot report "
                        f"{incident.public_id}` prints it."
                    )
            due = loop.time() + self._pace
        return None

    async def find(self, public_id: str, team_id: str | None = None) -> Incident:
        """The incident `public_id` (of the workspace `team_id`, which is needed when several have that number)."""
        async with self._db.transaction() as store:
            found = await store.get_by_public_id(public_id.upper())
        if team_id is not None:
            found = [i for i in found if i.team_id == team_id]
        if not found:
            raise UserError(f"No incident {public_id} in the database{f' for workspace {team_id}' if team_id else ''}.")
        if len(found) > 1:
            teams = ", ".join(sorted(i.team_id for i in found))
            raise UserError(f"{public_id} exists in several workspaces ({teams}); name one with --team.")
        return found[0]
