"""Opening an incident: a process that survives a crash, a timeout and a Slack outage half-way.

The incident row is the record of the process. It is written first (with who is setting it up and how to tell the
opener), and every step stores its result as soon as it is known:

    channel (channel_intent, then channel_id) -> invites, topic -> card (card_ts) -> pin -> announcement
    (announcement_ts) -> the card brought up to date -> the opener told (opener_told) -> setup_done

Every step is safe to run again. Creating the channel and posting are not blindly retried: when Slack's answer is
lost (a 5xx, a timeout, a crash), the bot looks before it acts again, for the channel it created (by name, created
by the bot, linked to no other incident) and for its own posts (tagged with Slack message metadata). So an incident
left half-open by a crashed process is finished by the reconciler of a live one (at start, then every
`RECONCILE_SECONDS`), or rolled back if Slack refuses its channel; and the opener is told either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.acting import acting_for
from bot.config import Config, Severity
from bot.domain.incident import Incident
from bot.domain.naming import channel_names
from bot.metrics import Metrics
from bot.slack import blocks
from bot.slack.gateway import CreatedChannel, SlackError, SlackGateway, Tag
from bot.storage import AuditEntry, Database, IncidentStore, NewIncident, SetupState
from bot.storage.liveness import Liveness
from bot.storage.notify import announce_channel

from .errors import UserError
from .incidents import IncidentService, audit
from .timeline import IncidentChannels
from .updates import plan_reminder

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 15.0
MAX_ATTEMPTS = 20  # after this many tries (about five minutes of reconciling), a setup is given up

_CREATE_REFUSALS = {
    "restricted_action": "your workspace does not let this app create channels (ask an admin to allow it)",
    "missing_scope": "the app is missing the permission to create channels (reinstall it from the manifest)",
    "name_taken": "every channel name I tried was already taken",
    "invalid_name_specials": "Slack refused the channel name",
    "invalid_name": "Slack refused the channel name",
    "invalid_name_maxlength": "Slack refused the channel name as too long",
    "invalid_name_punctuation": "Slack refused the channel name",
    "invalid_name_required": "Slack refused the channel name",
}


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
    response_url: str | None = None  # how to tell the opener how it went: a slash command's response_url ...
    view_id: str | None = None  # ... or the modal they submitted
    origin_channel: str | None = None  # where they opened it from


@dataclass(frozen=True, slots=True)
class Opened:
    incident: Incident
    created: bool  # False: this request had already opened (or is opening) the incident
    warnings: tuple[str, ...] = ()


Tell = Callable[[str], Awaitable[None]]


class TakenOver(Exception):
    """Another process took this setup over (this one looked gone for a while): this one stops."""


class SetupPending(Exception):
    """Slack did not answer in time: the incident exists and will be finished by the reconciler."""

    def __init__(self, incident: Incident) -> None:
        super().__init__(incident.public_id)
        self.incident = incident


class IncidentOpener:
    def __init__(
        self,
        config: Config,
        db: Database,
        slack: SlackGateway,
        metrics: Metrics,
        incidents: IncidentService,
        channels: IncidentChannels,
        liveness: Liveness,
        clock: Callable[[], datetime] = utcnow,
        every: float = RECONCILE_SECONDS,
    ) -> None:
        self._every = every
        self._config = config
        self._db = db
        self._slack = slack
        self._metrics = metrics
        self._incidents = incidents
        self._channels = channels
        self._liveness = liveness
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._unreleased: set[int] = set()  # setups this process let go of while the database was unreachable
        self._suspects: dict[str, float] = {}  # processes that looked gone, and since when (loop time)

    # -- opening -------------------------------------------------------------------------------------------

    async def open(self, request: OpenRequest, tell: Tell) -> Opened:
        """Open an incident, set it up and `tell` the opener (then it is done). A UserError (nothing was created, or
        it was rolled back), SetupPending and a duplicate request (`created` False) are the caller's to tell.

        `request` also says how to tell the opener later (response_url, view), should this process die first."""
        level = self._incidents.severity_or_error(request.severity)
        title, description = request.title.strip(), request.description.strip()
        if not title:
            raise UserError("An incident needs a title: what is broken, in a few words.")
        notes: tuple[str, ...] = ()
        if len(title) > blocks.TITLE_MAX:  # from the command (the form takes no more): shortened, nothing lost
            title, description = blocks.short_title(title), "\n\n".join(filter(None, (title, description)))
            notes = (blocks.title_shortened_note(len(request.title.strip())),)
        now = self._clock()
        reply = json.dumps(
            {"response_url": request.response_url, "view_id": request.view_id, "origin": request.origin_channel}
        )
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
                        description=description,
                        severity=level.name,
                        opener_id=request.user_id,
                        commander_id=request.user_id,
                        opened_at=now,
                        request_key=request.request_key,
                        private=self._config.channel.private,
                        setup_owner=self._liveness.boot_id,
                        setup_reply=reply,
                    )
                )
                await store.add_participant(incident.id, request.user_id, "commander", now)
                await audit(store, incident, request.user_id, "opened", now, new=title)
                if self._incidents.pager is not None:  # recorded with the incident; sent once it is set up
                    await self._incidents.pager.plan(store, incident, level, request.user_id, now)
                await plan_reminder(store.jobs, self._config, incident, None, now)  # the first status update's
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
            return await self._set_up(incident.id, attempt=1, tell=tell, notes=notes)
        except UserError:
            raise  # rolled back: nothing remains
        except TakenOver as error:  # another process finishes it (and tells the opener)
            raise SetupPending(incident) from error
        except BaseException as error:  # let go: the reconciler (of any live process) finishes it
            with contextlib.suppress(Exception):
                await self._release(incident.id)
            if isinstance(error, SlackError):  # Slack did not answer (or not usefully)
                log.warning("opening %s is waiting for Slack (%s)", incident.public_id, error.code)
                raise SetupPending(incident) from error
            raise

    async def _set_up(
        self, incident_id: int, *, attempt: int, tell: Tell | None = None, notes: tuple[str, ...] = ()
    ) -> Opened:
        """Every step not yet done, in order; safe to run again after a crash at any point. The opener is told
        with `tell`, or (recovering) where their request said; `notes` are told with it."""
        incident, state = await self._load(incident_id)
        level = self._config.severity(incident.severity) or self._config.severities[0]
        recovering = attempt > 1
        warnings: list[str] = list(notes)
        if incident.channel_id is None:
            incident = await self._ensure_channel(incident, state, level)
        assert incident.channel_id is not None
        channel = incident.channel_id
        warnings += await self._incidents.invite(incident, [incident.opener_id, *level.invite])
        try:
            await self._slack.set_topic(channel, self._incidents.topic(incident))
        except SlackError as e:
            warnings.append(f"I could not set the channel topic (`{e.code}`).")
        posted = incident
        if incident.card_ts is None:
            await self._check_still_mine(incident.id)
            try:
                ts = await self._slack.post_once(
                    channel,
                    blocks.card_text(self._config, incident),
                    blocks.incident_card(self._config, incident),
                    tag=Tag("incident_card", incident.id),
                    look_first=recovering,
                )
            except SlackError as e:
                if e.ambiguous:
                    raise
                warnings.append(f"I could not post the incident card (`{e.code}`).")
            else:
                async with self._db.transaction() as store:
                    incident = await store.update_fields(incident.id, self._clock(), card_ts=ts)
                self._metrics.incidents_opened.inc()  # channel created and card posted
        if incident.card_ts:
            try:
                await self._slack.pin(channel, incident.card_ts)
            except SlackError as e:
                warnings.append(f"I could not pin the incident card (`{e.code}`).")
        warnings += await self._announce(incident, state, level, recovering)
        async with self._db.transaction() as store:
            current = await store.lock(incident.id)  # as it is now: people may have changed it already
            held = await store.role_holders(incident.id)
        assert current is not None
        incident = current
        if incident.card_ts and (recovering or held or _shown(incident) != _shown(posted)):
            # Changed between the card being posted and its ts being stored (or while the setup was interrupted),
            # so that change could not update the card in place: bring the card up to date now.
            try:
                await self._slack.update_message(
                    channel, incident.card_ts, blocks.card_text(self._config, incident),
                    blocks.incident_card(self._config, incident, held),
                )  # fmt: skip
            except SlackError as e:
                warnings.append(f"I could not update the incident card (`{e.code}`).")
        if not state.opener_told:
            text = blocks.opened_text(incident, True, tuple(warnings))
            try:
                await (tell(text) if tell is not None else self._tell(state, incident, text))
            except SlackError as e:
                log.warning("could not tell %s that %s is open: %s", incident.opener_id, incident.public_id, e.code)
        async with self._db.transaction() as store:  # done: the response_url (a capability) is not kept
            await store.update_setup(incident.id, opener_told=True, setup_done=True, setup_owner=None, setup_reply=None)
        log.info("opened %s in #%s%s", incident.public_id, incident.channel_name, " (recovered)" if recovering else "")
        if self._incidents.pager is not None:  # the pages asked for at opening, now that the channel can be told
            await self._incidents.pager.send_unsent(incident.id)
        return Opened(incident, created=True, warnings=tuple(warnings))

    async def _check_still_mine(self, incident_id: int) -> None:
        """Before a step that must not happen twice: stop if another process has taken this setup over."""
        async with self._db.transaction() as store:
            state = await store.setup_state(incident_id)
        if state is None or state.owner != self._liveness.boot_id:
            raise TakenOver(str(incident_id))

    async def _load(self, incident_id: int) -> tuple[Incident, SetupState]:
        async with self._db.transaction() as store:
            incident = await store.get(incident_id)
            state = await store.setup_state(incident_id)
        if incident is None or state is None:
            raise UserError("That incident no longer exists.")
        return incident, state

    async def _ensure_channel(self, incident: Incident, state: SetupState, level: Severity) -> Incident:
        """Create the incident's channel, or adopt the one an earlier attempt created behind a lost answer."""
        names = list(
            channel_names(
                self._config.channel.name_template,
                year=incident.year,
                number=incident.number,
                title=incident.title,
                severity=level.name,
            )
        )
        if state.channel_intent in names:  # an earlier attempt got this far: start where it was
            names = names[names.index(state.channel_intent) :]
        channel: CreatedChannel | None = None
        for name in names:
            async with self._db.transaction() as store:
                await store.update_setup(incident.id, channel_intent=name)
            await self._check_still_mine(incident.id)
            channel = await self._create_or_adopt(incident, name)
            if channel is not None:
                break
        if channel is None:
            await self._discard(incident, "name_taken")
            raise UserError(
                f"I could not open the incident: {_CREATE_REFUSALS['name_taken']}. Nothing was created; try again "
                "once that is fixed."
            )
        now = self._clock()
        async with self._db.session() as session, session.begin():
            store = IncidentStore(session)
            incident = await store.update_fields(incident.id, now, channel_id=channel.id, channel_name=channel.name)
            await audit(store, incident, incident.opener_id, "channel_created", now, "channel", None, channel.name)
            await self._announce_channel(session, incident)
        self._channels.opened(incident)
        return incident

    @staticmethod
    async def _announce_channel(session: AsyncSession, incident: Incident) -> None:
        """In the transaction that records the incident's channel: every replica stops taking it for an ordinary
        channel when it commits (NOTIFY on PostgreSQL; see bot/storage/notify.py)."""
        assert incident.channel_id is not None
        await announce_channel(session, incident.team_id, incident.channel_id, incident.id)

    async def _create_or_adopt(self, incident: Incident, name: str) -> CreatedChannel | None:
        """The channel `name`, created now or found as the one an earlier attempt created; None if `name` belongs
        to someone else. Raises UserError (after a rollback) when Slack refuses, SlackError when it cannot tell."""
        try:
            return await self._slack.create_channel(name, private=self._config.channel.private)
        except SlackError as e:
            if not (e.code == "name_taken" or e.ambiguous):
                await self._discard(incident, e.code)
                reason = _CREATE_REFUSALS.get(e.code, f"Slack answered `{e.code}`")
                if e.code == "ratelimited":
                    reason = "Slack is rate limiting the app right now; try again in a minute"
                raise UserError(
                    f"I could not open the incident: {reason}. Nothing was created; try again once that is fixed."
                ) from e
            failure = e
        # Taken, or perhaps created by us just now although the answer was lost: is it the bot's, and free?
        found = await self._slack.bot_channel_named(name, private=self._config.channel.private)
        if found is not None:
            async with self._db.transaction() as store:
                owner = await store.get_by_channel(incident.team_id, found.id)
            if owner is None or owner.id == incident.id:
                log.info("adopting #%s, created for %s behind a lost answer", name, incident.public_id)
                return found
        if failure.code == "name_taken":
            return None
        raise failure  # ambiguous, and not there: it was not created; the reconciler tries again

    async def _announce(self, incident: Incident, state: SetupState, level: Severity, recovering: bool) -> list[str]:
        where = self._config.announcement_channel
        if not where or state.announcement_ts:
            return []
        if incident.may_be_private:  # a private incident's title is not for the whole workspace
            text = f":rotating_light: {incident.public_id} opened (private) — {blocks.escape(level.label)}."
        else:
            text = (
                f":rotating_light: {incident.public_id} opened: *{blocks.escape(incident.title)}* — "
                f"{blocks.escape(level.label)}, commander {blocks.mention(incident.commander_id)}. "
                f"Join <#{incident.channel_id}>."
            )
        tag = Tag("incident_announcement", incident.id)
        await self._check_still_mine(incident.id)
        try:
            if recovering:
                try:
                    found = await self._slack.find_tagged(where, tag)
                except SlackError as e:  # cannot look (not in that channel): better none than two
                    log.warning("cannot tell whether %s was announced (%s); not announcing", incident.public_id, e.code)
                    return []
                if found is not None:
                    return []
            ts = await self._slack.post_once(where, text, tag=tag)
        except SlackError as e:
            return [f"I could not announce it in <#{where}> (`{e.code}`)."]
        async with self._db.transaction() as store:
            await store.update_setup(incident.id, announcement_ts=ts)
        return []

    async def _discard(self, incident: Incident, code: str) -> None:
        """The channel cannot be created: remove the incident so nothing half-open remains; the audit keeps a note.
        The number is burnt (never handed out again)."""
        async with self._db.transaction() as store:
            await store.remove(incident.id)
            await store.audit(
                incident.team_id,
                None,
                AuditEntry(
                    actor_id=incident.opener_id,
                    action="open_failed",
                    at=self._clock(),
                    field="channel",
                    new_value=code,
                    public_id=incident.public_id,
                ),
            )

    async def _tell(self, state: SetupState, incident: Incident, text: str) -> None:
        """Tell the opener, where they asked: the slash command's response_url, or the modal they submitted; if that
        is gone (a form closed meanwhile), privately in the incident channel or where they opened it."""
        reply = json.loads(state.reply or "{}")
        user = incident.opener_id
        try:
            if reply.get("response_url"):
                await self._slack.respond(str(reply["response_url"]), text)
                return
            if reply.get("view_id"):
                await self._slack.update_view(str(reply["view_id"]), blocks.message_modal("Incident", text))
                return
        except SlackError as e:
            log.info("could not tell %s where they asked (%s); telling them privately instead", user, e.code)
        for channel in dict.fromkeys(c for c in (incident.channel_id, reply.get("origin")) if c):
            try:
                await self._slack.post_ephemeral(str(channel), user, text)
                return
            except SlackError as e:
                log.info("could not tell %s in %s: %s", user, channel, e.code)
        log.warning("could not tell %s how opening %s went", user, incident.public_id)

    # -- recovering what a crash left half-open --------------------------------------------------------------

    def start(self) -> None:
        """Reconcile now, then every `every` seconds (RECONCILE_SECONDS), until `close()`."""
        if self._task is None:
            self._task = asyncio.create_task(self._reconcile_forever(), name="open-reconciler")

    async def close(self, grace: float = 10.0) -> None:
        """Stop reconciling: a pass under way may finish (for up to `grace` s: a setup cut off between telling the
        opener and recording it would tell them twice after a restart); one not started never starts."""
        if self._task is not None:
            self._stopping.set()
            _, pending = await asyncio.wait({self._task}, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _reconcile_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling unfinished incidents failed; trying again later")
            # A process that looked gone is looked at again as soon as its absence can be confirmed.
            pause = min(self._every, self._liveness.confirm_seconds) if self._suspects else self._every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=pause)

    async def reconcile(self) -> int:
        """Finish (or roll back) every incident whose setup was interrupted and whose process is gone: released, or
        seen gone on two checks at least `confirm_seconds` apart. Returns how many it took over."""
        for incident_id in list(self._unreleased):
            await self._release(incident_id)
        async with self._db.transaction() as store:
            unfinished = await store.unfinished_setups()
        now = asyncio.get_running_loop().time()
        gone: set[str] = set()
        taken = 0
        for incident_id, owner in unfinished:
            if owner is not None:
                if owner == self._liveness.boot_id or await self._liveness.is_alive(owner):
                    continue  # being set up by a live process (this one included)
                first_seen = self._suspects.setdefault(owner, now)
                gone.add(owner)
                if now - first_seen < self._liveness.confirm_seconds:
                    continue  # perhaps only its lock's connection dropped: look again before taking over
            async with self._db.transaction() as store:
                attempt = await store.claim_setup(incident_id, owner, self._liveness.boot_id)
            if attempt is None:
                continue  # another process took it first
            taken += 1
            await self._finish(incident_id, attempt)
        self._suspects = {owner: seen for owner, seen in self._suspects.items() if owner in gone}
        return taken

    async def _finish(self, incident_id: int, attempt: int) -> None:
        try:
            incident, state = await self._load(incident_id)
        except UserError:
            return
        with acting_for(incident.team_id):  # its workspace's token (bot/acting.py): no request is behind this
            await self._finish_setup(incident_id, attempt, incident, state)

    async def _finish_setup(self, incident_id: int, attempt: int, incident: Incident, state: SetupState) -> None:
        try:
            if attempt > MAX_ATTEMPTS:
                await self._give_up(incident, state)  # a SlackError here: not known yet, tried again later
                return
            await self._set_up(incident_id, attempt=attempt)
        except UserError as e:  # rolled back: tell the opener why
            await self._tell(state, incident, f":warning: {e}")
        except TakenOver:
            log.info("another process took over opening %s", incident.public_id)
        except SlackError as e:
            log.warning("could not finish opening %s yet (%s); trying again later", incident.public_id, e.code)
            await self._release(incident_id)
        except Exception:
            log.exception("could not finish opening %s; trying again later", incident.public_id)
            with contextlib.suppress(Exception):
                await self._release(incident_id)

    async def _release(self, incident_id: int) -> None:
        """Let go of a setup this process cannot finish now, so that the reconciler (of any live process) does."""
        try:
            async with self._db.transaction() as store:
                await store.release_setup(incident_id, self._liveness.boot_id)
        except Exception:
            self._unreleased.add(incident_id)  # the reconciler lets go of it when the database answers again
            raise
        self._unreleased.discard(incident_id)

    async def _give_up(self, incident: Incident, state: SetupState) -> None:
        log.error("giving up opening %s after %d attempts", incident.public_id, MAX_ATTEMPTS)
        if incident.channel_id is None:
            # Remove it only if its channel surely does not exist (an earlier attempt may have created it).
            found = (
                await self._slack.bot_channel_named(state.channel_intent, private=self._config.channel.private)
                if state.channel_intent
                else None
            )
            if found is not None:
                async with self._db.session() as session, session.begin():
                    adopted = await IncidentStore(session).update_fields(
                        incident.id, self._clock(), channel_id=found.id, channel_name=found.name
                    )
                    await self._announce_channel(session, adopted)
                self._channels.opened(adopted)
                await self._set_up(incident.id, attempt=MAX_ATTEMPTS)
                return
            await self._discard(incident, "gave_up")
            await self._tell(
                state, incident, ":warning: I could not open the incident: Slack did not answer. Nothing was "
                "created; please try again."
            )  # fmt: skip
            return
        async with self._db.transaction() as store:
            await store.update_setup(incident.id, setup_done=True, setup_owner=None, opener_told=True, setup_reply=None)
        if self._incidents.pager is not None:
            await self._incidents.pager.send_unsent(incident.id)
        if not state.opener_told:
            await self._tell(state, incident, blocks.opened_text(incident, True, ("Setting it up failed.",)))


def _shown(incident: Incident) -> tuple[object, ...]:
    return (incident.status, incident.severity, incident.commander_id)
