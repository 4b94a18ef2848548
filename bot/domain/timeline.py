"""The timeline of an incident: what was said in its channel, what was marked, noted and changed. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


def ts_to_datetime(ts: str) -> datetime:
    """Slack's message ts ("1712345678.001200") is seconds since the epoch, with a per-channel sequence."""
    return datetime.fromtimestamp(float(ts), tz=UTC)


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    type: str
    permalink: str | None


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """One message of an incident channel as Slack delivered it."""

    team_id: str
    incident_id: int
    channel_id: str
    ts: str
    text: str
    user_id: str | None = None
    bot_id: str | None = None
    author_name: str | None = None  # integrations (alerting bots) name themselves
    is_integration: bool = False
    subtype: str | None = None
    thread_ts: str | None = None
    files: tuple[Attachment, ...] = ()

    @property
    def posted_at(self) -> datetime:
        return ts_to_datetime(self.ts)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass(frozen=True, slots=True)
class MessageEdited:
    message: ChannelMessage  # with the new text
    previous_text: str
    edited_ts: str  # Slack's ts of the edit: the newest edit wins, whatever order edits arrive in

    @property
    def edited_at(self) -> datetime:
        return ts_to_datetime(self.edited_ts)


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    message: ChannelMessage  # as it was before it was deleted
    deleted_ts: str

    @property
    def deleted_at(self) -> datetime:
        return ts_to_datetime(self.deleted_ts)


@dataclass(frozen=True, slots=True)
class Marked:
    team_id: str
    incident_id: int
    channel_id: str
    ts: str
    reaction: str
    kind: str
    user_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Unmarked:
    """A reaction removed. `at` (the removal's event time) orders it against the addings of the same reaction,
    which Slack may deliver before or after it; with `at` unknown it removes whatever mark there is."""

    channel_id: str
    ts: str
    reaction: str
    user_id: str
    at: datetime | None = None
    team_id: str = ""
    incident_id: int | None = None
    kind: str = ""


Capture = ChannelMessage | MessageEdited | MessageDeleted | Marked | Unmarked


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of the timeline, whatever it came from."""

    at: datetime
    kinds: tuple[str, ...]  # e.g. ("key_event", "finding"); ("note",) for notes; ("system",) for the bot's own
    source: str  # message | note | shortcut | system
    text: str
    author_id: str | None = None
    author_name: str | None = None
    channel_id: str | None = None
    ts: str | None = None
    permalink: str | None = None
    edited: bool = False
    deleted: bool = False
    original_text: str | None = None
    files: tuple[Attachment, ...] = field(default=())
