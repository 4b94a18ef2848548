"""Reading the timeline back, notes and shortcut entries, and the people cache."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.timeline import Attachment, TimelineEntry

from .dialect import upsert
from .tables import DroppedEventRow, MarkRow, MessageRow, PersonRow, TimelineEntryRow


@dataclass(frozen=True, slots=True)
class NewEntry:
    team_id: str
    incident_id: int
    kind: str
    source: str  # note | shortcut
    text: str
    added_by: str
    at: datetime
    author_id: str | None = None
    channel_id: str | None = None
    message_ts: str | None = None
    permalink: str | None = None
    request_key: str | None = None


@dataclass(frozen=True, slots=True)
class Said:
    """A change to what was said in an incident: a message (new, edited or deleted) or a note, at a revision."""

    key: str  # "channel/ts" for a message, "entry/id" for a note or a shortcut entry
    at: datetime
    text: str
    gone: bool  # deleted
    revision: int


@dataclass(frozen=True, slots=True)
class Seen:
    """How far an incident's conversation was read: the largest revision of each table."""

    messages: int = 0
    entries: int = 0


def _files(raw: str | None) -> tuple[Attachment, ...]:
    if not raw:
        return ()
    return tuple(Attachment(name=f["name"], type=f["type"], permalink=f.get("permalink")) for f in json.loads(raw))


# The message subtypes that are what someone said: a person's message (no subtype), a /me message, a file shared
# with a comment, a thread reply also sent to the channel, an integration's message. Every other subtype is a notice
# Slack writes itself about the channel (channel_join, channel_topic, channel_purpose, channel_name, pinned_item,
# bot_add, reminder_add, channel_archive, huddle_thread, ...): kept in the record, but no message of anyone's. An
# allow-list, so that a notice Slack adds tomorrow is not read as what a responder said.
SAID_SUBTYPES = frozenset({"me_message", "file_share", "thread_broadcast", "reply_broadcast", "bot_message"})


def says_something(subtype: str | None) -> bool:
    """Is a message of this subtype what someone said (not a notice Slack wrote about the channel)?"""
    return subtype is None or subtype in SAID_SUBTYPES


class TimelineStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record_dropped(
        self, *, team_id: str | None, event_id: str | None, reason: str, excerpt: str, at: datetime
    ) -> None:
        """A signed event that can never be stored, kept with why (and what it said, cut to 4,000 characters)."""
        self._session.add(
            DroppedEventRow(
                team_id=(team_id or "")[:32] or None,
                event_id=(event_id or "")[:64] or None,
                reason=reason[:255],
                excerpt=excerpt[:4000],
                dropped_at=at,
            )
        )
        await self._session.flush()

    async def dropped(self) -> list[tuple[str | None, str]]:
        """(event id, reason) of every dropped event, oldest first."""
        rows = await self._session.execute(
            select(DroppedEventRow.event_id, DroppedEventRow.reason).order_by(DroppedEventRow.id)
        )
        return [(e, r) for e, r in rows.all()]

    async def has_message(self, channel_id: str, ts: str) -> bool:
        found = await self._session.scalar(
            select(MessageRow.id).where(MessageRow.channel_id == channel_id, MessageRow.ts == ts)
        )
        return found is not None

    async def said_since(self, incident_id: int, seen: Seen, limit: int = 5000) -> tuple[list[Said], Seen]:
        """What was said, edited or deleted in the incident after `seen` (at most `limit` rows of each table, in
        revision order), and how far that reads. Revisions grow in commit order (migration 0006), so reading on
        from the returned `Seen` misses nothing, on any replica."""
        rows = await self._session.execute(
            select(
                MessageRow.channel_id,
                MessageRow.ts,
                MessageRow.posted_at,
                MessageRow.text,
                MessageRow.deleted_at,
                MessageRow.revision,
                MessageRow.subtype,
            )
            .where(MessageRow.incident_id == incident_id, MessageRow.revision > seen.messages)
            .order_by(MessageRow.revision)
            .limit(limit)
        )
        said = [
            # Slack's own notices ("<@U1> has joined the channel") are kept in the record but say nothing: to the
            # engine they are no message at all (an empty text is not a turn of the conversation).
            Said(
                f"{channel}/{ts}",
                posted_at,
                (text or "") if says_something(subtype) else "",
                deleted_at is not None,
                revision,
            )
            for channel, ts, posted_at, text, deleted_at, revision, subtype in rows
        ]
        messages = said[-1].revision if said else seen.messages
        entry_rows = await self._session.execute(
            select(TimelineEntryRow.id, TimelineEntryRow.at, TimelineEntryRow.text, TimelineEntryRow.revision)
            .where(TimelineEntryRow.incident_id == incident_id, TimelineEntryRow.revision > seen.entries)
            .order_by(TimelineEntryRow.revision)
            .limit(limit)
        )
        entries = [Said(f"entry/{id_}", at, text or "", False, revision) for id_, at, text, revision in entry_rows]
        return said + entries, Seen(messages, entries[-1].revision if entries else seen.entries)

    async def message_count(self, incident_id: int) -> int:
        count = await self._session.scalar(
            select(func.count()).select_from(MessageRow).where(MessageRow.incident_id == incident_id)
        )
        return int(count or 0)

    async def messages(self, incident_id: int) -> list[TimelineEntry]:
        """Every captured message, oldest first (marked or not), with the kinds it is marked with."""
        return await self._message_entries(incident_id, marked_only=False)

    async def marked_messages(self, incident_id: int) -> list[TimelineEntry]:
        return await self._message_entries(incident_id, marked_only=True)

    async def _message_entries(self, incident_id: int, *, marked_only: bool) -> list[TimelineEntry]:
        marks: dict[tuple[str, str], list[str]] = defaultdict(list)
        mark_rows = await self._session.execute(
            select(MarkRow.channel_id, MarkRow.ts, MarkRow.kind, MarkRow.marked_at)
            .where(MarkRow.incident_id == incident_id, MarkRow.removed_at.is_(None))
            .order_by(MarkRow.id)
        )
        first_marked: dict[tuple[str, str], datetime] = {}
        for channel_id, ts, kind, marked_at in mark_rows:
            if kind not in marks[(channel_id, ts)]:
                marks[(channel_id, ts)].append(kind)
            first_marked.setdefault((channel_id, ts), marked_at)
        rows = await self._session.scalars(
            select(MessageRow)
            .where(MessageRow.incident_id == incident_id)
            .order_by(MessageRow.posted_at, MessageRow.ts)
        )
        entries: list[TimelineEntry] = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            key = (row.channel_id, row.ts)
            seen.add(key)
            if marked_only and key not in marks:
                continue
            entries.append(
                TimelineEntry(
                    at=row.posted_at,
                    kinds=tuple(marks.get(key, ())),
                    source="message",
                    text=row.text,
                    author_id=row.user_id,
                    author_name=row.author_name,
                    channel_id=row.channel_id,
                    ts=row.ts,
                    permalink=row.permalink,
                    edited=row.edited_ts is not None,
                    deleted=row.deleted_at is not None,
                    original_text=row.original_text,
                    files=_files(row.files),
                )
            )
        # Marks on messages that never reached us (posted before the bot joined, or still being fetched).
        for (channel_id, ts), kinds in marks.items():
            if (channel_id, ts) not in seen:
                entries.append(
                    TimelineEntry(
                        at=first_marked[(channel_id, ts)],
                        kinds=tuple(kinds),
                        source="message",
                        text="",
                        channel_id=channel_id,
                        ts=ts,
                    )
                )
        return sorted(entries, key=lambda e: (e.at, e.ts or ""))

    async def set_permalink(self, channel_id: str, ts: str, permalink: str) -> None:
        await self._session.execute(
            update(MessageRow)
            .where(MessageRow.channel_id == channel_id, MessageRow.ts == ts)
            .values(permalink=permalink)
        )

    async def add_entry(self, entry: NewEntry) -> bool:
        """False when an entry with the same request key exists already (a redelivered command)."""
        result = await self._session.execute(
            upsert(self._session, TimelineEntryRow)
            .values(
                team_id=entry.team_id,
                incident_id=entry.incident_id,
                kind=entry.kind,
                source=entry.source,
                author_id=entry.author_id,
                added_by=entry.added_by,
                text=entry.text,
                channel_id=entry.channel_id,
                message_ts=entry.message_ts,
                permalink=entry.permalink,
                at=entry.at,
                request_key=entry.request_key,
            )
            .on_conflict_do_nothing(index_elements=["incident_id", "request_key"])
            .returning(TimelineEntryRow.id)
        )
        return result.first() is not None

    async def entries(self, incident_id: int) -> list[TimelineEntry]:
        rows = await self._session.scalars(
            select(TimelineEntryRow).where(TimelineEntryRow.incident_id == incident_id).order_by(TimelineEntryRow.at)
        )
        return [
            TimelineEntry(
                at=r.at,
                kinds=(r.kind,),
                source=r.source,
                text=r.text,
                author_id=r.author_id or r.added_by,
                channel_id=r.channel_id,
                ts=r.message_ts,
                permalink=r.permalink,
            )
            for r in rows
        ]

    async def people(self, team_id: str, user_ids: set[str]) -> dict[str, str]:
        if not user_ids:
            return {}
        rows = await self._session.execute(
            select(PersonRow.user_id, PersonRow.name).where(
                PersonRow.team_id == team_id, PersonRow.user_id.in_(user_ids)
            )
        )
        return {str(user_id): str(name) for user_id, name in rows}

    async def remember_person(self, team_id: str, user_id: str, name: str, is_bot: bool, at: datetime) -> None:
        stmt = upsert(self._session, PersonRow).values(
            team_id=team_id, user_id=user_id, name=name, is_bot=is_bot, fetched_at=at
        )
        await self._session.execute(
            stmt.on_conflict_do_update(
                index_elements=["team_id", "user_id"],
                set_={
                    "name": stmt.excluded.name,
                    "is_bot": stmt.excluded.is_bot,
                    "fetched_at": stmt.excluded.fetched_at,
                },
            )
        )
