"""The timeline: capturing what is said and marked in incident channels, and reading it back.

`TimelineCapture.capture()` is the hot path: it runs for every message and reaction event before Slack gets its
answer, so it does the least that makes the capture durable (find the incident, parse, one group-committed
write) and leaves everything else (confirmations, fetching a message a reaction arrived before) to a task.

The same fast path answers, before Slack gets its answer, what Slack sends about the app and the channels
rather than about what was said: `app_rate_limited` (logged and counted), `tokens_revoked` / `app_uninstalled` (the
bot is no longer ready: `lost_access`), and a channel renamed or archived (noted on its incident's timeline, the
incident's channel name kept current).

It is bounded: whatever the database or Slack does, it is over within `CAPTURE_SECONDS` (Slack gives up on a
request after 3 s), stored or failed (and then Slack is answered 503 and delivers the event again). Every await on
it can be cut off at once: the channel lookup and the record of a dropped event run in tasks of their own (a
database driver cut off mid-call can take far longer to clean up than Slack waits: an aiosqlite thread waiting on
a locked file, for one), the write waits on the group-committing writer's future, and the bot's identity is never
asked for here (it is known from start, or the event is refused at once).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Coroutine, Hashable
from datetime import UTC, datetime
from typing import Any, TypeVar

from bot.config import Config, kind_label
from bot.domain.incident import Incident
from bot.domain.timeline import ChannelMessage, Marked, MessageDeleted, MessageEdited, TimelineEntry, ts_to_datetime
from bot.metrics import Metrics
from bot.slack.events import (
    ACCESS_EVENTS,
    CAPTURED_EVENTS,
    CHANNEL_EVENTS,
    TOMBSTONE,
    BadEvent,
    ChannelArchived,
    ChannelRenamed,
    Dropped,
    access_lost,
    channel_change,
    channel_message,
    event_channel,
    to_capture,
)
from bot.slack.gateway import IdentityUnknown, SlackError, SlackGateway
from bot.slack.http import CAPTURE_SECONDS
from bot.slack.markup import to_markup
from bot.slack.teams import team_of
from bot.storage import AuditEntry, Database, NewEntry, TimelineWriter
from bot.storage.notify import open_channel_watch
from bot.storage.writer import BadCapture

from .incidents import audit
from .updates import timeline_text as update_line

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


LOOKUP_SECONDS = 2.5  # one channel lookup, however many events wait for it
MISS_SECONDS = 2.0  # how long "not an incident channel" is believed at most (see bot/storage/notify.py)
MAX_MISSES = 10_000

_T = TypeVar("_T")
_FAST_EVENTS = CAPTURED_EVENTS | CHANNEL_EVENTS | ACCESS_EVENTS


class IncidentChannels:
    """channel -> incident, for the hot path.

    An incident channel stays one, so a hit is cached for good. "Not an incident channel" is cached too, but never
    hides a channel that this or another replica has just opened: this replica's openings are remembered at once
    (`opened`); another replica's are heard of through the channel watch (bot/storage/notify.py: NOTIFY on
    PostgreSQL, a shared file on SQLite), a miss is believed only while the watch's stamp is the one taken before
    its lookup, and only for MISS_SECONDS at most whatever the watch says. A lookup is shared by every event of that
    channel that waits for it, runs in a task of its own and is given up after LOOKUP_SECONDS."""

    def __init__(self, db: Database, *, miss_seconds: float = MISS_SECONDS) -> None:
        self._db = db
        self._miss_seconds = miss_seconds
        self._known: dict[tuple[str, str], int] = {}
        self._misses: dict[tuple[str, str], tuple[float, Hashable]] = {}  # -> (believed until, the watch's stamp)
        self._lookups: dict[tuple[str, str], asyncio.Task[int | None]] = {}
        self._epoch = 0  # moves whenever misses are forgotten: a lookup that overlapped that caches no miss
        self._watch = open_channel_watch(db.url, self._heard, self.forget_misses)

    async def start(self) -> None:
        """Listen to the other replicas (PostgreSQL); until then no miss is cached."""
        await self._watch.start()

    async def close(self) -> None:
        lookups = list(self._lookups.values())
        self._lookups.clear()
        for task in lookups:
            task.cancel()
        if lookups:  # a driver stuck on a dead connection is not waited for long
            await asyncio.wait(lookups, timeout=1.0)
        await self._watch.close()

    def remember(self, incident: Incident) -> None:
        if incident.channel_id:
            key = (incident.team_id, incident.channel_id)
            self._known[key] = incident.id
            self._misses.pop(key, None)

    def opened(self, incident: Incident) -> None:
        """This replica has just committed the incident's channel (and announced it to the others)."""
        self.remember(incident)
        self._epoch += 1
        if incident.channel_id:
            self._watch.opened(incident.team_id, incident.channel_id, incident.id)

    def _heard(self, team_id: str, channel_id: str, incident_id: int) -> None:
        """Another replica has committed this incident channel."""
        key = (team_id, channel_id)
        self._known[key] = incident_id
        self._misses.pop(key, None)
        self._epoch += 1

    def forget_misses(self) -> None:
        self._misses.clear()
        self._epoch += 1

    async def incident_id(self, team_id: str, channel_id: str) -> int | None:
        key = (team_id, channel_id)
        found = self._known.get(key)
        if found is not None:
            return found
        miss = self._misses.get(key)
        if miss is not None:
            if miss[0] > asyncio.get_running_loop().time() and miss[1] == self._watch.stamp():
                return None
            del self._misses[key]
        task = self._lookups.get(key)
        if task is None or task.cancelling():  # none, or one given up on (it may take a while to clean up)
            task = asyncio.create_task(self._look_up(key), name="channel-lookup")
            task.add_done_callback(_retrieved)
            self._lookups[key] = task
        return await asyncio.shield(task)  # a caller cut off by its deadline leaves it to the others

    async def _look_up(self, key: tuple[str, str]) -> int | None:
        epoch, stamp = self._epoch, self._watch.stamp()
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                async with self._db.transaction() as store:
                    incident = await store.get_by_channel(*key)
        finally:
            if self._lookups.get(key) is asyncio.current_task():
                del self._lookups[key]
        if incident is not None:
            self.remember(incident)
            return incident.id
        if key in self._known:  # heard of while looking
            return self._known[key]
        if stamp is not None and epoch == self._epoch and stamp == self._watch.stamp():
            if len(self._misses) >= MAX_MISSES:
                self._forget_expired()
            self._misses[key] = (asyncio.get_running_loop().time() + self._miss_seconds, stamp)
        return None

    def _forget_expired(self) -> None:
        now = asyncio.get_running_loop().time()
        self._misses = {k: v for k, v in self._misses.items() if v[0] > now}
        if len(self._misses) >= MAX_MISSES:
            self._misses.clear()


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A lookup whose callers all gave up still has its failure read (no "exception never retrieved")."""
    if not task.cancelled():
        task.exception()


async def _in_own_task(work: Coroutine[Any, Any, _T]) -> _T:
    """Await `work` in a task of its own: cut off (by the caller's deadline), it is cancelled and left to clean up
    on its own, so the caller is never held up by a driver that cannot be interrupted at once."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        task.add_done_callback(_retrieved)
        raise


class Background:
    """Tasks that run after Slack has its answer; kept so that they finish before the bot closes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = asyncio.create_task(self._guarded(make))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await make()
        except Exception:
            log.exception("background work after a Slack request failed")

    async def drained(self, within: float) -> bool:
        if not self._tasks:
            return True
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        return not pending


class TimelineCapture:
    def __init__(
        self,
        config: Config,
        channels: IncidentChannels,
        writer: TimelineWriter,
        slack: SlackGateway,
        db: Database,
        background: Background,
        metrics: Metrics,
        on_words: Callable[[int], None] = lambda incident_id: None,
    ) -> None:
        self._metrics = metrics
        self._on_words = on_words
        self._config = config
        self._channels = channels
        self._writer = writer
        self._slack = slack
        self._db = db
        self._background = background
        self.lost_access: str | None = None  # why the bot can no longer act in its workspace (tokens_revoked, ...)

    @staticmethod
    def wants(payload: dict[str, Any]) -> bool:
        """Is this a payload the fast path answers: a message or a reaction the timeline captures, a channel renamed
        or archived, the bot's access lost, or Slack's `app_rate_limited` (which has no `event`)?"""
        if payload.get("type") == "app_rate_limited":
            return True
        event = payload.get("event")
        return payload.get("type") == "event_callback" and isinstance(event, dict) and event.get("type") in _FAST_EVENTS

    async def capture(self, payload: dict[str, Any], *, deadline: float | None = None) -> None:
        """Store what the event means for the timeline; returns once it is committed. Raises if it could not be
        stored (TimeoutError if that was not known by `deadline`, a loop time: CAPTURE_SECONDS from now unless
        given), so that the caller answers Slack with an error and Slack delivers it again."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + CAPTURE_SECONDS
        async with asyncio.timeout_at(deadline):
            await self._capture(payload)

    async def _capture(self, payload: dict[str, Any]) -> None:
        if payload.get("type") == "app_rate_limited":
            self._rate_limited(payload)
            return
        event: dict[str, Any] = payload["event"]
        team_id = team_of(payload) or ""  # the front door's rule (bot/slack/teams.py)
        if event.get("type") in ACCESS_EVENTS:
            self._access_lost(team_id, event)
            return
        if event.get("type") in CHANNEL_EVENTS:
            await self._channel_changed(team_id, payload, event)
            return
        channel = event_channel(event)
        if not channel:
            return
        incident_id = await self._channels.incident_id(team_id, channel)
        if incident_id is None:
            return  # not an incident channel: nothing of it is kept
        me = self._slack.me
        if me is None:  # the front door refuses events before this is known; never asked for here
            raise IdentityUnknown()
        try:
            capture = to_capture(team_id, incident_id, event, me, self._config.timeline, utcnow())
            if capture is None:
                return
            changed = await self._writer.write(capture)
        except (BadEvent, BadCapture) as e:
            await _in_own_task(self._drop(payload, str(e)))
            raise Dropped(str(e)) from e
        if changed and isinstance(capture, Marked):
            self._background.spawn(lambda: self._after_mark(capture))
        elif isinstance(capture, ChannelMessage | MessageEdited | MessageDeleted):
            self._on_words(incident_id)  # words said or taken back: the root-cause suggestions re-rank (later)

    def _rate_limited(self, payload: dict[str, Any]) -> None:
        """Slack is dropping this app's events of the workspace (more than 30,000 in an hour): nothing to store, but
        operators must know, since what it drops is never delivered again. Answered 200: a non-2xx answer counts
        towards the failure rate at which Slack turns an app's event subscriptions off."""
        self._metrics.slack_app_events.labels(type="app_rate_limited").inc()
        log.warning(
            "Slack sent app_rate_limited for workspace %s (minute %s): it is dropping this app's events (over "
            "30,000 an hour); messages and reactions of that time may be missing from incident timelines",
            team_of(payload),
            payload.get("minute_rate_limited"),
        )

    def _access_lost(self, team_id: str, event: dict[str, Any]) -> None:
        """The bot's token was revoked or the app uninstalled: it can do nothing more in the workspace. Said loudly
        and on /healthz (not ready), so that someone reinstalls it; a restart with the old token stops at once."""
        me = self._slack.me
        if me is None:
            raise IdentityUnknown()
        self._metrics.slack_app_events.labels(type=str(event.get("type"))).inc()
        why = access_lost(event, me)
        if why is None:
            log.info("Slack revoked tokens in workspace %s that are not the bot's", team_id)
            return
        if self.lost_access is None or event.get("type") == "app_uninstalled":  # (the two come in any order)
            self.lost_access = why
        log.error(
            "%s, workspace %s: the bot can no longer act there. Reinstall the app, set SLACK_BOT_TOKEN to its new "
            "token and restart.",
            why,
            team_id,
        )

    async def _channel_changed(self, team_id: str, payload: dict[str, Any], event: dict[str, Any]) -> None:
        """An incident channel renamed or archived: noted on the timeline (once, whatever Slack delivers again) and
        the incident's channel name kept current. Channels that are no incident's are nothing to the bot."""
        try:
            change = channel_change(event)
        except BadEvent as e:
            await _in_own_task(self._drop(payload, str(e)))
            raise Dropped(str(e)) from e
        incident_id = await self._channels.incident_id(team_id, change.channel_id)
        if incident_id is None:
            return
        event_ts = event.get("event_ts")
        try:
            at = ts_to_datetime(str(event_ts)) if event_ts else utcnow()
        except (ValueError, OverflowError):
            at = utcnow()
        event_id = payload.get("event_id")
        await _in_own_task(self._note_channel_change(incident_id, change, str(event_id) if event_id else None, at))

    async def _note_channel_change(
        self, incident_id: int, change: ChannelRenamed | ChannelArchived, event_id: str | None, at: datetime
    ) -> None:
        async with self._db.transaction() as store:
            incident = await store.lock(incident_id)
            if incident is None:
                return
            if event_id is not None and not await store.claim_request(incident.team_id, f"event:{event_id}", at):
                return  # delivered again: noted the first time
            if isinstance(change, ChannelRenamed):
                if incident.channel_name == change.name:
                    return
                await store.update_fields(incident.id, at, channel_name=change.name)
                await audit(
                    store, incident, "", "channel_renamed", at, "channel_name", incident.channel_name, change.name
                )
            else:
                me = self._slack.me
                if me is not None and change.user_id == me.user_id:
                    return  # the bot archived it (bot/services/archiving.py), and noted it then
                await audit(store, incident, change.user_id or "", "channel_archived", at)
        log.info("%s: channel %s", incident.public_id, "renamed" if isinstance(change, ChannelRenamed) else "archived")

    async def _drop(self, payload: dict[str, Any], reason: str) -> None:
        """Record a signed event that can never be stored (raises if even that cannot be stored: Slack retries)."""
        log.warning("dropped event %s: %s", payload.get("event_id"), reason)
        self._metrics.dropped.labels(reason=reason.split(":", 1)[0]).inc()
        async with self._db.timeline() as store:
            await store.record_dropped(
                team_id=team_of(payload) or "",
                event_id=str(payload.get("event_id") or ""),
                reason=reason,
                excerpt=json.dumps(payload, ensure_ascii=False, default=str),
                at=utcnow(),
            )

    async def _after_mark(self, mark: Marked) -> None:
        async with self._db.timeline() as store:
            known = await store.has_message(mark.channel_id, mark.ts)
        if not known:
            # The reaction came before its message (or the message predates the bot): ask Slack for it. (A tombstone
            # says nothing of what its deleted message said: nothing to store.)
            found = await self._slack.fetch_message(mark.channel_id, mark.ts)
            if found is not None and found.get("subtype") != TOMBSTONE:
                await self._writer.write(channel_message(mark.team_id, mark.incident_id, mark.channel_id, found))
        confirm = self._config.timeline.confirm
        try:
            if confirm == "ephemeral":
                await self._slack.post_ephemeral(
                    mark.channel_id,
                    mark.user_id,
                    f":{mark.reaction}: Marked as *{kind_label(mark.kind)}* on the incident timeline. "
                    f"Remove the reaction to unmark it.",
                )
            elif confirm == "reaction":
                await self._slack.react(mark.channel_id, mark.ts, self._config.timeline.confirm_reaction)
        except SlackError as e:
            log.info("could not confirm a timeline mark: %s", e.code)


LOOK_UPS = 5  # marked messages not captured yet that one read of the timeline asks Slack for


class TimelineService:
    """The timeline read back, in order: marked messages, notes, shortcut entries and the bot's own changes."""

    def __init__(self, config: Config, db: Database, slack: SlackGateway, *, look_up_names: bool = True) -> None:
        self._look_up_names = look_up_names  # False: Slack is asked nothing, names only from what is stored (offline)
        self._config = config
        self._db = db
        self._slack = slack
        self._names: dict[tuple[str, str], str] = {}
        self._gone: set[tuple[str, str]] = set()  # marked messages Slack did not have (deleted, out of reach)

    async def add_note(self, incident: Incident, author: str, text: str, request_key: str | None) -> bool:
        async with self._db.timeline() as store:
            return await store.add_entry(
                NewEntry(
                    team_id=incident.team_id,
                    incident_id=incident.id,
                    kind="note",
                    source="note",
                    text=text,
                    added_by=author,
                    author_id=author,
                    at=utcnow(),
                    request_key=request_key,
                )
            )

    async def add_message(
        self,
        incident: Incident,
        *,
        kind: str,
        added_by: str,
        author_id: str | None,
        text: str,
        channel_id: str,
        ts: str,
        request_key: str,
    ) -> bool:
        """A message added with the shortcut, from any channel (its permalink is kept when Slack gives one)."""
        try:
            permalink: str | None = await self._slack.permalink(channel_id, ts)
        except SlackError:
            permalink = None
        async with self._db.timeline() as store:
            return await store.add_entry(
                NewEntry(
                    team_id=incident.team_id,
                    incident_id=incident.id,
                    kind=kind,
                    source="shortcut",
                    text=text,
                    added_by=added_by,
                    author_id=author_id,
                    channel_id=channel_id,
                    message_ts=ts,
                    permalink=permalink,
                    at=ts_to_datetime_or_now(ts),
                    request_key=request_key,
                )
            )

    async def entries(self, incident: Incident) -> list[TimelineEntry]:
        """The whole timeline, oldest first, with authors named."""
        async with self._db.timeline() as store:
            marked = await store.marked_messages(incident.id)
            added = await store.entries(incident.id)
        async with self._db.transaction() as incidents:
            trail = await incidents.audit_trail(incident.team_id, incident.id)
            updates = await incidents.updates(incident.id)
        system = [e for e in (_system_entry(self._config, a) for a in trail) if e is not None]
        posted = [
            TimelineEntry(
                at=u.posted_at,
                kinds=("update",),
                source="update",
                text=update_line(self._config, u),
                author_id=u.author_id,
                channel_id=incident.channel_id if u.message_ts else None,
                ts=u.message_ts,
            )
            for u in updates
        ]
        marked = await self._not_yet_captured(incident, marked)
        everything = sorted([*marked, *added, *system, *posted], key=lambda e: (e.at, e.ts or ""))
        return await self._named(incident.team_id, everything)

    async def _not_yet_captured(self, incident: Incident, marked: list[TimelineEntry]) -> list[TimelineEntry]:
        """Marked messages whose own event has not arrived yet (Slack promises no order, and the mark's own look-up
        may still be under way) are asked of Slack, so that the timeline and the report show their words. Nothing
        is stored here: the message event, or the mark's look-up, does that. One Slack did not have is not asked
        for again; offline tools ask Slack nothing."""
        if not self._look_up_names:
            return marked
        filled: list[TimelineEntry] = []
        asked = 0
        for entry in marked:
            uncaptured = not entry.text and not entry.files and entry.author_id is None and entry.author_name is None
            key = (entry.channel_id or "", entry.ts or "")
            if uncaptured and all(key) and key not in self._gone and asked < LOOK_UPS:
                asked += 1
                try:
                    found = await self._slack.fetch_message(*key)
                except SlackError as e:
                    log.info("could not look up marked message %s/%s: %s", *key, e.code)
                    found = None
                else:
                    if found is None:
                        self._gone.add(key)
                if found is not None:
                    message = channel_message(incident.team_id, incident.id, key[0], found)
                    entry = _replace(
                        entry,
                        at=message.posted_at,
                        text=message.text,
                        author_id=message.user_id,
                        author_name=message.author_name,
                        files=message.files,
                    )
            filled.append(entry)
        return filled

    async def with_permalinks(self, entries: list[TimelineEntry]) -> list[TimelineEntry]:
        """Fill in links to messages that lack one: asked of Slack once per message, then kept (one write)."""
        found: dict[tuple[str, str], str] = {}
        for entry in entries:
            if entry.permalink is None and entry.channel_id and entry.ts and entry.source == "message":
                try:
                    found[(entry.channel_id, entry.ts)] = await self._slack.permalink(entry.channel_id, entry.ts)
                except SlackError as e:
                    log.info("no permalink for %s/%s: %s", entry.channel_id, entry.ts, e.code)
        if not found:
            return entries
        async with self._db.timeline() as store:
            for (channel_id, ts), link in found.items():
                await store.set_permalink(channel_id, ts, link)
        return [
            _replace(e, permalink=found[(e.channel_id, e.ts)])
            if e.channel_id and e.ts and (e.channel_id, e.ts) in found
            else e
            for e in entries
        ]

    async def _named(self, team_id: str, entries: list[TimelineEntry]) -> list[TimelineEntry]:
        wanted = {e.author_id for e in entries if e.author_id and not e.author_name}
        names = await self.names(team_id, wanted)
        return [
            _replace(e, author_name=names.get(e.author_id, e.author_id)) if e.author_id and not e.author_name else e
            for e in entries
        ]

    async def names(self, team_id: str, user_ids: set[str]) -> dict[str, str]:
        """Display names: from memory, then the database, then users.info (remembered in both)."""
        names = {u: self._names[(team_id, u)] for u in user_ids if (team_id, u) in self._names}
        missing = user_ids - names.keys()
        if missing:
            async with self._db.timeline() as store:
                names.update(await store.people(team_id, missing))
            looked_up = []
            for user in sorted(missing - names.keys()) if self._look_up_names else ():
                try:
                    looked_up.append(await self._slack.person(user))
                except SlackError as e:
                    log.info("could not look up %s: %s", user, e.code)
            if looked_up:
                async with self._db.timeline() as store:  # one write for all of them
                    for person in looked_up:
                        await store.remember_person(team_id, person.id, person.name, person.is_bot, utcnow())
                names.update({person.id: person.name for person in looked_up})
            for user, name in names.items():
                self._names[(team_id, user)] = name
        return names


def ts_to_datetime_or_now(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC)
    except ValueError:
        return utcnow()


def _replace(entry: TimelineEntry, **changes: Any) -> TimelineEntry:
    return dataclasses.replace(entry, **changes)


_SYSTEM_ACTIONS = {
    "opened": "Incident opened: {new}",
    "severity_changed": "Severity changed from {old} to {new}",
    "commander_changed": "Commander changed to <@{new}>",
    "status_changed": "Status changed from {old} to {new}",
    "root_cause_accepted": "Root cause accepted: {new}",
    "channel_renamed": "Channel renamed from #{old} to #{new}",
    "channel_archived": "Channel archived",
    "archive_waiting": "Archiving the channel waits for {new}",
    "archive_refused": "Slack refused to archive the channel: {new}",
    "followup_added": "Follow-up added: {new}",
    "followup_done": "Follow-up done: {new}",
    "paged": "Paged {new}",
    "page_failed": "Paging failed: {new}",
    "page_resolved": "Page resolved: {new}",
    "page_resolve_failed": "Resolving a page failed: {new}",
}


def _role_entry(config: Config, audit: AuditEntry) -> str:
    """`role_assigned`: field is the role's name, old and new the holders (user IDs; none when cleared)."""
    role = config.role(audit.field or "")
    label = to_markup(role.label if role else audit.field or "a role")
    if audit.new_value:
        return f"{label}: <@{audit.new_value}>" + (f" (was <@{audit.old_value}>)" if audit.old_value else "")
    return f"{label} cleared" + (f" (was <@{audit.old_value}>)" if audit.old_value else "")


def _system_entry(config: Config, audit: AuditEntry) -> TimelineEntry | None:
    template = _SYSTEM_ACTIONS.get(audit.action)
    if audit.action == "role_assigned":
        return TimelineEntry(
            at=audit.at, kinds=("system",), source="system", text=_role_entry(config, audit), author_id=audit.actor_id
        )
    if template is None:
        return None
    old, new = audit.old_value or "", audit.new_value or ""
    if audit.action == "severity_changed":
        old, new = _label(config, old), _label(config, new)
    elif audit.action == "status_changed":
        old, new = old.capitalize(), new.capitalize()
    if audit.action != "commander_changed":  # the others hold plain text (a title, a label): in Slack markup here
        old, new = to_markup(old), to_markup(new)
    text = template.format(old=old, new=new)
    if not audit.actor_id:  # Slack did not say who (a channel renamed): it is not the bot's doing either
        return TimelineEntry(at=audit.at, kinds=("system",), source="system", text=text, author_name="Slack")
    return TimelineEntry(at=audit.at, kinds=("system",), source="system", text=text, author_id=audit.actor_id)


def _label(config: Config, severity: str) -> str:
    level = config.severity(severity)
    return level.label if level else severity
