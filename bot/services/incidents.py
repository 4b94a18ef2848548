"""What people do to incidents: change the severity, the commander or the status; who may see which incident.
(Opening one is its own process: services/opening.py.)

Each method owns its unit of work: it commits the record first and calls Slack after, so a Slack failure never
loses what happened. Slack failures after the commit are reported back as warnings, not raised.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import COMMANDER, Config, Role, Severity
from bot.domain.incident import Incident, InvalidTransition, Status
from bot.metrics import Metrics
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.markup import plain_safe
from bot.storage import AuditEntry, Database, IncidentStore

from .errors import AlreadyHandled, UserError
from .updates import plan_reminder

if TYPE_CHECKING:
    from .archiving import Archiver
    from .fingerprints import Fingerprints
    from .paging import Pager

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Changed:
    incident: Incident
    summary: str  # the line posted in the incident channel
    warnings: tuple[str, ...] = field(default=())


class IncidentService:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        metrics: Metrics,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        # Called after an incident is resolved (the final report); set by the composition root.
        self.on_resolved: Callable[[Incident, str], Awaitable[None]] | None = None
        # What the "resolved" line in the channel adds (the follow-ups still open), if anything; set by the
        # composition root.
        self.resolution_note: Callable[[Incident], Awaitable[str | None]] | None = None
        # Pages the on-call as app.yaml says for a severity, and resolves the pages; set by the composition root.
        self.pager: Pager | None = None
        # Archives the channel some days after resolution (app.yaml `archive`); set by the composition root.
        self.archiver: Archiver | None = None
        # Fingerprints a resolved incident's evidence, to tell a later one like it "Seen before"; set by the
        # composition root.
        self.fingerprints: Fingerprints | None = None
        self._config = config
        self._db = db
        self._slack = slack
        self._metrics = metrics
        self._clock = clock

    # -- reading -------------------------------------------------------------------------------------------

    async def in_channel(self, team_id: str, channel_id: str) -> Incident | None:
        async with self._db.transaction() as store:
            return await store.get_by_channel(team_id, channel_id)

    async def get(self, incident_id: int) -> Incident | None:
        async with self._db.transaction() as store:
            return await store.get(incident_id)

    async def active(self, team_id: str) -> list[Incident]:
        async with self._db.transaction() as store:
            return await store.list_active(team_id)

    async def visible_to(self, user: str, incidents: list[Incident]) -> tuple[list[Incident], bool]:
        """The incidents `user` may see: the public ones, and the private ones whose channel they are in (the same
        rule as Slack's). Second: True when Slack could not say, and private incidents were left out to be safe."""
        if not any(i.may_be_private for i in incidents):
            return incidents, False
        try:
            theirs = await self._slack.private_channels_of(user)
        except SlackError as e:
            log.warning("could not tell which private incident channels %s is in: %s", user, e.code)
            return [i for i in incidents if not i.may_be_private], True
        return [i for i in incidents if not i.may_be_private or i.channel_id in theirs], False

    async def may_see(self, user: str, incident: Incident) -> bool:
        seen, _ = await self.visible_to(user, [incident])
        return bool(seen)

    def severity_or_error(self, name: str) -> Severity:
        level = self._config.severity(name)
        if level is None:
            known = ", ".join(f"`{n}`" for n in self._config.severity_names)
            raise UserError(f"`{blocks.escape(name)}` is not a severity here. Use one of: {known}.")
        return level

    async def invite(self, incident: Incident, users: list[str]) -> list[str]:
        """Invite people to the incident channel (and record them as participants); returns what went wrong: each
        person Slack would not add, and once, a refusal of the channel itself (archived, rate limited...)."""
        assert incident.channel_id is not None
        invited = await self._slack.invite(incident.channel_id, users)
        now = self._clock()
        async with self._db.transaction() as store:
            for user in dict.fromkeys(users):
                if user not in invited.refused and user not in invited.not_invited:
                    role = "commander" if user == incident.commander_id else "responder"
                    await store.add_participant(incident.id, user, role, now)
        warnings = [f"I could not invite {blocks.mention(u)} (`{code}`)." for u, code in invited.refused.items()]
        if invited.channel_error:
            who = ", ".join(blocks.mention(u) for u in invited.not_invited)
            warnings.append(
                f"Slack refused invitations to this channel (`{invited.channel_error}`), so I could not invite {who}."
            )
        return warnings

    def role_or_error(self, name: str) -> Role:
        role = self._config.role(name)
        if role is None:
            known = ", ".join(f"`{r.name}`" for r in self._config.all_roles)
            raise UserError(
                f"`{blocks.escape(name)}` is not a role here. Roles: {known} "
                f"(`{self._config.command} role` lists them with who holds each)."
            )
        return role

    async def role_holders(self, incident: Incident) -> dict[str, str]:
        """role name -> who holds it, the commander first (when there is one), then the other roles held."""
        async with self._db.transaction() as store:
            held = await store.role_holders(incident.id)
        commander = {COMMANDER: incident.commander_id} if incident.commander_id else {}
        return {**commander, **{r.name: held[r.name] for r in self._config.roles if r.name in held}}

    def topic(self, incident: Incident) -> str:
        return self._config.channel.topic_template.format(
            public_id=incident.public_id,
            title=plain_safe(incident.title),  # a topic is not formatted (Slack's docs); it must not ping either
            severity=blocks.severity_label(self._config, incident.severity),
            status=incident.status.label,
            commander=blocks.mention(incident.commander_id),
        )

    # -- changing ------------------------------------------------------------------------------------------

    async def change_severity(
        self, incident_id: int, actor: str, severity: str, *, request_key: str | None = None
    ) -> Changed:
        level = self.severity_or_error(severity)
        now = self._clock()
        async with self._db.transaction() as store:
            before = await _locked(store, incident_id, request_key, now)
            if before.severity == level.name:
                raise UserError(f"{before.public_id} is already {blocks.escape(level.label)}.")
            if not before.status.is_active:
                raise UserError(f"{before.public_id} is resolved; its severity stays as it was.")
            after = await store.save(dataclasses.replace(before, severity=level.name), now)
            await audit(store, after, actor, "severity_changed", now, "severity", before.severity, level.name)
            if self.pager is not None:
                await self.pager.plan(store, after, level, actor, now)
            # The next status update falls due by the new severity's cadence (or never).
            await plan_reminder(store.jobs, self._config, after, await store.last_update_at(after.id), now)
        old_label = blocks.escape(blocks.severity_label(self._config, before.severity))
        summary = (
            f":arrows_counterclockwise: {blocks.mention(actor)} changed the severity "
            f"from *{old_label}* to *{blocks.escape(level.label)}*."
        )
        warnings = await self.invite(after, list(level.invite)) if level.invite else []
        changed = await self._announce(after, summary, warnings)
        if self.pager is not None and level.page:
            await self.pager.send_unsent(after.id)
        return changed

    async def set_commander(
        self, incident_id: int, actor: str, commander: str, *, request_key: str | None = None
    ) -> Changed:
        await self._check_commander(commander)
        now = self._clock()
        async with self._db.transaction() as store:
            before = await _locked(store, incident_id, request_key, now)
            if before.commander_id == commander:
                raise UserError(f"{blocks.mention(commander)} is already the commander of {before.public_id}.")
            if not before.status.is_active:
                raise UserError(f"{before.public_id} is resolved; its commander stays as it was.")
            after = await store.save(dataclasses.replace(before, commander_id=commander), now)
            await audit(store, after, actor, "commander_changed", now, "commander_id", before.commander_id, commander)
        warnings = await self.invite(after, [commander])
        summary = (
            f":male-firefighter: {blocks.mention(commander)} is now the incident commander "
            f"(set by {blocks.mention(actor)})."
        )
        return await self._announce(after, summary, warnings)

    async def assign_role(
        self, incident_id: int, actor: str, role_name: str, holder: str | None, *, request_key: str | None = None
    ) -> Changed:
        """`holder` takes the role (None: the role is cleared); the commander role is `set_commander`'s."""
        role = self.role_or_error(role_name)
        if role.name == COMMANDER:
            if holder is None:
                raise UserError(
                    "An incident always has a commander. Hand the role to someone instead: "
                    f"`{self._config.command} commander @person`."
                )
            return await self.set_commander(incident_id, actor, holder, request_key=request_key)
        if holder is not None:
            await self._check_person(holder, f"be {role.label}")
        label = blocks.escape(role.label)
        now = self._clock()
        async with self._db.transaction() as store:
            incident = await _locked(store, incident_id, request_key, now)
            current = (await store.role_holders(incident.id)).get(role.name)
            if current == holder:
                if holder is None:
                    raise UserError(f"Nobody is {label} of {incident.public_id}; there is nothing to clear.")
                raise UserError(f"{blocks.mention(holder)} is already {label} of {incident.public_id}.")
            if not incident.status.is_active:
                raise UserError(f"{incident.public_id} is resolved; its roles stay as they were.")
            await store.set_role(incident.id, role.name, holder, actor, now)
            await audit(store, incident, actor, "role_assigned", now, role.name, current, holder)
        if holder is None:
            summary = (
                f":bust_in_silhouette: {blocks.mention(actor)} cleared the role *{label}* "
                f"(was {blocks.mention(current)})."
            )
            return await self._announce(incident, summary, [])
        warnings = await self.invite(incident, [holder])
        summary = f":bust_in_silhouette: {blocks.mention(holder)} is now *{label}* (set by {blocks.mention(actor)})."
        return await self._announce(incident, summary, warnings)

    async def change_status(
        self, incident_id: int, actor: str, to: Status, *, request_key: str | None = None
    ) -> Changed:
        """`to` OPEN reopens a resolved incident (`/incident reopen`): its channel's archiving is cancelled, in the
        same transaction (refused if the channel is archived already), and its pages are triggered again."""
        now = self._clock()
        async with self._db.unit() as stores:
            store = stores.incidents
            before = await _locked(store, incident_id, request_key, now)
            if to is Status.OPEN and before.status.is_active:
                raise UserError(
                    f"{before.public_id} is {before.status.value}, not resolved: there is nothing to reopen."
                )
            try:
                after = before.with_status(to, now)
            except InvalidTransition as e:
                raise UserError(f"{e}.") from e
            after = await store.save(after, now)
            await audit(store, after, actor, "status_changed", now, "status", before.status.value, to.value)
            resolving = (
                await self.pager.resolving(store, after, now)
                if self.pager is not None and to is Status.RESOLVED
                else []
            )
            if self.archiver is not None and to is Status.RESOLVED:
                await self.archiver.schedule(stores, after, now)
            if self.fingerprints is not None and to is Status.RESOLVED:
                await self.fingerprints.schedule(stores, after, now)
            reopened = before.status is Status.RESOLVED
            if self.archiver is not None and reopened:
                await self.archiver.refuse_if_archived(stores, before)  # raises: nothing of this reopening stays
                await self.archiver.cancel(stores, before, now)
            if self.pager is not None and reopened:
                await self.pager.reopening(store, after, actor, now)
        verbs = {
            Status.OPEN: ":leftwards_arrow_with_hook: {who} reopened the incident.",
            Status.ACKNOWLEDGED: ":eyes: {who} acknowledged the incident.",
            Status.MITIGATED: ":adhesive_bandage: {who} marked the incident mitigated.",
            Status.RESOLVED: ":white_check_mark: {who} resolved the incident.",
        }
        summary = verbs[to].format(who=blocks.mention(actor))
        if to is Status.RESOLVED and self.resolution_note is not None:
            try:
                note = await self.resolution_note(after)
            except Exception:  # the resolution stands whatever the note does
                log.exception("could not add the resolution note of %s", after.public_id)
                note = None
            if note:
                summary += "\n" + note
        changed = await self._announce(after, summary, [])
        if self.pager is not None and reopened:
            await self.pager.send_unsent(after.id)  # paged again: the resolution had resolved the pages
        if self.pager is not None and resolving:
            self.pager.resolve_soon(resolving, actor)
        if to is Status.RESOLVED and self.on_resolved is not None:
            try:
                await self.on_resolved(after, actor)
            except UserError as e:
                return dataclasses.replace(changed, warnings=(*changed.warnings, f"The final report: {e}"))
        return changed

    async def _check_commander(self, user: str) -> None:
        await self._check_person(user, "lead an incident")

    async def _check_person(self, user: str, to: str) -> None:
        """A commander, or anyone given a role, is a real, active, human member of the workspace (not a bot, an app,
        or a deactivated account), whatever a payload says. `to`: what they would do ("lead an incident")."""
        try:
            person = await self._slack.person(user)
        except SlackError as e:
            if e.code in ("user_not_found", "invalid_arguments"):
                raise UserError("I cannot find that person in this workspace; pick someone who is in it.") from e
            raise
        if not person.is_active_human:
            what = "deactivated" if person.deleted else "a bot or an app, not a person"
            raise UserError(f"{blocks.mention(user)} cannot {to}: that account is {what}.")
        if person.team_id and person.team_id != await self._slack.served_team():
            raise UserError(f"{blocks.mention(user)} cannot {to}: they are not in this workspace.")

    async def _announce(self, incident: Incident, summary: str, warnings: list[str]) -> Changed:
        """After a committed change: update the card in place, the topic, and post one line in the channel."""
        if incident.channel_id is None:
            return Changed(incident, summary, tuple(warnings))
        if incident.card_ts:
            try:
                holders = await self.role_holders(incident) if self._config.roles else {}
                await self._slack.update_message(
                    incident.channel_id,
                    incident.card_ts,
                    blocks.card_text(self._config, incident),
                    blocks.incident_card(self._config, incident, holders),
                )
            except SlackError as e:
                warnings.append(f"I could not update the incident card (`{e.code}`).")
        try:
            await self._slack.set_topic(incident.channel_id, self.topic(incident))
        except SlackError as e:
            log.warning("could not set the topic of %s: %s", incident.public_id, e.code)
        try:
            await self._slack.post_message(incident.channel_id, summary)
        except SlackError as e:
            warnings.append(f"I could not post in the incident channel (`{e.code}`).")
        return Changed(incident, summary, tuple(warnings))


async def _locked(
    store: IncidentStore, incident_id: int, request_key: str | None = None, at: datetime | None = None
) -> Incident:
    """The incident, locked for this transaction; AlreadyHandled when `request_key` (a click) was applied before."""
    incident = await store.lock(incident_id)
    if incident is None:
        raise UserError("That incident no longer exists.")
    if request_key is not None and not await store.claim_request(incident.team_id, request_key, at or utcnow()):
        raise AlreadyHandled(request_key)
    return incident


async def audit(
    store: IncidentStore,
    incident: Incident,
    actor: str,
    action: str,
    at: datetime,
    field: str | None = None,
    old: str | None = None,
    new: str | None = None,
) -> None:
    await store.audit(
        incident.team_id,
        incident.id,
        AuditEntry(
            actor_id=actor,
            action=action,
            at=at,
            field=field,
            old_value=old,
            new_value=new,
            public_id=incident.public_id,
        ),
    )
