"""What people do to incidents: open one, change its severity, commander or status.

Each method owns its unit of work: it commits the record first and calls Slack after, so a Slack failure never
loses what happened. Slack failures after the commit are reported back as warnings, not raised.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from bot.config import Config, Severity
from bot.domain.incident import Incident, InvalidTransition, Status
from bot.domain.naming import channel_names
from bot.metrics import Metrics
from bot.slack import blocks
from bot.slack.gateway import SlackError, SlackGateway
from bot.storage import AuditEntry, Database, IncidentStore, NewIncident

from .errors import UserError
from .timeline import IncidentChannels

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class OpenRequest:
    team_id: str
    user_id: str
    title: str
    severity: str
    description: str = ""
    request_key: str | None = None  # the same key twice (a redelivery, a resubmitted modal) opens one incident


@dataclass(frozen=True, slots=True)
class Opened:
    incident: Incident
    created: bool  # False: this request had already opened (or is opening) the incident
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Changed:
    incident: Incident
    summary: str  # the line posted in the incident channel
    warnings: tuple[str, ...] = field(default=())


_CREATE_REFUSALS = {
    "restricted_action": "your workspace does not let this app create channels (ask an admin to allow it)",
    "missing_scope": "the app is missing the permission to create channels (reinstall it from the manifest)",
    "name_taken": "every channel name I tried was already taken",
    "invalid_name_specials": "Slack refused the channel name",
    "invalid_name": "Slack refused the channel name",
    "invalid_name_maxlength": "Slack refused the channel name as too long",
    "invalid_name_punctuation": "Slack refused the channel name",
    "invalid_name_required": "Slack refused the channel name",
    "ratelimited": "Slack is rate limiting the app right now; try again in a minute",
}


class IncidentService:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        metrics: Metrics,
        channels: IncidentChannels,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._channels = channels
        # Called after an incident is resolved (the final report); set by the composition root.
        self.on_resolved: Callable[[Incident, str], Awaitable[None]] | None = None
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

    def severity_or_error(self, name: str) -> Severity:
        level = self._config.severity(name)
        if level is None:
            known = ", ".join(f"`{n}`" for n in self._config.severity_names)
            raise UserError(f"`{name}` is not a severity here. Use one of: {known}.")
        return level

    # -- opening -------------------------------------------------------------------------------------------

    async def open(self, request: OpenRequest) -> Opened:
        level = self.severity_or_error(request.severity)
        title = request.title.strip()
        if not title:
            raise UserError("An incident needs a title: what is broken, in a few words.")
        now = self._clock()
        try:
            async with self._db.transaction() as store:
                if request.request_key:
                    existing = await store.get_by_request_key(request.team_id, request.request_key)
                    if existing is not None:
                        return Opened(existing, created=False)
                incident = await store.add(
                    NewIncident(
                        team_id=request.team_id,
                        title=title,
                        description=request.description.strip(),
                        severity=level.name,
                        opener_id=request.user_id,
                        commander_id=request.user_id,
                        opened_at=now,
                        request_key=request.request_key,
                    )
                )
                await store.add_participant(incident.id, request.user_id, "commander", now)
                await _audit(store, incident, request.user_id, "opened", now, new=title)
        except IntegrityError:
            # The same request raced us from another delivery or replica and won: that one is the incident.
            if not request.request_key:
                raise
            async with self._db.transaction() as store:
                existing = await store.get_by_request_key(request.team_id, request.request_key)
            if existing is None:
                raise
            return Opened(existing, created=False)

        try:
            channel = await self._slack.create_channel(
                channel_names(
                    self._config.channel.name_template,
                    year=incident.year,
                    number=incident.number,
                    title=title,
                    severity=level.name,
                ),
                private=self._config.channel.private,
            )
        except SlackError as e:
            await self._discard(incident, request.user_id, e.code)
            reason = _CREATE_REFUSALS.get(e.code, f"Slack answered `{e.code}`")
            raise UserError(
                f"I could not open the incident: {reason}. Nothing was created; try again once that is fixed."
            ) from e

        async with self._db.transaction() as store:
            incident = await store.update_fields(incident.id, now, channel_id=channel.id, channel_name=channel.name)
            await _audit(store, incident, request.user_id, "channel_created", now, "channel", None, channel.name)
        self._channels.remember(incident)

        warnings = await self._furnish(incident, level, request.user_id)
        posted = incident
        async with self._db.transaction() as store:
            incident = await _locked(store, incident.id)  # as it is now: people may have changed it already
        shown = ("status", "severity", "commander_id")
        if incident.card_ts and any(getattr(incident, f) != getattr(posted, f) for f in shown):
            # Someone changed it between the card being posted and its ts being stored, so that change could not
            # update the card in place: bring the card up to date now.
            try:
                await self._slack.update_message(
                    incident.channel_id or "",
                    incident.card_ts,
                    blocks.card_text(self._config, incident),
                    blocks.incident_card(self._config, incident),
                )
            except SlackError as e:
                warnings.append(f"I could not update the incident card (`{e.code}`).")
        self._metrics.incidents_opened.inc()
        log.info("opened %s in #%s", incident.public_id, incident.channel_name)
        return Opened(incident, created=True, warnings=tuple(warnings))

    async def _discard(self, incident: Incident, actor: str, code: str) -> None:
        """Channel creation failed: remove the incident so nothing half-open remains; the audit keeps a note."""
        async with self._db.transaction() as store:
            await store.remove(incident.id)
            await store.audit(
                incident.team_id,
                None,
                AuditEntry(
                    actor_id=actor,
                    action="open_failed",
                    at=self._clock(),
                    field="channel",
                    new_value=code,
                    public_id=incident.public_id,
                ),
            )

    async def _furnish(self, incident: Incident, level: Severity, opener: str) -> list[str]:
        """Invite, set the topic, post and pin the card, announce. Each step may fail on its own; returns what
        went wrong, for the opener. The card's ts is stored as soon as it is posted, so that changes made from
        then on (a click on the card while the rest is still being set up) update it in place."""
        assert incident.channel_id is not None
        channel = incident.channel_id
        warnings: list[str] = []
        warnings += await self._invite(incident, [opener, *level.invite], opener)
        try:
            await self._slack.set_topic(channel, self._topic(incident))
        except SlackError as e:
            warnings.append(f"I could not set the channel topic (`{e.code}`).")
        ts: str | None = None
        try:
            ts = await self._slack.post_message(
                channel,
                blocks.card_text(self._config, incident),
                blocks.incident_card(self._config, incident),
            )
        except SlackError as e:
            warnings.append(f"I could not post the incident card (`{e.code}`).")
        else:
            async with self._db.transaction() as store:
                await store.update_fields(incident.id, self._clock(), card_ts=ts)
            try:
                await self._slack.pin(channel, ts)
            except SlackError as e:
                warnings.append(f"I could not pin the incident card (`{e.code}`).")
        if self._config.announcement_channel:
            try:
                await self._slack.post_message(
                    self._config.announcement_channel,
                    f":rotating_light: {incident.public_id} opened: *{blocks.escape(incident.title)}* — "
                    f"{blocks.escape(level.label)}, commander {blocks.mention(incident.commander_id)}. "
                    f"Join <#{channel}>.",
                )
            except SlackError as e:
                warnings.append(f"I could not announce it in <#{self._config.announcement_channel}> (`{e.code}`).")
        return warnings

    async def _invite(self, incident: Incident, users: list[str], actor: str) -> list[str]:
        assert incident.channel_id is not None
        failures = await self._slack.invite(incident.channel_id, users)
        now = self._clock()
        async with self._db.transaction() as store:
            for user in dict.fromkeys(users):
                if user not in failures:
                    role = "commander" if user == incident.commander_id else "responder"
                    await store.add_participant(incident.id, user, role, now)
        return [f"I could not invite {blocks.mention(u)} (`{code}`)." for u, code in failures.items()]

    def _topic(self, incident: Incident) -> str:
        return self._config.channel.topic_template.format(
            public_id=incident.public_id,
            title=incident.title,
            severity=blocks.severity_label(self._config, incident.severity),
            status=incident.status.label,
            commander=blocks.mention(incident.commander_id),
        )

    # -- changing ------------------------------------------------------------------------------------------

    async def change_severity(self, incident_id: int, actor: str, severity: str) -> Changed:
        level = self.severity_or_error(severity)
        now = self._clock()
        async with self._db.transaction() as store:
            before = await _locked(store, incident_id)
            if before.severity == level.name:
                raise UserError(f"{before.public_id} is already {level.label}.")
            if not before.status.is_active:
                raise UserError(f"{before.public_id} is resolved; its severity stays as it was.")
            after = await store.save(dataclasses.replace(before, severity=level.name), now)
            await _audit(store, after, actor, "severity_changed", now, "severity", before.severity, level.name)
        old_label = blocks.escape(blocks.severity_label(self._config, before.severity))
        summary = (
            f":arrows_counterclockwise: {blocks.mention(actor)} changed the severity "
            f"from *{old_label}* to *{blocks.escape(level.label)}*."
        )
        warnings = await self._invite(after, list(level.invite), actor) if level.invite else []
        return await self._announce(after, summary, warnings)

    async def set_commander(self, incident_id: int, actor: str, commander: str) -> Changed:
        now = self._clock()
        async with self._db.transaction() as store:
            before = await _locked(store, incident_id)
            if before.commander_id == commander:
                raise UserError(f"{blocks.mention(commander)} is already the commander of {before.public_id}.")
            if not before.status.is_active:
                raise UserError(f"{before.public_id} is resolved; its commander stays as it was.")
            after = await store.save(dataclasses.replace(before, commander_id=commander), now)
            await _audit(store, after, actor, "commander_changed", now, "commander_id", before.commander_id, commander)
        warnings = await self._invite(after, [commander], actor)
        summary = (
            f":male-firefighter: {blocks.mention(commander)} is now the incident commander "
            f"(set by {blocks.mention(actor)})."
        )
        return await self._announce(after, summary, warnings)

    async def change_status(self, incident_id: int, actor: str, to: Status) -> Changed:
        now = self._clock()
        async with self._db.transaction() as store:
            before = await _locked(store, incident_id)
            try:
                after = before.with_status(to, now)
            except InvalidTransition as e:
                raise UserError(f"{e}.") from e
            after = await store.save(after, now)
            await _audit(store, after, actor, "status_changed", now, "status", before.status.value, to.value)
        verbs = {
            Status.ACKNOWLEDGED: ":eyes: {who} acknowledged the incident.",
            Status.MITIGATED: ":adhesive_bandage: {who} marked the incident mitigated.",
            Status.RESOLVED: ":white_check_mark: {who} resolved the incident.",
        }
        changed = await self._announce(after, verbs[to].format(who=blocks.mention(actor)), [])
        if to is Status.RESOLVED and self.on_resolved is not None:
            try:
                await self.on_resolved(after, actor)
            except UserError as e:
                return dataclasses.replace(changed, warnings=(*changed.warnings, f"The final report: {e}"))
        return changed

    async def _announce(self, incident: Incident, summary: str, warnings: list[str]) -> Changed:
        """After a committed change: update the card in place, the topic, and post one line in the channel."""
        if incident.channel_id is None:
            return Changed(incident, summary, tuple(warnings))
        if incident.card_ts:
            try:
                await self._slack.update_message(
                    incident.channel_id,
                    incident.card_ts,
                    blocks.card_text(self._config, incident),
                    blocks.incident_card(self._config, incident),
                )
            except SlackError as e:
                warnings.append(f"I could not update the incident card (`{e.code}`).")
        try:
            await self._slack.set_topic(incident.channel_id, self._topic(incident))
        except SlackError as e:
            log.warning("could not set the topic of %s: %s", incident.public_id, e.code)
        try:
            await self._slack.post_message(incident.channel_id, summary)
        except SlackError as e:
            warnings.append(f"I could not post in the incident channel (`{e.code}`).")
        return Changed(incident, summary, tuple(warnings))


async def _locked(store: IncidentStore, incident_id: int) -> Incident:
    incident = await store.lock(incident_id)
    if incident is None:
        raise UserError("That incident no longer exists.")
    return incident


async def _audit(
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
