"""The `/incident` command: one root command, subcommands with help, answered through the response_url.

`acknowledgement()` is what Slack gets back at once (no I/O, well inside the 3 s); `run()` does the work after
the ack and answers the person privately (ephemeral), while changes are announced in the incident channel.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import Config
from bot.domain.incident import Incident, Status
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.markup import from_slack, mentioned_users, user_text
from bot.slack.payloads import CommandRequest, mentioned_user
from bot.suggestions.decision import POST_AT

from .errors import AlreadyHandled, UserError
from .followups import FollowupService
from .incidents import Changed, IncidentService
from .opening import IncidentOpener, OpenRequest, SetupPending
from .paging import Pager
from .reports import ReportService
from .suggestions import SuggestionService
from .timeline import TimelineService
from .updates import StatusUpdates

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    in_incident_channel: bool
    aliases: tuple[str, ...] = ()


SUBCOMMANDS = (
    Subcommand(
        "open",
        "open [severity] <title>",
        "Open an incident: a new channel, the card, the team invited. Without a title a form opens.",
        False,
        ("declare", "new"),
    ),
    Subcommand("status", "status", "Here: this incident's state. Elsewhere: every incident still open.", False),
    Subcommand("severity", "severity <level>", "Change the severity ({levels}).", True, ("sev",)),
    Subcommand("commander", "commander @person", "Hand the incident commander role to someone.", True, ("lead",)),
    Subcommand(
        "role",
        "role [<role> @person|none]",
        "Give a role ({roles}) to someone and invite them, or clear it with `none`; alone: who holds each role.",
        True,
        ("roles",),
    ),
    Subcommand(
        "update",
        "update [text]",
        "Post a status update here (and in the announcement channel); without text a form opens.",
        True,
    ),
    Subcommand("ack", "ack", "Acknowledge the incident: someone is on it.", True, ("acknowledge",)),
    Subcommand("mitigate", "mitigate", "Mark the impact as mitigated.", True, ("mitigated",)),
    Subcommand("resolve", "resolve", "Resolve the incident.", True, ("resolved", "close")),
    Subcommand(
        "reopen",
        "reopen",
        "Reopen a resolved incident (before its channel is archived); archiving waits for the next resolution.",
        True,
    ),
    Subcommand("note", "note <text>", "Add a note to the incident timeline.", True),
    Subcommand("page", "page <service>", "Page the on-call of a service now (PagerDuty or Opsgenie).", True),
    Subcommand("timeline", "timeline", "The newest entries of the timeline (only you see them).", True),
    Subcommand(
        "suggest", "suggest", "The likely root causes from the runbooks, with scores (only you see them).", True
    ),
    Subcommand(
        "followup",
        "followup <what> [@owner] [due <date>] | list | done <n>",
        "Add a follow-up action, list them (only you see it), or mark one done.",
        True,
        ("followups", "follow-up"),
    ),
    Subcommand("report", "report", "Post a draft post-incident report here (resolving posts the final one).", True),
    Subcommand("help", "help [subcommand]", "This help, or the help of one subcommand.", False),
)
_BY_NAME = {alias: sub for sub in SUBCOMMANDS for alias in (sub.name, *sub.aliases)}


class IncidentCommands:
    def __init__(
        self,
        config: Config,
        incidents: IncidentService,
        opener: IncidentOpener,
        timeline: TimelineService,
        suggestions: SuggestionService,
        reports: ReportService,
        slack: SlackGateway,
        updates: StatusUpdates,
        followups: FollowupService,
        pager: Pager | None = None,
    ) -> None:
        self._updates = updates
        self._followups = followups
        self._pager = pager
        self._opener = opener
        self._suggestions = suggestions
        self._reports = reports
        self._config = config
        self._incidents = incidents
        self._timeline = timeline
        self._slack = slack

    def acknowledgement(self, request: CommandRequest) -> str | None:
        """The immediate answer to Slack: only for work that takes a moment, so the person sees it started."""
        word, rest = _split(request.text)
        if _BY_NAME.get(word) is not _BY_NAME["open"]:
            return None
        _, title = self._parse_open(rest)
        return (
            f":hourglass_flowing_sand: Opening an incident: _{blocks.escape(blocks.short_title(title))}_…"
            if title
            else None
        )

    def _parse_open(self, rest: str) -> tuple[str, str]:
        """`[severity] <title> [severity]` -> (severity, title); the default severity when none is given."""
        words = from_slack(rest).split()
        severity = self._config.default_severity
        if words and self._config.severity(words[0]):
            severity = words.pop(0).lower()
        elif len(words) > 1 and self._config.severity(words[-1]):
            severity = words.pop().lower()
        return severity, " ".join(words)

    async def run(self, request: CommandRequest) -> None:
        try:
            await self._run(request)
        except AlreadyHandled:
            return  # the same command delivered again: done the first time
        except UserError as e:
            await self._reply(request, f":warning: {e}")
        except SlackError as e:
            await self._reply(request, f":warning: Slack did not let me do that (`{e.code}`). Please try again.")

    async def _run(self, request: CommandRequest) -> None:
        word, rest = _split(request.text)
        sub = _BY_NAME.get(word)
        if sub is None or sub.name == "help":
            await self._reply(
                request,
                self.help_text(rest.strip().lower() if sub else "", unknown=word if sub is None else ""),
            )
            return
        if sub.name == "open":
            await self._open(request, rest)
            return
        incident = await self._incidents.in_channel(request.team_id, request.channel_id)
        if sub.name == "status":
            await self._status(request, incident)
            return
        if incident is None:
            raise UserError(
                f"`{self._config.command} {sub.name}` works inside an incident channel. "
                f"Run it there, or `{self._config.command} status` to list the open incidents."
            )
        if sub.name == "note":
            await self._note(request, incident, rest)
            return
        if sub.name == "role":
            await self._role(request, incident, rest)
            return
        if sub.name == "update":
            await self._update(request, incident, rest)
            return
        if sub.name == "timeline":
            await self._show_timeline(request, incident)
            return
        if sub.name == "followup":
            await self._followups.run(request, incident, rest, lambda text: self._reply(request, text))
            return
        if sub.name == "page":
            await self._page(request, incident, rest)
            return
        if sub.name == "report":
            stored = await self._reports.generate(incident, request.user_id, final=False)
            await self._reply(
                request, f":page_facing_up: {stored.label} of the report of {incident.public_id} is posted."
            )
            return
        if sub.name == "suggest":
            ranking, _ = await self._suggestions.ranking(incident, top=3)
            await self._reply(request, blocks.ranking_text(ranking, POST_AT, incident))
            return
        changed = await self._change(request, sub, rest, incident)
        if changed is not None:
            note = "\n".join(changed.warnings)
            if note:
                await self._reply(request, f"Done, with problems:\n{note}")

    async def _change(self, request: CommandRequest, sub: Subcommand, rest: str, incident: Incident) -> Changed | None:
        actor = request.user_id
        if sub.name == "severity":
            level = from_slack(rest).strip().split(" ")[0].lower()
            if not level:
                await self._reply(request, self.help_text("severity", current=incident))
                return None
            return await self._incidents.change_severity(incident.id, actor, level)
        if sub.name == "commander":
            user = mentioned_user(rest)
            if user is None:
                raise UserError(
                    f"Who should lead? Mention them: `{self._config.command} commander @name` "
                    f"(now: {blocks.mention(incident.commander_id)})."
                )
            return await self._incidents.set_commander(incident.id, actor, user)
        to = {
            "ack": Status.ACKNOWLEDGED,
            "mitigate": Status.MITIGATED,
            "resolve": Status.RESOLVED,
            "reopen": Status.OPEN,
        }[sub.name]
        return await self._incidents.change_status(incident.id, actor, to)

    async def _open(self, request: CommandRequest, rest: str) -> None:
        severity, title = self._parse_open(rest)
        if not title:
            try:
                await self._slack.open_view(
                    request.trigger_id, blocks.open_incident_modal(self._config, request.channel_id, severity=severity)
                )
            except SlackError as e:
                raise UserError(
                    f"I could not open the form (Slack said `{e.code}`). "
                    f"Give the title right away instead: `{self._config.command} open <title>`."
                ) from e
            return
        try:
            opened = await self._opener.open(
                OpenRequest(
                    team_id=request.team_id,
                    user_id=request.user_id,
                    title=title,
                    severity=severity,
                    request_key=f"command:{request.trigger_id}" if request.trigger_id else None,
                    response_url=request.response_url,
                    origin_channel=request.channel_id,
                ),
                tell=lambda text: self._reply(request, text),
            )
        except SetupPending as e:
            await self._reply(request, blocks.pending_text(e.incident))
            return
        if not opened.created:  # a second delivery of the same command (the opener was told by the first)
            await self._reply(request, blocks.opened_text(opened.incident, opened.created, opened.warnings))

    async def _note(self, request: CommandRequest, incident: Incident, text: str) -> None:
        if not text.strip():
            await self._reply(request, self.help_text("note"))
            return
        key = f"command:{request.trigger_id}" if request.trigger_id else None
        await self._timeline.add_note(incident, request.user_id, text.strip(), key)
        await self._reply(request, f":memo: Noted on the timeline of {incident.public_id}.")

    async def _role(self, request: CommandRequest, incident: Incident, rest: str) -> None:
        """`role` (who holds each), `role <role>` (who holds it), `role <role> @person`, `role <role> none`; the
        role word and the person in either order."""
        cmd = self._config.command
        words = rest.split()
        user = mentioned_user(rest)
        others = [w for w in words if not w.startswith("<")]
        if not words:
            await self._reply(request, await self._roles_text(incident))
            return
        if not others:
            raise UserError(
                f"Which role? `{cmd} role <role> @person`, with one of "
                + ", ".join(f"`{r.name}`" for r in self._config.all_roles)
                + "."
            )
        role = self._incidents.role_or_error(from_slack(others[0]))
        clear = len(others) > 1 and others[1].lower() == "none" and user is None
        if user is None and not clear:
            if len(words) > 1:  # something that is not a person: a name typed without @, a channel, a group
                raise UserError(
                    f"Who should be {blocks.escape(role.label)}? Mention a person: `{cmd} role {role.name} @name` "
                    f"(or `{cmd} role {role.name} none` to clear it)."
                )
            holders = await self._incidents.role_holders(incident)
            await self._reply(
                request,
                f"*{blocks.escape(role.label)}* of {incident.public_id}: {blocks.mention(holders.get(role.name))}. "
                f"{blocks.escape(self._role_description(role.name))}\nGive it: `{cmd} role {role.name} @name`.",
            )
            return
        key = f"command:{request.trigger_id}" if request.trigger_id else None
        changed = await self._incidents.assign_role(incident.id, request.user_id, role.name, user, request_key=key)
        if changed.warnings:
            await self._reply(request, "Done, with problems:\n" + "\n".join(changed.warnings))

    def _role_description(self, name: str) -> str:
        role = self._config.role(name)
        return role.description if role else ""

    async def _roles_text(self, incident: Incident) -> str:
        holders = await self._incidents.role_holders(incident)
        cmd = self._config.command
        lines = [f"*Roles of {incident.public_id}*"]
        lines += [
            f"• *{blocks.escape(r.label)}* (`{r.name}`): {blocks.mention(holders.get(r.name))} — "
            f"{blocks.escape(r.description)}"
            for r in self._config.all_roles
        ]
        lines.append(f"Give one: `{cmd} role <role> @name`; clear one: `{cmd} role <role> none`.")
        return "\n".join(lines)

    async def _update(self, request: CommandRequest, incident: Incident, text: str) -> None:
        if not text.strip():
            try:
                await self._slack.open_view(request.trigger_id, blocks.update_modal(incident))
            except SlackError as e:
                raise UserError(
                    f"I could not open the form (Slack said `{e.code}`). "
                    f"Give the update right away instead: `{self._config.command} update <text>`."
                ) from e
            return
        key = f"command:{request.trigger_id}" if request.trigger_id else None
        posted = await self._updates.post(incident, request.user_id, text.strip(), request_key=key)
        if posted.update is None:
            return  # the same command delivered again: posted the first time
        where = f" and in <#{self._config.announcement_channel}>" if self._config.announcement_channel else ""
        message = f":loudspeaker: Posted the status update of {incident.public_id} here{where}."
        if posted.warnings:
            message += "\n" + "\n".join(posted.warnings)
        await self._reply(request, message)

    async def _page(self, request: CommandRequest, incident: Incident, rest: str) -> None:
        if self._pager is None:
            raise UserError("Paging is not set up here.")
        words = from_slack(rest).split()
        if not words:
            self._pager.service_or_error("")  # raises: paging is not set up, or which service (with the list)
            return
        name = words[0].lower()
        key = f"command:{request.trigger_id}" if request.trigger_id else None
        answer = await self._pager.page(incident, name, request.user_id, key)
        if answer:
            await self._reply(request, answer)

    async def _show_timeline(self, request: CommandRequest, incident: Incident) -> None:
        entries = await self._timeline.entries(incident)
        newest = await self._timeline.with_permalinks(entries[-self._config.timeline.show :])
        names = await self._timeline.names(incident.team_id, {u for e in newest for u in mentioned_users(e.text)})
        await self._reply(request, blocks.timeline_text(self._config, incident, newest, len(entries), names))

    async def _status(self, request: CommandRequest, incident: Incident | None) -> None:
        if incident is not None:
            holders = await self._incidents.role_holders(incident) if self._config.roles else {}
            await self._reply(
                request, blocks.card_text(self._config, incident), status_blocks(self._config, incident, holders)
            )
            return
        active, unsure = await self._incidents.visible_to(
            request.user_id, await self._incidents.active(request.team_id)
        )
        hidden = "\n_(I could not check which private incidents you are in, so none is shown.)_" if unsure else ""
        if not active:
            await self._reply(request, ":large_green_circle: No incidents are open." + hidden)
            return
        lines = [f"*{len(active)} open incident{'s' if len(active) != 1 else ''}*"]
        lines += [
            f"• <#{i.channel_id}> *{i.public_id}* {blocks.escape(i.title)} — "
            f"{blocks.escape(blocks.severity_label(self._config, i.severity))}, {i.status.label}, "
            f"commander {blocks.mention(i.commander_id)}"
            for i in active
        ]
        await self._reply(request, "\n".join(lines) + hidden)

    def help_text(self, topic: str = "", *, unknown: str = "", current: Incident | None = None) -> str:
        cmd = self._config.command
        levels = ", ".join(f"`{n}`" for n in self._config.severity_names)
        roles = ", ".join(f"`{r.name}`" for r in self._config.all_roles)
        sub = _BY_NAME.get(topic)
        if sub is not None:
            text = f"`{cmd} {sub.usage}`\n{sub.summary.format(levels=levels, roles=roles)}"
            if current is not None and sub.name == "severity":
                text += f"\nNow: *{blocks.escape(blocks.severity_label(self._config, current.severity))}*."
            return text
        head = f"I don't know `{user_text(unknown)}`. " if unknown else ""
        lines = [f"{head}*{cmd}* runs incidents from Slack:"]
        lines += [
            f"• `{cmd} {s.usage}` — {s.summary.format(levels=levels, roles=roles)}"
            + (" _(in an incident channel)_" if s.in_incident_channel else "")
            for s in SUBCOMMANDS
        ]
        return "\n".join(lines)

    async def _reply(
        self, request: CommandRequest, text: str, block_list: list[dict[str, object]] | None = None
    ) -> None:
        try:
            await self._slack.respond(request.response_url, text, block_list)
        except SlackError as e:
            log.warning("could not answer %s via its response_url: %s", request.user_id, e.code)


def _split(text: str) -> tuple[str, str]:
    word, _, rest = text.strip().partition(" ")
    return word.lower(), rest


def status_blocks(
    config: Config, incident: Incident, holders: Mapping[str, str] | None = None
) -> list[dict[str, object]]:
    return [b for b in blocks.incident_card(config, incident, holders) if b.get("type") != "actions"]
