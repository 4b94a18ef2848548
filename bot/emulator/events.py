"""Inner Events API events, shaped like Slack's (platform-notes §2.2)."""

from __future__ import annotations

from bot.emulator.workspace import JSON, Channel, Message, Workspace


def message_event(ws: Workspace, channel: Channel, message: Message) -> JSON:
    event = ws.message_api(channel, message)
    for key in ("pinned_to", "reactions", "reply_count", "reply_users_count", "latest_reply", "reply_users"):
        event.pop(key, None)
    event["channel"] = channel.id
    event["event_ts"] = message.ts
    event["channel_type"] = channel.channel_type
    return event


def app_mention_event(channel: Channel, message: Message) -> JSON:
    event: JSON = {
        "type": "app_mention",
        "user": message.user,
        "text": message.text,
        "ts": message.ts,
        "team": message.team,
        "channel": channel.id,
        "event_ts": message.ts,
    }
    if message.client_msg_id:
        event["client_msg_id"] = message.client_msg_id
    if message.blocks:
        event["blocks"] = message.blocks
    if message.thread_ts:
        event["thread_ts"] = message.thread_ts
    return event


def message_changed_event(channel: Channel, before: JSON, after: JSON, event_ts: str) -> JSON:
    return {
        "type": "message",
        "subtype": "message_changed",
        "message": after,
        "previous_message": before,
        "channel": channel.id,
        "hidden": True,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel.channel_type,
    }


def message_deleted_event(channel: Channel, previous: JSON, event_ts: str) -> JSON:
    return {
        "type": "message",
        "subtype": "message_deleted",
        "previous_message": previous,
        "channel": channel.id,
        "hidden": True,
        "deleted_ts": previous["ts"],
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": channel.channel_type,
    }


def member_joined_event(ws: Workspace, channel: Channel, user_id: str, inviter: str | None, event_ts: str) -> JSON:
    event: JSON = {
        "type": "member_joined_channel",
        "user": user_id,
        "channel": channel.id,
        "channel_type": "G" if channel.is_private else "C",
        "team": ws.team_id,
        "event_ts": event_ts,
    }
    if inviter:
        event["inviter"] = inviter
    return event


def reaction_event(kind: str, user_id: str, channel: Channel, message: Message, name: str, event_ts: str) -> JSON:
    event: JSON = {
        "type": kind,
        "user": user_id,
        "item": {"type": "message", "channel": channel.id, "ts": message.ts},
        "reaction": name,
        "event_ts": event_ts,
    }
    if message.user:
        event["item_user"] = message.user
    return event
