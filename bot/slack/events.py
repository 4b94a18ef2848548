"""Slack events of incident channels turned into timeline captures. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import TimelineSettings
from bot.domain.timeline import (
    Attachment,
    Capture,
    ChannelMessage,
    Marked,
    MessageDeleted,
    MessageEdited,
    Unmarked,
    ts_to_datetime,
)

CAPTURED_EVENTS = frozenset({"message", "reaction_added", "reaction_removed"})
# A channel renamed or archived (group_* for a private channel): noted on its incident's timeline.
CHANNEL_EVENTS = frozenset({"channel_rename", "group_rename", "channel_archive", "group_archive"})
# The bot losing its access to the workspace.
ACCESS_EVENTS = frozenset({"tokens_revoked", "app_uninstalled"})

# What Slack's identifiers look like; anything else in a signed event is a malformed event, not a database outage.
_TS = re.compile(r"^\d{1,10}\.\d{1,9}$")  # "1712345678.001200" (ten digits reach the year 2286)
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{1,31}$")
_USER = re.compile(r"^[A-Z0-9]{1,32}$")
_REACTION = re.compile(r"^[a-z0-9_+'-]{1,100}(::skin-tone-[2-6])?$")


class Dropped(Exception):
    """A signed event that can never be stored (a malformed ts, the wrong shape). It is answered 2xx, so Slack does
    not deliver it again forever, and recorded with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadEvent(ValueError):
    """A signed event whose fields are not what Slack sends: it can never be stored (`reason` says why)."""


# Subtypes that are not messages of their own (message_replied only updates the parent's reply count).
_NOT_MESSAGES = frozenset({"message_replied", "ekm_access_denied", "assistant_app_thread"})
# What Slack leaves of a deleted thread parent that has replies (user USLACKBOT, "This message was deleted.").
TOMBSTONE = "tombstone"


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in this workspace (from auth.test): its own messages and reactions are not captured."""

    user_id: str
    bot_id: str
    team_id: str = ""  # the workspace the bot's token serves

    def wrote(self, message: dict[str, Any]) -> bool:
        return bool(
            (self.bot_id and message.get("bot_id") == self.bot_id)
            or (self.user_id and message.get("user") == self.user_id)
        )


def event_channel(event: dict[str, Any]) -> str | None:
    item = event.get("item")
    channel = event.get("channel") or (item.get("channel") if isinstance(item, dict) else None)
    return channel if isinstance(channel, str) and channel else None


def _checked(value: Any, pattern: re.Pattern[str], what: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not pattern.match(value):
        raise BadEvent(f"malformed {what}: {str(value)[:40]!r}")
    return value


def check_shape(event: dict[str, Any]) -> None:
    """Raise BadEvent unless the captured fields of this message or reaction event look like Slack's."""
    _checked(event_channel(event), _CHANNEL, "channel")
    if event.get("type") == "message":
        subtype = event.get("subtype")
        messages = [event]
        if subtype == "message_changed":
            messages = [m for m in (event.get("message"), event.get("previous_message")) if m is not None]
        elif subtype == "message_deleted":
            _checked(event.get("deleted_ts"), _TS, "deleted_ts", optional=True)
            _checked(event.get("event_ts"), _TS, "event_ts", optional=True)
            messages = [m for m in (event.get("previous_message"),) if m is not None]
        for message in messages:
            if not isinstance(message, dict):
                raise BadEvent("a message that is not an object")
            if subtype not in ("message_changed", "message_deleted") or message.get("ts") is not None:
                _checked(message.get("ts"), _TS, "ts", optional=subtype == "message_deleted")
            _checked(message.get("thread_ts"), _TS, "thread_ts", optional=True)
            _checked(message.get("user"), _USER, "user", optional=True)
            for key in ("text", "bot_id", "username", "subtype"):
                if message.get(key) is not None and not isinstance(message.get(key), str):
                    raise BadEvent(f"{key} is not a string")
            for key in ("edited", "bot_profile"):
                if message.get(key) is not None and not isinstance(message.get(key), dict):
                    raise BadEvent(f"{key} is not an object")
            _checked((message.get("edited") or {}).get("ts"), _TS, "edited ts", optional=True)
            if message.get("files") is not None and not isinstance(message.get("files"), list):
                raise BadEvent("files is not a list")
        return
    item = event.get("item")
    if not isinstance(item, dict):
        raise BadEvent("a reaction without an item")
    if item.get("type") == "message":
        _checked(item.get("ts"), _TS, "item ts")
    _checked(event.get("user"), _USER, "user")
    _checked(event.get("reaction"), _REACTION, "reaction")
    _checked(event.get("event_ts"), _TS, "event_ts", optional=True)


@dataclass(frozen=True, slots=True)
class ChannelRenamed:
    channel_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ChannelArchived:
    channel_id: str
    user_id: str | None  # who archived it (channel_archive says; group_archive does not)


_CHANNEL_NAME = re.compile(r"^[^\x00-\x20<>&|#]{1,80}$")


def channel_change(event: dict[str, Any]) -> ChannelRenamed | ChannelArchived:
    """A channel_rename / group_rename (`channel` is an object with the new name) or a channel_archive /
    group_archive (`channel` is the id) event; BadEvent when it is not shaped like Slack's."""
    if event.get("type") in ("channel_rename", "group_rename"):
        channel = event.get("channel")
        if not isinstance(channel, dict):
            raise BadEvent("a rename without a channel object")
        name = _checked(channel.get("name"), _CHANNEL_NAME, "channel name")
        return ChannelRenamed(str(_checked(channel.get("id"), _CHANNEL, "channel")), str(name))
    channel_id = _checked(event.get("channel"), _CHANNEL, "channel")
    return ChannelArchived(str(channel_id), _checked(event.get("user"), _USER, "user", optional=True))


def access_lost(event: dict[str, Any], me: BotIdentity) -> str | None:
    """Why the bot can no longer act in the workspace, from an app_uninstalled or tokens_revoked event; None when
    the tokens revoked are not the bot's."""
    if event.get("type") == "app_uninstalled":
        return "the app was uninstalled from the workspace (app_uninstalled)"
    tokens = event.get("tokens")
    bots = tokens.get("bot") if isinstance(tokens, dict) else None
    if isinstance(bots, list) and me.user_id in bots:
        return "Slack revoked the bot's token (tokens_revoked)"
    return None


def to_capture(
    team_id: str,
    incident_id: int,
    event: dict[str, Any],
    me: BotIdentity,
    timeline: TimelineSettings,
    now: datetime,
) -> Capture | None:
    """What the event means for the timeline, or None when it means nothing (the bot's own, an unmapped emoji).
    Raises BadEvent when it is malformed: a field `check_shape` does not know of can still be of the wrong type,
    and turning the event into a capture is pure, so whatever it raises is the event's fault, not an outage."""
    check_shape(event)
    try:
        capture = _capture(team_id, incident_id, event, me, timeline, now)
        if isinstance(capture, ChannelMessage | MessageEdited | MessageDeleted):  # the times, computed now
            message = capture if isinstance(capture, ChannelMessage) else capture.message
            _ = message.posted_at, getattr(capture, "edited_at", None), getattr(capture, "deleted_at", None)
    except (ValueError, TypeError, OverflowError, AttributeError, KeyError, IndexError) as e:
        raise BadEvent(f"malformed event ({type(e).__name__})") from e
    return capture


def _capture(
    team_id: str,
    incident_id: int,
    event: dict[str, Any],
    me: BotIdentity,
    timeline: TimelineSettings,
    now: datetime,
) -> Capture | None:
    channel = event_channel(event) or ""
    kind = event.get("type")
    if kind == "message":
        return _message_capture(team_id, incident_id, channel, event, me)
    if kind in ("reaction_added", "reaction_removed"):
        item = event.get("item") or {}
        reaction = str(event.get("reaction") or "")
        mark_kind = timeline.kind_for(reaction)
        user = str(event.get("user") or "")
        if item.get("type") != "message" or mark_kind is None or not user or user == me.user_id:
            return None
        ts = str(item.get("ts") or "")
        event_ts = event.get("event_ts")
        if kind == "reaction_removed":
            return Unmarked(
                channel_id=channel,
                ts=ts,
                reaction=reaction,
                user_id=user,
                at=ts_to_datetime(str(event_ts)) if event_ts else now,
                team_id=team_id,
                incident_id=incident_id,
                kind=mark_kind,
            )
        return Marked(
            team_id=team_id,
            incident_id=incident_id,
            channel_id=channel,
            ts=ts,
            reaction=reaction,
            kind=mark_kind,
            user_id=user,
            at=ts_to_datetime(str(event_ts)) if event_ts else now,
        )
    return None


def _message_capture(
    team_id: str, incident_id: int, channel: str, event: dict[str, Any], me: BotIdentity
) -> Capture | None:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        new = event.get("message") or {}
        previous = event.get("previous_message") or {}
        if new.get("subtype") == TOMBSTONE:
            return _buried(team_id, incident_id, channel, event, new, previous, me)
        if me.wrote(new) or not new.get("ts"):
            return None
        if new.get("text", "") == previous.get("text", "") and not new.get("edited"):
            return None  # a link preview or a reply count changed, not the words
        edited_ts = (new.get("edited") or {}).get("ts") or event.get("event_ts") or event.get("ts")
        return MessageEdited(
            message=channel_message(team_id, incident_id, channel, new),
            previous_text=str(previous.get("text") or ""),
            edited_ts=str(edited_ts),
        )
    if subtype == "message_deleted":
        previous = event.get("previous_message") or {"ts": event.get("deleted_ts")}
        if me.wrote(previous) or not (previous.get("ts") or event.get("deleted_ts")):
            return None
        previous = {"ts": event.get("deleted_ts"), **previous}
        if previous.get("subtype") == TOMBSTONE:  # the parent's last reply went too: its words were gone already
            previous = _unsaid(previous)
        return MessageDeleted(
            message=channel_message(team_id, incident_id, channel, previous),
            deleted_ts=str(event.get("event_ts") or event.get("ts") or previous["ts"]),
        )
    if subtype in _NOT_MESSAGES or me.wrote(event) or not event.get("ts"):
        return None
    return channel_message(team_id, incident_id, channel, event)


def _buried(
    team_id: str,
    incident_id: int,
    channel: str,
    event: dict[str, Any],
    tombstone: dict[str, Any],
    previous: dict[str, Any],
    me: BotIdentity,
) -> MessageDeleted | None:
    """A thread parent deleted while it has replies: Slack keeps its place as a tombstone and says so with a
    message_changed. It is a deletion of what the parent said (kept in the record, no longer counted as said),
    never an edit to "This message was deleted."; the replies stay."""
    if me.wrote(previous) or not tombstone.get("ts"):
        return None
    said = previous if previous.get("subtype") != TOMBSTONE else _unsaid(previous)
    return MessageDeleted(
        message=channel_message(team_id, incident_id, channel, {**said, "ts": tombstone["ts"]}),
        deleted_ts=str(event.get("event_ts") or event.get("ts") or tombstone["ts"]),
    )


def _unsaid(tombstone: dict[str, Any]) -> dict[str, Any]:
    """A tombstone as the message it stands for: nobody's, saying nothing (what was said is not in it)."""
    return {"ts": tombstone.get("ts"), "thread_ts": tombstone.get("thread_ts"), "subtype": TOMBSTONE, "text": ""}


def channel_message(team_id: str, incident_id: int, channel: str, message: dict[str, Any]) -> ChannelMessage:
    """A message as Slack serialises it (event, history, replies) -> ChannelMessage."""
    bot_id = message.get("bot_id")
    subtype = message.get("subtype")
    is_integration = bool(bot_id) or subtype == "bot_message"
    profile = message.get("bot_profile") or {}
    author_name = (profile.get("name") or message.get("username")) if is_integration else None
    thread_ts = message.get("thread_ts")
    return ChannelMessage(
        team_id=team_id,
        incident_id=incident_id,
        channel_id=channel,
        ts=str(message["ts"]),
        text=str(message.get("text") or ""),
        user_id=message.get("user"),
        bot_id=bot_id,
        author_name=author_name,
        is_integration=is_integration,
        subtype=subtype,
        thread_ts=str(thread_ts) if thread_ts else None,
        files=tuple(
            Attachment(
                name=str(f.get("name") or f.get("title") or f.get("id") or "file"),
                type=str(f.get("filetype") or f.get("mimetype") or "file"),
                permalink=f.get("permalink"),
            )
            for f in message.get("files") or []
            if isinstance(f, dict)
        ),
    )
