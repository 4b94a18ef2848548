"""The timeline: capturing what is said and marked in incident channels, and reading it back.

`TimelineCapture.capture()` is the hot path: it runs for every message and reaction event before Slack gets its
answer, so it does the least that makes the capture durable (find the incident, parse, one group-committed
write) and leaves everything else (confirmations, fetching a message a reaction arrived before) to a task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from bot.config import Config, kind_label
from bot.domain.incident import Incident
from bot.domain.timeline import ChannelMessage, Marked, MessageEdited, TimelineEntry
from bot.metrics import Metrics
from bot.slack.events import CAPTURED_EVENTS, BadEvent, Dropped, channel_message, event_channel, to_capture
from bot.slack.gateway import SlackError, SlackGateway
from bot.slack.markup import to_markup
from bot.storage import AuditEntry, Database, NewEntry, TimelineWriter
from bot.storage.writer import BadCapture

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class IncidentChannels:
    """channel -> incident, for the hot path. Incident channels stay incident channels, so a hit is cached
    for good; a miss asks the database every time (another replica may have opened that incident a moment ago)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._known: dict[tuple[str, str], int] = {}

    def remember(self, incident: Incident) -> None:
        if incident.channel_id:
            self._known[(incident.team_id, incident.channel_id)] = incident.id

    async def incident_id(self, team_id: str, channel_id: str) -> int | None:
        found = self._known.get((team_id, channel_id))
        if found is not None:
            return found
        async with self._db.transaction() as store:
            incident = await store.get_by_channel(team_id, channel_id)
        if incident is None:
            return None
        self.remember(incident)
        return incident.id


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

    @staticmethod
    def wants(payload: dict[str, Any]) -> bool:
        """Is this an Events API payload the timeline captures (a message or a reaction)?"""
        event = payload.get("event")
        return (
            payload.get("type") == "event_callback" and isinstance(event, dict) and event.get("type") in CAPTURED_EVENTS
        )

    async def capture(self, payload: dict[str, Any]) -> None:
        """Store what the event means for the timeline; returns once it is committed. Raises if it could not be
        stored, so that the caller answers Slack with an error and Slack delivers it again."""
        event: dict[str, Any] = payload["event"]
        team_id = str(payload.get("team_id") or "")
        channel = event_channel(event)
        if not channel:
            return
        incident_id = await self._channels.incident_id(team_id, channel)
        if incident_id is None:
            return  # not an incident channel: nothing of it is kept
        me = await self._slack.identity()
        try:
            capture = to_capture(team_id, incident_id, event, me, self._config.timeline, utcnow())
            if capture is None:
                return
            changed = await self._writer.write(capture)
        except (BadEvent, BadCapture) as e:
            await self._drop(payload, str(e))
            raise Dropped(str(e)) from e
        if changed and isinstance(capture, Marked):
            self._background.spawn(lambda: self._after_mark(capture))
        elif isinstance(capture, ChannelMessage | MessageEdited):
            self._on_words(incident_id)  # new words: the root-cause suggestions re-rank (in the background)

    async def _drop(self, payload: dict[str, Any], reason: str) -> None:
        """Record a signed event that can never be stored (raises if even that cannot be stored: Slack retries)."""
        log.warning("dropped event %s: %s", payload.get("event_id"), reason)
        self._metrics.dropped.labels(reason=reason.split(":", 1)[0]).inc()
        async with self._db.timeline() as store:
            await store.record_dropped(
                team_id=str(payload.get("team_id") or ""),
                event_id=str(payload.get("event_id") or ""),
                reason=reason,
                excerpt=json.dumps(payload, ensure_ascii=False, default=str),
                at=utcnow(),
            )

    async def _after_mark(self, mark: Marked) -> None:
        async with self._db.timeline() as store:
            known = await store.has_message(mark.channel_id, mark.ts)
        if not known:
            # The reaction came before its message (or the message predates the bot): ask Slack for it.
            found = await self._slack.fetch_message(mark.channel_id, mark.ts)
            if found is not None:
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


class TimelineService:
    """The timeline read back, in order: marked messages, notes, shortcut entries and the bot's own changes."""

    def __init__(self, config: Config, db: Database, slack: SlackGateway, *, look_up_names: bool = True) -> None:
        self._look_up_names = look_up_names  # False: names only from what is stored (offline tools)
        self._config = config
        self._db = db
        self._slack = slack
        self._names: dict[tuple[str, str], str] = {}

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
        system = [e for e in (_system_entry(self._config, a) for a in trail) if e is not None]
        everything = sorted([*marked, *added, *system], key=lambda e: (e.at, e.ts or ""))
        return await self._named(incident.team_id, everything)

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
}


def _system_entry(config: Config, audit: AuditEntry) -> TimelineEntry | None:
    template = _SYSTEM_ACTIONS.get(audit.action)
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
    return TimelineEntry(at=audit.at, kinds=("system",), source="system", text=text, author_id=audit.actor_id)


def _label(config: Config, severity: str) -> str:
    level = config.severity(severity)
    return level.label if level else severity
