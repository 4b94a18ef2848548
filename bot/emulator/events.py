"""Inner Events API events, shaped like Slack's (platform-notes §2.2)."""

from __future__ import annotations

from bot.emulator.payloads import VERIFICATION_TOKEN
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


def app_rate_limited_payload(ws: Workspace, minute_rate_limited: int) -> JSON:
    """Slack's notice that it is dropping this app's events of a workspace (more than 30,000 in an hour): a payload
    of its own, not an event_callback (no `event`, no `event_id`), sent with no subscription (notes §2.3)."""
    return {
        "token": VERIFICATION_TOKEN,
        "type": "app_rate_limited",
        "team_id": ws.team_id,
        "minute_rate_limited": minute_rate_limited,
        "api_app_id": ws.identity.app_id,
    }


def tokens_revoked_event(ws: Workspace, event_ts: str) -> JSON:
    """The bot's token was revoked (its bot user in `tokens.bot`; this app has no user tokens)."""
    return {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [ws.identity.user_id]}, "event_ts": event_ts}


def app_uninstalled_event(event_ts: str) -> JSON:
    return {"type": "app_uninstalled", "event_ts": event_ts}


def channel_rename_event(channel: Channel, event_ts: str) -> JSON:
    """channel_rename (public) / group_rename (private): the channel object, with its new name, no user."""
    kind = "group_rename" if channel.is_private else "channel_rename"
    renamed: JSON = {"id": channel.id, "name": channel.name, "created": channel.created}
    if channel.is_private:
        renamed |= {"is_channel": False, "is_mpim": False}
    return {"type": kind, "channel": renamed, "event_ts": event_ts}


def channel_archive_event(channel: Channel, user_id: str, event_ts: str) -> JSON:
    """channel_archive (public, with who archived it) / group_archive (private)."""
    if channel.is_private:
        return {"type": "group_archive", "channel": channel.id, "event_ts": event_ts}
    return {"type": "channel_archive", "channel": channel.id, "user": user_id, "is_moved": 0, "event_ts": event_ts}
