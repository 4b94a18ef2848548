"""Slack events of incident channels turned into timeline captures. Pure functions, no I/O."""

from __future__ import annotations

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
# Subtypes that are not messages of their own (message_replied only updates the parent's reply count).
_NOT_MESSAGES = frozenset({"message_replied", "ekm_access_denied", "assistant_app_thread"})


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in this workspace (from auth.test): its own messages and reactions are not captured."""

    user_id: str
    bot_id: str

    def wrote(self, message: dict[str, Any]) -> bool:
        return bool(
            (self.bot_id and message.get("bot_id") == self.bot_id)
            or (self.user_id and message.get("user") == self.user_id)
        )


def event_channel(event: dict[str, Any]) -> str | None:
    channel = event.get("channel") or (event.get("item") or {}).get("channel")
    return str(channel) if channel else None


def to_capture(
    team_id: str,
    incident_id: int,
    event: dict[str, Any],
    me: BotIdentity,
    timeline: TimelineSettings,
    now: datetime,
) -> Capture | None:
    """What the event means for the timeline, or None when it means nothing (the bot's own, an unmapped emoji)."""
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
        if kind == "reaction_removed":
            return Unmarked(channel_id=channel, ts=ts, reaction=reaction, user_id=user)
        event_ts = event.get("event_ts")
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
        return MessageDeleted(
            message=channel_message(team_id, incident_id, channel, previous),
            deleted_ts=str(event.get("event_ts") or event.get("ts") or previous["ts"]),
        )
    if subtype in _NOT_MESSAGES or me.wrote(event) or not event.get("ts"):
        return None
    return channel_message(team_id, incident_id, channel, event)


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
